//! The roster: one row per student, checked as a whole before anything else, every
//! problem with its line.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::Pos;
use crate::yaml::diag::{Diagnostic, Diagnostics, did_you_mean};

const COLUMNS: &[&str] = &["student", "profile", "role_arn", "region", "email"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub id: String,
    /// The roster's line this student is on.
    pub line: usize,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub email: Option<String>,
}

impl Student {
    /// Where the roster names this student, for messages.
    pub fn at(&self, file: &str) -> String {
        format!("student `{}` ({file}:{})", self.id, self.line)
    }
}

#[derive(Debug, Clone)]
pub struct Roster {
    pub file: String,
    pub students: Vec<Student>,
}

impl Roster {
    /// Each row its own account (a profile or a role per student), or every lab in the
    /// one account of the current credentials.
    pub fn per_account(&self) -> bool {
        self.students
            .iter()
            .any(|s| s.profile.is_some() || s.role_arn.is_some())
    }
}

/// A student id: what `<lab>-<student>` and `${student}` take.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 32 {
        return Some("1 to 32 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("only a-z, 0-9 and '-'");
    }
    if id.starts_with('-') || id.ends_with('-') || id.contains("--") {
        return Some("no '-' at either end, and never two together");
    }
    None
}

fn line_of(text: &str, byte: u64) -> usize {
    let b = text.as_bytes();
    let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(b.len());
    // A record's offset may point at the blank lines before it.
    while end < b.len() && (b[end] == b'\n' || b[end] == b'\r') {
        end += 1;
    }
    b[..end].iter().filter(|c| **c == b'\n').count() + 1
}

pub fn load(path: &Path) -> Result<Roster, Diagnostics> {
    let file = path.display().to_string();
    let fail = |line: usize, message: String, help: &str| Diagnostics {
        file: file.clone(),
        items: vec![Diagnostic::new(Pos { line, col: 1 }, message, help)],
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            1,
            format!("cannot read the roster: {e}"),
            "pass a CSV file with a `student` column: `--roster roster.csv`",
        )
    })?;
    parse(&file, text.trim_start_matches('\u{feff}'))
}

pub fn parse(file: &str, text: &str) -> Result<Roster, Diagnostics> {
    let items = std::cell::RefCell::new(Vec::new());
    let err = |line: usize, message: String, help: String| {
        items
            .borrow_mut()
            .push(Diagnostic::new(Pos { line, col: 1 }, message, help));
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => {
            err(
                1,
                format!("the roster is not CSV: {e}"),
                "write a header line, e.g. `student,email`".into(),
            );
            return Err(Diagnostics {
                file: file.into(),
                items: items.into_inner(),
            });
        }
    };
    for c in &header {
        if !COLUMNS.contains(&c.as_str()) {
            let help = did_you_mean(c, COLUMNS)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| format!("columns: {}", COLUMNS.join(", ")));
            err(1, format!("unknown column `{c}`"), help);
        }
    }
    let col = |name: &str| header.iter().position(|c| c == name);
    if col("student").is_none() {
        err(
            1,
            "the roster has no `student` column".into(),
            "the first line names the columns: `student` and, optionally, profile, role_arn, region, email".into(),
        );
    }
    let mut students: Vec<Student> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| line_of(text, p.byte())).unwrap_or(0);
                err(
                    line,
                    format!("this row is not CSV: {e}"),
                    "quote a field that holds a comma".into(),
                );
                continue;
            }
        };
        // From the byte offset: the reader's own line count skips blank lines.
        let line = rec.position().map(|p| line_of(text, p.byte())).unwrap_or(0);
        let get = |name: &str| {
            col(name)
                .and_then(|i| rec.get(i))
                .map(str::to_owned)
                .filter(|v| !v.is_empty())
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if rec.len() > header.len() {
            err(
                line,
                format!(
                    "this row has {} fields, the header {}",
                    rec.len(),
                    header.len()
                ),
                "quote a field that holds a comma, or add the column to the header".into(),
            );
        }
        let Some(id) = get("student") else {
            if col("student").is_some() {
                err(
                    line,
                    "this row names no student".into(),
                    "fill in the `student` column".into(),
                );
            }
            continue;
        };
        if let Some(p) = id_problem(&id) {
            err(
                line,
                format!("student id `{id}` is not valid: {p}"),
                "it becomes part of every name in the student's lab: use e.g. `alice` or `s-0042`"
                    .into(),
            );
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            err(
                line,
                format!("student `{id}` is on line {first} already"),
                "give each student one row".into(),
            );
        }
        let profile = get("profile");
        let role_arn = get("role_arn");
        if profile.is_some() && role_arn.is_some() {
            err(
                line,
                "a row gives both `profile` and `role_arn`".into(),
                "keep one: the profile to use, or the role to assume".into(),
            );
        }
        if let Some(a) = &role_arn {
            let ok = a
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":role/"))
                .is_some_and(|(acct, name)| {
                    acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
                });
            if !ok {
                err(
                    line,
                    format!("`{a}` is not an IAM role ARN"),
                    "write arn:aws:iam::123456789012:role/NAME".into(),
                );
            }
        }
        let region = get("region");
        if let Some(r) = &region
            && !crate::config::REGIONS.contains(&r.as_str())
        {
            err(
                line,
                format!("unknown region `{r}`"),
                "use an AWS region code such as `us-east-1`".into(),
            );
        }
        let email = get("email");
        if let Some(e) = &email
            && !e.contains('@')
        {
            err(
                line,
                format!("`{e}` is not an email address"),
                "leave it empty, or write the student's address".into(),
            );
        }
        students.push(Student {
            id,
            line,
            profile,
            role_arn,
            region,
            email,
        });
    }
    if items.borrow().is_empty() && students.is_empty() {
        err(
            1,
            "the roster lists no student".into(),
            "add a row per student below the header".into(),
        );
    }
    // One mode for the whole class: a mix would put some labs in the current account
    // by mistake.
    let own: Vec<&Student> = students
        .iter()
        .filter(|s| s.profile.is_some() || s.role_arn.is_some())
        .collect();
    if !own.is_empty()
        && own.len() != students.len()
        && let Some(s) = students
            .iter()
            .find(|s| s.profile.is_none() && s.role_arn.is_none())
    {
        err(
            s.line,
            format!(
                "student `{}` has no profile or role_arn, and other rows do",
                s.id
            ),
            "give every row its account, or none (then every lab is in the current account)".into(),
        );
    }
    let mut items = items.into_inner();
    if items.is_empty() {
        Ok(Roster {
            file: file.into(),
            students,
        })
    } else {
        items.sort_by_key(|d| d.pos);
        Err(Diagnostics {
            file: file.into(),
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_roster_reads_in_both_modes() {
        let r = parse("r.csv", "student,email\nalice,alice@uni.edu\n\nbob-2,\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.students.len(), 2);
        assert_eq!(
            (r.students[1].id.as_str(), r.students[1].line),
            ("bob-2", 4)
        );
        assert!(!r.per_account());
        let r = parse(
            "r.csv",
            "student,role_arn\na,arn:aws:iam::111111111111:role/lab\nb,arn:aws:iam::222222222222:role/lab\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.per_account());
    }

    #[test]
    fn every_bad_row_is_told_at_its_line() {
        let text = "student,emial,profile,role_arn\nAlice,x,,\nbob,,p,arn:aws:iam::111111111111:role/x\nbob,,,\ncarol,,,arn:aws:iam::1:role/x\n,,,\n";
        let e = parse("r.csv", text)
            .err()
            .map(|d| d.items)
            .unwrap_or_default();
        let got: Vec<(usize, String)> = e.iter().map(|d| (d.pos.line, d.message.clone())).collect();
        let has = |line: usize, text: &str| got.iter().any(|(l, m)| *l == line && m.contains(text));
        assert!(has(1, "unknown column `emial`"), "{got:?}");
        assert!(e.iter().any(|d| d.help.contains("did you mean `email`?")));
        assert!(has(2, "student id `Alice` is not valid"), "{got:?}");
        assert!(has(3, "both `profile` and `role_arn`"), "{got:?}");
        assert!(has(4, "student `bob` is on line 3 already"), "{got:?}");
        assert!(has(5, "is not an IAM role ARN"), "{got:?}");
        assert!(
            has(2, "has no profile or role_arn, and other rows do"),
            "{got:?}"
        );
        assert!(parse("r.csv", "name\nalice\n").is_err());
        assert!(
            parse("r.csv", "student\n")
                .err()
                .map(|d| d.items[0].message.clone())
                .unwrap_or_default()
                .contains("lists no student")
        );
    }
}

//! lab.yaml in, `kind::Lab` or every problem out: the file's own keys (lab, region,
//! tags, checks) here, each family's section through the registry. Never builds an AWS client,
//! never touches the network.

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use crate::kind::{self, Head, Lab};
use crate::model::Pos;
use crate::template::{Expander, STAND_IN_ACCOUNT, Vars};
use crate::yaml;
use crate::yaml::decode::{Decoder, TagSites, fields, string};
use crate::yaml::diag::{Diagnostic, Diagnostics, Sink};
use crate::yaml::shape::{Field, Ty};

/// Lab files larger than this are refused unread: a lab is a page of YAML, and a huge
/// input would only cost memory.
const MAX_LAB_FILE: u64 = 1024 * 1024;

/// Reads and checks a lab file. `region` (from `--region`) replaces the file's
/// `region:` before the checks, so names that hold `${region}` are checked as they
/// will be made.
/// Returns the lab with its warnings (as `Diagnostics`, for printing).
pub fn load(path: &Path, region: Option<&str>) -> Result<(Lab, Diagnostics), Diagnostics> {
    load_for(path, region, None)
}

/// As `load`, for one student of a roster: the lab is `<lab>-<student>`, `${student}`
/// is the student's id, and every rule is checked for that lab.
pub fn load_for(
    path: &Path,
    region: Option<&str>,
    student: Option<&str>,
) -> Result<(Lab, Diagnostics), Diagnostics> {
    let file = path.display().to_string();
    let one = |message: String, help: &str| Diagnostics {
        file: file.clone(),
        items: vec![Diagnostic::new(Pos { line: 1, col: 1 }, message, help)],
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        one(
            format!("cannot read the lab file: {e}"),
            "pass the right path with `-f FILE`, or run labctl where lab.yaml is",
        )
    })?;
    if meta.len() > MAX_LAB_FILE {
        return Err(one(
            format!(
                "the lab file is {} bytes; labctl reads lab files up to 1 MiB",
                meta.len()
            ),
            "a lab file is a page of YAML: is this the right file?",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        one(
            format!("cannot read the lab file: {e}"),
            "check the file's permissions",
        )
    })?;
    let src = String::from_utf8(bytes).map_err(|e| {
        one(
            format!(
                "the lab file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save it as UTF-8 YAML",
        )
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        std::path::PathBuf::from(".")
    } else {
        base
    };
    parse_in(&file, &src, &base, region, student)
}

pub fn parse_str(file: &str, src: &str, base_dir: &Path) -> Result<Lab, Diagnostics> {
    parse_in(file, src, base_dir, None, None).map(|(lab, _)| lab)
}

fn parse_in(
    file: &str,
    src: &str,
    base_dir: &Path,
    region: Option<&str>,
    student: Option<&str>,
) -> Result<(Lab, Diagnostics), Diagnostics> {
    let fail = |items: Vec<Diagnostic>| Diagnostics {
        file: file.to_owned(),
        items,
    };
    if src.contains('\0') {
        return Err(fail(vec![Diagnostic::new(
            Pos { line: 1, col: 1 },
            "the lab file contains NUL bytes: it is binary, not YAML",
            "point labctl at your lab.yaml",
        )]));
    }
    let mut decoded_lab = None;
    let root = match yaml::parse(src) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(fail(vec![Diagnostic::new(
                Pos { line: 1, col: 1 },
                "the lab file is empty",
                "start with `lab: my-lab` and `region: us-east-1`; see the README for every key",
            )]));
        }
        Err(items) => return Err(fail(items)),
    };
    let mut d = Decoder::new(base_dir);
    let decoded = decode(&root, file, &mut d);
    if let Some(mut lab) = decoded {
        if let Some(r) = region {
            lab.lab.region = r.to_owned();
        }
        if let Some(st) = student {
            lab.lab.name = format!("{}-{st}", lab.lab.name);
            lab.lab.student = Some(st.to_owned());
        }
        check(&lab, &d.tag_sites, &mut d.sink);
        decoded_lab = Some(lab.lab);
    }
    let sink = d.sink;
    let mut items = sink.items;
    items.sort_by_key(|d| d.pos);
    items.dedup();
    let mut warnings = sink.warnings;
    warnings.sort_by_key(|d| d.pos);
    warnings.dedup();
    match decoded_lab {
        Some(lab) if items.is_empty() => Ok((lab, fail(warnings))),
        _ => Err(fail(items)),
    }
}

/// The warnings of a valid lab, as text (for tests of warning rules).
#[cfg(test)]
pub fn parse_warnings(src: &str, base_dir: &Path) -> (Option<Lab>, Vec<String>) {
    match parse_in("lab.yaml", src, base_dir, None, None) {
        Ok((lab, w)) => (
            Some(lab),
            w.items
                .into_iter()
                .map(|d| format!("{} — {}", d.message, d.help))
                .collect(),
        ),
        Err(_) => (None, vec![]),
    }
}

pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-east-1",
    "sa-east-1",
    "me-south-1",
    "me-central-1",
    "il-central-1",
    "af-south-1",
    "mx-central-1",
];

/// The lab file with where its own keys were written, for their checks.
struct Decoded {
    lab: Lab,
    /// `lab:` as written, before a student's id is appended.
    base_name: String,
    lab_pos: Pos,
    region_pos: Pos,
}

/// The lab file's top level: its own keys, then each family's sections.
pub fn top_level() -> Vec<Field> {
    let mut top = vec![
        Field::req(
            "lab",
            Ty::Str,
            "The lab's name: lower case, at most 20 characters; every resource carries it.",
        ),
        Field::req(
            "region",
            Ty::OneOf(REGIONS),
            "The AWS region it is built in.",
        ),
        Field::opt(
            "tags",
            Ty::Pairs,
            "Tags for every resource of the lab (labctl adds its own, labctl:*).",
        ),
        crate::check::SECTION,
    ];
    top.extend(kind::sections());
    top
}

/// The lab file's JSON Schema, for editors (`labctl schema`).
pub fn schema() -> serde_json::Value {
    yaml::schema::schema(&top_level())
}

/// The schema as the repository ships it (lab.schema.json).
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The file's own keys, then each family's sections.
fn decode(root: &yaml::Node, file: &str, d: &mut Decoder) -> Option<Decoded> {
    let f = fields(root, "the lab file", &top_level(), &mut d.sink)?;
    let name_node = f.get("lab");
    let name = name_node
        .and_then(|n| string(n, "`lab`", &mut d.sink))
        .unwrap_or_default();
    let region_node = f.get("region");
    let region = region_node
        .and_then(|n| string(n, "`region`", &mut d.sink))
        .unwrap_or_default();
    let tags = f.get("tags").map(|n| d.tags(n, "lab")).unwrap_or_default();
    let head = Head {
        name,
        region,
        tags,
        file: file.to_owned(),
        checks: crate::check::decode(&f, d),
    };
    Some(Decoded {
        base_name: head.name.clone(),
        lab: kind::decode(head, &f, d),
        lab_pos: name_node.map(|n| n.pos).unwrap_or_default(),
        region_pos: region_node.map(|n| n.pos).unwrap_or_default(),
    })
}

/// The lab with placeholders filled in wherever a string reaches AWS as written, and
/// every placeholder that could not be, with its position.
pub fn expand(lab: &Lab, vars: &Vars) -> (Lab, Vec<(Pos, String)>) {
    let mut lab = lab.clone();
    let mut x = Expander::new(vars);
    kind::expand(&mut lab, &mut x);
    (lab, x.errors)
}

/// Every rule that can be checked without AWS: the file's own, then each family's.
fn check(d: &Decoded, sites: &TagSites, s: &mut Sink) {
    lab_name(&d.base_name, d.lab_pos, s);
    let vars = stand_in_vars(&d.lab);
    // Checked as AWS will see them: with placeholders filled in.
    let (expanded, errs) = expand(&d.lab, &vars);
    for (pos, e) in errs {
        s.err(
            pos,
            e,
            "placeholders are ${lab}, ${account_id}, ${region}, ${student} (with a roster), ${buckets.NAME.name|arn}",
        );
    }
    let lab = &expanded;
    if !lab.region.is_empty() && !REGIONS.contains(&lab.region.as_str()) {
        s.err(d.region_pos, format!("unknown region `{}`", lab.region), "use an AWS region code such as `us-east-1` (AWS Academy allows us-east-1 and us-west-2)");
    }
    tags(sites, &vars, s);
    kind::validate(lab, &vars, s);
    crate::check::validate(lab, &vars, s);
}
/// Placeholders as `validate` sees them: a 12-digit stand-in for the account id.
pub fn stand_in_vars(lab: &Lab) -> Vars {
    vars_for(lab, STAND_IN_ACCOUNT, &lab.region)
}

/// The lab's placeholders for this account and region, bucket names filled in.
pub fn vars_for(lab: &Lab, account_id: &str, region: &str) -> Vars {
    let mut v = Vars {
        lab: lab.name.clone(),
        account_id: account_id.into(),
        region: region.into(),
        student: lab.student.clone().unwrap_or_default(),
        ..Default::default()
    };
    let names: BTreeMap<String, String> = lab
        .buckets
        .iter()
        .filter_map(|(k, b)| v.expand(&b.name, false).ok().map(|n| (k.clone(), n)))
        .collect();
    v.buckets = names;
    v
}

/// 1-20 characters of a-z, 0-9 and '-', starting with a letter: it prefixes every name.
pub fn valid_lab_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && !name.contains("--")
}

fn lab_name(name: &str, pos: Pos, s: &mut Sink) {
    if name.is_empty() {
        return; // reported as missing
    }
    if !valid_lab_name(name) {
        s.err(pos, format!("lab name `{name}` is not valid"), "use 1-20 characters of a-z, 0-9 and '-', starting with a letter, e.g. `photo-lab`: it prefixes every resource name");
    }
}

fn tags(sites: &TagSites, vars: &Vars, s: &mut Sink) {
    let lab_keys: Vec<&str> = sites
        .sites
        .iter()
        .filter(|(w, _)| w == "lab")
        .flat_map(|(_, t)| t.iter().map(|e| e.0.as_str()))
        .collect();
    for (what, entries) in &sites.sites {
        // A resource carries the lab's tags, its own (the same key once) and labctl's.
        // Subnets also carry Name: counted with their other rules.
        let keys: std::collections::BTreeSet<&str> = entries
            .iter()
            .map(|e| e.0.as_str())
            .chain(lab_keys.iter().copied())
            .collect();
        let total = keys.len() + 1;
        if total > 50 && !what.starts_with("subnet ") {
            let p = entries.first().map(|e| e.2).unwrap_or_default();
            s.err(p, format!("{what} would carry {total} tags (with the lab's tags and labctl's own); AWS allows 50"), "remove tags");
        }
        for (k, v, p) in entries {
            let p = *p;
            let v = &match vars.expand(v, true) {
                Ok(v) => v,
                Err(e) => {
                    s.err(p, format!("tag `{k}`: {e}"), "fix the placeholder");
                    continue;
                }
            };
            if k.is_empty() || k.chars().count() > 128 {
                s.err(
                    p,
                    format!("tag key `{k}` must be 1-128 characters"),
                    "shorten the key",
                );
            }
            if v.chars().count() > 256 {
                s.err(
                    p,
                    format!("the value of tag `{k}` is longer than 256 characters"),
                    "shorten the value",
                );
            }
            if k.to_ascii_lowercase().starts_with("aws:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the reserved prefix `aws:`"),
                    "AWS keeps `aws:` for itself: rename the key",
                );
            }
            if k.starts_with("labctl:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the prefix `labctl:`"),
                    "labctl keeps `labctl:` for its ownership tag: rename the key",
                );
            }
            let ok = |t: &str| {
                t.chars()
                    .all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c))
            };
            if !ok(k) || !ok(v) {
                s.err(
                    p,
                    format!("tag `{k}` has characters AWS does not accept in tags"),
                    "use letters, digits, spaces and + - = . _ : / @",
                );
            }
        }
    }
}

//! Class mode's reports: a line per student for people, everything per student as
//! JSON, and verify's grade sheet.

use std::time::Duration;

use serde_json::{Value, json};

use crate::class::Outcome;
use crate::class::quota::Problem;
use crate::verify::Report;

pub fn table(outcomes: &[Outcome], verb: &str) -> String {
    let w = outcomes
        .iter()
        .map(|o| o.student.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let l = outcomes
        .iter()
        .map(|o| o.lab.len())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut out = format!(
        "{:w$}  {:l$}  {:9}  {:>14}  {:>7}  first error\n",
        "student", "lab", "status", "plan", "time"
    );
    for o in outcomes {
        let plan = format!("+{} ~{} -{}", o.add, o.change, o.destroy);
        out.push_str(&format!(
            "{:w$}  {:l$}  {:9}  {:>14}  {:>5.1} s  {}\n",
            o.student,
            o.lab,
            o.status,
            plan,
            o.seconds,
            o.error.as_deref().unwrap_or("")
        ));
    }
    let bad = outcomes
        .iter()
        .filter(|o| !o.ok() || o.status == "invalid")
        .count();
    let changes = outcomes
        .iter()
        .filter(|o| o.add + o.change + o.destroy > 0)
        .count();
    out.push_str(&format!(
        "\n{verb}: {} student(s); {} with changes, {} in sync, {bad} failed.\n",
        outcomes.len(),
        changes,
        outcomes.iter().filter(|o| o.status == "in sync").count()
    ));
    out
}

/// The quotas the class would exceed, after its plan table.
pub fn quota(problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&format!(
            "error: quota: {}\n  help: {}\n",
            p.message, p.help
        ));
    }
    if !problems.is_empty() {
        out.push_str("error: the class does not fit in its account; nothing was changed\n");
    }
    out
}

pub fn json(outcomes: &[Outcome], waited: Duration, quota: &[Problem]) -> Value {
    let students: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "student": o.student,
                "lab": o.lab,
                "status": o.status,
                "ok": o.ok() && o.status != "invalid",
                "summary": { "add": o.add, "change": o.change, "destroy": o.destroy },
                "done": o.done,
                "failed": o.failed,
                "seconds": (o.seconds * 10.0).round() / 10.0,
                "error": o.error,
                "plan": o.plan.as_ref().map(|p| serde_json::from_str::<Value>(&super::json::plan(p)).unwrap_or(Value::Null)),
            })
        })
        .collect();
    json!({
        "format_version": 1,
        "students": students,
        "quota_problems": quota.iter().map(|p| json!({ "message": p.message, "help": p.help })).collect::<Vec<_>>(),
        "ok": quota.is_empty() && outcomes.iter().all(|o| o.ok() && o.status != "invalid"),
        "rate_limit_wait_seconds": (waited.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// (student, lab, report or error, time)
pub type Verified = (String, String, Result<Report, String>, Duration);

fn checks_of(all: &[Verified]) -> Vec<String> {
    let mut names: Vec<String> = all
        .iter()
        .filter_map(|(_, _, r, _)| r.as_ref().ok())
        .flat_map(|r| r.checks.iter().map(|c| c.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn cell(r: &Result<Report, String>, check: &str) -> &'static str {
    match r {
        Err(_) => "error",
        Ok(r) => match r.checks.iter().find(|c| c.name == check) {
            Some(c) if c.passed => "pass",
            Some(_) => "fail",
            None => "",
        },
    }
}

pub fn verify_table(all: &[Verified]) -> String {
    let names = checks_of(all);
    let w = all.iter().map(|a| a.0.len()).max().unwrap_or(7).max(7);
    let mut out = format!(
        "{:w$}  {:>6}  {:>7}  failed checks / error\n",
        "student", "passed", "time"
    );
    for (st, _, r, t) in all {
        let (passed, why) = match r {
            Ok(r) => {
                let p = r.checks.iter().filter(|c| c.passed).count();
                let failed: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| c.name.as_str())
                    .collect();
                (format!("{p}/{}", r.checks.len()), failed.join(", "))
            }
            Err(e) => ("-".into(), e.clone()),
        };
        out.push_str(&format!(
            "{st:w$}  {passed:>6}  {:>5.1} s  {why}\n",
            t.as_secs_f64()
        ));
    }
    let all_pass = all
        .iter()
        .filter(|(_, _, r, _)| r.as_ref().is_ok_and(Report::ok))
        .count();
    out.push_str(&format!(
        "\n{all_pass} of {} student(s) pass every check ({} checks).\n",
        all.len(),
        names.len()
    ));
    out
}

/// One row per student, one column per check: pass, fail, or error.
pub fn grades_csv(all: &[Verified]) -> String {
    let names = checks_of(all);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["student".to_owned(), "lab".to_owned()];
    header.extend(names.iter().cloned());
    header.extend(["passed".to_owned(), "failed".to_owned()]);
    let _ = w.write_record(&header);
    for (st, lab, r, _) in all {
        let mut row = vec![st.clone(), lab.clone()];
        row.extend(names.iter().map(|n| cell(r, n).to_owned()));
        let (p, f) = match r {
            Ok(r) => {
                let p = r.checks.iter().filter(|c| c.passed).count();
                (p, r.checks.len() - p)
            }
            Err(_) => (0, names.len()),
        };
        row.extend([p.to_string(), f.to_string()]);
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

pub fn verify_json(all: &[Verified]) -> Value {
    let names = checks_of(all);
    json!({
        "format_version": 1,
        "checks": names,
        "students": all.iter().map(|(st, lab, r, t)| json!({
            "student": st,
            "lab": lab,
            "seconds": (t.as_secs_f64() * 10.0).round() / 10.0,
            "grades": names.iter().map(|n| (n.clone(), Value::from(cell(r, n)))).collect::<serde_json::Map<_, _>>(),
            "error": r.as_ref().err(),
            "report": r.as_ref().ok().map(super::verify::json),
        })).collect::<Vec<_>>(),
        "ok": all.iter().all(|(_, _, r, _)| r.as_ref().is_ok_and(Report::ok)),
    })
}

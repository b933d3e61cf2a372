//! `verify` and `invoke` reports: a line per check for people, and a JSON document
//! whose shape is a contract (an instructor grades with it).

use serde_json::{Value, json};

use crate::verify::invoke::Outcome;
use crate::verify::{CheckReport, Report, expect_size};

fn secs(s: f64) -> f64 {
    (s * 10.0).round() / 10.0
}

pub fn human(r: &Report) -> String {
    let mut out = String::new();
    let runner = match r.runner {
        "local" => "functions run here by labctl, the emulator holding the buckets",
        _ => "through the lab's real triggers",
    };
    out.push_str(&format!("Verifying {} (run {}; {runner})\n", r.lab, r.run));
    for i in &r.interpreters {
        out.push_str(&format!("  {i}\n"));
    }
    for a in &r.approximate {
        out.push_str(&format!("  approximate: {a}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &r.checks {
        out.push_str(&format!(
            "  {} {:width$}  {:>5.1} s{}\n",
            if c.passed { "PASS" } else { "FAIL" },
            c.name,
            c.seconds,
            images(c)
        ));
        if !c.passed {
            for why in &c.reasons {
                out.push_str(&format!("       {why}\n"));
            }
            for (f, lines) in &c.logs {
                if lines.is_empty() {
                    continue;
                }
                out.push_str(&format!("       {f}'s last log lines:\n"));
                for l in lines {
                    out.push_str(&format!("         {l}\n"));
                }
            }
        }
    }
    let passed = r.checks.iter().filter(|c| c.passed).count();
    out.push_str(&format!(
        "{passed} passed, {} failed.",
        r.checks.len() - passed
    ));
    let cl = &r.cleanup;
    if cl.kept {
        out.push_str(" The probes' objects were kept (--keep).");
    } else {
        out.push_str(&format!(
            " Removed {} object version(s) the probes made.",
            cl.removed
        ));
    }
    out.push('\n');
    for l in &cl.left {
        out.push_str(&format!(
            "  left in place (written outside the run's keys): {l}\n"
        ));
    }
    if let Some(e) = &cl.error {
        out.push_str(&format!("  cleanup failed: {e}\n"));
    }
    out
}

/// "photo one.jpg 1.2 MB -> 310 KB (JPEG 2000x1500 colour)" for each image made.
fn images(c: &CheckReport) -> String {
    let Some(p) = &c.put.image else {
        return String::new();
    };
    let made: Vec<String> = c
        .found
        .iter()
        .filter_map(|f| {
            let i = f.image.as_ref()?;
            Some(format!(
                "{} -> {} ({})",
                expect_size(c.put.size),
                expect_size(f.size.unwrap_or(0)),
                i.describe()
            ))
        })
        .collect();
    if made.is_empty() {
        return format!("  put {} ({})", expect_size(c.put.size), p.describe());
    }
    format!("  {}", made.join(", "))
}

fn image(i: &Option<crate::verify::jpeg::Info>) -> Value {
    match i {
        Some(i) => json!({
            "format": "jpeg",
            "width": i.width,
            "height": i.height,
            "components": i.components,
        }),
        None => Value::Null,
    }
}

pub fn json(r: &Report) -> Value {
    let checks: Vec<Value> = r
        .checks
        .iter()
        .map(|c| {
            json!({
                "check": c.name,
                "status": if c.passed { "pass" } else { "fail" },
                "seconds": secs(c.seconds),
                "put": {
                    "bucket": c.put.bucket,
                    "key": c.put.key,
                    "size": c.put.size,
                    "image": image(&c.put.image),
                },
                "expectations": c.found.iter().map(|f| json!({
                    "bucket": f.bucket,
                    "key": f.key,
                    "expect": if f.wanted { "present" } else { "absent" },
                    "status": if f.ok { "pass" } else { "fail" },
                    "size": f.size,
                    "image": image(&f.image),
                    "why": f.why,
                })).collect::<Vec<_>>(),
                "invocations": c.invocations.iter().map(|i| json!({
                    "function": i.function,
                    "via": i.via,
                    "event": i.event,
                    "object": i.object,
                    "depth": i.depth,
                    "attempts": i.attempts,
                    "status": i.status,
                    "error": i.error.as_ref().map(|(t, m)| json!({ "type": t, "message": m })),
                    "seconds": secs(i.seconds),
                    "writes": i.writes,
                })).collect::<Vec<_>>(),
                "reasons": c.reasons,
                "logs": c.logs,
            })
        })
        .collect();
    let passed = r.checks.iter().filter(|c| c.passed).count();
    json!({
        "format_version": 1,
        "lab": r.lab,
        "run": r.run,
        "runner": r.runner,
        "approximate": r.approximate,
        "ok": r.ok(),
        "passed": passed,
        "failed": r.checks.len() - passed,
        "checks": checks,
        "cleanup": {
            "kept": r.cleanup.kept,
            "removed": r.cleanup.removed,
            "left": r.cleanup.left,
            "error": r.cleanup.error,
        },
        "notes": r.notes,
    })
}

pub fn invoke_human(o: &Outcome) -> String {
    let mut out = String::new();
    for a in &o.approximate {
        out.push_str(&format!("approximate: {a}\n"));
    }
    for l in &o.logs {
        out.push_str(l);
        out.push('\n');
    }
    match (&o.error, &o.result) {
        (Some((t, m)), _) => out.push_str(&format!(
            "\n{} failed after {:.1} s: {t}: {m}\n",
            o.function, o.seconds
        )),
        (None, r) => out.push_str(&format!(
            "\n{} returned after {:.1} s: {}\n",
            o.function,
            o.seconds,
            r.as_ref()
                .map(Value::to_string)
                .unwrap_or_else(|| "null".into())
        )),
    }
    for w in &o.writes {
        out.push_str(&format!("  wrote {w}\n"));
    }
    out
}

pub fn invoke_json(o: &Outcome) -> Value {
    json!({
        "function": o.function,
        "runner": o.runner,
        "status": if o.error.is_none() { "ok" } else { "error" },
        "result": o.result,
        "error": o.error.as_ref().map(|(t, m)| json!({ "type": t, "message": m })),
        "seconds": secs(o.seconds),
        "logs": o.logs,
        "writes": o.writes,
        "approximate": o.approximate,
    })
}

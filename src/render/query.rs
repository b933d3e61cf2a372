//! `labctl query` results: an aligned table for people, rows as JSON for tools.

use serde_json::json;

use crate::kind::athena::query::Answer;

pub fn human(a: &Answer) -> String {
    let mut out = String::new();
    if let Some(n) = &a.note {
        out.push_str(&format!("note: {n}\n"));
        out.push_str(&format!("(query {} in workgroup {})\n", a.id, a.workgroup));
        return out;
    }
    let cols = a
        .columns
        .len()
        .max(a.rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut width = vec![0; cols];
    let cell = |r: &[String], i: usize| r.get(i).cloned().unwrap_or_default();
    for r in std::iter::once(&a.columns).chain(&a.rows) {
        for (i, w) in width.iter_mut().enumerate() {
            *w = (*w).max(cell(r, i).chars().count());
        }
    }
    let line = |r: &[String]| {
        let cells: Vec<String> = (0..cols)
            .map(|i| format!("{:w$}", cell(r, i), w = width[i]))
            .collect();
        format!("{}\n", cells.join("  ").trim_end())
    };
    out.push_str(&line(&a.columns));
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("{}\n", rule.join("  ")));
    for r in &a.rows {
        out.push_str(&line(r));
    }
    out.push_str(&format!(
        "{} row(s), {} scanned, {:.1} s{}\n",
        a.rows.len(),
        crate::verify::expect_size(a.scanned_bytes.max(0) as u64),
        a.seconds,
        a.output
            .as_ref()
            .map(|o| format!("; results in {o}"))
            .unwrap_or_default()
    ));
    out
}

pub fn json(a: &Answer) -> serde_json::Value {
    json!({
        "workgroup": a.workgroup,
        "query_execution_id": a.id,
        "executed": a.executed,
        "note": a.note,
        "columns": a.columns,
        "rows": a.rows,
        "scanned_bytes": a.scanned_bytes,
        "seconds": (a.seconds * 10.0).round() / 10.0,
        "output": a.output,
    })
}

//! Athena's rules, before any AWS call: workgroup names, a results folder in a lab
//! bucket that no table reads, named queries Athena accepts and can place.

use crate::kind::Lab;
use crate::kind::catalog::{check_location, overlap};
use crate::yaml::diag::{Sink, did_you_mean};

pub(super) fn athena(lab: &Lab, s: &mut Sink) {
    let databases: Vec<&str> = lab.catalog.databases.keys().map(String::as_str).collect();
    for (name, w) in &lab.athena.workgroups {
        let physical = lab.physical(name);
        if physical.len() > 128
            || !physical
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            s.err(
                w.pos,
                format!("workgroup name `{physical}` is not valid"),
                "Athena takes 1 to 128 of a-z A-Z 0-9 . _ - (the lab's name and `-` come first)",
            );
        }
        check_location(lab, &w.results, s);
        // Athena would read its own result files as rows of the table.
        for (t, table) in &lab.catalog.tables {
            if overlap(&w.results, &table.location) {
                s.err(
                    w.results.pos,
                    format!(
                        "the results of workgroup `{name}` would land where table `{t}` reads ({}/{})",
                        table.location.bucket, table.location.prefix
                    ),
                    "give the results a folder of their own, e.g. `prefix: athena-results/`",
                );
            }
        }
        for (c, crawler) in &lab.catalog.crawlers {
            if overlap(&w.results, &crawler.location) {
                s.err(
                    w.results.pos,
                    format!(
                        "the results of workgroup `{name}` would land where crawler `{c}` crawls"
                    ),
                    "give the results a folder of their own, e.g. `prefix: athena-results/`",
                );
            }
        }
        if w.description.len() > 1024 {
            s.err(
                w.keys.at("description", w.pos),
                "the description is longer than Athena's 1024 characters",
                "shorten it",
            );
        }
        for (q, nq) in &w.queries {
            if q.is_empty() || q.len() > 128 {
                s.err(
                    nq.pos,
                    format!("query name `{q}` is not valid"),
                    "use 1 to 128 characters",
                );
            }
            match &nq.database {
                Some(db) if db != "default" && !lab.catalog.databases.contains_key(db) => {
                    let help = did_you_mean(db, &databases)
                        .map(|m| format!("did you mean `{m}`?"))
                        .unwrap_or_else(|| "name one of `catalog.databases`".into());
                    s.err(
                        nq.pos,
                        format!("query `{q}` runs in database `{db}`, which is not declared"),
                        help,
                    );
                }
                None if databases.len() > 1 => s.err(
                    nq.pos,
                    format!(
                        "query `{q}`: the lab has {} databases; which one does it run in?",
                        databases.len()
                    ),
                    format!(
                        "write `{q}: {{ file: {}, database: {} }}`",
                        nq.file, databases[0]
                    ),
                ),
                _ => {}
            }
        }
    }
}

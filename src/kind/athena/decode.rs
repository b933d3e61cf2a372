//! The `athena:` section. Named queries are read from their files here, so a missing
//! file is reported at its line before anything else happens.

use std::collections::BTreeMap;

use super::{Athena, MIN_LIMIT_MB, NamedQuery, Workgroup};
use crate::kind::catalog::decode_location;
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, integer, named, string};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};

pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "athena",
    Ty::Obj(ATHENA),
    "Athena workgroups, with a per-query scan limit and saved queries.",
)];

const ATHENA: &[Field] = &[Field::opt(
    "workgroups",
    Ty::Named(&Ty::Obj(WORKGROUP)),
    "Workgroups; each one's name in AWS is `<lab>-<name>`.",
)];

const WORKGROUP: &[Field] = &[
    Field::req(
        "results",
        Ty::Obj(crate::kind::catalog::LOCATION),
        "Where query results are written: a bucket of this lab and a prefix.",
    ),
    Field::opt(
        "bytes_scanned_limit_mb",
        Ty::Int,
        "Cancel a query that would scan more (MB, at least 10; default 100).",
    ),
    Field::opt(
        "enforce",
        Ty::Bool,
        "Queries cannot override the workgroup's settings (default true).",
    ),
    Field::opt("description", Ty::Str, "What it is for."),
    Field::opt(
        "queries",
        Ty::Named(&Ty::ScalarOr(&Ty::Obj(QUERY))),
        "Saved queries: `NAME: file.sql`, or `NAME: { file, database, description }`.",
    ),
    TAGS,
];

const QUERY: &[Field] = &[
    Field::req("file", Ty::Str, "The .sql file, relative to the lab file."),
    Field::opt("database", Ty::Str, "The Glue database it runs in."),
    Field::opt("description", Ty::Str, "What it asks."),
];

/// Athena takes a query of at most 262,144 bytes.
pub const MAX_SQL: usize = 262_144;

pub(super) fn athena(top: &Fields<'_>, d: &mut Decoder) -> Athena {
    let mut out = Athena::default();
    let Some(n) = top.get("athena") else {
        return out;
    };
    let base = d.base_dir.clone();
    let Some(f) = fields(n, "`athena`", ATHENA, &mut d.sink) else {
        return out;
    };
    let Some(wgs) = f.get("workgroups") else {
        return out;
    };
    for (k, v) in named(wgs, "`athena.workgroups`", &mut d.sink) {
        let what = format!("athena workgroup {}", k.name);
        let (s, sites) = (&mut d.sink, &mut d.tag_sites);
        let Some(wf) = fields(v, &format!("workgroup `{}`", k.name), WORKGROUP, s) else {
            continue;
        };
        let results = wf.get("results").and_then(|n| decode_location(n, s));
        let limit_mb = match wf.get("bytes_scanned_limit_mb") {
            None => 100,
            Some(n) => match integer(n, "`bytes_scanned_limit_mb`", s) {
                Some(v) if v >= MIN_LIMIT_MB => v,
                Some(v) => {
                    s.err(
                        n.pos,
                        format!("a per-query limit of {v} MB is below Athena's least, 10 MB"),
                        "use 10 or more (Athena bills at least 10 MB per query anyway)",
                    );
                    MIN_LIMIT_MB
                }
                None => 100,
            },
        };
        let enforce = wf
            .get("enforce")
            .and_then(|n| boolean(n, "`enforce`", s))
            .unwrap_or(true);
        let description = wf
            .get("description")
            .and_then(|n| string(n, "`description`", s))
            .unwrap_or_default();
        let queries = wf
            .get("queries")
            .map(|n| queries(n, &base, s))
            .unwrap_or_default();
        let tags = wf
            .get("tags")
            .map(|n| sites.record(n, &what, s))
            .unwrap_or_default();
        if let Some(results) = results {
            out.workgroups.insert(
                k.name.clone(),
                Workgroup {
                    pos: k.pos,
                    keys: wf.keys(),
                    results,
                    limit_mb,
                    enforce,
                    description,
                    queries,
                    tags,
                },
            );
        }
    }
    out
}

/// `NAME: file.sql`, or `NAME: { file, database, description }`.
fn queries(n: &Node, base: &std::path::Path, s: &mut Sink) -> BTreeMap<String, NamedQuery> {
    let mut out = BTreeMap::new();
    for (k, v) in named(n, "`queries`", s) {
        let (file, database, description) = match &v.value {
            crate::yaml::Value::Map(_) => {
                let Some(qf) = fields(v, &format!("query `{}`", k.name), QUERY, s) else {
                    continue;
                };
                let file = qf.get("file").and_then(|n| string(n, "`file`", s));
                let database = qf.get("database").and_then(|n| string(n, "`database`", s));
                let description = qf
                    .get("description")
                    .and_then(|n| string(n, "`description`", s))
                    .unwrap_or_default();
                (file, database, description)
            }
            _ => (string(v, "a query file", s), None, String::new()),
        };
        let Some(file) = file else {
            continue;
        };
        let path = base.join(&file);
        let sql = match std::fs::read(&path) {
            Err(e) => {
                s.err(
                    v.pos,
                    format!("cannot read query file {}: {e}", path.display()),
                    "point it at a .sql file, relative to the lab file",
                );
                continue;
            }
            Ok(b) => match String::from_utf8(b) {
                Ok(t) => t,
                Err(_) => {
                    s.err(
                        v.pos,
                        format!("query file {} is not UTF-8 text", path.display()),
                        "save it as UTF-8",
                    );
                    continue;
                }
            },
        };
        if sql.trim().is_empty() {
            s.err(
                v.pos,
                format!("query file {} is empty", path.display()),
                "write the query in it",
            );
            continue;
        }
        if sql.len() > MAX_SQL {
            s.err(
                v.pos,
                format!(
                    "query file {} is {} bytes; Athena takes {MAX_SQL}",
                    path.display(),
                    sql.len()
                ),
                "shorten the query",
            );
            continue;
        }
        out.insert(
            k.name.clone(),
            NamedQuery {
                pos: v.pos,
                file,
                sql,
                database,
                description,
            },
        );
    }
    out
}

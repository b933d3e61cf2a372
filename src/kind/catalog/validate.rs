//! Glue's and Athena's rules, before any AWS call: names Athena can use, Hive types,
//! locations in the lab's own buckets, a crawler role Glue can assume.

use std::collections::BTreeSet;

use super::types::{check_type, name_problem};
use super::{Column, Format, Location};
use crate::kind::Lab;
use crate::kind::role::Role;
use crate::template::Vars;
use crate::yaml::diag::{Sink, did_you_mean};

const MAX_DESCRIPTION: usize = 2048;

pub(super) fn catalog(lab: &Lab, _vars: &Vars, s: &mut Sink) {
    let c = &lab.catalog;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for db in c.databases.values() {
        let name = &db.name;
        if let Some(p) = name_problem(name) {
            s.err(
                db.keys.at("name", db.pos),
                format!("glue database name `{name}` is not valid: {p}"),
                "use a name such as `lab_backups`, or `${lab}_backups` (the lab's name with `_` for `-`)",
            );
        }
        if !seen.insert(name) {
            s.err(
                db.pos,
                format!("two databases are named `{name}` in Glue"),
                "give each its own `name`",
            );
        }
        if db.description.len() > MAX_DESCRIPTION {
            s.err(
                db.keys.at("description", db.pos),
                "the description is longer than Glue's 2048 characters",
                "shorten it",
            );
        }
    }
    let databases: Vec<&str> = c.databases.keys().map(String::as_str).collect();
    let database = |name: &str, at, s: &mut Sink| {
        if !c.databases.contains_key(name) {
            let help = did_you_mean(name, &databases)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| "declare it under `catalog.databases`".into());
            s.err(at, format!("database `{name}` is not declared"), help);
        }
    };
    for (name, t) in &c.tables {
        if let Some(p) = name_problem(name) {
            s.err(
                t.pos,
                format!("glue table name `{name}` is not valid: {p}"),
                "use a name such as `backups`",
            );
        }
        database(&t.database, t.keys.at("database", t.pos), s);
        location(lab, &t.location, s);
        if t.columns.is_empty() {
            s.err(
                t.keys.at("columns", t.pos),
                format!("table `{name}` has no columns"),
                "list at least one: `{ name: key, type: string }`",
            );
        }
        let mut seen = BTreeSet::new();
        for col in t.columns.iter().chain(&t.partitions) {
            column(col, &mut seen, s);
        }
        if let Format::Csv { delimiter, .. } = &t.format
            && delimiter.chars().count() != 1
        {
            s.err(
                t.keys.at("delimiter", t.pos),
                format!("a CSV delimiter is one character, not `{delimiter}`"),
                "write `delimiter: \",\"` (or `\"\\t\"`, `\";\"`)",
            );
        }
        if t.description.len() > MAX_DESCRIPTION {
            s.err(
                t.keys.at("description", t.pos),
                "the description is longer than Glue's 2048 characters",
                "shorten it",
            );
        }
    }
    for (name, cr) in &c.crawlers {
        let physical = lab.physical(name);
        if physical.len() > 255 || name.contains(char::is_whitespace) {
            s.err(
                cr.pos,
                format!("crawler name `{name}` is not valid"),
                "use letters, digits, `-` and `_`",
            );
        }
        database(&cr.database, cr.keys.at("database", cr.pos), s);
        location(lab, &cr.location, s);
        if let Some(sc) = &cr.schedule {
            let fields = sc
                .strip_prefix("cron(")
                .and_then(|r| r.strip_suffix(')'))
                .map(|r| r.split_whitespace().count());
            if fields != Some(6) {
                s.err(
                    cr.keys.at("schedule", cr.pos),
                    format!("`{sc}` is not a Glue schedule"),
                    "write a cron expression with six fields, e.g. `cron(0 3 * * ? *)` (every day at 03:00 UTC)",
                );
            }
        }
        // A crawler runs as the lab's role, which Glue must be able to assume.
        match &lab.role {
            Some(Role::Managed(r)) if r.trust.iter().any(|t| t == "glue.amazonaws.com") => {}
            Some(Role::Managed(r)) => s.err(
                r.keys.at("trust", r.pos),
                format!("crawler `{name}` runs as the lab's role, which does not trust Glue"),
                "add `glue.amazonaws.com` to the role's `trust`",
            ),
            // AWS Academy's LabRole trusts Glue.
            Some(Role::Existing { .. }) => {}
            None => s.err(
                cr.pos,
                format!("crawler `{name}` needs a role to run as"),
                "declare `role:` (with `trust: [glue.amazonaws.com]`), or `role: { existing: LabRole }` on AWS Academy",
            ),
        }
    }
}

fn column(col: &Column, seen: &mut BTreeSet<String>, s: &mut Sink) {
    if let Some(p) = name_problem(&col.name) {
        s.err(
            col.pos,
            format!("column name `{}` is not valid: {p}", col.name),
            "use a name such as `backed_up_at`",
        );
    }
    if !seen.insert(col.name.clone()) {
        s.err(
            col.pos,
            format!("column `{}` is declared twice", col.name),
            "a partition key cannot repeat a column either: rename one",
        );
    }
    if let Some(why) = check_type(&col.type_) {
        s.err(
            col.pos,
            format!("column `{}`: type `{}`: {why}", col.name, col.type_),
            "use an Athena type: string, bigint, int, double, boolean, date, timestamp, decimal(p,s), array<T>, map<K,V>, struct<...>",
        );
    }
}

/// A folder of one of the lab's buckets.
pub(crate) fn location(lab: &Lab, l: &Location, s: &mut Sink) {
    if !lab.buckets.contains_key(&l.bucket) {
        let known: Vec<&str> = lab.buckets.keys().map(String::as_str).collect();
        let help = did_you_mean(&l.bucket, &known)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| "name one of the lab's buckets (`buckets:`)".into());
        s.err(
            l.pos,
            format!("bucket `{}` is not one of the lab's", l.bucket),
            help,
        );
    }
    if l.prefix.starts_with('/') || (!l.prefix.is_empty() && !l.prefix.ends_with('/')) {
        s.err(
            l.pos,
            format!("prefix `{}` is not a folder", l.prefix),
            "write it without a leading `/` and with a trailing one, e.g. `manifest/`",
        );
    }
}

/// Whether two locations share objects: one folder inside the other.
pub(crate) fn overlap(a: &Location, b: &Location) -> bool {
    a.bucket == b.bucket && (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
}

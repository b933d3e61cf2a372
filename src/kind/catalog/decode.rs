//! The `catalog:` section.

use super::{Catalog, Column, Crawler, Database, Format, Location, Table};
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, named, seq, string};
use crate::yaml::diag::Sink;

pub(super) fn catalog(top: &Fields<'_>, d: &mut Decoder) -> Catalog {
    let mut out = Catalog::default();
    let Some(n) = top.get("catalog") else {
        return out;
    };
    let Some(f) = fields(
        n,
        "`catalog`",
        &["databases", "tables", "crawlers"],
        &mut d.sink,
    ) else {
        return out;
    };
    if let Some(n) = f.get("databases") {
        for (k, v) in named(n, "`catalog.databases`", &mut d.sink) {
            let what = format!("glue database {}", k.name);
            let (s, sites) = (&mut d.sink, &mut d.tag_sites);
            // `name:` alone or `name: {}` is a database with nothing more to say.
            if v.is_null() {
                out.databases.insert(
                    k.name.clone(),
                    Database {
                        pos: k.pos,
                        keys: Default::default(),
                        name: k.name.clone(),
                        description: String::new(),
                        tags: Default::default(),
                    },
                );
                continue;
            }
            let Some(df) = fields(
                v,
                &format!("database `{}`", k.name),
                &["name", "description", "tags"],
                s,
            ) else {
                continue;
            };
            let name = df
                .get("name")
                .and_then(|n| string(n, "`name`", s))
                .unwrap_or_else(|| k.name.clone());
            let description = df
                .get("description")
                .and_then(|n| string(n, "`description`", s))
                .unwrap_or_default();
            let tags = df
                .get("tags")
                .map(|n| sites.record(n, &what, s))
                .unwrap_or_default();
            out.databases.insert(
                k.name.clone(),
                Database {
                    pos: k.pos,
                    keys: df.keys(),
                    name,
                    description,
                    tags,
                },
            );
        }
    }
    let s = &mut d.sink;
    if let Some(n) = f.get("tables") {
        for (k, v) in named(n, "`catalog.tables`", s) {
            if let Some(t) = table(&k.name, k.pos, v, s) {
                out.tables.insert(k.name.clone(), t);
            }
        }
    }
    if let Some(n) = f.get("crawlers") {
        for (k, v) in named(n, "`catalog.crawlers`", &mut d.sink) {
            let what = format!("glue crawler {}", k.name);
            let (s, sites) = (&mut d.sink, &mut d.tag_sites);
            let Some(cf) = fields(
                v,
                &format!("crawler `{}`", k.name),
                &["database", "location", "schedule", "tags"],
                s,
            ) else {
                continue;
            };
            let database = cf
                .required("database", &what, s)
                .and_then(|n| string(n, "`database`", s));
            let location = cf
                .required("location", &what, s)
                .and_then(|n| location(n, s));
            let schedule = cf.get("schedule").and_then(|n| string(n, "`schedule`", s));
            let tags = cf
                .get("tags")
                .map(|n| sites.record(n, &what, s))
                .unwrap_or_default();
            if let (Some(database), Some(location)) = (database, location) {
                out.crawlers.insert(
                    k.name.clone(),
                    Crawler {
                        pos: k.pos,
                        keys: cf.keys(),
                        database,
                        location,
                        schedule,
                        tags,
                    },
                );
            }
        }
    }
    out
}

/// `{ bucket: NAME, prefix: folder/ }`
pub(crate) fn location(n: &Node, s: &mut Sink) -> Option<Location> {
    let f = fields(n, "a location", &["bucket", "prefix"], s)?;
    let bucket = f
        .required("bucket", "a location", s)
        .and_then(|n| string(n, "`bucket`", s))?;
    let prefix = f
        .get("prefix")
        .and_then(|n| string(n, "`prefix`", s))
        .unwrap_or_default();
    Some(Location {
        pos: n.pos,
        bucket,
        prefix,
    })
}

fn table(name: &str, pos: crate::model::Pos, n: &Node, s: &mut Sink) -> Option<Table> {
    let what = format!("table `{name}`");
    let f = fields(
        n,
        &what,
        &[
            "database",
            "location",
            "format",
            "header",
            "delimiter",
            "columns",
            "partitions",
            "description",
        ],
        s,
    )?;
    let database = f
        .required("database", &what, s)
        .and_then(|n| string(n, "`database`", s));
    let location = f
        .required("location", &what, s)
        .and_then(|n| location(n, s));
    let header = f.get("header").and_then(|n| boolean(n, "`header`", s));
    let delimiter = f.get("delimiter").and_then(|n| string(n, "`delimiter`", s));
    let format = match f.get("format").map(|n| (string(n, "`format`", s), n.pos)) {
        None => Some(Format::Json),
        Some((Some(v), p)) => match v.as_str() {
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            "csv" => Some(Format::Csv {
                header: header.unwrap_or(true),
                delimiter: delimiter.clone().unwrap_or_else(|| ",".into()),
            }),
            other => {
                s.err(
                    p,
                    format!("unknown table format `{other}`"),
                    "use `json` (one object per line), `csv` or `parquet`",
                );
                None
            }
        },
        Some((None, _)) => None,
    };
    if !matches!(format, Some(Format::Csv { .. })) {
        for k in ["header", "delimiter"] {
            if let Some(n) = f.get(k) {
                s.err(
                    n.pos,
                    format!("`{k}` is for `format: csv` tables"),
                    "remove it, or set `format: csv`",
                );
            }
        }
    }
    let cols = f
        .get("columns")
        .map(|n| columns(n, "`columns`", s))
        .unwrap_or_default();
    if cols.is_empty() && f.get("columns").is_none() {
        s.err(
            f.pos,
            format!("{what} has no `columns`"),
            "list them: `columns: [{ name: key, type: string }]`",
        );
    }
    let partitions = f
        .get("partitions")
        .map(|n| columns(n, "`partitions`", s))
        .unwrap_or_default();
    let description = f
        .get("description")
        .and_then(|n| string(n, "`description`", s))
        .unwrap_or_default();
    Some(Table {
        pos,
        keys: f.keys(),
        database: database?,
        location: location?,
        format: format?,
        columns: cols,
        partitions,
        description,
    })
}

fn columns(n: &Node, what: &str, s: &mut Sink) -> Vec<Column> {
    seq(n, what, s)
        .iter()
        .filter_map(|c| {
            let f = fields(c, "a column", &["name", "type", "comment"], s)?;
            let name = f
                .required("name", "a column", s)
                .and_then(|n| string(n, "`name`", s));
            let type_ = f
                .required("type", "a column", s)
                .and_then(|n| string(n, "`type`", s));
            let comment = f
                .get("comment")
                .and_then(|n| string(n, "`comment`", s))
                .unwrap_or_default();
            Some(Column {
                pos: c.pos,
                name: name?,
                type_: type_?,
                comment,
            })
        })
        .collect()
}

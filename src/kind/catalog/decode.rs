//! The `catalog:` section.

use super::{Catalog, Column, Crawler, Database, Format, Location, Table};
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, named, seq, string};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};

pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "catalog",
    Ty::Obj(CATALOG),
    "The Glue Data Catalog: databases, tables over the lab's buckets, crawlers.",
)];

const CATALOG: &[Field] = &[
    Field::opt(
        "databases",
        Ty::Named(&Ty::OrNull(&Ty::Obj(DATABASE))),
        "Glue databases; `name:` alone is one with nothing more to say.",
    ),
    Field::opt(
        "tables",
        Ty::Named(&Ty::Obj(TABLE)),
        "Tables Athena can query.",
    ),
    Field::opt(
        "crawlers",
        Ty::Named(&Ty::Obj(CRAWLER)),
        "Crawlers that find tables under a location.",
    ),
];

const DATABASE: &[Field] = &[
    Field::opt(
        "name",
        Ty::Str,
        "Its name in Glue (default: its name here).",
    ),
    Field::opt("description", Ty::Str, "What it holds."),
    TAGS,
];

/// `{ bucket: NAME, prefix: folder/ }`, shared with Athena's results.
pub(crate) const LOCATION: &[Field] = &[
    Field::req("bucket", Ty::Str, "A bucket of this lab."),
    Field::opt("prefix", Ty::Str, "The folder in it, ending in `/`."),
];

const CRAWLER: &[Field] = &[
    Field::req(
        "database",
        Ty::Str,
        "The database of this lab it writes tables to.",
    ),
    Field::req("location", Ty::Obj(LOCATION), "Where it looks."),
    Field::opt(
        "schedule",
        Ty::Str,
        "A cron expression, `cron(0 6 * * ? *)` (default: on demand).",
    ),
    TAGS,
];

const TABLE: &[Field] = &[
    Field::req(
        "database",
        Ty::Str,
        "The database of this lab it belongs to.",
    ),
    Field::req("location", Ty::Obj(LOCATION), "Where its files are."),
    Field::opt(
        "format",
        Ty::OneOf(&["json", "csv", "parquet"]),
        "`json` (one object per line, the default), `csv` or `parquet`.",
    ),
    Field::opt(
        "header",
        Ty::Bool,
        "csv: the first line names the columns (default true).",
    ),
    Field::opt("delimiter", Ty::Str, "csv: the separator (default `,`)."),
    Field::opt(
        "columns",
        Ty::List(&Ty::Obj(COLUMN)),
        "Its columns, in order.",
    ),
    Field::opt(
        "partitions",
        Ty::List(&Ty::Obj(COLUMN)),
        "Partition columns (folders `key=value/`).",
    ),
    Field::opt("description", Ty::Str, "What it holds."),
];

const COLUMN: &[Field] = &[
    Field::req("name", Ty::Str, "The column's name, lower case."),
    Field::req(
        "type",
        Ty::Str,
        "An Athena type: `string`, `bigint`, `timestamp`, `array<string>`...",
    ),
    Field::opt("comment", Ty::Str, "What it holds."),
];

pub(super) fn catalog(top: &Fields<'_>, d: &mut Decoder) -> Catalog {
    let mut out = Catalog::default();
    let Some(n) = top.get("catalog") else {
        return out;
    };
    let Some(f) = fields(n, "`catalog`", CATALOG, &mut d.sink) else {
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
            let Some(df) = fields(v, &format!("database `{}`", k.name), DATABASE, s) else {
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
            let Some(cf) = fields(v, &format!("crawler `{}`", k.name), CRAWLER, s) else {
                continue;
            };
            let database = cf.get("database").and_then(|n| string(n, "`database`", s));
            let location = cf.get("location").and_then(|n| location(n, s));
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
    let f = fields(n, "a location", LOCATION, s)?;
    let bucket = f.get("bucket").and_then(|n| string(n, "`bucket`", s))?;
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
    let f = fields(n, &what, TABLE, s)?;
    let database = f.get("database").and_then(|n| string(n, "`database`", s));
    let location = f.get("location").and_then(|n| location(n, s));
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
            let f = fields(c, "a column", COLUMN, s)?;
            let name = f.get("name").and_then(|n| string(n, "`name`", s));
            let type_ = f.get("type").and_then(|n| string(n, "`type`", s));
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

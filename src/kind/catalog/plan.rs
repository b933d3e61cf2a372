//! What each declared database, table and crawler should be. A table's columns and
//! location change in place (UpdateTable); a database is the lab's by its tag, and its
//! tables are the lab's through it.

use std::collections::BTreeMap;

use super::{
    CRAWLER, CrawlerDef, CrawlerStep, DATABASE, DbStep, Format, TABLE, Table, TableDef, TableStep,
    Work,
};
use crate::kind::role::{self, ROLE, Role};
use crate::kind::{Ctx, Emit};
use crate::model::OWNER_TAG;
use crate::plan::tags::{diff as tag_diff, fmt as fmt_tags};
use crate::plan::{Addr, Change, Owned};
use crate::template::Vars;

const TEXT_IN: &str = "org.apache.hadoop.mapred.TextInputFormat";
const TEXT_OUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

/// The table parameters labctl sets; others (Glue's own) are left alone.
const MANAGED_PARAMS: &[&str] = &["classification", "EXTERNAL", "skip.header.line.count"];
const MANAGED_SERDE_PARAMS: &[&str] = &["field.delim", "serialization.format"];

/// The table Glue should hold: columns, location, and the SerDe for its format.
pub fn table_def(t: &Table, vars: &Vars) -> TableDef {
    let cols = |c: &[super::Column]| {
        c.iter()
            .map(|c| (c.name.clone(), c.type_.clone(), c.comment.clone()))
            .collect::<Vec<_>>()
    };
    let mut params = BTreeMap::from([("EXTERNAL".to_owned(), "TRUE".to_owned())]);
    let mut serde_params = BTreeMap::new();
    let (serde, input, output, class) = match &t.format {
        Format::Json => (
            "org.openx.data.jsonserde.JsonSerDe",
            TEXT_IN,
            TEXT_OUT,
            "json",
        ),
        Format::Csv { header, delimiter } => {
            serde_params.insert("field.delim".to_owned(), delimiter.clone());
            serde_params.insert("serialization.format".to_owned(), delimiter.clone());
            if *header {
                params.insert("skip.header.line.count".into(), "1".into());
            }
            (
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                TEXT_IN,
                TEXT_OUT,
                "csv",
            )
        }
        Format::Parquet => {
            serde_params.insert("serialization.format".to_owned(), "1".to_owned());
            (
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "parquet",
            )
        }
    };
    params.insert("classification".into(), class.into());
    TableDef {
        location: t.location.url(vars),
        columns: cols(&t.columns),
        partitions: cols(&t.partitions),
        serde: serde.into(),
        input_format: input.into(),
        output_format: output.into(),
        serde_params,
        params,
        description: t.description.clone(),
    }
}

fn show_columns(c: &[(String, String, String)]) -> String {
    if c.is_empty() {
        return "(none)".into();
    }
    c.iter()
        .map(|(n, t, comment)| {
            if comment.is_empty() {
                format!("{n} {t}")
            } else {
                format!("{n} {t} ({comment:?})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn managed(m: &BTreeMap<String, String>, keys: &[&str]) -> BTreeMap<String, String> {
    m.iter()
        .filter(|(k, _)| keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn show_format(d: &TableDef) -> String {
    let class = d.params.get("classification").cloned().unwrap_or_default();
    match class.as_str() {
        "csv" => format!(
            "csv, delimiter {:?}{}",
            d.serde_params
                .get("field.delim")
                .cloned()
                .unwrap_or_default(),
            if d.params.contains_key("skip.header.line.count") {
                ", with a header line"
            } else {
                ""
            }
        ),
        "" => d.serde.clone(),
        c => c.to_owned(),
    }
}

/// The attributes that differ between a live table and the wanted one.
fn table_changes(have: &TableDef, want: &TableDef) -> Vec<Change> {
    let mut out = Vec::new();
    if have.location != want.location {
        out.push(Change::new("location", &have.location, &want.location));
    }
    if have.columns != want.columns {
        out.push(Change::new(
            "columns",
            show_columns(&have.columns),
            show_columns(&want.columns),
        ));
    }
    if have.partitions != want.partitions {
        out.push(Change::new(
            "partitions",
            show_columns(&have.partitions),
            show_columns(&want.partitions),
        ));
    }
    let same_format = have.serde == want.serde
        && have.input_format == want.input_format
        && have.output_format == want.output_format
        && managed(&have.serde_params, MANAGED_SERDE_PARAMS) == want.serde_params
        && managed(&have.params, MANAGED_PARAMS) == want.params;
    if !same_format {
        out.push(Change::new("format", show_format(have), show_format(want)));
    }
    if have.description != want.description {
        out.push(Change::new(
            "description",
            &have.description,
            &want.description,
        ));
    }
    out
}

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let (lab, live, vars) = (cx.lab, &cx.live.catalog, cx.vars);
    let cat = &lab.catalog;

    // Databases: the lab's by their tag.
    let mut ours: BTreeMap<&str, Option<Owned>> = BTreeMap::new();
    for db in cat.databases.values() {
        let name = &db.name;
        let addr = Addr::new(DATABASE, name.clone());
        let tags = cx.tags(&db.tags);
        match live.databases.get(name) {
            None => {
                let a = out.create(
                    addr,
                    Work::Database {
                        name: name.clone(),
                        step: DbStep::Create {
                            description: db.description.clone(),
                            tags: tags.clone(),
                        },
                    },
                );
                if !db.description.is_empty() {
                    a.changes
                        .push(Change::new_value("description", &db.description));
                }
                a.changes.push(Change::new_value("tags", fmt_tags(&tags)));
                ours.insert(name, None);
            }
            Some(l) => {
                let owned = match cx.claim(
                    addr.clone(),
                    l.tags.get(OWNER_TAG).map(String::as_str),
                    "glue database",
                    "rename the database in lab.yaml (Glue database names are per account and region), or delete the other one",
                ) {
                    Ok(o) => o,
                    Err(e) => {
                        out.error(e);
                        continue;
                    }
                };
                let again = || cx.owned(addr.clone(), Some(&lab.name));
                if l.description != db.description
                    && let Some(owned) = again()
                {
                    let a = out.update(
                        owned,
                        Work::Database {
                            name: name.clone(),
                            step: DbStep::Update {
                                description: db.description.clone(),
                            },
                        },
                    );
                    a.changes
                        .push(Change::new("description", &l.description, &db.description));
                }
                if let Some((d, change)) = tag_diff(&l.tags, &tags)
                    && let Some(owned) = again()
                {
                    out.update(
                        owned,
                        Work::Database {
                            name: name.clone(),
                            step: DbStep::Tags(d),
                        },
                    )
                    .changes
                    .push(change);
                }
                ours.insert(name, Some(owned));
            }
        }
    }

    // Tables: in a database of the lab's (declared and ours, or created now).
    for (name, t) in &cat.tables {
        let db = cat.db_name(&t.database);
        let Some(db_owned) = ours.get(db.as_str()) else {
            continue;
        };
        let addr = Addr::new(TABLE, format!("{db}.{name}"));
        let want = table_def(t, vars);
        let have = live.databases.get(&db).and_then(|d| d.tables.get(name));
        match (have, db_owned) {
            (Some(have), Some(_)) => {
                let changes = table_changes(have, &want);
                if changes.is_empty() {
                    continue;
                }
                let owned = cx.owned(addr, Some(&lab.name));
                if let Some(owned) = owned {
                    let a = out.update(
                        owned,
                        Work::Table {
                            database: db.clone(),
                            name: name.clone(),
                            step: TableStep::Update(want),
                        },
                    );
                    a.changes = changes;
                }
            }
            _ => {
                let a = out.create(
                    addr,
                    Work::Table {
                        database: db.clone(),
                        name: name.clone(),
                        step: TableStep::Create(want.clone()),
                    },
                );
                a.after.push(Addr::new(DATABASE, db.clone()));
                a.changes
                    .push(Change::new_value("location", &want.location));
                a.changes
                    .push(Change::new_value("format", show_format(&want)));
                a.changes
                    .push(Change::new_value("columns", show_columns(&want.columns)));
                if !want.partitions.is_empty() {
                    a.changes.push(Change::new_value(
                        "partitions",
                        show_columns(&want.partitions),
                    ));
                }
            }
        }
    }

    // What the lab's databases hold that lab.yaml no longer declares, and the lab's
    // databases it no longer declares: tables first (by USES), then the databases.
    for (db_name, l) in &live.databases {
        let Some(owner) = l.tags.get(OWNER_TAG) else {
            continue;
        };
        let declared_db = cat.databases.values().any(|d| &d.name == db_name);
        for table in l.tables.keys() {
            let declared = declared_db
                && cat
                    .tables
                    .get(table)
                    .is_some_and(|t| &cat.db_name(&t.database) == db_name);
            if declared {
                continue;
            }
            if let Some(owned) =
                cx.owned(Addr::new(TABLE, format!("{db_name}.{table}")), Some(owner))
            {
                out.delete(
                    owned,
                    Work::Table {
                        database: db_name.clone(),
                        name: table.clone(),
                        step: TableStep::Delete,
                    },
                )
                .reason = Some(crate::plan::gone_with(
                    cx.opts,
                    &format!("database {db_name}"),
                ));
            }
        }
        if !declared_db
            && let Some(owned) = cx.owned(Addr::new(DATABASE, db_name.clone()), Some(owner))
        {
            out.delete(
                owned,
                Work::Database {
                    name: db_name.clone(),
                    step: DbStep::Delete,
                },
            );
        }
    }

    crawlers(cx, out);
}

/// The role a crawler runs as: the lab's (its name), or the existing one named.
fn crawler_role(cx: &Ctx<'_>) -> Option<String> {
    match &cx.lab.role {
        Some(Role::Managed(r)) => Some(role::name(r, cx.vars)),
        Some(Role::Existing { name, .. }) => Some(name.clone()),
        None => None,
    }
}

fn crawlers(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let (lab, live) = (cx.lab, &cx.live.catalog);
    let role = crawler_role(cx).unwrap_or_default();
    for (name, c) in &lab.catalog.crawlers {
        let physical = lab.physical(name);
        let addr = Addr::new(CRAWLER, physical.clone());
        let db = lab.catalog.db_name(&c.database);
        let want = CrawlerDef {
            role: role.clone(),
            database: db.clone(),
            targets: vec![c.location.url(cx.vars)],
            schedule: c.schedule.clone(),
        };
        let tags = cx.tags(&c.tags);
        match live.crawlers.get(&physical) {
            None => {
                let a = out.create(
                    addr,
                    Work::Crawler {
                        name: physical.clone(),
                        step: CrawlerStep::Create {
                            def: want.clone(),
                            tags: tags.clone(),
                        },
                    },
                );
                a.after.push(Addr::new(DATABASE, db.clone()));
                if matches!(lab.role, Some(Role::Managed(_))) {
                    a.after.push(Addr::new(ROLE, role.clone()));
                }
                a.changes.push(Change::new_value("role", &want.role));
                a.changes
                    .push(Change::new_value("database", &want.database));
                a.changes
                    .push(Change::new_value("target", want.targets.join(", ")));
                a.changes.push(Change::new_value(
                    "schedule",
                    want.schedule.clone().unwrap_or_else(|| "on demand".into()),
                ));
            }
            Some(l) => {
                let owned = match cx.claim(
                    addr.clone(),
                    l.tags.get(OWNER_TAG).map(String::as_str),
                    "glue crawler",
                    "rename the crawler in lab.yaml, or delete the other one",
                ) {
                    Ok(o) => o,
                    Err(e) => {
                        out.error(e);
                        continue;
                    }
                };
                let have = CrawlerDef {
                    role: l.role.clone(),
                    database: l.database.clone(),
                    targets: l.targets.clone(),
                    schedule: l.schedule.clone(),
                };
                // Glue answers the role as given, or as its ARN: the name is what counts.
                let same_role = have.role.rsplit('/').next() == want.role.rsplit('/').next();
                let mut changes = Vec::new();
                if !same_role {
                    changes.push(Change::new("role", &have.role, &want.role));
                }
                if have.database != want.database {
                    changes.push(Change::new("database", &have.database, &want.database));
                }
                if have.targets != want.targets {
                    changes.push(Change::new(
                        "target",
                        have.targets.join(", "),
                        want.targets.join(", "),
                    ));
                }
                if have.schedule != want.schedule {
                    let s = |x: &Option<String>| x.clone().unwrap_or_else(|| "on demand".into());
                    changes.push(Change::new(
                        "schedule",
                        s(&have.schedule),
                        s(&want.schedule),
                    ));
                }
                if !changes.is_empty()
                    && let Some(again) = cx.owned(addr.clone(), Some(&lab.name))
                {
                    let a = out.update(
                        again,
                        Work::Crawler {
                            name: physical.clone(),
                            step: CrawlerStep::Update(want),
                        },
                    );
                    a.changes = changes;
                    a.after.push(Addr::new(DATABASE, db.clone()));
                }
                if let Some((d, change)) = tag_diff(&l.tags, &tags) {
                    out.update(
                        owned,
                        Work::Crawler {
                            name: physical.clone(),
                            step: CrawlerStep::Tags(d),
                        },
                    )
                    .changes
                    .push(change);
                }
            }
        }
    }
    for (name, l) in &live.crawlers {
        let declared = lab
            .catalog
            .crawlers
            .keys()
            .any(|k| &lab.physical(k) == name);
        if declared {
            continue;
        }
        if let Some(owned) = cx.owned(
            Addr::new(CRAWLER, name.clone()),
            l.tags.get(OWNER_TAG).map(String::as_str),
        ) {
            out.delete(
                owned,
                Work::Crawler {
                    name: name.clone(),
                    step: CrawlerStep::Delete,
                },
            );
        }
    }
}

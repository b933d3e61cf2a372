//! What each declared workgroup and its named queries should be. Settings change in
//! place; a named query moved to another database is made again (Athena cannot move it).

use super::{Config, NAMED_QUERY, QueryStep, WORKGROUP, WgStep, Work, Workgroup};
use crate::kind::{Ctx, Emit};
use crate::model::OWNER_TAG;
use crate::plan::tags::{diff as tag_diff, fmt as fmt_tags};
use crate::plan::{Addr, Change};

const MIB: i64 = 1024 * 1024;

pub fn config(w: &Workgroup, vars: &crate::template::Vars) -> Config {
    Config {
        output: w.results.url(vars),
        enforce: w.enforce,
        cutoff_bytes: Some(w.limit_mb * MIB),
    }
}

fn show_cutoff(c: Option<i64>) -> String {
    match c {
        Some(b) if b % MIB == 0 => format!("{} MB per query", b / MIB),
        Some(b) => format!("{b} bytes per query"),
        None => "none".into(),
    }
}

fn config_changes(have: &Config, want: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    if have.output != want.output {
        out.push(Change::new("results", &have.output, &want.output));
    }
    if have.enforce != want.enforce {
        out.push(Change::new(
            "enforce",
            have.enforce.to_string(),
            want.enforce.to_string(),
        ));
    }
    if have.cutoff_bytes != want.cutoff_bytes {
        out.push(Change::new(
            "bytes scanned limit",
            show_cutoff(have.cutoff_bytes),
            show_cutoff(want.cutoff_bytes),
        ));
    }
    out
}

/// The database a named query runs in: its own, else the lab's only one.
fn database(cx: &Ctx<'_>, q: &super::NamedQuery) -> String {
    let cat = &cx.lab.catalog;
    match &q.database {
        Some(d) if d == "default" => d.clone(),
        Some(d) => cat.db_name(d),
        None => cat
            .databases
            .values()
            .next()
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "default".into()),
    }
}

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let (lab, live) = (cx.lab, &cx.live.athena);
    for (name, w) in &lab.athena.workgroups {
        let physical = lab.physical(name);
        let addr = Addr::new(WORKGROUP, physical.clone());
        let want = config(w, cx.vars);
        let tags = cx.tags(&w.tags);
        let (have_queries, owner) = match live.workgroups.get(&physical) {
            None => {
                let a = out.create(
                    addr,
                    Work::Workgroup {
                        name: physical.clone(),
                        step: WgStep::Create {
                            config: want.clone(),
                            description: w.description.clone(),
                            tags: tags.clone(),
                        },
                    },
                );
                a.changes.push(Change::new_value("results", &want.output));
                a.changes
                    .push(Change::new_value("enforce", want.enforce.to_string()));
                a.changes.push(Change::new_value(
                    "bytes scanned limit",
                    show_cutoff(want.cutoff_bytes),
                ));
                a.changes.push(Change::new_value("tags", fmt_tags(&tags)));
                (None, None)
            }
            Some(l) => {
                let owned = match cx.claim(
                    addr,
                    l.tags.get(OWNER_TAG).map(String::as_str),
                    "athena workgroup",
                    "rename the workgroup in lab.yaml, or delete the other one",
                ) {
                    Ok(o) => o,
                    Err(e) => {
                        out.error(e);
                        continue;
                    }
                };
                let mut changes = config_changes(&l.config, &want);
                if l.description != w.description {
                    changes.push(Change::new("description", &l.description, &w.description));
                }
                if !l.enabled {
                    changes.push(Change::new("state", "disabled", "enabled"));
                }
                if !changes.is_empty()
                    && let Some(again) = cx.owned(wg_addr(&physical), Some(&lab.name))
                {
                    let a = out.update(
                        again,
                        Work::Workgroup {
                            name: physical.clone(),
                            step: WgStep::Update {
                                config: want.clone(),
                                description: w.description.clone(),
                                enable: !l.enabled,
                            },
                        },
                    );
                    a.changes = changes;
                }
                if let Some((d, change)) = tag_diff(&l.tags, &tags) {
                    out.update(
                        owned,
                        Work::Workgroup {
                            name: physical.clone(),
                            step: WgStep::Tags(d),
                        },
                    )
                    .changes
                    .push(change);
                }
                (Some(&l.queries), l.tags.get(OWNER_TAG).cloned())
            }
        };
        let wg_addr = Addr::new(WORKGROUP, physical.clone());
        for (q, nq) in &w.queries {
            let qaddr = Addr::new(NAMED_QUERY, format!("{physical}/{q}"));
            let db = database(cx, nq);
            let work = |step| Work::Query {
                workgroup: physical.clone(),
                name: q.clone(),
                step,
            };
            match have_queries.and_then(|h| h.get(q)) {
                None => {
                    let a = out.create(
                        qaddr,
                        work(QueryStep::Create {
                            sql: nq.sql.clone(),
                            database: db.clone(),
                            description: nq.description.clone(),
                        }),
                    );
                    a.after.push(wg_addr.clone());
                    a.changes.push(Change::new_value("file", &nq.file));
                    a.changes.push(Change::new_value("database", &db));
                }
                Some(l) => {
                    let Some(owned) = cx.owned(qaddr, owner.as_deref()) else {
                        continue;
                    };
                    if l.database != db {
                        let a = out.replace(
                            owned,
                            work(QueryStep::Replace {
                                id: l.id.clone(),
                                sql: nq.sql.clone(),
                                database: db.clone(),
                                description: nq.description.clone(),
                            }),
                        );
                        a.changes.push(
                            Change::new("database", &l.database, &db)
                                .with_note("a named query cannot move: it is made again"),
                        );
                    } else if l.sql != nq.sql || l.description != nq.description {
                        let a = out.update(
                            owned,
                            work(QueryStep::Update {
                                id: l.id.clone(),
                                sql: nq.sql.clone(),
                                description: nq.description.clone(),
                            }),
                        );
                        if l.sql != nq.sql {
                            a.changes.push(Change::new(
                                "sql",
                                format!("{} bytes", l.sql.len()),
                                format!("{} bytes, from {}", nq.sql.len(), nq.file),
                            ));
                        }
                        if l.description != nq.description {
                            a.changes.push(Change::new(
                                "description",
                                &l.description,
                                &nq.description,
                            ));
                        }
                    }
                }
            }
        }
        // Named queries of a workgroup of the lab's that lab.yaml no longer declares.
        for (q, l) in have_queries.into_iter().flatten() {
            if w.queries.contains_key(q) {
                continue;
            }
            if let Some(owned) = cx.owned(
                Addr::new(NAMED_QUERY, format!("{physical}/{q}")),
                owner.as_deref(),
            ) {
                out.delete(owned, work_delete(&physical, q, &l.id)).reason = Some(
                    crate::plan::gone_with(cx.opts, &format!("workgroup {physical}")),
                );
            }
        }
    }
    for (physical, l) in &live.workgroups {
        let declared = lab
            .athena
            .workgroups
            .keys()
            .any(|k| &lab.physical(k) == physical);
        if declared {
            continue;
        }
        if let Some(owned) = cx.owned(
            Addr::new(WORKGROUP, physical.clone()),
            l.tags.get(OWNER_TAG).map(String::as_str),
        ) {
            let a = out.delete(
                owned,
                Work::Workgroup {
                    name: physical.clone(),
                    step: WgStep::Delete,
                },
            );
            if !l.queries.is_empty() {
                a.changes.push(Change::new(
                    "named queries",
                    l.queries.keys().cloned().collect::<Vec<_>>().join(", "),
                    "(deleted with it)",
                ));
            }
        }
    }
}

fn wg_addr(physical: &str) -> Addr {
    Addr::new(WORKGROUP, physical.to_owned())
}

fn work_delete(workgroup: &str, name: &str, id: &str) -> Work {
    Work::Query {
        workgroup: workgroup.to_owned(),
        name: name.to_owned(),
        step: QueryStep::Delete { id: id.to_owned() },
    }
}

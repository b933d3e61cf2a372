//! The catalog planner with hand-made live state: what a user reads for each situation.

use std::path::Path;

use expect_test::{Expect, expect};

use super::plan::table_def;
use super::{Live, LiveCrawler, LiveDatabase};
use crate::kind::{LiveState, diff};
use crate::plan::Options;
use crate::render::human::{Style, plan as render};

const LAB: &str = r#"lab: demo
region: us-east-1
buckets:
  backup: { name: demo-backup }
role:
  name: demo-role
  trust: [lambda.amazonaws.com, glue.amazonaws.com]
catalog:
  databases:
    lab_backups: { description: Backups of the photo lab }
  tables:
    backups:
      database: lab_backups
      location: { bucket: backup, prefix: manifest/ }
      columns:
        - { name: key, type: string }
        - { name: size, type: bigint }
  crawlers:
    raw:
      database: lab_backups
      location: { bucket: backup, prefix: raw/ }
      schedule: cron(0 3 * * ? *)
"#;

fn ours() -> crate::model::Tags {
    [("labctl:lab".to_owned(), "demo".to_owned())].into()
}

fn lab() -> crate::kind::Lab {
    crate::config::parse_str("lab.yaml", LAB, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// The lab applied as declared.
fn in_sync() -> Live {
    let lab = lab();
    let vars = lab.vars("111122223333");
    let (x, _) = crate::config::expand(&lab, &vars);
    let table = table_def(&x.catalog.tables["backups"], &vars);
    Live {
        databases: [(
            "lab_backups".to_owned(),
            LiveDatabase {
                description: "Backups of the photo lab".into(),
                tags: ours(),
                tables: [("backups".to_owned(), table)].into(),
            },
        )]
        .into(),
        crawlers: [(
            "demo-raw".to_owned(),
            LiveCrawler {
                role: "arn:aws:iam::111122223333:role/demo-role".into(),
                database: "lab_backups".into(),
                targets: vec!["s3://demo-backup/raw/".into()],
                schedule: Some("cron(0 3 * * ? *)".into()),
                tags: ours(),
            },
        )]
        .into(),
    }
}

#[track_caller]
fn check(yaml: &str, catalog: Live, expect: Expect) {
    let lab = crate::config::parse_str("lab.yaml", yaml, Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let live = LiveState {
        catalog,
        ..Default::default()
    };
    let p = diff(&lab, &lab.vars("111122223333"), &live, Options::default());
    let mut out = render(&p, &Style { color: false });
    for e in &p.errors {
        out.push_str(&format!(
            "error: {}: {}\n  help: {}\n",
            e.addr, e.message, e.help
        ));
    }
    expect.assert_eq(&out);
}

#[test]
fn a_new_catalog_shows_its_columns_and_goes_in_order() {
    let lab = lab();
    let p = diff(
        &lab,
        &lab.vars("111122223333"),
        &LiveState::default(),
        Options::default(),
    );
    let lines: Vec<String> = p
        .actions
        .iter()
        .filter(|a| a.addr.kind.0.starts_with("glue"))
        .map(|a| {
            let ch: Vec<String> = a
                .changes
                .iter()
                .map(|c| format!("{}: {}", c.attr, c.after))
                .collect();
            format!(
                "{} {} | {}",
                a.addr,
                a.after
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                ch.join("; ")
            )
        })
        .collect();
    expect![[r#"
        [
            "glue database lab_backups  | description: Backups of the photo lab; tags: labctl:lab=demo",
            "glue table lab_backups.backups glue database lab_backups | location: s3://demo-backup/manifest/; format: json; columns: key string, size bigint",
            "glue crawler demo-raw glue database lab_backups,iam role demo-role | role: demo-role; database: lab_backups; target: s3://demo-backup/raw/; schedule: cron(0 3 * * ? *)",
        ]
    "#]]
    .assert_debug_eq(&lines);
}

#[test]
fn in_sync_is_no_change_and_a_column_change_is_an_update_in_place() {
    let p = {
        let lab = lab();
        let live = LiveState {
            catalog: in_sync(),
            ..Default::default()
        };
        diff(&lab, &lab.vars("111122223333"), &live, Options::default())
    };
    assert!(
        p.actions.iter().all(|a| !a.addr.kind.0.starts_with("glue")),
        "{:?}",
        p.actions
            .iter()
            .map(|a| a.addr.to_string())
            .collect::<Vec<_>>()
    );
    check(
        &LAB.replace(
            "{ name: size, type: bigint }",
            "{ name: size, type: int }\n        - { name: etag, type: string }",
        ),
        in_sync(),
        expect![[r#"
            labctl will perform the following actions:

              +   s3 bucket demo-backup
                    versioning: unversioned
                    block_public_access: all on
                    encryption: AES256
                    tags: labctl:lab=demo
              +   iam role demo-role
                    trust: lambda.amazonaws.com, glue.amazonaws.com
              ~   glue table lab_backups.backups
                    columns: key string, size bigint -> key string, size int, etag string

            Plan: 2 to add, 1 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn what_the_lab_no_longer_declares_goes_tables_first_and_nothing_else_is_touched() {
    let mut live = in_sync();
    // Someone else's database, and a table they added to ours.
    live.databases.insert(
        "theirs".into(),
        LiveDatabase {
            tags: [("labctl:lab".to_owned(), "other".to_owned())].into(),
            ..Default::default()
        },
    );
    if let Some(d) = live.databases.get_mut("lab_backups") {
        d.tables.insert("extra".into(), Default::default());
    }
    let yaml = LAB.split("catalog:").next().unwrap_or_default().to_owned();
    let lab = crate::config::parse_str("lab.yaml", &yaml, Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = diff(
        &lab,
        &lab.vars("111122223333"),
        &LiveState {
            catalog: live,
            ..Default::default()
        },
        Options::default(),
    );
    let order: Vec<String> = p
        .actions
        .iter()
        .filter(|a| a.addr.kind.0.starts_with("glue"))
        .map(|a| {
            format!(
                "{} {} after [{}]",
                a.op.symbol(),
                a.addr,
                a.deps
                    .iter()
                    .map(|d| p.actions[*d].addr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    expect![[r#"
        [
            "- glue table lab_backups.backups after []",
            "- glue table lab_backups.extra after []",
            "- glue database lab_backups after [glue table lab_backups.backups, glue table lab_backups.extra, glue crawler demo-raw]",
            "- glue crawler demo-raw after []",
        ]
    "#]]
    .assert_debug_eq(&order);
}

#[test]
fn a_database_of_the_same_name_that_is_not_the_labs_is_a_plan_error() {
    let mut live = in_sync();
    if let Some(d) = live.databases.get_mut("lab_backups") {
        d.tags.clear();
    }
    check(
        LAB,
        live,
        expect![[r#"
            labctl will perform the following actions:

              +   s3 bucket demo-backup
                    versioning: unversioned
                    block_public_access: all on
                    encryption: AES256
                    tags: labctl:lab=demo
              +   iam role demo-role
                    trust: lambda.amazonaws.com, glue.amazonaws.com

            Plan: 2 to add, 0 to change, 0 to destroy.
            error: glue database lab_backups: glue database `lab_backups` exists without labctl's tag
              help: rename the database in lab.yaml (Glue database names are per account and region), or delete the other one
        "#]],
    );
}

#[test]
fn the_rules_of_glue_are_checked_offline() {
    let bad = |from: &str, to: &str| -> String {
        let y = LAB.replacen(from, to, 1);
        match crate::config::parse_str("lab.yaml", &y, Path::new(".")) {
            Ok(_) => String::new(),
            Err(d) => d
                .items
                .iter()
                .map(|i| format!("{}:{} {}", i.pos.line, i.message, i.help))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    };
    assert!(bad("lab_backups: {", "Lab-Backups: {").contains("is not valid"));
    assert!(
        bad(
            "database: lab_backups\n      location",
            "database: lab_backup\n      location"
        )
        .contains("did you mean `lab_backups`?")
    );
    assert!(
        bad("{ name: size, type: bigint }", "{ name: size, type: long }")
            .contains("`long` is not an Athena type")
    );
    assert!(
        bad(
            "{ name: size, type: bigint }",
            "{ name: key, type: bigint }"
        )
        .contains("declared twice")
    );
    assert!(
        bad(
            "{ bucket: backup, prefix: manifest/ }",
            "{ bucket: backups, prefix: manifest/ }"
        )
        .contains("did you mean `backup`?")
    );
    assert!(bad("prefix: manifest/", "prefix: manifest").contains("is not a folder"));
    assert!(bad("cron(0 3 * * ? *)", "daily").contains("is not a Glue schedule"));
    assert!(
        bad(
            "trust: [lambda.amazonaws.com, glue.amazonaws.com]",
            "trust: [lambda.amazonaws.com]"
        )
        .contains("does not trust Glue")
    );
    assert!(
        bad("      columns:\n", "      format: xml\n      columns:\n")
            .contains("unknown table format `xml`")
    );
    assert!(
        bad("      columns:\n", "      header: true\n      columns:\n")
            .contains("is for `format: csv` tables")
    );
    assert!(
        bad(
            "      columns:\n",
            "      format: csv\n      delimiter: \"ab\"\n      columns:\n"
        )
        .contains("one character")
    );
}

//! The Athena planner with hand-made live state, and its offline rules.

use std::path::Path;

use expect_test::expect;

use super::plan::config;
use super::{Live, LiveQuery, LiveWorkgroup};
use crate::kind::{LiveState, diff};
use crate::plan::Options;

fn lab_yaml(dir: &Path) -> String {
    std::fs::write(
        dir.join("largest.sql"),
        "SELECT key, size FROM backups ORDER BY size DESC LIMIT 10\n",
    )
    .unwrap_or_default();
    r#"lab: demo
region: us-east-1
buckets:
  backup: { name: demo-backup }
catalog:
  databases:
    lab_backups: {}
  tables:
    backups:
      database: lab_backups
      location: { bucket: backup, prefix: manifest/ }
      columns: [{ name: key, type: string }, { name: size, type: bigint }]
athena:
  workgroups:
    lab:
      results: { bucket: backup, prefix: athena-results/ }
      queries:
        largest: largest.sql
"#
    .to_owned()
}

fn parse(dir: &Path, yaml: &str) -> Result<crate::kind::Lab, String> {
    crate::config::parse_str("lab.yaml", yaml, dir).map_err(|d| {
        d.items
            .iter()
            .map(|i| format!("{}: {} — {}", i.pos.line, i.message, i.help))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn ours() -> crate::model::Tags {
    [("labctl:lab".to_owned(), "demo".to_owned())].into()
}

fn athena_lines(p: &crate::kind::Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter(|a| a.addr.kind.0.starts_with("athena"))
        .map(|a| {
            let ch: Vec<String> = a
                .changes
                .iter()
                .map(|c| {
                    if c.before.is_empty() {
                        format!("{}: {}", c.attr, c.after)
                    } else {
                        format!("{}: {} -> {}", c.attr, c.before, c.after)
                    }
                })
                .collect();
            format!("{} {} | {}", a.op.symbol(), a.addr, ch.join("; "))
        })
        .collect()
}

#[test]
fn a_workgroup_is_made_with_its_budget_and_queries_and_kept_in_sync() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let lab = parse(dir.path(), &lab_yaml(dir.path())).unwrap_or_else(|e| panic!("{e}"));
    let vars = lab.vars("111122223333");
    let p = diff(&lab, &vars, &LiveState::default(), Options::default());
    expect![[r#"
        [
            "+ athena workgroup demo-lab | results: s3://demo-backup/athena-results/; enforce: true; bytes scanned limit: 100 MB per query; tags: labctl:lab=demo",
            "+ athena named query demo-lab/largest | file: largest.sql; database: lab_backups",
        ]
    "#]]
    .assert_debug_eq(&athena_lines(&p));

    // As applied: nothing to do. Then a setting changed by hand, the query edited and
    // one added by hand to the lab's workgroup.
    let (x, _) = crate::config::expand(&lab, &vars);
    let w = &x.athena.workgroups["lab"];
    let applied = LiveWorkgroup {
        enabled: true,
        config: config(w, &vars),
        description: String::new(),
        tags: ours(),
        queries: [(
            "largest".to_owned(),
            LiveQuery {
                id: "q-1".into(),
                sql: w.queries["largest"].sql.clone(),
                database: "lab_backups".into(),
                description: String::new(),
            },
        )]
        .into(),
    };
    let live = |wg: LiveWorkgroup| LiveState {
        athena: Live {
            workgroups: [("demo-lab".to_owned(), wg)].into(),
        },
        ..Default::default()
    };
    let p = diff(&lab, &vars, &live(applied.clone()), Options::default());
    assert!(athena_lines(&p).is_empty(), "{:?}", athena_lines(&p));
    let mut drifted = applied.clone();
    drifted.config.enforce = false;
    drifted.config.cutoff_bytes = None;
    drifted.enabled = false;
    if let Some(q) = drifted.queries.get_mut("largest") {
        q.sql = "SELECT 1".into();
    }
    drifted.queries.insert(
        "mine".into(),
        LiveQuery {
            id: "q-2".into(),
            sql: "SELECT 2".into(),
            database: "default".into(),
            description: String::new(),
        },
    );
    let p = diff(&lab, &vars, &live(drifted), Options::default());
    expect![[r#"
        [
            "~ athena workgroup demo-lab | enforce: false -> true; bytes scanned limit: none -> 100 MB per query; state: disabled -> enabled",
            "~ athena named query demo-lab/largest | sql: 8 bytes -> 58 bytes, from largest.sql",
            "- athena named query demo-lab/mine | ",
        ]
    "#]]
    .assert_debug_eq(&athena_lines(&p));

    // Someone else's workgroup of the same name is never taken over.
    let mut theirs = applied;
    theirs.tags.clear();
    let p = diff(&lab, &vars, &live(theirs), Options::default());
    assert!(
        p.errors
            .iter()
            .any(|e| e.message.contains("exists without labctl's tag")),
        "{:?}",
        p.errors
    );

    // Destroy: the workgroup goes with its queries, in one call.
    let p = diff(
        &lab.emptied(),
        &vars,
        &live(LiveWorkgroup {
            tags: ours(),
            queries: [("largest".to_owned(), LiveQuery::default())].into(),
            ..Default::default()
        }),
        Options::default(),
    );
    expect![[r#"
        [
            "- athena workgroup demo-lab | named queries: largest -> (deleted with it)",
        ]
    "#]]
    .assert_debug_eq(&athena_lines(&p));
}

#[test]
fn athena_rules_are_checked_offline() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let base = lab_yaml(dir.path());
    let bad = |from: &str, to: &str| {
        parse(dir.path(), &base.replacen(from, to, 1))
            .err()
            .unwrap_or_default()
    };
    assert!(
        bad("prefix: athena-results/", "prefix: manifest/")
            .contains("would land where table `backups` reads")
    );
    assert!(
        bad("prefix: athena-results/", "prefix: \"\"")
            .contains("would land where table `backups` reads"),
        "the whole bucket holds the table's folder"
    );
    assert!(bad("largest: largest.sql", "largest: missing.sql").contains("cannot read query file"));
    assert!(
        bad(
            "      queries:",
            "      bytes_scanned_limit_mb: 5\n      queries:"
        )
        .contains("below Athena's least, 10 MB")
    );
    assert!(
        bad("results: { bucket: backup,", "results: { bucket: backups,")
            .contains("did you mean `backup`?")
    );
    assert!(bad("    lab:\n", "    \"lab lab\":\n").contains("is not valid"));
    let two_dbs = base.replace(
        "    lab_backups: {}\n",
        "    lab_backups: {}\n    other_db: {}\n",
    );
    assert!(
        parse(dir.path(), &two_dbs)
            .err()
            .unwrap_or_default()
            .contains("which one does it run in?")
    );
    assert!(
        bad(
            "largest: largest.sql",
            "largest: { file: largest.sql, database: lab_backup }"
        )
        .contains("did you mean `lab_backups`?")
    );
}

//! The commands around the engine, as a user first meets them: `init` (a lab that
//! applies and verifies as written), `outputs`, shell completions and the manual page.

use std::path::Path;

use crate::harness::{labctl, moto};

fn labctl_in(dir: &Path, args: &[&str]) -> crate::harness::Run {
    labctl(moto(), &dir.join("lab.yaml"), args)
}

#[tokio::test]
async fn a_minimal_lab_from_init_applies_verifies_and_destroys_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-init-min");
    let dir_s = dir.display().to_string();
    let out = labctl_in(tmp.path(), &["init", "--template", "minimal", &dir_s])
        .ok()
        .stdout();
    assert!(
        out.contains("lab.yaml") && out.contains("lambdas/backup/app.py"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Next: cd {dir_s} && labctl plan")),
        "{out}"
    );
    let lab = std::fs::read_to_string(dir.join("lab.yaml")).unwrap();
    assert!(
        lab.contains("\nlab: t-init-min\n"),
        "named after its folder:\n{lab}"
    );

    let v = labctl_in(&dir, &["validate"]).ok().stdout();
    assert!(v.contains("valid"), "{v}");
    let before = labctl_in(&dir, &["outputs"]).ok().stdout();
    assert!(before.contains("Nothing of the lab exists yet"), "{before}");
    labctl_in(&dir, &["apply", "--auto-approve"]).ok();

    // What a student needs next, read from AWS, as JSON for scripts.
    let o: serde_json::Value =
        serde_json::from_str(&labctl_in(&dir, &["outputs", "--json"]).ok().stdout()).unwrap();
    assert_eq!(o["lab"], "t-init-min");
    let source = o["buckets"]["source"]["name"].as_str().unwrap();
    assert!(source.starts_with("t-init-min-source-"), "{o:#}");
    assert_eq!(o["buckets"]["source"]["exists"], true);
    assert!(
        crate::harness::s3()
            .head_bucket()
            .bucket(source)
            .send()
            .await
            .is_ok(),
        "the named bucket is the real one"
    );
    let arn = o["functions"]["backup"]["arn"].as_str().unwrap();
    assert!(arn.ends_with(":function:t-init-min-backup"), "{arn}");
    assert_eq!(o["functions"]["backup"]["exists"], true);
    assert!(
        o["buckets"]["source"]["console"].is_null(),
        "no console on an emulator"
    );
    let report = labctl_in(&dir, &["verify"]).ok().stdout();
    assert!(report.contains("backup-copies-files"), "{report}");
    labctl_in(&dir, &["plan", "--detailed-exitcode"]).code_is(0);
    labctl_in(&dir, &["destroy", "--auto-approve", "--empty-buckets"]).ok();
    let after = labctl_in(&dir, &["outputs", "--json"]).ok().stdout();
    assert!(after.contains(r#""exists":false"#), "{after}");
}

#[test]
fn init_writes_every_template_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    for t in ["course", "academy", "minimal"] {
        let dir = tmp.path().join(format!("t-init-{t}"));
        let d = dir.display().to_string();
        labctl_in(tmp.path(), &["init", "--template", t, &d]).ok();
        let v = labctl_in(&dir, &["validate"]).ok().stdout();
        assert!(v.contains("valid"), "{t}: {v}");
    }
    // Into a folder that has a lab: refused, and nothing is touched.
    let dir = tmp.path().join("t-init-course");
    std::fs::write(dir.join("lab.yaml"), "mine").unwrap();
    let r = labctl_in(tmp.path(), &["init", &dir.display().to_string()]).code_is(1);
    assert!(r.stderr().contains("never overwrites"), "{}", r.stderr());
    assert_eq!(
        std::fs::read_to_string(dir.join("lab.yaml")).unwrap(),
        "mine"
    );
}

#[test]
fn completions_and_the_manual_page_cover_every_command() {
    let none = Path::new("/nonexistent");
    for (shell, mark) in [
        ("bash", "_labctl()"),
        ("zsh", "#compdef labctl"),
        ("fish", "complete -c labctl"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = labctl_in(none, &["completions", shell]).ok().stdout();
        assert!(out.contains(mark), "{shell}:\n{out}");
        for cmd in [
            "validate", "plan", "apply", "destroy", "verify", "init", "outputs", "graph",
        ] {
            assert!(out.contains(cmd), "{shell} completes no `{cmd}`");
        }
    }
    let man = labctl_in(none, &["man"]).ok().stdout();
    assert!(
        man.starts_with(".ie") || man.contains(".TH labctl"),
        "{man}"
    );
    assert!(
        man.contains("verify") && man.contains("\\-\\-roster"),
        "{man}"
    );
    labctl_in(none, &["completions", "tcsh"]).code_is(1);
}

#[test]
fn the_graph_shows_what_sets_what_off_and_the_readme_shows_the_shipped_labs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let g = labctl(moto(), &root.join("lab.yaml"), &["graph"])
        .ok()
        .stdout();
    for edge in [
        r#"bucket_source -->|"ObjectCreated:*"| fn_backup"#,
        r#"bucket_source -->|"ObjectCreated:* *.jpg .jpeg"| rule_photo_lab_compress_0"#,
        r#"rule_photo_lab_compress_0 -->|"invokes"| fn_compress"#,
        r#"fn_backup -->|"writes"| bucket_backup"#,
        r#"fn_compress -->|"writes"| bucket_backup"#,
        r#"fn_compress -.->|"uses"| layer_pillow"#,
        r#"instance_web -.->|"in"| subnet_lab_a"#,
    ] {
        assert!(g.contains(edge), "no `{edge}` in:\n{g}");
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```mermaid\n{g}```")),
        "README's picture is not `labctl graph` of lab.yaml; it is now:\n{g}"
    );
    let dot = labctl(
        moto(),
        &root.join("lab.yaml"),
        &["graph", "--format", "dot"],
    )
    .ok()
    .stdout();
    assert!(
        dot.starts_with("digraph lab {")
            && dot.contains("bucket_source -> rule_photo_lab_compress_0")
            && dot.trim_end().ends_with('}'),
        "{dot}"
    );
}

#[test]
fn quiet_apply_and_destroy_print_only_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-quiet");
    labctl_in(
        tmp.path(),
        &["init", "--template", "minimal", &dir.display().to_string()],
    )
    .ok();
    let loud = labctl_in(&dir, &["plan"]).ok().stdout();
    assert!(loud.contains("s3 bucket t-quiet-source"), "{loud}");
    let out = labctl_in(&dir, &["apply", "--auto-approve", "--quiet"])
        .ok()
        .stdout();
    assert!(!out.contains("s3 bucket t-quiet-source"), "no plan:\n{out}");
    assert!(!out.contains("..."), "no progress:\n{out}");
    assert!(out.contains("Apply"), "the summary:\n{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    let out = labctl_in(
        &dir,
        &["destroy", "--auto-approve", "--empty-buckets", "-q"],
    )
    .ok()
    .stdout();
    assert_eq!(out.trim().lines().count(), 1, "{out}");
}

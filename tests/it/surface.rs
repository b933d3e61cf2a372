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
fn the_shipped_schema_is_the_one_labctl_prints_and_init_writes_it_beside_the_lab() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let printed = labctl_in(Path::new("/nonexistent"), &["schema"])
        .ok()
        .stdout();
    let shipped = std::fs::read_to_string(root.join("lab.schema.json")).unwrap();
    assert!(
        printed == shipped,
        "lab.schema.json is not `labctl schema`: run `labctl schema > lab.schema.json`"
    );
    let s: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(jsonschema::meta::is_valid(&s), "not a valid JSON Schema");
    // An editor completes the keys under a function, with what each means.
    let function = &s["properties"]["functions"]["additionalProperties"];
    assert_eq!(function["required"], serde_json::json!(["code", "handler"]));
    assert!(
        function["properties"]["memory"]["description"]
            .as_str()
            .unwrap()
            .contains("128"),
        "{function:#}"
    );
    for lab in ["lab.yaml", "lab.academy.yaml"] {
        let text = std::fs::read_to_string(root.join(lab)).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=./lab.schema.json\n"),
            "{lab} does not name its schema"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-init-schema");
    labctl_in(
        tmp.path(),
        &["init", "--template", "minimal", &dir.display().to_string()],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(dir.join("lab.schema.json")).unwrap(),
        shipped
    );
    assert!(
        std::fs::read_to_string(dir.join("lab.yaml"))
            .unwrap()
            .starts_with("# yaml-language-server: $schema=./lab.schema.json\n")
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

/// cfn-lint from the project's venv (requirements-dev.txt), run offline.
fn cfn_lint(templates: &[std::path::PathBuf]) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("LABCTL_CFN_LINT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/cfn-lint"));
    let out = std::process::Command::new(&bin)
        .args(["--format", "parseable"])
        .args(templates)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test.sh installs it)", bin.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The shipped lab with every kind of thing the export writes: a group admitting
/// another, no egress, a created key, an instance profile, a crawler, KMS, lifecycle.
fn kitchen_sink(root: &Path) -> String {
    let r = root.display();
    std::fs::read_to_string(root.join("lab.yaml"))
        .unwrap()
        .replace("code: lambdas/", &format!("code: {r}/lambdas/"))
        .replace(": queries/", &format!(": {r}/queries/"))
        .replace(
            "        - { protocol: udp, ports: 60000-61000, cidr: 203.0.113.0/24 }   # mosh\n",
            "        - { protocol: udp, ports: 60000-61000, cidr: 203.0.113.0/24 }\n        - { protocol: tcp, port: 443, group: web }\n      egress: []\n    web:\n      description: HTTPS\n      ingress:\n        - { protocol: tcp, port: 22, group: ssh }\n        - { protocol: icmp, cidr: 10.0.0.0/8 }\n",
        )
        .replace(
            "    root_volume: { size: 8, type: gp3 }\n",
            "    root_volume: { size: 16, type: gp3 }\n    key: { create: true }\n    instance_profile: { role: true }\n    user_data: |\n      #!/bin/sh\n      echo hi\n",
        )
        .replace(
            "trust: [lambda.amazonaws.com]",
            "trust: [lambda.amazonaws.com, ec2.amazonaws.com, glue.amazonaws.com]",
        )
        .replace(
            "athena:\n",
            "  crawlers:\n    finder: { database: lab_backups, location: { bucket: backup, prefix: manifest/ }, schedule: cron(0 6 * * ? *) }\nathena:\n",
        )
}

#[test]
fn every_exported_template_deploys_as_cfn_lint_sees_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let sink = tmp.path().join("sink.yaml");
    std::fs::write(&sink, kitchen_sink(root)).unwrap();
    let min = tmp.path().join("t-export-min");
    labctl_in(
        tmp.path(),
        &["init", "--template", "minimal", &min.display().to_string()],
    )
    .ok();
    let mut templates = Vec::new();
    for (i, lab) in [
        root.join("lab.yaml"),
        root.join("lab.academy.yaml"),
        min.join("lab.yaml"),
        sink.clone(),
    ]
    .iter()
    .enumerate()
    {
        labctl(moto(), lab, &["validate"]).ok();
        let out = tmp.path().join(format!("{i}.cfn.json"));
        labctl(
            moto(),
            lab,
            &["export", "cloudformation", "-o", &out.display().to_string()],
        )
        .ok();
        templates.push(out);
    }
    let (code, report) = cfn_lint(&templates);
    // cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8 informational.
    assert_eq!(code & 3, 0, "cfn-lint found errors:\n{report}");

    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&templates[3]).unwrap()).unwrap();
    let r = &t["Resources"];
    // The bucket's notification is written after the permission S3 tests it against,
    // whose source is the bucket's ARN written out: no cycle through the bucket.
    assert_eq!(
        r["BucketSource"]["DependsOn"],
        serde_json::json!(["FunctionBackupPermissionSource"])
    );
    assert_eq!(
        r["FunctionBackupPermissionSource"]["Properties"]["SourceArn"],
        serde_json::json!({ "Fn::Sub": "arn:aws:s3:::photo-lab-source-${AWS::AccountId}" })
    );
    assert_eq!(
        r["BucketSource"]["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"],
        serde_json::json!({ "EventBridgeEnabled": true })
    );
    for kept in ["BucketSource", "BucketBackup", "LayerPillow"] {
        assert_eq!(r[kept]["DeletionPolicy"], "Retain", "{kept}");
        assert_eq!(r[kept]["UpdateReplacePolicy"], "Retain", "{kept}");
    }
    let tags = r["FunctionCompress"]["Properties"]["Tags"]
        .as_array()
        .unwrap();
    for (k, v) in [("labctl:lab", "photo-lab"), ("course", "cloud-101")] {
        assert!(
            tags.contains(&serde_json::json!({ "Key": k, "Value": v })),
            "{tags:?}"
        );
    }
    assert_eq!(
        r["SecurityGroupWebIngress0"]["Properties"]["SourceSecurityGroupId"],
        serde_json::json!({ "Fn::GetAtt": ["SecurityGroupSsh", "GroupId"] })
    );
    let params = t["Parameters"].as_object().unwrap();
    assert!(
        params.contains_key("ArtifactBucket") && params.contains_key("VpcId"),
        "{params:?}"
    );

    // The zips the template names, at its keys: the function's as apply zips it.
    let dir = tmp.path().join("artifacts");
    labctl(
        moto(),
        &min.join("lab.yaml"),
        &[
            "export",
            "cloudformation",
            "-o",
            &tmp.path().join("m.json").display().to_string(),
            "--artifacts",
            &dir.display().to_string(),
        ],
    )
    .ok();
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("m.json")).unwrap()).unwrap();
    let key = m["Resources"]["FunctionBackup"]["Properties"]["Code"]["S3Key"]
        .as_str()
        .unwrap();
    let zip = std::fs::read(dir.join(key)).unwrap();
    assert_eq!(
        zip,
        labctl::package::zip_dir(&min.join("lambdas/backup")).unwrap()
    );
}

#[test]
fn a_broken_lab_is_not_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("lab.yaml");
    std::fs::write(
        &lab,
        "lab: t-export-bad\nregion: us-east-1\nbuckets: { a: { nme: x } }\n",
    )
    .unwrap();
    let out = tmp.path().join("t.json");
    let r = labctl(
        moto(),
        &lab,
        &["export", "cloudformation", "-o", &out.display().to_string()],
    )
    .code_is(1);
    assert!(r.stderr().contains("lab.yaml:3:"), "{}", r.stderr());
    assert!(!out.exists());
}

#[test]
fn on_a_terminal_running_actions_are_redrawn_in_place_and_piped_output_is_plain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-tty");
    labctl_in(
        tmp.path(),
        &["init", "--template", "minimal", &dir.display().to_string()],
    )
    .ok();
    let lab = dir.join("lab.yaml");
    let r = crate::harness::labctl_on_terminal(moto(), &lab, &["apply", "--auto-approve"]).ok();
    let screen = r.stdout();
    // The board goes back over itself (`ESC[nF ESC[J`) as actions finish...
    assert!(screen.contains("\x1b[1F\x1b[J"), "{screen:?}");
    assert!(
        screen.contains("  + lambda function t-tty-backup: creating... "),
        "{screen:?}"
    );
    // ...and every finished line stays, with the summary last.
    assert!(
        screen.contains("+ lambda function t-tty-backup: created"),
        "{screen:?}"
    );
    assert!(
        screen.contains("Apply: 6 added, 0 changed, 0 destroyed"),
        "{screen:?}"
    );
    // Piped, the same run is plain lines.
    let piped = labctl_in(&dir, &["destroy", "--auto-approve", "--empty-buckets"])
        .ok()
        .stdout();
    assert!(!piped.contains('\x1b'), "{piped:?}");
    assert!(
        piped.contains("- lambda function t-tty-backup: deleting...\n"),
        "{piped}"
    );
}

//! What a user reads, byte for byte: plan text and JSON of the shipped labs, cold, in
//! sync, after an edit of every kind, and on destroy. Refactors must leave these alone.

use expect_test::{ExpectFile, expect_file};

use crate::harness::{Lab, iam, shipped_lab};

/// Ids AWS makes up (subnets, groups, VPCs) differ per run; everything else is stable.
fn stable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for prefix in ["subnet-", "sg-", "vpc-"] {
            if let Some(tail) = rest.strip_prefix(prefix) {
                let hex = tail.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
                if hex >= 8 {
                    out.push_str(prefix);
                    out.push_str("ID");
                    rest = &tail[hex..];
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[track_caller]
fn check(text: String, expect: ExpectFile) {
    // The tests point lab files at this checkout's folders, wherever it is.
    let text = text.replace(env!("CARGO_MANIFEST_DIR"), "<checkout>");
    expect.assert_eq(&stable(&text));
}

/// The edit: a function and its layer dropped, a setting of every other kind changed.
fn edited(yaml: &str) -> String {
    let compress = yaml
        .find("  compress:\n")
        .and_then(|start| {
            yaml[start..]
                .find("\nnetwork:")
                .map(|len| (start, start + len))
        })
        .unwrap();
    let mut y = format!("{}{}", &yaml[..compress.0], &yaml[compress.1 + 1..]);
    for (from, to) in [
        (
            "layers:\n  pillow:\n    requirements: [Pillow==11.1.0]\n    runtimes: [python3.12]\n    architecture: x86_64\n\n",
            "",
        ),
        (
            "timeout: 60\n    memory: 256",
            "timeout: 30\n    memory: 256",
        ),
        (
            "tags: { purpose: backup }",
            "tags: { purpose: backup, owner: staff }",
        ),
        ("ports: 60000-61000", "ports: 60000-60100"),
        (
            "{ effect: Allow, actions: [s3:ListBucket]",
            "{ effect: Allow, actions: [s3:ListBucket, s3:GetBucketLocation]",
        ),
    ] {
        assert!(y.contains(from), "{from}");
        y = y.replace(from, to);
    }
    let b = y.find("    lab-b:").unwrap();
    let e = b + y[b..].find('\n').unwrap() + 1;
    y.replace_range(b..e, "");
    y
}

#[tokio::test]
async fn shipped_lab_plans_read_the_same() {
    let name = "t-snap";
    let yaml = shipped_lab(name, 108);
    let lab = Lab::new(name, &yaml);
    check(
        lab.run(&["plan"]).ok().stdout(),
        expect_file!["snapshots/cold.txt"],
    );
    check(
        lab.run(&["plan", "--json"]).ok().stdout(),
        expect_file!["snapshots/cold.json"],
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    check(
        lab.run(&["plan"]).ok().stdout(),
        expect_file!["snapshots/in-sync.txt"],
    );

    lab.write(&edited(&yaml));
    check(
        lab.run(&["plan"]).ok().stdout(),
        expect_file!["snapshots/edited.txt"],
    );
    check(
        lab.run(&["plan", "--json"]).ok().stdout(),
        expect_file!["snapshots/edited.json"],
    );

    // Destroy shows its plan, then refuses without a terminal to confirm on.
    lab.write(&yaml);
    check(
        lab.run(&["destroy"]).code_is(1).stdout(),
        expect_file!["snapshots/destroy.txt"],
    );
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

#[tokio::test]
async fn academy_lab_plans_read_the_same() {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    // LabRole as AWS Academy has it (once per moto server: tests share it).
    let _ = iam()
        .create_role()
        .role_name("LabRole")
        .assume_role_policy_document(trust)
        .send()
        .await;
    crate::harness::academy_extras().await;
    let name = "t-snap-academy";
    let academy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.academy.yaml");
    let yaml = crate::harness::adapt(&std::fs::read_to_string(academy).unwrap(), name, 98);
    let lab = Lab::new(name, &yaml);
    check(
        lab.run(&["plan"]).ok().stdout(),
        expect_file!["snapshots/academy-cold.txt"],
    );
}

//! Offline checks through the binary: a broken lab is rejected before any AWS call.

use crate::harness::{Lab, labctl};

/// A port nothing listens on: any AWS call would fail with a connection error, so
/// getting the lab file's error instead shows no call was attempted.
const CLOSED: &str = "http://127.0.0.1:9";

#[test]
fn shipped_labs_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["lab.yaml", "lab.academy.yaml"] {
        let r = labctl(CLOSED, &root.join(f), &["validate"]).ok();
        assert!(r.stdout().contains("valid"), "{}", r.stdout());
    }
}

#[test]
fn every_problem_is_reported_with_its_line_and_no_aws_call() {
    let lab = Lab::new(
        "x",
        "lab: Bad_Name\nregion: us-east-1\nbuckets:\n  a:\n    name: UPPER\n    versionin: true\n  b:\n    name: ok-bucket-name\n    lifecycle:\n      - id: r\n        transitions: [{ days: 10, storage_class: STANDARD_IA }]\n",
    );
    for cmd in [
        &["validate"][..],
        &["plan"],
        &["apply", "--auto-approve"],
        &["destroy", "--auto-approve"],
    ] {
        let r = lab.run_at(CLOSED, cmd).code_is(1);
        let err = r.stderr();
        let file = lab.path().display().to_string();
        assert!(
            err.contains(&format!("{file}:1:6: lab name `Bad_Name`")),
            "{err}"
        );
        assert!(
            err.contains(&format!("{file}:5:11: bucket name `UPPER`")),
            "{err}"
        );
        assert!(
            err.contains(&format!("{file}:6:5: unknown key `versionin`"))
                && err.contains("did you mean `versioning`"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{file}:11:23: 'Days' for STANDARD_IA must be at least 30"
            )),
            "{err}"
        );
        assert!(
            !err.contains("dispatch") && !err.contains("connect"),
            "an AWS call was attempted: {err}"
        );
    }
}

#[test]
fn empty_and_binary_files_are_rejected() {
    let lab = Lab::new("x", "");
    assert!(
        lab.run_at(CLOSED, &["validate"])
            .code_is(1)
            .stderr()
            .contains(":1:1: the lab file is empty")
    );
    std::fs::write(lab.path(), [0u8, 159, 146, 150, 0, 1]).unwrap();
    assert!(
        lab.run_at(CLOSED, &["plan"])
            .code_is(1)
            .stderr()
            .contains(":1:1:")
    );
}

#[test]
fn usage_errors_exit_1_not_2() {
    // 2 means "drift" to `plan --detailed-exitcode`; a typo must not look like drift.
    let lab = Lab::new("x", "lab: a\nregion: us-east-1\n");
    lab.run_at(CLOSED, &["plan", "--no-such-flag"]).code_is(1);
}

#[test]
fn missing_credentials_fail_fast_with_advice() {
    let lab = Lab::new("x", "lab: nocreds\nregion: us-east-1\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("-f")
        .arg(lab.path())
        .arg("plan")
        .env_clear()
        .env("HOME", lab.dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no AWS credentials found") && err.contains("demo.sh"),
        "{err}"
    );
}

#[test]
fn no_credentials_and_a_metadata_service_that_never_answers_is_told_at_once() {
    // Off EC2 on a filtered network, the instance metadata address takes a connection
    // and answers nothing: labctl gives it a moment, not the SDK's seconds.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < until {
            match silent.accept() {
                Ok((c, _)) => conns.push(c),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
            if conns.len() > 8 {
                break;
            }
        }
        conns.len()
    });
    let lab = Lab::new("x", "lab: nocreds\nregion: us-east-1\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("-f")
        .arg(lab.path())
        .arg("plan")
        .env_clear()
        .env("HOME", lab.dir.path())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{addr}"),
        )
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no AWS credentials found"), "{err}");
    drop(held);
}

#[test]
fn a_region_given_on_the_command_line_is_checked_like_the_files() {
    // 63 characters in us-east-1 (the longest name S3 takes), 68 in ap-southeast-4.
    let lab = Lab::new(
        "x",
        "lab: x\nregion: us-east-1\nbuckets:\n  a:\n    name: ${lab}-${region}-${account_id}-abcdefghijklmnopqrstuvwxyz0123456789ab\n",
    );
    lab.run_at(CLOSED, &["validate"]).ok();
    let r = lab
        .run_at(CLOSED, &["--region", "ap-southeast-4", "validate"])
        .code_is(1);
    assert!(
        r.stderr().contains(":5:11: bucket name `x-ap-southeast-4-"),
        "{}",
        r.stderr()
    );
    let r = lab
        .run_at(CLOSED, &["--region", "us-east-9", "plan"])
        .code_is(1);
    assert!(
        r.stderr()
            .contains("unknown region `us-east-9` given with --region"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_dotted_bucket_name_is_valid_with_a_warning() {
    let lab = Lab::new(
        "x",
        "lab: x\nregion: us-east-1\nbuckets:\n  a:\n    name: ${lab}.data.${account_id}\n",
    );
    let r = lab.run_at(CLOSED, &["validate"]).ok();
    assert!(
        r.stderr().contains(":5:11: warning: bucket name `x.data.")
            && r.stderr().contains("virtual-host"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `labctl ... | head` closes the pipe early: labctl must finish, not panic.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("-f")
        .arg(root.join("lab.yaml"))
        .arg("validate")
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

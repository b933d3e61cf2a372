//! `labctl verify` and `labctl invoke` as a student and an instructor use them: the
//! shipped lab proven working on the emulator (labctl runs the functions, moto never
//! does), broken functions failing with reasons one can act on, a loop cut as Lambda
//! cuts it, and the buckets left exactly as they were.

use std::path::Path;

use expect_test::expect_file;
use serde_json::Value;

use crate::harness::{Lab, bucket, labctl_env, moto, s3, serverless_lab, versions};

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn reasons(c: &Value) -> String {
    c["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

async fn put(bucket: &str, key: &str, body: &str) {
    s3().put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

/// The report with what changes per run (the run id, timings, log lines) made stable.
fn stable(report: &Value) -> String {
    let run = report["run"].as_str().unwrap_or_default().to_owned();
    let mut v = report.clone();
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match k.as_str() {
                        "seconds" => *x = Value::from(0),
                        "logs" => {
                            if let Value::Object(l) = x {
                                for lines in l.values_mut() {
                                    *lines = Value::from("(log lines)");
                                }
                            }
                        }
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    serde_json::to_string_pretty(&v)
        .unwrap_or_default()
        .replace(&run, "RUN")
}

#[tokio::test]
async fn the_shipped_lab_is_proven_working_and_its_buckets_are_left_as_they_were() {
    let name = "t-verify";
    let lab = Lab::new(name, &serverless_lab(name));
    let (source, backup) = (bucket(name, "source"), bucket(name, "backup"));
    lab.run(&["apply", "--auto-approve"]).ok();
    // What the student stored before: two versions of a photo, a note in the backup.
    put(&source, "photos/mine.jpg", "v1").await;
    put(&source, "photos/mine.jpg", "v2").await;
    put(&backup, "notes/keep.txt", "mine").await;
    let before = (versions(&source).await, versions(&backup).await);

    let r = lab.run(&["verify", "--json"]).ok();
    let report = json(&r.stdout());
    assert_eq!(
        (report["ok"].clone(), report["passed"].clone()),
        (Value::from(true), Value::from(6)),
        "{report:#}"
    );
    assert_eq!(report["runner"], "local");
    assert_eq!(
        report["approximate"],
        Value::Array(vec![]),
        "python3.12 runs python3.12 functions"
    );
    // The photo: backed up as it is, and compressed smaller, the same size in pixels.
    let photo = check(&report, "compress-shrinks-jpegs");
    let compressed = &photo["expectations"][1];
    assert_eq!(
        (
            compressed["image"]["width"].clone(),
            compressed["image"]["height"].clone()
        ),
        (Value::from(2000), Value::from(1500))
    );
    assert!(compressed["size"].as_u64() < photo["put"]["size"].as_u64());
    let fired: Vec<(String, String)> = photo["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["function"].as_str().unwrap().to_owned(),
                i["via"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            ("backup".into(), "s3".into()),
            ("compress".into(), "eventbridge".into())
        ]
    );
    // A folder is copied as a folder; text never reaches compress.
    assert_eq!(
        check(&report, "compress-ignores-text")["invocations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    expect_file!["snapshots/verify.json"].assert_eq(&stable(&report));

    // As on AWS (or an emulator that runs functions itself): the probe goes through
    // the cloud's triggers, which moto does not run, and the report says what to look at.
    let r = lab
        .run(&[
            "verify",
            "--runner",
            "aws",
            "--timeout",
            "2",
            "--json",
            "backup-copies-files",
            "compress-ignores-text",
        ])
        .code_is(1);
    let report = json(&r.stdout());
    assert_eq!(report["runner"], "aws");
    let files = check(&report, "backup-copies-files");
    let why = reasons(files);
    assert!(
        why.contains("backup should have fired (its direct S3 trigger matches the key)"),
        "{why}"
    );
    assert!(
        why.contains("compress did not fire: the key does not end with `.jpg` or `.jpeg`"),
        "{why}"
    );
    assert!(why.contains("nothing at all under s3://"), "{why}");
    assert!(
        files["logs"]["backup"]
            .to_string()
            .contains("has never run"),
        "{files:#}"
    );
    assert_eq!(check(&report, "compress-ignores-text")["status"], "pass");

    // Every version and marker the probes caused is gone, and nothing else.
    assert_eq!((versions(&source).await, versions(&backup).await), before);

    // For people: a line per check.
    let r = lab
        .run(&["verify", "backup-copies-files", "compress-shrinks-jpegs"])
        .ok();
    let out = r.stdout();
    assert!(
        out.contains("PASS backup-copies-files") && out.contains("2 passed, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("-> ") && out.contains("JPEG 2000x1500"),
        "sizes before and after: {out}"
    );
    let r = lab.run(&["verify", "backup-copies-file"]).code_is(1);
    assert!(
        r.stderr().contains("did you mean `backup-copies-files`?"),
        "{}",
        r.stderr()
    );

    // invoke: one function, with the event of an object just put, or a file's.
    put(&source, "inbox/cat.txt", "meow").await;
    let r = lab
        .run(&["invoke", "backup", "--put", "source/inbox/cat.txt"])
        .ok();
    assert!(
        r.stdout().contains(r#"{"copied":1,"skipped":0}"#),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("START RequestId:") && r.stdout().contains("REPORT RequestId:"));
    let got = s3()
        .get_object()
        .bucket(&backup)
        .key("inbox/cat.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"meow"
    );
    let ev = lab.dir.path().join("event.json");
    std::fs::write(&ev, r#"{"Records": []}"#).unwrap();
    let r = lab
        .run(&[
            "invoke",
            "backup",
            "--event",
            ev.to_str().unwrap(),
            "--json",
        ])
        .ok();
    assert_eq!(json(&r.stdout())["result"]["copied"], 0);
    std::fs::write(&ev, "{\n  \"Records\": [,]\n}").unwrap();
    let r = lab
        .run(&["invoke", "backup", "--event", ev.to_str().unwrap()])
        .code_is(1);
    assert!(
        r.stderr().contains("event.json:2:"),
        "names the file and line: {}",
        r.stderr()
    );
    let r = lab.run(&["invoke", "compres"]).code_is(1);
    assert!(
        r.stderr().contains("did you mean `compress`?"),
        "{}",
        r.stderr()
    );

    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

const WRONG_KEY: &str = r#"import os
from urllib.parse import unquote_plus

import boto3


def handler(event, context):
    s3 = boto3.client("s3")
    for r in event["Records"]:
        key = unquote_plus(r["s3"]["object"]["key"])
        source = {"Bucket": r["s3"]["bucket"]["name"], "Key": key}
        s3.copy_object(Bucket=os.environ["DEST_BUCKET"], Key="wrong/" + key, CopySource=source)
"#;

const RAISES: &str = r#"def handler(event, context):
    raise RuntimeError("disk on fire")
"#;

fn code(dir: &Path, name: &str, app: &str) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("app.py"), app).unwrap();
    d.display().to_string()
}

#[tokio::test]
async fn broken_functions_fail_verify_with_the_reason() {
    let name = "t-verify-broken";
    let lab = Lab::new(name, "");
    let shipped = serverless_lab(name);
    let real_backup = shipped
        .lines()
        .find(|l| l.contains("code: ") && l.ends_with("/lambdas/backup"))
        .unwrap()
        .trim()
        .to_owned();
    // backup copies to the wrong key; compress lost its Pillow layer.
    let yaml = shipped
        .replace(
            &real_backup,
            &format!("code: {}", code(lab.dir.path(), "wrong", WRONG_KEY)),
        )
        .replace("    layers: [pillow]\n", "");
    lab.write(&yaml);
    lab.run(&["apply", "--auto-approve"]).ok();
    let (source, backup) = (bucket(name, "source"), bucket(name, "backup"));
    let before = (versions(&source).await, versions(&backup).await);

    let r = lab.run(&["verify", "--json"]).code_is(1);
    let report = json(&r.stdout());
    assert_eq!(report["ok"], false);
    let files = check(&report, "backup-copies-files");
    assert_eq!(files["status"], "fail");
    let why = reasons(files);
    assert!(why.contains("nothing at s3://"), "{why}");
    assert!(
        why.contains("backup ran on s3://")
            && why.contains("wrote s3://")
            && why.contains("/wrong/verify/"),
        "what it did instead: {why}"
    );
    let photo = check(&report, "compress-shrinks-jpegs");
    let why = reasons(photo);
    assert!(
        why.contains("compress failed on") && why.contains("(3 attempts, as Lambda retries)"),
        "{why}"
    );
    assert!(
        why.contains(
            "Runtime.ImportModuleError: Unable to import module 'app': No module named 'PIL'"
        ),
        "{why}"
    );
    assert!(
        photo["logs"]["compress"]
            .to_string()
            .contains("No module named 'PIL'"),
        "the function's log: {photo:#}"
    );
    assert_eq!(check(&report, "compress-ignores-text")["status"], "pass");
    // What the broken function wrote under the run's keys went too.
    assert_eq!((versions(&source).await, versions(&backup).await), before);

    // A function that raises: the error, the retries, and its log, for people.
    lab.write(&yaml.replace(
        &format!("code: {}", lab.dir.path().join("wrong").display()),
        &format!("code: {}", code(lab.dir.path(), "raises", RAISES)),
    ));
    lab.run(&["apply", "--auto-approve"]).ok();
    let r = lab.run(&["verify", "backup-copies-files"]).code_is(1);
    let out = r.stdout();
    assert!(out.contains("FAIL backup-copies-files"), "{out}");
    assert!(
        out.contains("backup failed on s3://") && out.contains("RuntimeError: disk on fire"),
        "{out}"
    );
    assert!(
        out.contains("backup's last log lines:")
            && out.contains("[ERROR] RuntimeError: disk on fire"),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

const ECHO: &str = r#"from urllib.parse import unquote_plus

import boto3


def handler(event, context):
    s3 = boto3.client("s3")
    for r in event["Records"]:
        bucket = r["s3"]["bucket"]["name"]
        key = unquote_plus(r["s3"]["object"]["key"])
        s3.put_object(Bucket=bucket, Key=key + ".again", Body=b"again")
"#;

const SLOW: &str = r#"import time


def handler(event, context):
    time.sleep(5)
"#;

const PROBE: &str = r#"import os


def handler(event, context):
    return {
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "env_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "where": os.environ["WHERE"],
        "handler": os.environ["_HANDLER"],
        "region": os.environ["AWS_REGION"],
        "cwd_is_task_root": os.getcwd() == os.environ["LAMBDA_TASK_ROOT"],
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 3000,
    }
"#;

#[tokio::test]
async fn a_function_that_fires_itself_is_reported_as_a_loop() {
    let name = "t-verify-loop";
    let lab = Lab::new(name, "");
    let echo = code(lab.dir.path(), "echo", ECHO);
    let slow = code(lab.dir.path(), "slow", SLOW);
    let probe = code(lab.dir.path(), "probe", PROBE);
    lab.write(&format!(
        r#"lab: {name}
region: us-east-1
buckets:
  data: {{ name: "${{lab}}-data-${{account_id}}" }}
role:
  name: ${{lab}}-fn
  managed_policies: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]
functions:
  echo:
    code: {echo}
    handler: app.handler
    runtime: python3.12
    triggers:
      - {{ bucket: data }}
  slow:
    code: {slow}
    handler: app.handler
    runtime: python3.12
    timeout: 1
  probe:
    code: {probe}
    handler: app.handler
    runtime: python3.12
    memory: 512
    environment: {{ WHERE: "${{buckets.data.name}}" }}
checks:
  echo-once:
    put: {{ bucket: data, key: "in/${{run}}/a.txt", body: "a" }}
    expect:
      - {{ bucket: data, key: "in/${{run}}/a.txt.again" }}
"#
    ));
    lab.run(&["apply", "--auto-approve"]).ok();
    let r = lab.run(&["verify", "--json"]).code_is(1);
    let report = json(&r.stdout());
    let c = check(&report, "echo-once");
    let why = reasons(c);
    assert!(
        why.contains("a loop:") && why.contains("after 16 invocations"),
        "{why}"
    );
    let depths: Vec<u64> = c["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["depth"].as_u64())
        .collect();
    assert_eq!(depths, (1..=16).collect::<Vec<u64>>());
    assert!(
        versions(&bucket(name, "data")).await.is_empty(),
        "every write of the loop was the run's, and went"
    );

    // The runtime as a handler sees it, and its timeout enforced.
    let r = lab.run(&["invoke", "probe", "--json"]).ok();
    let got = json(&r.stdout());
    let res = &got["result"];
    assert_eq!(res["function_name"], format!("{name}-probe"));
    assert_eq!(res["memory"], "512");
    assert_eq!(res["env_name"], format!("{name}-probe"));
    assert_eq!(
        res["where"],
        bucket(name, "data"),
        "the function's environment, placeholders filled in"
    );
    assert_eq!(res["cwd_is_task_root"], true);
    assert_eq!(res["remaining_ok"], true);
    assert_eq!(res["handler"], "app.handler");
    assert_eq!(res["region"], "us-east-1");
    let r = lab.run(&["invoke", "slow"]).code_is(1);
    assert!(
        r.stdout().contains("Task timed out after 1.00 seconds"),
        "{}",
        r.stdout()
    );
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

#[tokio::test]
async fn verify_wants_the_lab_applied_first() {
    let name = "t-verify-unapplied";
    let lab = Lab::new(name, &serverless_lab(name));
    let r = lab.run(&["verify"]).code_is(1);
    assert!(
        r.stderr().contains("run `labctl apply` first"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("s3 bucket"),
        "names what is missing: {}",
        r.stderr()
    );
}

#[tokio::test]
async fn without_the_runtime_python_verify_runs_the_closest_and_says_so() {
    let name = "t-verify-approx";
    let lab = Lab::new(name, &serverless_lab(name));
    lab.run(&["apply", "--auto-approve"]).ok();
    // A machine with only the venv's Python (3.11): no pyenv, no python3.12 on PATH.
    let r = labctl_env(
        moto(),
        &lab.path(),
        &["verify", "backup-copies-files", "compress-shrinks-jpegs"],
        &[("PATH", "/usr/bin:/bin"), ("PYENV_ROOT", "/nonexistent")],
    )
    .ok();
    let out = r.stdout();
    assert!(
        out.contains("approximate: python3.12 is not on this machine: ran with Python 3.11"),
        "{out}"
    );
    assert!(
        out.contains("2 passed, 0 failed"),
        "Pillow rebuilt for 3.11 loads: {out}"
    );
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

const SLEEPY: &str = r#"import time


def handler(event, context):
    time.sleep(4)
"#;

#[tokio::test]
async fn what_an_interrupted_verify_left_is_removed_by_the_next() {
    let name = "t-verify-killed";
    let lab = Lab::new(name, "");
    let sleepy = code(lab.dir.path(), "sleepy", SLEEPY);
    lab.write(&format!(
        r#"lab: {name}
region: us-east-1
buckets:
  data: {{ name: "${{lab}}-data-${{account_id}}" }}
role:
  name: ${{lab}}-fn
functions:
  sleepy:
    code: {sleepy}
    handler: app.handler
    runtime: python3.12
    timeout: 10
    triggers:
      - {{ bucket: data }}
checks:
  kept:
    put: {{ bucket: data, key: "in/${{run}}/a.txt", body: "a" }}
    expect:
      - {{ bucket: data, key: "in/${{run}}/a.txt", same_as_put: true }}
"#
    ));
    lab.run(&["apply", "--auto-approve"]).ok();
    let data = bucket(name, "data");
    let mut child = crate::harness::spawn(moto(), &lab.path(), &["verify"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while versions(&data).await.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        versions(&data).await.len(),
        1,
        "the killed run's probe is there"
    );
    let r = lab.run(&["verify"]).ok();
    assert!(
        r.stdout().contains("left by verify run") && r.stdout().contains("interrupted"),
        "{}",
        r.stdout()
    );
    assert!(versions(&data).await.is_empty());
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
}

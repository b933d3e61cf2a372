//! What real AWS answers while it catches up, or to a restricted account, and moto
//! never does, answered by the project's proxy: every apply still converges in one run,
//! and nothing is concluded from an answer that was not given.

use crate::harness::{ACCOUNT, Lab, Proxy, bucket, lambda, logs, s3, shipped_lab};

#[tokio::test]
async fn races_after_creates_and_grants_are_waited_out() {
    let name = "t-races";
    let lab = Lab::new(name, &shipped_lab(name, 114));
    // S3 cannot validate the function a permission was granted to moments ago; a new
    // bucket is not yet known to its configuration writes; GetFunction leaves the tags
    // out (no explicit lambda:ListTags allow), so labctl asks ListTags.
    let proxy = Proxy::start(&["--races", "notification,nosuchbucket,tagserror"]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    let races = proxy.injected_codes("race");
    assert_eq!(races.get("NoSuchBucket"), Some(&2), "{races:?}");
    assert!(
        races.get("InvalidArgument").is_some_and(|n| *n >= 1),
        "{races:?}"
    );
    let again = Proxy::start(&["--races", "tagserror"]);
    lab.run_at(&again.url, &["plan", "--detailed-exitcode"])
        .code_is(0);
    assert!(again.injected_codes("race").contains_key("TagsError"));
    eprintln!("RACES apply: {races:?}, every one waited out in one run");

    // Without lambda:ListTags the functions' owner cannot be known: labctl stops and
    // says which permission it needs, instead of calling them someone else's.
    let denied = Proxy::start(&["--races", "tagserror", "--deny", "ListTags"]);
    let r = lab.run_at(&denied.url, &["plan"]).code_is(1);
    assert!(r.stderr().contains("lambda:ListTags"), "{}", r.stderr());

    // Destroy finds the functions by their tags through ListTags, and leaves nothing.
    let gone = Proxy::start(&["--races", "tagserror"]);
    lab.run_at(&gone.url, &["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    assert!(
        lambda()
            .get_function()
            .function_name(format!("{name}-backup"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn academy_sessions_are_recognised_in_each_form() {
    let lab = Lab::new(
        "t-voc",
        &shipped_lab("t-voc", 116)
            .replace("region: us-east-1", "region: eu-west-1")
            .replace("az: us-east-1", "az: eu-west-1"),
    );
    for role in ["voclabs", "vocstartsoft"] {
        let arn =
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/user1234567=student@example.edu");
        let proxy = Proxy::start(&["--caller-arn", &arn]);
        let r = lab.run_at(&proxy.url, &["plan"]).code_is(1);
        assert!(
            r.stderr().contains("AWS Academy Learner Lab session")
                && r.stderr().contains("us-east-1 and us-west-2"),
            "{role}: {}",
            r.stderr()
        );
    }
}

/// A bucket name with dots, a trigger prefix with a space: the statement id and the
/// filter are what AWS accepts and matches, and the lab re-plans clean.
#[tokio::test]
async fn dotted_buckets_and_spaced_prefixes_work_with_direct_triggers() {
    let name = "t-dots";
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = format!(
        r#"lab: {name}
region: us-east-1
buckets:
  photos:
    name: ${{lab}}.photos-${{account_id}}
role:
  name: ${{lab}}-fn
functions:
  backup:
    code: {}/lambdas/backup
    handler: app.handler
    runtime: python3.12
    environment: {{ DEST_BUCKET: elsewhere }}
    triggers:
      - {{ bucket: photos, prefix: "my photos/" }}
"#,
        root.display()
    );
    let lab = Lab::new(name, &yaml);
    lab.run(&["apply", "--auto-approve"]).ok();
    let b = format!("{name}.photos-{ACCOUNT}");
    let n = s3()
        .get_bucket_notification_configuration()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    let filter = n.lambda_function_configurations()[0]
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules()[0].value().unwrap_or_default().to_owned());
    assert_eq!(filter.as_deref(), Some("my+photos/"));
    let policy = lambda()
        .get_policy()
        .function_name(format!("{name}-backup"))
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap_or_default();
    assert!(
        policy.contains(&format!("\"labctl-s3-{name}_photos-{ACCOUNT}\"")),
        "{policy}"
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);

    // Lambda's own log group goes with the function; nobody else's does.
    for g in [
        format!("/aws/lambda/{name}-backup"),
        format!("/aws/lambda/{name}-other"),
    ] {
        logs()
            .create_log_group()
            .log_group_name(g)
            .send()
            .await
            .unwrap();
    }
    lab.run(&["destroy", "--auto-approve"]).ok();
    let left: Vec<String> = logs()
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{name}-"))
        .send()
        .await
        .unwrap()
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name().map(str::to_owned))
        .collect();
    assert_eq!(left, vec![format!("/aws/lambda/{name}-other")]);
    assert!(
        s3().head_bucket()
            .bucket(bucket(name, "x"))
            .send()
            .await
            .is_err()
    );
}

//! S3 buckets end to end: every setting is checked through a separate SDK client.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, Tag, Tagging};

use crate::harness::{Lab, Proxy, bucket, s3};

fn three_buckets(lab: &str) -> String {
    format!(
        r#"lab: {lab}
region: us-east-1
tags: {{ course: cloud-101 }}
buckets:
  source:
    name: ${{lab}}-source-${{account_id}}
    versioning: true
    lifecycle:
      - id: tiering
        prefix: uploads/
        transitions:
          - {{ days: 30, storage_class: STANDARD_IA }}
          - {{ days: 90, storage_class: GLACIER_IR }}
        expiration_days: 365
        noncurrent_expiration_days: 30
    tags: {{ purpose: uploads }}
  backup:
    name: ${{lab}}-backup-${{account_id}}
    versioning: true
    encryption: aws:kms
  scratch:
    name: ${{lab}}-scratch-${{account_id}}
"#
    )
}

async fn tags_of(name: &str) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = s3()
        .get_bucket_tagging()
        .bucket(name)
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn three_buckets_apply_with_every_setting_and_converge() {
    let lab = Lab::new("t-three", &three_buckets("t-three"));
    lab.run(&["apply", "--auto-approve"]).ok();
    let c = s3();
    let src = bucket("t-three", "source");
    let v = c.get_bucket_versioning().bucket(&src).send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let pab = c
        .get_public_access_block()
        .bucket(&src)
        .send()
        .await
        .unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            pab.block_public_acls(),
            pab.ignore_public_acls(),
            pab.block_public_policy(),
            pab.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let lc = c
        .get_bucket_lifecycle_configuration()
        .bucket(&src)
        .send()
        .await
        .unwrap();
    let rule = &lc.rules()[0];
    assert_eq!(rule.id(), Some("tiering"));
    assert_eq!(rule.filter().and_then(|f| f.prefix()), Some("uploads/"));
    let tr: Vec<(Option<i32>, String)> = rule
        .transitions()
        .iter()
        .map(|t| (t.days(), t.storage_class().unwrap().as_str().to_owned()))
        .collect();
    assert_eq!(
        tr,
        vec![
            (Some(30), "STANDARD_IA".into()),
            (Some(90), "GLACIER_IR".into())
        ]
    );
    assert_eq!(rule.expiration().and_then(|e| e.days()), Some(365));
    assert_eq!(
        rule.noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        Some(30)
    );
    assert_eq!(
        tags_of(&src).await,
        vec![
            ("course".into(), "cloud-101".into()),
            ("labctl:lab".into(), "t-three".into()),
            ("purpose".into(), "uploads".into())
        ]
    );

    let backup = bucket("t-three", "backup");
    let enc = c
        .get_bucket_encryption()
        .bucket(&backup)
        .send()
        .await
        .unwrap();
    let algo = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .sse_algorithm()
        .as_str()
        .to_owned();
    assert_eq!(algo, "aws:kms");
    let scratch = bucket("t-three", "scratch");
    let v = c
        .get_bucket_versioning()
        .bucket(&scratch)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), None, "an unversioned bucket stays unversioned");
    assert!(
        c.get_bucket_lifecycle_configuration()
            .bucket(&scratch)
            .send()
            .await
            .is_err()
    );

    // A second apply makes no write call, and the drift check says "in sync".
    let proxy = Proxy::start(&[]);
    let r = lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert!(r.stdout().contains("No changes"), "{}", r.stdout());
    assert_eq!(proxy.writes(), Vec::<String>::new());
    assert!(!proxy.calls().is_empty(), "the proxy saw no calls at all");
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
}

/// Applies `t-drift-<n>`, changes one thing behind labctl's back, and checks that the
/// drift check sees exactly that change and apply repairs it.
async fn drift_case<F, Fut>(lab_name: &str, attr: &str, change: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let lab = Lab::new(lab_name, &three_buckets(lab_name));
    lab.run(&["apply", "--auto-approve"]).ok();
    let src = bucket(lab_name, "source");
    change(src.clone()).await;
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    let out = r.stdout();
    assert!(out.contains(&format!("~   s3 bucket {src}")), "{out}");
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    let changed: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(changed.len(), 1, "exactly one attribute changes: {out}");
    assert!(changed[0].trim_start().starts_with(attr), "{out}");
    let proxy = Proxy::start(&[]);
    lab.run_at(&proxy.url, &["apply", "--auto-approve"]).ok();
    assert_eq!(
        proxy.writes().len(),
        1,
        "one call repairs one setting: {:?}",
        proxy.writes()
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
}

#[tokio::test]
async fn drift_versioning_suspended() {
    drift_case(
        "t-drift-ver",
        "versioning: Suspended -> Enabled",
        |b| async move {
            let cfg = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build();
            s3().put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(cfg)
                .send()
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn drift_lifecycle_rule_edited() {
    drift_case("t-drift-lc", "lifecycle rule tiering:", |b| async move {
        use aws_sdk_s3::types::*;
        let rule = LifecycleRule::builder()
            .id("tiering")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("uploads/").build())
            .expiration(LifecycleExpiration::builder().days(400).build())
            .build()
            .unwrap();
        let cfg = BucketLifecycleConfiguration::builder()
            .rules(rule)
            .build()
            .unwrap();
        s3().put_bucket_lifecycle_configuration()
            .bucket(b)
            .lifecycle_configuration(cfg)
            .send()
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn drift_tag_removed() {
    drift_case("t-drift-tag", "tags:", |b| async move {
        let keep = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
        let t = Tagging::builder()
            .tag_set(keep("labctl:lab", "t-drift-tag"))
            .tag_set(keep("course", "cloud-101"))
            .build()
            .unwrap();
        s3().put_bucket_tagging()
            .bucket(b)
            .tagging(t)
            .send()
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn drift_public_access_block_turned_off() {
    drift_case(
        "t-drift-pab",
        "block_public_access: all off -> all on",
        |b| async move {
            let off = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build();
            s3().put_public_access_block()
                .bucket(b)
                .public_access_block_configuration(off)
                .send()
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn drift_public_access_block_deleted() {
    drift_case(
        "t-drift-pab2",
        "block_public_access: all off -> all on",
        |b| async move {
            s3().delete_public_access_block()
                .bucket(b)
                .send()
                .await
                .unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn a_bucket_removed_from_the_lab_is_deleted_and_unowned_buckets_are_left_alone() {
    let name = "t-remove";
    let lab = Lab::new(name, &three_buckets(name));
    lab.run(&["apply", "--auto-approve"]).ok();
    // Drop `scratch` from lab.yaml: it is found by its tag and deleted.
    lab.write(
        &three_buckets(name).replace("  scratch:\n    name: ${lab}-scratch-${account_id}\n", ""),
    );
    let r = lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
    assert!(
        r.stdout()
            .contains(&format!("-   s3 bucket {}", bucket(name, "scratch"))),
        "{}",
        r.stdout()
    );
    lab.run(&["apply", "--auto-approve"]).ok();
    assert!(
        s3().head_bucket()
            .bucket(bucket(name, "scratch"))
            .send()
            .await
            .is_err()
    );

    // An untagged bucket holding data, with a declared name: reported, never touched.
    let c = s3();
    let foreign = bucket(name, "foreign");
    c.create_bucket().bucket(&foreign).send().await.unwrap();
    c.put_object()
        .bucket(&foreign)
        .key("thesis.pdf")
        .body(ByteStream::from_static(b"years of work"))
        .send()
        .await
        .unwrap();
    lab.write(&format!(
        "{}  foreign:\n    name: ${{lab}}-foreign-${{account_id}}\n",
        three_buckets(name)
    ));
    let r = lab.run(&["apply", "--auto-approve"]).code_is(1);
    assert!(
        r.stderr()
            .contains("already exists in this account without labctl's tag")
            && r.stderr().contains("--adopt"),
        "{}",
        r.stderr()
    );
    assert!(
        c.get_bucket_tagging()
            .bucket(&foreign)
            .send()
            .await
            .is_err(),
        "the unowned bucket was tagged"
    );
    // --adopt takes it over explicitly.
    lab.run(&["apply", "--auto-approve", "--adopt"]).ok();
    assert!(
        tags_of(&foreign)
            .await
            .contains(&("labctl:lab".into(), name.into()))
    );
    lab.run(&["plan", "--detailed-exitcode"]).code_is(0);
}

#[tokio::test]
async fn destroy_keeps_data_unless_asked_then_leaves_nothing_tagged() {
    let name = "t-destroy";
    let lab = Lab::new(name, &three_buckets(name));
    lab.run(&["apply", "--auto-approve"]).ok();
    let c = s3();
    let src = bucket(name, "source");
    for i in 0..3 {
        c.put_object()
            .bucket(&src)
            .key("photo.jpg")
            .body(ByteStream::from(vec![i; 10]))
            .send()
            .await
            .unwrap();
    }
    c.delete_object()
        .bucket(&src)
        .key("photo.jpg")
        .send()
        .await
        .unwrap();
    let r = lab.run(&["destroy", "--auto-approve"]).code_is(1);
    assert!(
        r.stdout().contains(&src)
            && r.stdout().contains("4 object(s)")
            && r.stdout().contains("--empty-buckets"),
        "{}",
        r.stdout()
    );
    let versions = c.list_object_versions().bucket(&src).send().await.unwrap();
    assert_eq!(
        versions.versions().len(),
        3,
        "destroy without --empty-buckets deleted data"
    );
    for b in ["backup", "scratch"] {
        assert!(
            c.head_bucket()
                .bucket(bucket(name, b))
                .send()
                .await
                .is_err(),
            "empty bucket {b} should be gone"
        );
    }
    lab.run(&["destroy", "--auto-approve", "--empty-buckets"])
        .ok();
    let all = c.list_buckets().send().await.unwrap();
    for b in all.buckets() {
        let n = b.name().unwrap();
        if let Ok(t) = c.get_bucket_tagging().bucket(n).send().await {
            assert!(
                !t.tag_set()
                    .iter()
                    .any(|t| t.key() == "labctl:lab" && t.value() == name),
                "{n} is still tagged as the lab's"
            );
        }
    }
    lab.run(&["plan", "--detailed-exitcode"]).code_is(2);
}

#[tokio::test]
async fn applying_without_a_terminal_needs_auto_approve() {
    let lab = Lab::new("t-confirm", &three_buckets("t-confirm"));
    let r = lab.run(&["apply"]).code_is(1);
    assert!(r.stderr().contains("--auto-approve"), "{}", r.stderr());
    assert!(
        s3().head_bucket()
            .bucket(bucket("t-confirm", "source"))
            .send()
            .await
            .is_err()
    );
}

//! Plans rendered from hand-made live states: what a user reads for each situation.

use std::path::Path;

use expect_test::{Expect, expect};

use super::{BucketConfig, BucketPresence, LiveBucket, Versioning};
use crate::kind::LiveState;
use crate::kind::diff;
use crate::plan::{Op, Options};
use crate::render::human::{Style, plan as render};
use crate::template::Vars;

const LAB: &str = r#"lab: demo
region: us-east-1
tags: { course: cloud-101 }
buckets:
  source:
    name: ${lab}-source-${account_id}
    versioning: true
    lifecycle:
      - id: tiering
        transitions: [{ days: 30, storage_class: STANDARD_IA }]
        expiration_days: 365
  logs:
    name: ${lab}-logs-${account_id}
"#;

fn vars(lab: &crate::kind::Lab) -> Vars {
    lab.vars("111122223333")
}

#[track_caller]
fn check(live: LiveState, expect: Expect) {
    let lab = crate::config::parse_str("lab.yaml", LAB, Path::new(".")).expect("valid fixture");
    let p = diff(&lab, &vars(&lab), &live, Options::default());
    let mut out = render(&p, &Style { color: false });
    for e in &p.errors {
        out.push_str(&format!("error: {}: {}\n", e.addr, e.message));
    }
    expect.assert_eq(&out);
}

fn in_sync() -> LiveState {
    let lab = crate::config::parse_str("lab.yaml", LAB, Path::new(".")).expect("valid fixture");
    let v = vars(&lab);
    let mut live = LiveState::default();
    for (logical, name) in super::names(&lab, &v) {
        let config = super::plan::desired(&lab, &lab.buckets[&logical], None);
        live.buckets.insert(
            name.clone(),
            BucketPresence::Present(Box::new(LiveBucket {
                name,
                region: "us-east-1".into(),
                tag_set: Some(config.tags.clone()),
                config,
                objects: None,
                notification: Default::default(),
                lifecycle_min_size: None,
            })),
        );
    }
    live
}

/// The lab in sync, plus a bucket it owns but no longer declares, holding 3 objects.
fn with_old_bucket_holding_data() -> LiveState {
    let mut live = in_sync();
    let mut old = match &live.buckets["demo-logs-111122223333"] {
        BucketPresence::Present(b) => (**b).clone(),
        _ => unreachable!(),
    };
    old.name = "demo-old-111122223333".into();
    old.objects = Some(super::ObjectCount {
        count: 3,
        truncated: false,
    });
    live.buckets
        .insert(old.name.clone(), BucketPresence::Present(Box::new(old)));
    live
}

fn edit(live: &mut LiveState, name: &str, f: impl FnOnce(&mut BucketConfig)) {
    if let Some(BucketPresence::Present(b)) = live.buckets.get_mut(name) {
        f(&mut b.config);
    }
}

#[test]
fn nothing_exists_yet() {
    check(
        LiveState::default(),
        expect![[r#"
            labctl will perform the following actions:

              +   s3 bucket demo-logs-111122223333
                    versioning: unversioned
                    block_public_access: all on
                    encryption: AES256
                    tags: course=cloud-101, labctl:lab=demo
              +   s3 bucket demo-source-111122223333
                    versioning: Enabled
                    block_public_access: all on
                    encryption: AES256
                    lifecycle rule tiering: STANDARD_IA at 30d, expire at 365d
                    tags: course=cloud-101, labctl:lab=demo

            Plan: 2 to add, 0 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn in_sync_is_no_changes() {
    check(
        in_sync(),
        expect![[r#"
        No changes. The lab matches lab.yaml.
    "#]],
    );
}

#[test]
fn each_drift_is_one_change_and_unversioning_is_a_suspend() {
    let mut live = in_sync();
    edit(&mut live, "demo-source-111122223333", |c| {
        c.public_access_block = [false; 4];
        c.lifecycle[0].expiration_days = Some(400);
    });
    let mut lab_live = live.clone();
    edit(&mut lab_live, "demo-logs-111122223333", |c| {
        c.versioning = Versioning::Enabled
    });
    check(
        lab_live,
        expect![[r#"
            labctl will perform the following actions:

              ~   s3 bucket demo-logs-111122223333
                    versioning: Enabled -> Suspended
                      note: a versioned bucket can never return to unversioned: `versioning: false` suspends it, and existing versions stay
              ~   s3 bucket demo-source-111122223333
                    block_public_access: all off -> all on
                    lifecycle rule tiering: STANDARD_IA at 30d, expire at 400d -> STANDARD_IA at 30d, expire at 365d

            Plan: 0 to add, 2 to change, 0 to destroy.
        "#]],
    );
}

#[test]
fn undeclared_buckets_holding_data_are_kept_and_foreign_ones_are_errors() {
    let mut live = with_old_bucket_holding_data();
    live.buckets.insert(
        "demo-logs-111122223333".into(),
        BucketPresence::OtherAccount,
    );
    check(
        live,
        expect![[r#"
            warning: bucket demo-old-111122223333 is no longer in lab.yaml but holds 3 object(s): kept. Copy out what you need, then run `labctl apply --empty-buckets` to delete it
            No changes. The lab matches lab.yaml.
            error: s3 bucket demo-logs-111122223333: the bucket name `demo-logs-111122223333` (line 13) is taken by another AWS account: S3 bucket names are global
        "#]],
    );
}

#[test]
fn undeclared_buckets_holding_data_go_with_empty_buckets() {
    let lab = crate::config::parse_str("lab.yaml", LAB, Path::new(".")).expect("valid fixture");
    let live = with_old_bucket_holding_data();
    let opts = Options {
        empty_buckets: true,
        ..Default::default()
    };
    let p = diff(&lab, &vars(&lab), &live, opts);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(
        (p.actions[0].op, p.actions[0].addr.name.as_str()),
        (Op::Delete, "demo-old-111122223333")
    );
}

#[test]
fn a_kms_key_by_alias_or_arn_is_the_same_key() {
    let mut live = in_sync();
    let lab = crate::config::parse_str(
        "lab.yaml",
        &LAB.replace(
            "    versioning: true\n    lifecycle:",
            "    versioning: true\n    encryption: aws:kms\n    kms_key: alias/aws/s3\n    lifecycle:",
        ),
        Path::new("."),
    )
    .expect("valid fixture");
    let kms = |k: &str| Some(("aws:kms".to_owned(), Some(k.to_owned())));
    // S3 reads an alias back as the alias's ARN: no drift.
    edit(&mut live, "demo-source-111122223333", |c| {
        c.encryption = kms("arn:aws:kms:us-east-1:111122223333:alias/aws/s3")
    });
    let p = diff(&lab, &vars(&lab), &live, Options::default());
    assert!(
        p.actions.is_empty(),
        "{:?}",
        p.actions.iter().map(|a| &a.changes).collect::<Vec<_>>()
    );
    // Another key is a change.
    edit(&mut live, "demo-source-111122223333", |c| {
        c.encryption =
            kms("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    });
    let p = diff(&lab, &vars(&lab), &live, Options::default());
    assert_eq!(p.actions.len(), 1);
}

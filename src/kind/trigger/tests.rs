//! The trigger planner with hand-made live state.

use std::path::Path;

use crate::kind::bucket::{
    BucketConfig, BucketPresence, Destination, LiveBucket, LiveNotification, NotificationEntry,
    Versioning,
};
use crate::kind::{Lab, LiveState, Work};
use crate::kind::{Plan, diff};
use crate::plan::{Op, Options};

const ACCOUNT: &str = "111122223333";

fn lab() -> Lab {
    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.yaml"))
        .expect("lab.yaml")
        .replace("lab: photo-lab", "lab: demo");
    crate::config::parse_str("lab.yaml", &yaml, Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("valid fixture")
}

fn bucket(name: &str, owner: Option<&str>, notification: LiveNotification) -> BucketPresence {
    let tags: crate::model::Tags = owner
        .map(|o| [("labctl:lab".to_owned(), o.to_owned())].into())
        .unwrap_or_default();
    BucketPresence::Present(Box::new(LiveBucket {
        name: name.into(),
        region: "us-east-1".into(),
        tag_set: Some(tags.clone()),
        config: BucketConfig {
            versioning: Versioning::Enabled,
            public_access_block: [true; 4],
            encryption: None,
            lifecycle: vec![],
            tags,
        },
        objects: None,
        notification,
        lifecycle_min_size: None,
    }))
}

fn queue() -> NotificationEntry {
    NotificationEntry {
        id: "their-queue".into(),
        destination: Destination::Queue,
        arn: "arn:aws:sqs:us-east-1:111122223333:audit".into(),
        events: vec!["s3:ObjectRemoved:*".into()],
        prefix: None,
        suffix: None,
    }
}

fn plan_with(source_owner: Option<&str>) -> Plan {
    let lab = lab();
    let mut live = LiveState::default();
    live.lambda.artifacts = crate::kind::lambda::artifacts::build(&lab).expect("packages");
    let source = LiveNotification {
        entries: vec![queue()],
        eventbridge: false,
    };
    live.buckets.insert(
        format!("demo-source-{ACCOUNT}"),
        bucket(&format!("demo-source-{ACCOUNT}"), source_owner, source),
    );
    diff(&lab, &lab.vars(ACCOUNT), &live, Options::default())
}

#[test]
fn entries_labctl_did_not_write_are_kept_and_eventbridge_is_turned_on() {
    let p = plan_with(Some("demo"));
    let n = p
        .actions
        .iter()
        .find(|a| a.addr.to_string() == format!("s3 notification demo-source-{ACCOUNT}"))
        .expect("a notification action");
    assert_eq!(n.op, Op::Update);
    let Work::Trigger(super::Work::Notification { config, .. }) = &n.work else {
        panic!("{:?}", n.work)
    };
    let ids: Vec<&str> = config.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["labctl-demo-backup-0", "their-queue"]);
    assert!(config.eventbridge, "compress is routed through EventBridge");
    // The permission S3 checks comes first, and the bucket's own deletion (none here).
    let after: Vec<String> = n
        .deps
        .iter()
        .map(|&d| p.actions[d].addr.to_string())
        .collect();
    assert!(
        after.contains(&"lambda permissions demo-backup".to_owned()),
        "{after:?}"
    );
}

#[test]
fn a_bucket_that_is_another_labs_keeps_its_notifications() {
    let p = plan_with(Some("other"));
    assert!(
        !p.actions
            .iter()
            .any(|a| a.addr.kind == crate::kind::bucket::NOTIFICATION),
        "{:?}",
        p.actions
            .iter()
            .map(|a| a.addr.to_string())
            .collect::<Vec<_>>()
    );
    assert!(p.errors[0].message.contains("belongs to lab `other`"));
}

#[test]
fn s3_filter_values_are_encoded_as_s3_matches_them() {
    use super::s3_filter_value as enc;
    assert_eq!(enc("uploads/"), "uploads/");
    assert_eq!(enc("my photos/"), "my+photos/");
    assert_eq!(enc("a+b=c&d"), "a%2Bb%3Dc%26d");
    assert_eq!(enc("été/"), "%C3%A9t%C3%A9/");
    assert_eq!(enc(".JPG"), ".JPG");
}

//! Triggers: a bucket's notification configuration (direct S3 -> Lambda entries, and
//! the switch that sends its events to EventBridge) and the EventBridge rules.

use std::collections::BTreeMap;

use serde_json::json;

use super::lambda::{rule_arn, rule_name};
use super::{Action, Addr, Change, Ctx, Kind, Op, Plan, RuleStep, Work};
use crate::aws::lambda::function_arn;
use crate::live::{BucketPresence, Destination, LiveNotification, NotificationEntry};
use crate::model::{OWNER_TAG, Trigger, Via};

fn addr(kind: Kind, name: &str) -> Addr {
    Addr {
        kind,
        name: name.to_owned(),
    }
}

/// The event pattern of an EventBridge trigger: the bucket, the event family, and the
/// key's prefix and suffixes (suffixes without regard to case, unlike S3's filters).
pub fn pattern(bucket: &str, t: &Trigger) -> String {
    let mut detail_types = Vec::new();
    if t.events.iter().any(|e| e.starts_with("s3:ObjectCreated")) {
        detail_types.push("Object Created");
    }
    if t.events.iter().any(|e| e.starts_with("s3:ObjectRemoved")) {
        detail_types.push("Object Deleted");
    }
    let mut detail = json!({ "bucket": { "name": [bucket] } });
    // The event types within a family, as S3 names them in `detail`; only when every
    // event is of one family and names a type (one filter field serves both families).
    let created: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.as_str() {
            "s3:ObjectCreated:Put" => Some("PutObject"),
            "s3:ObjectCreated:Post" => Some("POST Object"),
            "s3:ObjectCreated:Copy" => Some("CopyObject"),
            "s3:ObjectCreated:CompleteMultipartUpload" => Some("CompleteMultipartUpload"),
            _ => None,
        })
        .collect();
    let removed: Vec<&str> = t
        .events
        .iter()
        .filter_map(|e| match e.as_str() {
            "s3:ObjectRemoved:Delete" => Some("Permanently Deleted"),
            "s3:ObjectRemoved:DeleteMarkerCreated" => Some("Delete Marker Created"),
            _ => None,
        })
        .collect();
    if created.len() == t.events.len() {
        detail["reason"] = json!(created);
    } else if removed.len() == t.events.len() {
        detail["deletion-type"] = json!(removed);
    }
    let key: Vec<serde_json::Value> = match (&t.prefix, t.suffixes.is_empty()) {
        (None, true) => vec![],
        (Some(p), true) => vec![json!({ "prefix": p })],
        (None, false) => t
            .suffixes
            .iter()
            .map(|s| json!({ "suffix": { "equals-ignore-case": s } }))
            .collect(),
        // Prefix and suffix on one field: only a wildcard expresses both (case-sensitive,
        // so the suffix as written and in lower and upper case are listed).
        (Some(p), false) => {
            let mut v: Vec<String> = t
                .suffixes
                .iter()
                .flat_map(|s| {
                    [
                        format!("{p}*{s}"),
                        format!("{p}*{}", s.to_lowercase()),
                        format!("{p}*{}", s.to_uppercase()),
                    ]
                })
                .collect();
            v.sort();
            v.dedup();
            v.into_iter().map(|w| json!({ "wildcard": w })).collect()
        }
    };
    if !key.is_empty() {
        detail["object"] = json!({ "key": key });
    }
    json!({ "source": ["aws.s3"], "detail-type": detail_types, "detail": detail }).to_string()
}

pub(super) fn plan(cx: &Ctx, plan: &mut Plan) {
    let lab = cx.lab;
    let account = &cx.vars.account_id;
    let region = &cx.vars.region;
    let ours = format!("labctl-{}-", lab.name);

    // What each lab bucket's notification configuration should hold.
    let mut wanted: BTreeMap<String, (Vec<NotificationEntry>, bool, Vec<Addr>)> = BTreeMap::new();
    for name in cx.vars.buckets.values() {
        wanted.insert(name.clone(), (Vec::new(), false, Vec::new()));
    }
    // Buckets no longer declared (or on destroy) lose labctl's entries too: an entry
    // naming a deleted function would break every later write of the configuration.
    for name in cx.live.notifications.keys() {
        wanted
            .entry(name.clone())
            .or_insert_with(|| (Vec::new(), false, Vec::new()));
    }
    let mut rules: BTreeMap<String, (String, String, Vec<Addr>)> = BTreeMap::new();
    for (logical, f) in &lab.functions {
        let fname = lab.physical(logical);
        let farn = function_arn(region, account, &fname);
        for (i, t) in f.triggers.iter().enumerate() {
            let Some(bucket) = cx.vars.buckets.get(&t.bucket) else {
                continue;
            };
            let Some(w) = wanted.get_mut(bucket) else {
                continue;
            };
            match t.via {
                Via::S3 => {
                    let suffixes: Vec<Option<&String>> = if t.suffixes.is_empty() {
                        vec![None]
                    } else {
                        t.suffixes.iter().map(Some).collect()
                    };
                    for (j, sfx) in suffixes.iter().enumerate() {
                        // Function names may hold '-' but never '.': `f` trigger 1
                        // suffix 0 and `f-1` trigger 0 must not share an Id.
                        let id = if suffixes.len() == 1 {
                            format!("{ours}{logical}-{i}")
                        } else {
                            format!("{ours}{logical}-{i}.{j}")
                        };
                        let mut events = t.events.clone();
                        events.sort();
                        w.0.push(NotificationEntry {
                            id,
                            destination: Destination::Lambda,
                            arn: farn.clone(),
                            events,
                            prefix: t.prefix.clone(),
                            suffix: sfx.cloned(),
                        });
                    }
                    // S3 validates the destination: the permission must exist first.
                    w.2.push(addr(Kind::Permissions, &fname));
                    w.2.push(addr(Kind::Function, &fname));
                }
                Via::EventBridge => {
                    w.1 = true;
                    let rule = rule_name(lab, logical, i);
                    rules.insert(
                        rule,
                        (
                            pattern(bucket, t),
                            farn.clone(),
                            vec![
                                addr(Kind::Function, &fname),
                                addr(Kind::Permissions, &fname),
                            ],
                        ),
                    );
                }
            }
        }
    }

    for (bucket, (mut mine, eventbridge, after)) in wanted {
        let exists = matches!(
            cx.live.buckets.get(&bucket),
            Some(BucketPresence::Present(_))
        );
        // Only the lab's buckets, or ones it creates or adopts in this run: a bucket
        // of the same name that is not the lab's keeps its notifications untouched.
        let owned = matches!(cx.live.buckets.get(&bucket), Some(BucketPresence::Present(b)) if b.owner() == Some(lab.name.as_str()));
        let taken_now = plan.actions.iter().any(|a| {
            a.addr == addr(Kind::Bucket, &bucket)
                && (a.op == Op::Create || (a.op == Op::Update && a.reason.is_some()))
        });
        if !owned && !taken_now {
            continue;
        }
        let live = cx
            .live
            .notifications
            .get(&bucket)
            .cloned()
            .unwrap_or_default();
        // Entries labctl did not write stay as they are.
        let mut entries: Vec<NotificationEntry> = live
            .entries
            .iter()
            .filter(|e| !e.id.starts_with(&ours))
            .cloned()
            .collect();
        entries.append(&mut mine);
        entries.sort();
        // EventBridge delivery is turned on when a trigger needs it and never off: it
        // costs nothing without rules, and someone else's rules may depend on it.
        let want = LiveNotification {
            entries,
            eventbridge: eventbridge || live.eventbridge,
        };
        let mut have = live.clone();
        have.entries.iter_mut().for_each(|e| e.events.sort());
        have.entries.sort();
        if want == have || (!exists && want == LiveNotification::default()) {
            continue;
        }
        let mut a = Action::new(
            addr(Kind::Notification, &bucket),
            if exists { Op::Update } else { Op::Create },
            Work::Notification {
                bucket: bucket.clone(),
                config: want.clone(),
            },
        );
        let show = |n: &LiveNotification| {
            let mut parts: Vec<String> = n
                .entries
                .iter()
                .map(|e| {
                    format!(
                        "{} -> {}",
                        e.id,
                        e.arn.rsplit(':').next().unwrap_or_default()
                    )
                })
                .collect();
            if n.eventbridge {
                parts.push("EventBridge".into());
            }
            if parts.is_empty() {
                "(none)".into()
            } else {
                parts.join(", ")
            }
        };
        a.changes.push(Change {
            attr: "notifications".into(),
            before: show(&have),
            after: show(&want),
            note: None,
        });
        a.after = after;
        // A bucket being created comes first; one being deleted comes after (below).
        if !plan
            .actions
            .iter()
            .any(|b| b.addr == addr(Kind::Bucket, &bucket) && b.op == Op::Delete)
        {
            a.after.push(addr(Kind::Bucket, &bucket));
        }
        plan.actions.push(a);
    }

    // A bucket deleted in this run goes after its notification configuration is cleaned.
    let cleaned: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.addr.kind == Kind::Notification)
        .map(|a| a.addr.name.clone())
        .collect();
    for a in plan
        .actions
        .iter_mut()
        .filter(|a| a.addr.kind == Kind::Bucket && a.op == Op::Delete)
    {
        if cleaned.contains(&a.addr.name) {
            a.after.push(addr(Kind::Notification, &a.addr.name));
        }
    }

    // Rules.
    let mut tags = lab.base_tags();
    tags.insert(OWNER_TAG.into(), lab.name.clone());
    for (name, (pat, target, after)) in &rules {
        let live = cx.live.rules.get(name);
        if let Some(other) = live.filter(|l| l.owner() != Some(lab.name.as_str())) {
            let whose = other
                .owner()
                .map(|o| format!("belongs to lab `{o}`"))
                .unwrap_or_else(|| "exists without labctl's tag".into());
            plan.errors.push(super::PlanError {
                addr: addr(Kind::Rule, name),
                message: format!("EventBridge rule `{name}` {whose}"),
                help: "rename the function or the lab in lab.yaml, or delete that rule".into(),
            });
            continue;
        }
        let same_pattern = live.is_some_and(|l| {
            serde_json::from_str::<serde_json::Value>(&l.pattern).ok()
                == serde_json::from_str::<serde_json::Value>(pat).ok()
        });
        let same_targets =
            live.is_some_and(|l| l.targets == vec![("lambda".to_owned(), target.clone())]);
        let same_tags = live.is_some_and(|l| l.tags == tags);
        let enabled = live.is_some_and(|l| l.enabled);
        if same_pattern && same_targets && same_tags && enabled {
            continue;
        }
        let stale = live
            .map(|l| {
                l.targets
                    .iter()
                    .filter(|(id, arn)| !(id == "lambda" && arn == target))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut a = Action::new(
            addr(Kind::Rule, name),
            if live.is_some() {
                Op::Update
            } else {
                Op::Create
            },
            Work::Rule {
                name: name.clone(),
                step: RuleStep::Put {
                    pattern: pat.clone(),
                    target: target.clone(),
                    tags: tags.clone(),
                    stale_targets: stale,
                    existing: live.map(|l| l.tags.clone()),
                },
            },
        );
        a.changes.push(Change {
            attr: "pattern".into(),
            before: live.map(|l| l.pattern.clone()).unwrap_or_default(),
            after: pat.clone(),
            note: None,
        });
        a.changes.push(Change {
            attr: "target".into(),
            before: live
                .and_then(|l| l.targets.first().map(|t| t.1.clone()))
                .unwrap_or_default(),
            after: target.clone(),
            note: None,
        });
        if live.is_some_and(|l| !l.enabled) {
            a.changes.push(Change {
                attr: "state".into(),
                before: "DISABLED".into(),
                after: "ENABLED".into(),
                note: None,
            });
        }
        a.after = after.clone();
        plan.actions.push(a);
    }
    for (name, live) in &cx.live.rules {
        if rules.contains_key(name) || live.owner() != Some(lab.name.as_str()) {
            continue;
        }
        let mut a = Action::new(
            addr(Kind::Rule, name),
            Op::Delete,
            Work::Rule {
                name: name.clone(),
                step: RuleStep::Delete {
                    targets: live.targets.iter().map(|t| t.0.clone()).collect(),
                },
            },
        );
        a.reason = Some(super::gone(cx.opts).into());
        plan.actions.push(a);
    }
    let _ = rule_arn;
}

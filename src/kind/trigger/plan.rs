//! What each lab bucket's notification configuration should hold, and the EventBridge
//! rules the lab's triggers need.

use std::collections::BTreeMap;

use super::{RULE, RuleStep, TARGETS, Work, notification_id, pattern, s3_filter_value};
use crate::kind::bucket::{
    BUCKET, BucketPresence, Destination, LiveNotification, NOTIFICATION, NotificationEntry,
};
use crate::kind::lambda::{FUNCTION, PERMISSIONS, Via};
use crate::kind::{Ctx, Emit};
use crate::names::{function_arn, rule_name};
use crate::plan::{Addr, Change, Op, Owned};

/// The notification configurations labctl may rewrite: those of the lab's buckets and
/// of declared ones not yet tagged (taken over in this run, or not at all).
fn notifications<'a>(cx: &Ctx<'a>) -> BTreeMap<String, &'a LiveNotification> {
    cx.live
        .buckets
        .iter()
        .filter_map(|(n, p)| match p {
            BucketPresence::Present(b) if b.owner().is_none_or(|o| o == cx.lab.name) => {
                Some((n.clone(), &b.notification))
            }
            _ => None,
        })
        .collect()
}

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let lab = cx.lab;
    let account = &cx.vars.account_id;
    let region = &cx.vars.region;
    let ours = format!("labctl-{}-", lab.name);
    let live_notifications = notifications(cx);

    // What each lab bucket's notification configuration should hold.
    let mut wanted: BTreeMap<String, (Vec<NotificationEntry>, bool, Vec<Addr>)> = BTreeMap::new();
    for name in cx.vars.buckets.values() {
        wanted.insert(name.clone(), (Vec::new(), false, Vec::new()));
    }
    // Buckets no longer declared (or on destroy) lose labctl's entries too: an entry
    // naming a deleted function would break every later write of the configuration.
    for name in live_notifications.keys() {
        wanted
            .entry(name.clone())
            .or_insert_with(|| (Vec::new(), false, Vec::new()));
    }
    let mut rules: BTreeMap<String, (String, String, Vec<Addr>)> = BTreeMap::new();
    for (logical, f) in &lab.lambda.functions {
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
                        let id = notification_id(
                            &lab.name,
                            logical,
                            i,
                            (suffixes.len() > 1).then_some(j),
                        );
                        let mut events = t.events.clone();
                        events.sort();
                        w.0.push(NotificationEntry {
                            id,
                            destination: Destination::Lambda,
                            arn: farn.clone(),
                            events,
                            prefix: t.prefix.as_deref().map(s3_filter_value),
                            suffix: sfx.map(|s| s3_filter_value(s)),
                        });
                    }
                    // S3 validates the destination: the permission must exist first.
                    w.2.push(Addr::new(PERMISSIONS, fname.clone()));
                    w.2.push(Addr::new(FUNCTION, fname.clone()));
                }
                Via::EventBridge => {
                    w.1 = true;
                    rules.insert(
                        rule_name(&fname, i),
                        (
                            pattern(bucket, t),
                            farn.clone(),
                            vec![
                                Addr::new(FUNCTION, fname.clone()),
                                Addr::new(PERMISSIONS, fname.clone()),
                            ],
                        ),
                    );
                }
            }
        }
    }

    for (bucket, (mut mine, eventbridge, after)) in wanted {
        let bucket_addr = Addr::new(BUCKET, bucket.clone());
        let addr = Addr::new(NOTIFICATION, bucket.clone());
        let exists = matches!(
            cx.live.buckets.get(&bucket),
            Some(BucketPresence::Present(_))
        );
        // Only the lab's buckets, or ones it creates or adopts in this run: a bucket
        // of the same name that is not the lab's keeps its notifications untouched.
        let owner = match cx.live.buckets.get(&bucket) {
            Some(BucketPresence::Present(b)) => b.owner(),
            _ => None,
        };
        let Some(owned) = cx
            .owned(addr.clone(), owner)
            .or_else(|| out.owned_via(addr.clone(), &bucket_addr))
        else {
            continue;
        };
        let live = live_notifications
            .get(&bucket)
            .map(|n| (*n).clone())
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
        // A bucket being created comes first; one being deleted comes after (the
        // engine orders it by `uses`).
        let bucket_op = out.planned(&bucket_addr).map(|b| b.op);
        let deleting = bucket_op == Some(Op::Delete);
        let work = Work::Notification {
            bucket: bucket.clone(),
            config: want.clone(),
            fresh: bucket_op == Some(Op::Create),
        };
        let a = if exists {
            out.update(owned, work)
        } else {
            out.create(addr, work)
        };
        a.changes
            .push(Change::new("notifications", show(&have), show(&want)));
        a.after = after;
        if !deleting {
            a.after.push(bucket_addr.clone());
        }
        a.uses = vec![bucket_addr];
    }

    // Rules.
    let tags = cx.tags(&Default::default());
    for (name, (pat, target, after)) in &rules {
        let addr = Addr::new(RULE, name.clone());
        let live = cx.live.triggers.rules.get(name);
        let owned = match live {
            Some(l) => match cx.claim(
                addr.clone(),
                l.owner(),
                "EventBridge rule",
                "rename the function or the lab in lab.yaml, or delete that rule",
            ) {
                Ok(o) => Some(o),
                Err(e) => {
                    out.error(e);
                    continue;
                }
            },
            None => None,
        };
        let same_pattern = live.is_some_and(|l| {
            serde_json::from_str::<serde_json::Value>(&l.pattern).ok()
                == serde_json::from_str::<serde_json::Value>(pat).ok()
        });
        let same_targets =
            live.is_some_and(|l| l.targets == vec![("lambda".to_owned(), target.clone())]);
        let same_tags = live.is_some_and(|l| l.tags == tags);
        let enabled = live.is_some_and(|l| l.enabled);
        // The rule waits for nothing: EventBridge takes a pattern naming a bucket that
        // does not exist yet, and tags come with the rule's creation.
        if !(same_pattern && same_tags && enabled) {
            let work = Work::Rule {
                name: name.clone(),
                step: RuleStep::Put {
                    pattern: pat.clone(),
                    tags: tags.clone(),
                    existing: live.map(|l| l.tags.clone()),
                },
            };
            let a = match owned {
                Some(owned) => out.update(owned, work),
                None => out.create(addr.clone(), work),
            };
            a.changes.push(Change::new(
                "pattern",
                live.map(|l| l.pattern.clone()).unwrap_or_default(),
                pat.clone(),
            ));
            if live.is_some_and(|l| !l.enabled) {
                a.changes.push(Change::new("state", "DISABLED", "ENABLED"));
            }
        }
        if same_targets {
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
        let work = Work::Rule {
            name: name.clone(),
            step: RuleStep::Targets {
                target: target.clone(),
                stale_targets: stale,
            },
        };
        // The function's permission first: an event delivered before it is refused.
        let taddr = Addr::new(TARGETS, name.clone());
        let a = match live.and_then(|l| Owned::by(&lab.name, taddr.clone(), l.owner())) {
            Some(owned) => out.update(owned, work),
            None => out.create(taddr, work),
        };
        a.changes.push(Change::new(
            "target",
            live.and_then(|l| l.targets.first().map(|t| t.1.clone()))
                .unwrap_or_default(),
            target.clone(),
        ));
        a.after = after.clone();
        a.after.push(addr);
    }
    for (name, live) in &cx.live.triggers.rules {
        if rules.contains_key(name) {
            continue;
        }
        if let Some(owned) = cx.owned(Addr::new(RULE, name.clone()), live.owner()) {
            out.delete(
                owned,
                Work::Rule {
                    name: name.clone(),
                    step: RuleStep::Delete {
                        targets: live.targets.iter().map(|t| t.0.clone()).collect(),
                    },
                },
            );
        }
    }
}

fn show(n: &LiveNotification) -> String {
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
}

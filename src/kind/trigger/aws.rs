//! EventBridge rules that route a bucket's object events to a function (so one bucket
//! can fan out to several functions with overlapping filters), and the bucket
//! notification configuration that holds direct triggers.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use aws_sdk_s3::types::NotificationConfigurationFilter;

use super::{LiveRule, RuleStep};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx, build_err, gone_ok};
use std::time::Duration;

use crate::aws::retry::{self, NOT_READY_BUDGET, Patience};
use crate::kind::bucket::{Destination, LiveNotification, NotificationEntry};
use crate::names::s3_permission_sid;

/// Rules named with the lab's prefix, with their tags (the planner checks the owner).
/// The account's rules are listed once for every lab of a class.
pub(super) async fn read_rules(run: &Run) -> Result<BTreeMap<String, LiveRule>, AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    let listed = c
        .listings
        .get("events:ListRules", || async {
            let mut rules = Vec::new();
            let mut token = None;
            loop {
                let page = c
                    .events
                    .list_rules()
                    .set_next_token(token)
                    .send()
                    .await
                    .ctx("ListRules")?;
                rules.extend(page.rules().iter().cloned());
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    return Ok(rules);
                }
            }
        })
        .await
        .map(|l| (*l).clone());
    let prefix = format!("{lab}-");
    let rules: Vec<_> = run
        .discovery(listed.map(Some), "EventBridge rules")?
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.name().is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    // Each rule's tags and targets, all rules at once.
    let reads = rules
        .iter()
        .filter_map(|r| Some((r.name()?, r.arn()?, r)))
        .map(|(name, arn, r)| async move {
            let (tags, targets) = tokio::join!(
                c.events.list_tags_for_resource().resource_arn(arn).send(),
                c.events.list_targets_by_rule().rule(name).send()
            );
            // A rule deleted since the listing (another run, another lab) is skipped.
            let tags = match tags.ctx("ListTagsForResource") {
                Err(e) if e.class == Class::NotFound => return Ok(None),
                other => other?,
            };
            let tags: BTreeMap<String, String> = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            // Rules that are not the lab's are kept too, tags and all: the planner must
            // know a name is taken, and never touch such a rule.
            let targets = match targets.ctx("ListTargetsByRule") {
                Err(e) if e.class == Class::NotFound => return Ok(None),
                other => other?,
            };
            let targets = targets
                .targets()
                .iter()
                .map(|t| (t.id().to_owned(), t.arn().to_owned()))
                .collect();
            Ok::<_, AwsError>(Some(LiveRule {
                name: name.to_owned(),
                arn: arn.to_owned(),
                pattern: r.event_pattern().unwrap_or_default().to_owned(),
                enabled: r.state() != Some(&aws_sdk_eventbridge::types::RuleState::Disabled),
                targets,
                tags,
            }))
        });
    let mut out = BTreeMap::new();
    for rule in futures_util::future::join_all(reads).await {
        if let Some(r) = rule? {
            out.insert(r.name.clone(), r);
        }
    }
    Ok(out)
}

pub(super) async fn execute_rule(run: &Run, name: &str, step: &RuleStep) -> Result<(), AwsError> {
    // EventBridge answers ConcurrentModificationException while a change of the rule
    // settles; every call below is idempotent.
    retry::not_ready(NOT_READY_BUDGET, || rule_once(run, name, step)).await
}

async fn rule_once(run: &Run, name: &str, step: &RuleStep) -> Result<(), AwsError> {
    let ev = &run.clients.events;
    match step {
        RuleStep::Put {
            pattern,
            tags,
            existing,
        } => {
            let tag_list = |t: &crate::model::Tags| {
                t.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_err))
                    .collect::<Result<Vec<_>, _>>()
            };
            // PutRule is idempotent by name: a retry after a lost answer changes nothing.
            // Tags in it count only when the rule is created.
            let out = ev
                .put_rule()
                .name(name)
                .event_pattern(pattern)
                .state(RuleState::Enabled)
                .set_tags(Some(tag_list(tags)?))
                .send()
                .await
                .ctx("PutRule")?;
            if let Some(live_tags) = existing {
                let arn = out.rule_arn().unwrap_or_default();
                let remove: Vec<String> = live_tags
                    .keys()
                    .filter(|k| !tags.contains_key(*k))
                    .cloned()
                    .collect();
                if !remove.is_empty() {
                    ev.untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .ctx("UntagResource")?;
                }
                if live_tags != tags {
                    ev.tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(tag_list(tags)?))
                        .send()
                        .await
                        .ctx("TagResource")?;
                }
            }
            Ok(())
        }
        RuleStep::Targets {
            target,
            stale_targets,
        } => {
            if !stale_targets.is_empty() {
                ev.remove_targets()
                    .rule(name)
                    .set_ids(Some(stale_targets.clone()))
                    .send()
                    .await
                    .ctx("RemoveTargets")?;
            }
            let t = Target::builder()
                .id("lambda")
                .arn(target)
                .build()
                .map_err(build_err)?;
            let out = ev
                .put_targets()
                .rule(name)
                .targets(t)
                .send()
                .await
                .ctx("PutTargets")?;
            if out.failed_entry_count() > 0 {
                let why = out
                    .failed_entries()
                    .first()
                    .and_then(|f| f.error_message())
                    .unwrap_or("unknown")
                    .to_owned();
                return Err(AwsError {
                    op: "PutTargets",
                    code: "FailedEntry".into(),
                    message: why,
                    status: None,
                    class: Class::Fatal,
                });
            }
            Ok(())
        }
        RuleStep::Delete { targets } => {
            if !targets.is_empty() {
                gone_ok(
                    ev.remove_targets()
                        .rule(name)
                        .set_ids(Some(targets.clone()))
                        .send()
                        .await
                        .ctx("RemoveTargets"),
                )?;
            }
            gone_ok(ev.delete_rule().name(name).send().await.ctx("DeleteRule"))
        }
    }
}

/// Writes a bucket's whole notification configuration (S3 has no partial update).
/// `fresh`: the bucket was created in this run.
pub(super) async fn put_notification(
    run: &Run,
    bucket: &str,
    n: &LiveNotification,
    fresh: bool,
) -> Result<(), AwsError> {
    let c = &run.clients;
    use aws_sdk_s3::types::{
        Event, EventBridgeConfiguration, FilterRule, FilterRuleName, LambdaFunctionConfiguration,
        NotificationConfiguration, QueueConfiguration, S3KeyFilter, TopicConfiguration,
    };
    let filter = |e: &NotificationEntry| {
        let mut rules = Vec::new();
        if let Some(p) = &e.prefix {
            rules.push(
                FilterRule::builder()
                    .name(FilterRuleName::Prefix)
                    .value(p)
                    .build(),
            );
        }
        if let Some(s) = &e.suffix {
            rules.push(
                FilterRule::builder()
                    .name(FilterRuleName::Suffix)
                    .value(s)
                    .build(),
            );
        }
        (!rules.is_empty()).then(|| {
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build()
        })
    };
    let events = |e: &NotificationEntry| {
        e.events
            .iter()
            .map(|x| Event::from(x.as_str()))
            .collect::<Vec<_>>()
    };
    let mut cfg = NotificationConfiguration::builder();
    for e in &n.entries {
        cfg = match e.destination {
            Destination::Lambda => cfg.lambda_function_configurations(
                LambdaFunctionConfiguration::builder()
                    .id(&e.id)
                    .lambda_function_arn(&e.arn)
                    .set_events(Some(events(e)))
                    .set_filter(filter(e))
                    .build()
                    .map_err(build_err)?,
            ),
            Destination::Queue => cfg.queue_configurations(
                QueueConfiguration::builder()
                    .id(&e.id)
                    .queue_arn(&e.arn)
                    .set_events(Some(events(e)))
                    .set_filter(filter(e))
                    .build()
                    .map_err(build_err)?,
            ),
            Destination::Topic => cfg.topic_configurations(
                TopicConfiguration::builder()
                    .id(&e.id)
                    .topic_arn(&e.arn)
                    .set_events(Some(events(e)))
                    .set_filter(filter(e))
                    .build()
                    .map_err(build_err)?,
            ),
        };
    }
    if n.eventbridge {
        cfg = cfg.event_bridge_configuration(EventBridgeConfiguration::builder().build());
    }
    // Never SkipDestinationValidation: a trigger S3 could not validate would silently not fire.
    let put = || async {
        c.s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(cfg.clone().build())
            .send()
            .await
            .ctx("PutBucketNotificationConfiguration")
    };
    let mut patience = Patience::default();
    let mut delay = Duration::from_millis(250);
    loop {
        let e = match put().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let waited = patience.elapsed() + delay;
        // S3 may not know a bucket created moments ago (eventual consistency).
        let not_yet = e.class == Class::NotReady || (fresh && e.code == "NoSuchBucket");
        if not_yet && waited < NOT_READY_BUDGET {
            patience.tell(
                run,
                &format!("s3 notification {bucket}: the new bucket is not ready yet"),
                NOT_READY_BUDGET,
            );
        } else if e.code == "InvalidArgument"
            && e.message
                .contains("Unable to validate the following destination configurations")
            && waited < PERMISSION_PROPAGATION
            && permissions_in_place(run, bucket, n).await?
        {
            // Every function named holds the statement labctl granted S3: S3 has not
            // seen it yet (it takes a while to propagate), so waiting will do.
            patience.tell(
                run,
                &format!("s3 notification {bucket}: S3 does not see the new Lambda permission yet"),
                PERMISSION_PROPAGATION,
            );
        } else {
            return Err(e);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// How long S3 may take to see a Lambda permission granted moments ago.
const PERMISSION_PROPAGATION: Duration = Duration::from_secs(120);

/// Whether every function the lab's entries name holds the statement that lets S3
/// invoke it for `bucket` (read, not assumed: only then is "cannot validate" a race).
async fn permissions_in_place(
    run: &Run,
    bucket: &str,
    n: &LiveNotification,
) -> Result<bool, AwsError> {
    let ours = format!("labctl-{}-", run.lab);
    let sid = s3_permission_sid(bucket);
    for e in n
        .entries
        .iter()
        .filter(|e| e.destination == Destination::Lambda && e.id.starts_with(&ours))
    {
        let function = e.arn.rsplit(':').next().unwrap_or_default();
        let policy = match run
            .clients
            .lambda
            .get_policy()
            .function_name(function)
            .send()
            .await
            .ctx("GetPolicy")
        {
            Ok(p) => p.policy().unwrap_or_default().to_owned(),
            Err(e) if e.class == Class::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let has = serde_json::from_str::<serde_json::Value>(&policy)
            .ok()
            .and_then(|v| v["Statement"].as_array().cloned())
            .is_some_and(|st| st.iter().any(|s| s["Sid"].as_str() == Some(sid.as_str())));
        if !has {
            return Ok(false);
        }
    }
    Ok(true)
}

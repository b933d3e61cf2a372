//! EventBridge rules that route a bucket's object events to a function (so one bucket
//! can fan out to several functions with overlapping filters), and the bucket
//! notification configuration that holds direct triggers.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{RuleState, Tag, Target};
use aws_sdk_s3::types::NotificationConfigurationFilter;

use super::{LiveRule, RuleStep};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx, build_err, gone_ok};
use crate::aws::retry::{NOT_READY_BUDGET, not_ready};
use crate::kind::bucket::{Destination, LiveNotification, NotificationEntry};

/// Rules named with the lab's prefix, with their tags (the planner checks the owner).
pub(super) async fn read_rules(run: &Run) -> Result<BTreeMap<String, LiveRule>, AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    let mut rules = Vec::new();
    let mut token = None;
    loop {
        let page_result = c
            .events
            .list_rules()
            .name_prefix(format!("{lab}-"))
            .set_next_token(token)
            .send()
            .await
            .ctx("ListRules");
        let Some(page) = run.discovery(page_result.map(Some), "EventBridge rules")? else {
            break;
        };
        rules.extend(page.rules().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
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
    let ev = &run.clients.events;
    match step {
        RuleStep::Put {
            pattern,
            target,
            tags,
            stale_targets,
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
pub(super) async fn put_notification(
    run: &Run,
    bucket: &str,
    n: &LiveNotification,
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
    not_ready(NOT_READY_BUDGET, || async {
        c.s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(cfg.clone().build())
            .send()
            .await
            .ctx("PutBucketNotificationConfiguration")
    })
    .await
    .map(drop)
}

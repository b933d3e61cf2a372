//! S3: reading a bucket's managed settings, and carrying out bucket steps.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, NoncurrentVersionTransition,
    NotificationConfigurationFilter, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, Transition, TransitionStorageClass,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{
    BucketConfig, BucketPresence, Destination, LiveBucket, LiveNotification, NotificationEntry,
    ObjectCount, RuleState, Step, Versioning,
};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx, build_err};
use crate::aws::retry::{self, NOT_READY_BUDGET};
use crate::model::{OWNER_TAG, Tags};

/// Reads every declared bucket, and every bucket of the account tagged as this lab's.
pub(super) async fn read_all(
    run: &Run,
    declared: &[String],
) -> Result<BTreeMap<String, BucketPresence>, AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    // Paginated and filtered by region on S3's side: without a parameter S3 leaves out
    // each bucket's region (and refuses accounts allowed more than 10,000 buckets).
    let listed = c.listings.get("s3:ListBuckets", || async {
        c.s3.list_buckets()
            .bucket_region(&c.region)
            .max_buckets(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .ctx("ListBuckets")
    });
    let declared_reads = stream::iter(declared.iter().cloned()).map(|name| async move {
        let p = read_one(c, &name, false).await?;
        Ok::<_, AwsError>((name, p))
    });
    let (listed, declared_found) = tokio::join!(
        listed,
        declared_reads.buffer_unordered(16).try_collect::<Vec<_>>()
    );
    let mut out: BTreeMap<String, BucketPresence> = declared_found?.into_iter().collect();
    let listed = run.discovery(listed.map(|l| (*l).clone()), "buckets")?;
    // S3 answers 403 both for another account's bucket and for one of this account
    // whose tags the caller may not read; the account's own listing tells them apart.
    for (name, p) in &out {
        if *p == BucketPresence::OtherAccount && listed.iter().any(|b| b.name() == Some(name)) {
            return Err(AwsError {
                op: "GetBucketTagging",
                code: "AccessDenied".into(),
                message: format!(
                    "bucket `{name}` is this account's, but reading its tags is denied (s3:GetBucketTagging), so labctl cannot tell whose it is"
                ),
                status: Some(403),
                class: Class::AccessDenied,
            });
        }
    }
    let candidates: Vec<String> = listed
        .iter()
        .filter(|b| b.bucket_region().is_none_or(|r| r == c.region))
        .filter_map(|b| b.name().map(str::to_owned))
        .filter(|n| !out.contains_key(n))
        .collect();
    // Undeclared buckets are the lab's only if tagged so; a bucket we cannot read the
    // tags of (another region, no permission) is not ours to touch.
    // Whose each bucket is, read once for every lab of the account (class mode).
    let owned = stream::iter(candidates)
        .map(|name| async move {
            let owner = shared_tags(c, &name)
                .await
                .ok()
                .flatten()
                .and_then(|t| t.get(OWNER_TAG).cloned());
            (owner.as_deref() == Some(lab)).then_some(name)
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect::<Vec<_>>()
        .await;
    for name in owned {
        let p = read_one(c, &name, true).await?;
        out.insert(name, p);
    }
    Ok(out)
}

async fn read_one(
    c: &crate::aws::Clients,
    name: &str,
    count: bool,
) -> Result<BucketPresence, AwsError> {
    // Every setting at once; the tagging answer says whether the bucket is there and
    // whose it is (404 free, 403 another account's, 301 another region's), so no
    // HeadBucket round trip comes first.
    let s3 = &c.s3;
    let (tag_set, versioning, pab, encryption, lifecycle, notification) = tokio::join!(
        shared_tags(c, name),
        versioning(s3, name),
        public_access_block(s3, name),
        encryption(s3, name),
        lifecycle(s3, name),
        notification(s3, name),
    );
    let tag_set = match tag_set {
        Err(e) if e.code == "NoSuchBucket" || (e.code.is_empty() && e.status == Some(404)) => {
            return Ok(BucketPresence::Absent);
        }
        // A bucket of this account in another region: S3 redirects, or refuses the
        // signature ("the region 'us-east-1' is wrong; expecting 'us-west-2'").
        Err(e)
            if e.status == Some(301)
                || e.code == "PermanentRedirect"
                || e.code == "AuthorizationHeaderMalformed" =>
        {
            return Ok(BucketPresence::OtherRegion(
                expected_region(&e.message).unwrap_or_else(|| "another region".into()),
            ));
        }
        Err(e) if e.class == Class::AccessDenied => return Ok(BucketPresence::OtherAccount),
        other => other?,
    };
    let (versioning, pab, encryption, (lifecycle, lifecycle_min_size), notification) =
        (versioning?, pab?, encryption?, lifecycle?, notification?);
    let region = c.region.clone();
    let objects = if count || tag_set.is_none() {
        Some(count_objects(s3, name).await?)
    } else {
        None
    };
    Ok(BucketPresence::Present(Box::new(LiveBucket {
        name: name.to_owned(),
        region,
        config: BucketConfig {
            versioning,
            public_access_block: pab,
            encryption,
            lifecycle,
            tags: tag_set.clone().unwrap_or_default(),
        },
        tag_set,
        objects,
        notification,
        lifecycle_min_size,
    })))
}

/// The region S3 names in "...the region 'us-east-1' is wrong; expecting 'us-west-2'".
fn expected_region(message: &str) -> Option<String> {
    let rest = message.split("expecting '").nth(1)?;
    Some(rest.split('\'').next()?.to_owned()).filter(|r| !r.is_empty())
}

/// Treats "there is none" answers as an empty value.
fn absent_ok<T>(r: Result<T, AwsError>, empty: T) -> Result<T, AwsError> {
    match r {
        Err(e) if e.class == Class::NotFound && e.code != "NoSuchBucket" => Ok(empty),
        other => other,
    }
}

/// A bucket's tags, read once in a run: in class mode the lab that declares a bucket
/// and every other lab asking whose it is share the answer. Only a definite answer is
/// kept; a transient failure is tried again by the next to ask.
async fn shared_tags(c: &crate::aws::Clients, name: &str) -> Result<Option<Tags>, AwsError> {
    let kept = c
        .listings
        .get(&format!("s3:tags:{name}"), || async {
            match tags(&c.s3, name).await {
                Err(e) if e.class == Class::Transient => Err(e),
                answer => Ok(answer),
            }
        })
        .await?;
    (*kept).clone()
}

async fn tags(s3: &Client, name: &str) -> Result<Option<Tags>, AwsError> {
    let r = s3
        .get_bucket_tagging()
        .bucket(name)
        .send()
        .await
        .ctx("GetBucketTagging")
        .map(|o| {
            Some(
                o.tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            )
        });
    absent_ok(r, None)
}

async fn versioning(s3: &Client, name: &str) -> Result<Versioning, AwsError> {
    let o = s3
        .get_bucket_versioning()
        .bucket(name)
        .send()
        .await
        .ctx("GetBucketVersioning")?;
    Ok(match o.status() {
        Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
        Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
        _ => Versioning::Never,
    })
}

async fn public_access_block(s3: &Client, name: &str) -> Result<[bool; 4], AwsError> {
    let r = s3
        .get_public_access_block()
        .bucket(name)
        .send()
        .await
        .ctx("GetPublicAccessBlock")
        .map(|o| {
            let c = o.public_access_block_configuration();
            let f = |v: Option<bool>| v.unwrap_or(false);
            c.map(|c| {
                [
                    f(c.block_public_acls()),
                    f(c.ignore_public_acls()),
                    f(c.block_public_policy()),
                    f(c.restrict_public_buckets()),
                ]
            })
            .unwrap_or_default()
        });
    absent_ok(r, [false; 4])
}

async fn encryption(s3: &Client, name: &str) -> Result<Option<(String, Option<String>)>, AwsError> {
    let r = s3
        .get_bucket_encryption()
        .bucket(name)
        .send()
        .await
        .ctx("GetBucketEncryption")
        .map(|o| {
            o.server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| {
                    (
                        d.sse_algorithm().as_str().to_owned(),
                        d.kms_master_key_id().map(str::to_owned),
                    )
                })
        });
    absent_ok(r, None)
}

/// The rules, and the bucket's TransitionDefaultMinimumObjectSize (written back as it
/// is: every Put replaces the whole configuration, that setting included).
async fn lifecycle(s3: &Client, name: &str) -> Result<(Vec<RuleState>, Option<String>), AwsError> {
    let r = s3
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .send()
        .await
        .ctx("GetBucketLifecycleConfiguration")
        .map(|o| {
            let mut rules: Vec<RuleState> = o.rules().iter().map(rule_state).collect();
            rules.sort();
            let min = o
                .transition_default_minimum_object_size()
                .map(|m| m.as_str().to_owned());
            (rules, min)
        });
    absent_ok(r, (Vec::new(), None))
}

#[allow(deprecated)] // the legacy top-level Prefix is read so foreign rules diff correctly
fn rule_state(r: &LifecycleRule) -> RuleState {
    let f = r.filter();
    let other_filter = f.is_some_and(|f| {
        f.tag().is_some()
            || f.and().is_some()
            || f.object_size_greater_than().is_some()
            || f.object_size_less_than().is_some()
    });
    let prefix = f
        .and_then(|f| f.prefix())
        .or(r.prefix())
        .unwrap_or_default()
        .to_owned();
    let mut transitions: Vec<(i32, String)> = r
        .transitions()
        .iter()
        .map(|t| {
            (
                t.days().unwrap_or(0),
                t.storage_class()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    transitions.sort();
    let mut noncurrent: Vec<(i32, String)> = r
        .noncurrent_version_transitions()
        .iter()
        .map(|t| {
            (
                t.noncurrent_days().unwrap_or(0),
                t.storage_class()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    noncurrent.sort();
    RuleState {
        id: r.id().unwrap_or_default().to_owned(),
        enabled: *r.status() == ExpirationStatus::Enabled,
        prefix,
        transitions,
        expiration_days: r.expiration().and_then(|e| e.days()),
        noncurrent_transitions: noncurrent,
        noncurrent_expiration_days: r
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        abort_incomplete_multipart_days: r
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        other_filter,
    }
}

/// Counts objects, versions and delete markers: one page is enough to say "not empty".
async fn count_objects(s3: &Client, name: &str) -> Result<ObjectCount, AwsError> {
    let o = s3
        .list_object_versions()
        .bucket(name)
        .max_keys(1000)
        .send()
        .await
        .ctx("ListObjectVersions")?;
    Ok(ObjectCount {
        count: o.versions().len() + o.delete_markers().len(),
        truncated: o.is_truncated().unwrap_or(false),
    })
}

/// Carries out one bucket's steps in order: S3 rejects concurrent configuration writes
/// on one bucket (OperationAborted), so a bucket's steps never run in parallel.
pub(super) async fn execute(run: &Run, name: &str, steps: &[Step]) -> Result<(), AwsError> {
    let mut created = false;
    for step in steps {
        // Right after CreateBucket, S3 may not know the bucket yet (its configuration is
        // eventually consistent): NoSuchBucket then means "not yet".
        let not_yet =
            |e: &AwsError| e.class == Class::NotReady || (created && e.code == "NoSuchBucket");
        retry::while_(NOT_READY_BUDGET, not_yet, || step_once(run, name, step)).await?;
        created |= matches!(step, Step::Create { .. });
    }
    Ok(())
}

fn tag_list(tags: &Tags) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_err)
}

fn tagging(tags: &Tags) -> Result<Tagging, AwsError> {
    Tagging::builder()
        .set_tag_set(Some(tag_list(tags)?))
        .build()
        .map_err(build_err)
}

async fn step_once(run: &Run, name: &str, step: &Step) -> Result<(), AwsError> {
    let c = &run.clients;
    let s3 = &c.s3;
    match step {
        Step::Create { tags } => {
            let mut cfg = CreateBucketConfiguration::builder().set_tags(Some(tag_list(tags)?));
            // us-east-1 must omit the constraint; every other region must send its own.
            if c.region != "us-east-1" {
                cfg = cfg.location_constraint(BucketLocationConstraint::from(c.region.as_str()));
            }
            let req = s3
                .create_bucket()
                .bucket(name)
                .create_bucket_configuration(cfg.build());
            match req.send().await.ctx("CreateBucket") {
                Ok(_) => Ok(()),
                // Our own earlier attempt whose answer was lost.
                Err(e) if e.code == "BucketAlreadyOwnedByYou" => {
                    run.note(format!("s3 bucket {name}: already existed"));
                    Ok(())
                }
                Err(mut e) if e.code == "BucketAlreadyExists" => {
                    e.message = format!(
                        "the name `{name}` belongs to another AWS account (bucket names are global)\n  help: choose another name in lab.yaml, e.g. add `-${{account_id}}`"
                    );
                    e.class = Class::Fatal;
                    Err(e)
                }
                // Denied is denied (an AWS Academy session, a restrictive policy), not
                // "taken": S3 answers BucketAlreadyExists for another account's name.
                Err(mut e) if e.class == Class::AccessDenied => {
                    e.message = format!(
                        "not allowed to create bucket `{name}` (s3:CreateBucket, with its tags: s3:TagResource): {}",
                        e.message
                    );
                    Err(e)
                }
                Err(e) => Err(e),
            }
        }
        Step::PutTags(tags) => s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging(tags)?)
            .send()
            .await
            .ctx("PutBucketTagging")
            .map(drop),
        Step::PutPublicAccessBlock(v) => {
            let cfg = PublicAccessBlockConfiguration::builder()
                .block_public_acls(v[0])
                .ignore_public_acls(v[1])
                .block_public_policy(v[2])
                .restrict_public_buckets(v[3])
                .build();
            s3.put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(cfg)
                .send()
                .await
                .ctx("PutPublicAccessBlock")
                .map(drop)
        }
        Step::PutVersioning(enabled) => {
            let status = if *enabled {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            let cfg = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(status)
                .build();
            s3.put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(cfg)
                .send()
                .await
                .ctx("PutBucketVersioning")
                .map(drop)
        }
        Step::PutEncryption(algo, key) => {
            let d = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(algo.as_str()))
                .set_kms_master_key_id(key.clone())
                .build()
                .map_err(build_err)?;
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(d)
                .bucket_key_enabled(algo != "AES256")
                .build();
            let cfg = ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(build_err)?;
            s3.put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(cfg)
                .send()
                .await
                .ctx("PutBucketEncryption")
                .map(drop)
        }
        Step::PutLifecycle { rules, min_size } => {
            let sent = rules
                .iter()
                .map(lifecycle_rule)
                .collect::<Result<Vec<_>, _>>()?;
            let cfg = BucketLifecycleConfiguration::builder()
                .set_rules(Some(sent))
                .build()
                .map_err(build_err)?;
            s3.put_bucket_lifecycle_configuration()
                .bucket(name)
                .lifecycle_configuration(cfg)
                .set_transition_default_minimum_object_size(
                    min_size
                        .as_deref()
                        .map(aws_sdk_s3::types::TransitionDefaultMinimumObjectSize::from),
                )
                .send()
                .await
                .ctx("PutBucketLifecycleConfiguration")?;
            settled_lifecycle(run, s3, name, rules).await
        }
        Step::DeleteLifecycle => s3
            .delete_bucket_lifecycle()
            .bucket(name)
            .send()
            .await
            .ctx("DeleteBucketLifecycle")
            .map(drop),
        Step::Delete { empty_first } => delete_bucket(s3, name, *empty_first).await,
    }
}

/// S3 serves a lifecycle configuration's old rules for a while after a Put: waits
/// (bounded) until the new ones read back, so the plan right after an apply is clean.
async fn settled_lifecycle(
    run: &Run,
    s3: &Client,
    name: &str,
    want: &[RuleState],
) -> Result<(), AwsError> {
    let mut want = want.to_vec();
    want.sort();
    let start = tokio::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        if lifecycle(s3, name).await?.0 == want {
            return Ok(());
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            run.warn(format!("s3 bucket {name}: its new lifecycle rules did not read back within a minute; the next plan may show them again until S3 catches up"));
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

fn lifecycle_rule(r: &RuleState) -> Result<LifecycleRule, AwsError> {
    // Always a Filter, never the legacy top-level Prefix: S3 wants exactly one of them.
    let mut b = LifecycleRule::builder()
        .id(&r.id)
        .status(if r.enabled {
            ExpirationStatus::Enabled
        } else {
            ExpirationStatus::Disabled
        })
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
    for (days, class) in &r.transitions {
        b = b.transitions(
            Transition::builder()
                .days(*days)
                .storage_class(TransitionStorageClass::from(class.as_str()))
                .build(),
        );
    }
    for (days, class) in &r.noncurrent_transitions {
        b = b.noncurrent_version_transitions(
            NoncurrentVersionTransition::builder()
                .noncurrent_days(*days)
                .storage_class(TransitionStorageClass::from(class.as_str()))
                .build(),
        );
    }
    if let Some(d) = r.expiration_days {
        b = b.expiration(LifecycleExpiration::builder().days(d).build());
    }
    if let Some(d) = r.noncurrent_expiration_days {
        b = b.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build(),
        );
    }
    if let Some(d) = r.abort_incomplete_multipart_days {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d)
                .build(),
        );
    }
    b.build().map_err(build_err)
}

async fn delete_bucket(s3: &Client, name: &str, empty_buckets: bool) -> Result<(), AwsError> {
    if empty_buckets {
        empty(s3, name).await?;
    } else {
        let n = match count_objects(s3, name).await {
            Err(e) if e.code == "NoSuchBucket" => return Ok(()),
            other => other?,
        };
        if n.count > 0 {
            return Err(AwsError {
                op: "DeleteBucket",
                code: "BucketNotEmpty".into(),
                message: format!(
                    "bucket `{name}` holds {n} (versions and delete markers included); labctl does not delete your data without being asked\n  help: copy out what you need, then rerun with `--empty-buckets`"
                ),
                status: None,
                class: Class::Fatal,
            });
        }
    }
    match s3
        .delete_bucket()
        .bucket(name)
        .send()
        .await
        .ctx("DeleteBucket")
    {
        Err(e) if e.code == "NoSuchBucket" => Ok(()),
        other => other.map(drop),
    }
}

/// Deletes every object version and delete marker, a page (at most 1000 keys) at a time.
async fn empty(s3: &Client, name: &str) -> Result<(), AwsError> {
    crate::aws::versions::delete(s3, name, None, |_| true)
        .await
        .map(drop)
}

/// A bucket's notification configuration.
pub(super) async fn notification(s3: &Client, b: &str) -> Result<LiveNotification, AwsError> {
    let o = s3
        .get_bucket_notification_configuration()
        .bucket(b)
        .send()
        .await
        .ctx("GetBucketNotificationConfiguration")?;
    let mut entries = Vec::new();
    let filter = |f: Option<&NotificationConfigurationFilter>| {
        let rules = f
            .and_then(|f| f.key())
            .map(|k| k.filter_rules())
            .unwrap_or_default();
        let get = |n: &str| {
            rules
                .iter()
                .find(|r| r.name().is_some_and(|x| x.as_str().eq_ignore_ascii_case(n)))
                .and_then(|r| r.value())
                .map(str::to_owned)
        };
        (get("prefix"), get("suffix"))
    };
    let events = |e: &[aws_sdk_s3::types::Event]| {
        e.iter().map(|x| x.as_str().to_owned()).collect::<Vec<_>>()
    };
    for l in o.lambda_function_configurations() {
        let (prefix, suffix) = filter(l.filter());
        entries.push(NotificationEntry {
            id: l.id().unwrap_or_default().to_owned(),
            destination: Destination::Lambda,
            arn: l.lambda_function_arn().to_owned(),
            events: events(l.events()),
            prefix,
            suffix,
        });
    }
    for q in o.queue_configurations() {
        let (prefix, suffix) = filter(q.filter());
        entries.push(NotificationEntry {
            id: q.id().unwrap_or_default().to_owned(),
            destination: Destination::Queue,
            arn: q.queue_arn().to_owned(),
            events: events(q.events()),
            prefix,
            suffix,
        });
    }
    for t in o.topic_configurations() {
        let (prefix, suffix) = filter(t.filter());
        entries.push(NotificationEntry {
            id: t.id().unwrap_or_default().to_owned(),
            destination: Destination::Topic,
            arn: t.topic_arn().to_owned(),
            events: events(t.events()),
            prefix,
            suffix,
        });
    }
    entries.sort();
    Ok(LiveNotification {
        entries,
        eventbridge: o.event_bridge_configuration().is_some(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_region_s3_expects() {
        let m = "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'us-west-2'";
        assert_eq!(super::expected_region(m).as_deref(), Some("us-west-2"));
        assert_eq!(super::expected_region("Access Denied"), None);
    }
}

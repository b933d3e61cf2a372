//! What each declared bucket should become, setting by setting.

use super::{
    BUCKET, Bucket, BucketConfig, BucketPresence, Encryption, LiveBucket, RuleState, Step,
    Versioning, Work,
};
use crate::kind::Lab;
use crate::kind::{Ctx, Emit};
use crate::model::OWNER_TAG;
use crate::plan::tags::fmt as fmt_tags;
use crate::plan::{Addr, Change, Owned, PlanError};

pub(super) fn desired(lab: &Lab, b: &Bucket, live: Option<&Versioning>) -> BucketConfig {
    let versioning = match (b.versioning, live) {
        (true, _) => Versioning::Enabled,
        // A bucket that was ever versioned can only be suspended, never unversioned.
        (false, Some(Versioning::Enabled | Versioning::Suspended)) => Versioning::Suspended,
        (false, _) => Versioning::Never,
    };
    let tags = lab.tags_with(&b.tags);
    let mut lifecycle: Vec<RuleState> = b
        .lifecycle
        .iter()
        .map(|r| {
            let mut t: Vec<(i32, String)> = r
                .transitions
                .iter()
                .map(|t| (t.days, t.storage_class.clone()))
                .collect();
            t.sort();
            let mut n: Vec<(i32, String)> = r
                .noncurrent_transitions
                .iter()
                .map(|t| (t.days, t.storage_class.clone()))
                .collect();
            n.sort();
            RuleState {
                id: r.id.clone(),
                enabled: r.enabled,
                prefix: r.prefix.clone().unwrap_or_default(),
                transitions: t,
                expiration_days: r.expiration_days,
                noncurrent_transitions: n,
                noncurrent_expiration_days: r.noncurrent_expiration_days,
                abort_incomplete_multipart_days: r.abort_incomplete_multipart_days,
                other_filter: false,
            }
        })
        .collect();
    lifecycle.sort();
    BucketConfig {
        versioning,
        public_access_block: [b.block_public_access; 4],
        encryption: Some(match &b.encryption {
            Encryption::Aes256 => ("AES256".into(), None),
            Encryption::Kms { key } => ("aws:kms".into(), key.clone()),
        }),
        lifecycle,
        tags,
    }
}

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let (lab, live, opts) = (cx.lab, &cx.live.buckets, cx.opts);
    let declared = super::names(lab, cx.vars);
    for (logical, name) in &declared {
        let b = &lab.buckets[logical];
        let addr = Addr::new(BUCKET, name.clone());
        match live.get(name).unwrap_or(&BucketPresence::Absent) {
            BucketPresence::Absent => {
                let want = desired(lab, b, None);
                out.create(addr, Work { name: name.clone(), steps: create_steps(&want) }).changes = describe_new(&want);
            }
            BucketPresence::OtherAccount => out.error(PlanError {
                addr,
                message: format!("the bucket name `{name}` (line {}) is taken by another AWS account: S3 bucket names are global", b.name_pos.line),
                help: "choose another name in lab.yaml; `${account_id}` in the name makes it unique to your account".into(),
            }),
            BucketPresence::OtherRegion(r) => out.error(PlanError {
                addr,
                message: format!("bucket `{name}` (line {}) exists in {r}, but the lab is in {}", b.name_pos.line, lab.region),
                help: format!("use another name, or set `region: {r}` if the lab belongs there"),
            }),
            BucketPresence::Present(lb) => present(cx, b, lb, addr, out),
        }
    }
    // Buckets tagged as this lab's that lab.yaml no longer declares.
    for (name, p) in live {
        if declared.iter().any(|(_, n)| n == name) {
            continue;
        }
        let BucketPresence::Present(lb) = p else {
            continue;
        };
        let Some(owned) = cx.owned(Addr::new(BUCKET, name.clone()), lb.owner()) else {
            continue;
        };
        let reason = match lb.objects {
            // Apply keeps it (and says so) rather than fail on every run; destroy
            // tries, and reports it with the way out.
            Some(n) if n.count > 0 && !opts.destroying && !opts.empty_buckets => {
                out.warn(format!("bucket {name} is no longer in lab.yaml but holds {n}: kept. Copy out what you need, then run `labctl apply --empty-buckets` to delete it"));
                continue;
            }
            Some(n) if n.count > 0 => Some(format!(
                "{}; holds {n}: deleted only with --empty-buckets",
                cx.gone()
            )),
            _ => None,
        };
        let a = out.delete(
            owned,
            Work {
                name: name.clone(),
                steps: vec![Step::Delete {
                    empty_first: opts.empty_buckets,
                }],
            },
        );
        if reason.is_some() {
            a.reason = reason;
        }
    }
}

/// Whose the bucket is: the lab's (by its tag), taken over now, or someone else's (an
/// error that says what to do).
fn ownership(
    cx: &Ctx<'_>,
    b: &Bucket,
    lb: &LiveBucket,
    addr: Addr,
) -> Result<(Owned, Option<String>), PlanError> {
    let name = &lb.name;
    if let Some(owned) = cx.owned(addr.clone(), lb.owner()) {
        return Ok((owned, None));
    }
    match lb.owner() {
        Some(other) => Err(PlanError {
            addr,
            message: format!(
                "bucket `{name}` (line {}) belongs to lab `{other}` (tag {OWNER_TAG}={other})",
                b.name_pos.line
            ),
            help: "labs never share buckets: choose another name, or destroy the other lab first"
                .into(),
        }),
        // labctl creates buckets with their tags, so an untagged one is never a
        // leftover of its own: it is taken over only when the user says so.
        None => {
            if cx.opts.adopt {
                Ok((
                    cx.adopt(addr),
                    Some(
                        "adopted: exists in this account without labctl's tag (--adopt)".to_owned(),
                    ),
                ))
            } else {
                let holds = lb
                    .objects
                    .map(|n| format!(" and holds {n}"))
                    .unwrap_or_default();
                Err(PlanError {
                    addr,
                    message: format!("bucket `{name}` (line {}) already exists in this account without labctl's tag{holds}", b.name_pos.line),
                    help: "if it is this lab's bucket, run `labctl apply --adopt` to tag it and manage it; otherwise choose another name".into(),
                })
            }
        }
    }
}

fn present(cx: &Ctx<'_>, b: &Bucket, lb: &LiveBucket, addr: Addr, out: &mut Emit<'_, Work>) {
    let name = &lb.name;
    let (owned, reason) = match ownership(cx, b, lb, addr) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let want = desired(cx.lab, b, Some(&lb.config.versioning));
    let have = &lb.config;
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    if want.tags != have.tags {
        changes.push(Change::new(
            "tags",
            fmt_tags(&have.tags),
            fmt_tags(&want.tags),
        ));
        steps.push(Step::PutTags(want.tags.clone()));
    }
    if want.public_access_block != have.public_access_block {
        changes.push(Change::new(
            "block_public_access",
            fmt_pab(have.public_access_block),
            fmt_pab(want.public_access_block),
        ));
        steps.push(Step::PutPublicAccessBlock(want.public_access_block));
    }
    if want.versioning != have.versioning {
        let mut c = Change::new(
            "versioning",
            have.versioning.to_string(),
            want.versioning.to_string(),
        );
        if want.versioning == Versioning::Suspended {
            c = c.with_note("a versioned bucket can never return to unversioned: `versioning: false` suspends it, and existing versions stay");
        }
        changes.push(c);
        steps.push(Step::PutVersioning(want.versioning == Versioning::Enabled));
    }
    if !same_encryption(&want.encryption, &have.encryption) {
        changes.push(Change::new(
            "encryption",
            fmt_enc(&have.encryption),
            fmt_enc(&want.encryption),
        ));
        if let Some((a, k)) = &want.encryption {
            steps.push(Step::PutEncryption(a.clone(), k.clone()));
        }
    }
    if want.lifecycle != have.lifecycle {
        lifecycle_changes(&have.lifecycle, &want.lifecycle, &mut changes);
        steps.push(if want.lifecycle.is_empty() {
            Step::DeleteLifecycle
        } else {
            Step::PutLifecycle {
                rules: want.lifecycle.clone(),
                min_size: lb.lifecycle_min_size.clone(),
            }
        });
    }
    if !steps.is_empty() || reason.is_some() {
        if reason.is_some() && !steps.iter().any(|s| matches!(s, Step::PutTags(_))) {
            steps.insert(0, Step::PutTags(want.tags.clone()));
        }
        let a = out.update(
            owned,
            Work {
                name: name.clone(),
                steps,
            },
        );
        a.changes = changes;
        a.reason = reason;
    }
}

/// What S3 gives every new bucket (since April 2023).
const S3_DEFAULT_PUBLIC_ACCESS_BLOCK: [bool; 4] = [true; 4];
const S3_DEFAULT_ENCRYPTION: &str = "AES256";

fn create_steps(want: &BucketConfig) -> Vec<Step> {
    // Tags in CreateBucket itself: a crash can never leave a bucket of labctl's
    // untagged. Versioning before any object can be written. Since 2023 S3 makes every
    // new bucket with Block Public Access on and SSE-S3 encryption: a bucket that
    // wants exactly those is not told them again (one bucket's writes go one at a
    // time, so each costs the whole apply a round trip). A bucket made before that,
    // or changed since, is read and repaired by the update path.
    let mut steps = vec![Step::Create {
        tags: want.tags.clone(),
    }];
    if want.public_access_block != S3_DEFAULT_PUBLIC_ACCESS_BLOCK {
        steps.push(Step::PutPublicAccessBlock(want.public_access_block));
    }
    if want.versioning == Versioning::Enabled {
        steps.push(Step::PutVersioning(true));
    }
    if let Some((a, k)) = &want.encryption
        && !(a == S3_DEFAULT_ENCRYPTION && k.is_none())
    {
        steps.push(Step::PutEncryption(a.clone(), k.clone()));
    }
    if !want.lifecycle.is_empty() {
        steps.push(Step::PutLifecycle {
            rules: want.lifecycle.clone(),
            min_size: None,
        });
    }
    steps
}

fn describe_new(want: &BucketConfig) -> Vec<Change> {
    let c = |attr: &str, after: String| Change::new_value(attr, after);
    let mut out = vec![
        c("versioning", want.versioning.to_string()),
        c("block_public_access", fmt_pab(want.public_access_block)),
        c("encryption", fmt_enc(&want.encryption)),
    ];
    for r in &want.lifecycle {
        out.push(c(&format!("lifecycle rule {}", r.id), fmt_rule(r)));
    }
    out.push(c("tags", fmt_tags(&want.tags)));
    out
}

fn lifecycle_changes(have: &[RuleState], want: &[RuleState], changes: &mut Vec<Change>) {
    let ids: std::collections::BTreeSet<&str> =
        have.iter().chain(want).map(|r| r.id.as_str()).collect();
    for id in ids {
        let h = have.iter().find(|r| r.id == id);
        let w = want.iter().find(|r| r.id == id);
        if h != w {
            let show = |r: Option<&RuleState>| r.map(fmt_rule).unwrap_or_else(|| "(none)".into());
            changes.push(Change::new(
                format!(
                    "lifecycle rule {}",
                    if id.is_empty() { "(no id)" } else { id }
                ),
                show(h),
                show(w),
            ));
        }
    }
}

pub fn fmt_rule(r: &RuleState) -> String {
    let mut parts = vec![];
    if !r.enabled {
        parts.push("disabled".to_owned());
    }
    if !r.prefix.is_empty() {
        parts.push(format!("prefix {}", r.prefix));
    }
    if r.other_filter {
        parts.push("filter not managed by labctl".into());
    }
    for (d, c) in &r.transitions {
        parts.push(format!("{c} at {d}d"));
    }
    if let Some(d) = r.expiration_days {
        parts.push(format!("expire at {d}d"));
    }
    for (d, c) in &r.noncurrent_transitions {
        parts.push(format!("noncurrent {c} at {d}d"));
    }
    if let Some(d) = r.noncurrent_expiration_days {
        parts.push(format!("noncurrent expire at {d}d"));
    }
    if let Some(d) = r.abort_incomplete_multipart_days {
        parts.push(format!("abort uploads at {d}d"));
    }
    parts.join(", ")
}

fn fmt_pab(v: [bool; 4]) -> String {
    match v {
        [true, true, true, true] => "all on".into(),
        [false, false, false, false] => "all off".into(),
        _ => format!(
            "acls={} ignore_acls={} policy={} restrict={}",
            v[0], v[1], v[2], v[3]
        ),
    }
}

/// A KMS key named by alias, key id or either ARN is the same key: S3 reads an alias
/// back as its ARN.
fn same_encryption(
    a: &Option<(String, Option<String>)>,
    b: &Option<(String, Option<String>)>,
) -> bool {
    fn key(k: &Option<String>) -> Option<String> {
        let k = k.as_deref()?;
        // arn:aws:kms:REGION:ACCOUNT:alias/NAME or :key/ID
        let tail = if k.starts_with("arn:") {
            k.splitn(6, ':').nth(5).unwrap_or(k)
        } else {
            k
        };
        Some(if tail.starts_with("alias/") || tail.starts_with("key/") {
            tail.to_owned()
        } else {
            format!("key/{tail}")
        })
    }
    match (a, b) {
        (Some((x, kx)), Some((y, ky))) => x == y && key(kx) == key(ky),
        (None, None) => true,
        _ => false,
    }
}

fn fmt_enc(e: &Option<(String, Option<String>)>) -> String {
    match e {
        None => "(none)".into(),
        Some((a, None)) => a.clone(),
        Some((a, Some(k))) => format!("{a} ({k})"),
    }
}

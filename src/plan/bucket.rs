//! Buckets: each managed setting is compared on its own, so an out-of-band change to one
//! setting plans exactly that one change.

use super::{Action, Addr, BucketStep, Change, Kind, Op, Options, Plan, PlanError, Work};
use crate::live::{BucketConfig, BucketPresence, LiveBucket, LiveState, RuleState, Versioning};
use crate::model::{Bucket, Encryption, Lab, OWNER_TAG};
use crate::template::Vars;

pub(super) fn desired(lab: &Lab, b: &Bucket, live: Option<&Versioning>) -> BucketConfig {
    let versioning = match (b.versioning, live) {
        (true, _) => Versioning::Enabled,
        // A bucket that was ever versioned can only be suspended, never unversioned.
        (false, Some(Versioning::Enabled | Versioning::Suspended)) => Versioning::Suspended,
        (false, _) => Versioning::Never,
    };
    let mut tags = lab.base_tags();
    tags.extend(b.tags.clone());
    tags.insert(OWNER_TAG.into(), lab.name.clone());
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

pub(super) fn plan(lab: &Lab, vars: &Vars, live: &LiveState, opts: Options, plan: &mut Plan) {
    let declared = super::bucket_names(lab, vars);
    for (logical, name) in &declared {
        let b = &lab.buckets[logical];
        let addr = Addr {
            kind: Kind::Bucket,
            name: name.clone(),
        };
        match live.buckets.get(name).unwrap_or(&BucketPresence::Absent) {
            BucketPresence::Absent => {
                let want = desired(lab, b, None);
                plan.actions.push(Action { changes: describe_new(&want), ..Action::new(addr, Op::Create, Work::Bucket { name: name.clone(), steps: create_steps(&want) }) });
            }
            BucketPresence::OtherAccount => plan.errors.push(PlanError {
                addr,
                message: format!("the bucket name `{name}` (line {}) is taken by another AWS account: S3 bucket names are global", b.name_pos.line),
                help: "choose another name in lab.yaml; `${account_id}` in the name makes it unique to your account".into(),
            }),
            BucketPresence::OtherRegion(r) => plan.errors.push(PlanError {
                addr,
                message: format!("bucket `{name}` (line {}) exists in {r}, but the lab is in {}", b.name_pos.line, lab.region),
                help: format!("use another name, or set `region: {r}` if the lab belongs there"),
            }),
            BucketPresence::Present(lb) => present(lab, b, lb, opts, addr, plan),
        }
    }
    // Buckets tagged as this lab's that lab.yaml no longer declares.
    for (name, p) in &live.buckets {
        if declared.iter().any(|(_, n)| n == name) {
            continue;
        }
        if let BucketPresence::Present(lb) = p
            && lb.owner() == Some(lab.name.as_str())
        {
            let reason = match lb.objects {
                // Apply keeps it (and says so) rather than fail on every run; destroy
                // tries, and reports it with the way out.
                Some(n) if n.count > 0 && !opts.destroying && !opts.empty_buckets => {
                    plan.warnings.push(format!("bucket {name} is no longer in lab.yaml but holds {n}: kept. Copy out what you need, then run `labctl apply --empty-buckets` to delete it"));
                    continue;
                }
                Some(n) if n.count > 0 => format!(
                    "{}; holds {n}: deleted only with --empty-buckets",
                    super::gone(opts)
                ),
                _ => super::gone(opts).into(),
            };
            plan.actions.push(Action {
                addr: Addr {
                    kind: Kind::Bucket,
                    name: name.clone(),
                },
                op: Op::Delete,
                changes: vec![],
                reason: Some(reason),
                deps: vec![],
                after: vec![],
                work: Work::Bucket {
                    name: name.clone(),
                    steps: vec![BucketStep::Delete],
                },
            });
        }
    }
}

fn present(lab: &Lab, b: &Bucket, lb: &LiveBucket, opts: Options, addr: Addr, plan: &mut Plan) {
    let name = &lb.name;
    let mut reason = None;
    match lb.owner() {
        Some(owner) if owner == lab.name => {}
        Some(other) => {
            plan.errors.push(PlanError {
                addr,
                message: format!(
                    "bucket `{name}` (line {}) belongs to lab `{other}` (tag {OWNER_TAG}={other})",
                    b.name_pos.line
                ),
                help:
                    "labs never share buckets: choose another name, or destroy the other lab first"
                        .into(),
            });
            return;
        }
        None => {
            let empty_untagged = lb.tag_set.is_none() && lb.objects.is_some_and(|n| n.count == 0);
            if opts.adopt {
                reason = Some(
                    "adopted: exists in this account without labctl's tag (--adopt)".to_owned(),
                );
            } else if empty_untagged {
                // What an apply interrupted between CreateBucket and PutBucketTagging leaves:
                // safe to take, since it holds nothing of anyone's.
                reason = Some(
                    "adopted: empty and untagged, as an interrupted apply leaves it".to_owned(),
                );
            } else {
                let holds = lb
                    .objects
                    .map(|n| format!(" and holds {n}"))
                    .unwrap_or_default();
                plan.errors.push(PlanError {
                    addr,
                    message: format!("bucket `{name}` (line {}) already exists in this account without labctl's tag{holds}", b.name_pos.line),
                    help: "if it is this lab's bucket, run `labctl apply --adopt` to tag it and manage it; otherwise choose another name".into(),
                });
                return;
            }
        }
    }
    let want = desired(lab, b, Some(&lb.config.versioning));
    let have = &lb.config;
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    if want.tags != have.tags {
        changes.push(Change {
            attr: "tags".into(),
            before: fmt_tags(&have.tags),
            after: fmt_tags(&want.tags),
            note: None,
        });
        steps.push(BucketStep::PutTags(want.tags.clone()));
    }
    if want.public_access_block != have.public_access_block {
        changes.push(Change {
            attr: "block_public_access".into(),
            before: fmt_pab(have.public_access_block),
            after: fmt_pab(want.public_access_block),
            note: None,
        });
        steps.push(BucketStep::PutPublicAccessBlock(want.public_access_block));
    }
    if want.versioning != have.versioning {
        let note = (want.versioning == Versioning::Suspended).then(|| "a versioned bucket can never return to unversioned: `versioning: false` suspends it, and existing versions stay".to_owned());
        changes.push(Change {
            attr: "versioning".into(),
            before: have.versioning.to_string(),
            after: want.versioning.to_string(),
            note,
        });
        steps.push(BucketStep::PutVersioning(
            want.versioning == Versioning::Enabled,
        ));
    }
    if want.encryption != have.encryption {
        changes.push(Change {
            attr: "encryption".into(),
            before: fmt_enc(&have.encryption),
            after: fmt_enc(&want.encryption),
            note: None,
        });
        if let Some((a, k)) = &want.encryption {
            steps.push(BucketStep::PutEncryption(a.clone(), k.clone()));
        }
    }
    if want.lifecycle != have.lifecycle {
        lifecycle_changes(&have.lifecycle, &want.lifecycle, &mut changes);
        steps.push(if want.lifecycle.is_empty() {
            BucketStep::DeleteLifecycle
        } else {
            BucketStep::PutLifecycle(want.lifecycle.clone())
        });
    }
    if !steps.is_empty() || reason.is_some() {
        if reason.is_some() && !steps.iter().any(|s| matches!(s, BucketStep::PutTags(_))) {
            steps.insert(0, BucketStep::PutTags(want.tags.clone()));
        }
        plan.actions.push(Action {
            addr,
            op: Op::Update,
            changes,
            reason,
            deps: vec![],
            after: vec![],
            work: Work::Bucket {
                name: name.clone(),
                steps,
            },
        });
    }
}

fn create_steps(want: &BucketConfig) -> Vec<BucketStep> {
    // Tags right after CreateBucket: the shorter the untagged window, the less a crash
    // can leave behind. Versioning before any object can be written.
    let mut steps = vec![
        BucketStep::Create,
        BucketStep::PutTags(want.tags.clone()),
        BucketStep::PutPublicAccessBlock(want.public_access_block),
    ];
    if want.versioning == Versioning::Enabled {
        steps.push(BucketStep::PutVersioning(true));
    }
    if let Some((a, k)) = &want.encryption {
        steps.push(BucketStep::PutEncryption(a.clone(), k.clone()));
    }
    if !want.lifecycle.is_empty() {
        steps.push(BucketStep::PutLifecycle(want.lifecycle.clone()));
    }
    steps
}

fn describe_new(want: &BucketConfig) -> Vec<Change> {
    let c = |attr: &str, after: String| Change {
        attr: attr.into(),
        before: String::new(),
        after,
        note: None,
    };
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
            changes.push(Change {
                attr: format!(
                    "lifecycle rule {}",
                    if id.is_empty() { "(no id)" } else { id }
                ),
                before: show(h),
                after: show(w),
                note: None,
            });
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

pub(super) fn fmt_tags(t: &crate::model::Tags) -> String {
    if t.is_empty() {
        return "(none)".into();
    }
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
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

fn fmt_enc(e: &Option<(String, Option<String>)>) -> String {
    match e {
        None => "(none)".into(),
        Some((a, None)) => a.clone(),
        Some((a, Some(k))) => format!("{a} ({k})"),
    }
}

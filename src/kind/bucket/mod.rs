//! S3 buckets: each managed setting (versioning, public access block, encryption,
//! lifecycle rules, tags) is compared on its own, so an out-of-band change to one
//! setting plans exactly that one change. A bucket's notification configuration is read
//! here (it is one of the bucket's settings) and planned by the trigger family.

mod aws;
pub(crate) mod cfn;
mod decode;
mod plan;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

use super::{Ctx, Emit};
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{Keys, Pos, Tags};
use crate::plan::Kind;
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub const BUCKET: Kind = Kind("s3 bucket");
/// A bucket's notification configuration: S3 holds it as one document, which the
/// trigger family writes.
pub const NOTIFICATION: Kind = Kind("s3 notification");

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    type Spec = BTreeMap<String, Bucket>;
    type Live = BTreeMap<String, BucketPresence>;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Self::Spec {
        decode::buckets(top, d)
    }

    fn expand(spec: &mut Self::Spec, x: &mut Expander<'_>) {
        for b in spec.values_mut() {
            x.tags(&mut b.tags);
            if let Encryption::Kms { key: Some(k) } = &mut b.encryption {
                x.text(k, b.pos);
            }
            for r in &mut b.lifecycle {
                x.text(&mut r.id, r.pos);
                if let Some(p) = &mut r.prefix {
                    x.text(p, r.pos);
                }
            }
        }
    }

    fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
        validate::buckets(lab, vars, s);
    }

    fn summary(spec: &Self::Spec) -> Vec<String> {
        vec![format!("{} bucket(s)", spec.len())]
    }

    /// Bucket names usually hold the account id: this read waits for STS.
    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Self::Live> {
        let account = run.identity().await?.account_id.clone();
        let names: Vec<String> = lab.vars(&account).buckets.into_values().collect();
        Ok(aws::read_all(run, &names).await?)
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        aws::execute(run, &work.name, &work.steps).await
    }
}

/// Physical bucket names of the lab, in declaration order of their logical names.
pub fn names(lab: &Lab, vars: &Vars) -> Vec<(String, String)> {
    lab.buckets
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                vars.expand(&b.name, false)
                    .unwrap_or_else(|_| b.name.clone()),
            )
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub pos: Pos,
    /// Template, e.g. `${lab}-source-${account_id}`.
    pub name: String,
    pub name_pos: Pos,
    pub versioning: bool,
    pub block_public_access: bool,
    pub encryption: Encryption,
    pub lifecycle: Vec<LifecycleRule>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    Kms { key: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRule {
    pub pos: Pos,
    pub keys: Keys,
    pub id: String,
    pub enabled: bool,
    pub prefix: Option<String>,
    pub transitions: Vec<Transition>,
    pub expiration_days: Option<i32>,
    pub noncurrent_transitions: Vec<Transition>,
    pub noncurrent_expiration_days: Option<i32>,
    pub abort_incomplete_multipart_days: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub pos: Pos,
    /// Where `storage_class` was written.
    pub class_pos: Pos,
    pub days: i32,
    pub storage_class: String,
}

/// One bucket's action: its steps run one after the other, since S3 rejects
/// concurrent configuration writes on one bucket (OperationAborted).
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// With its tags: no bucket of labctl's ever exists untagged.
    Create {
        tags: Tags,
    },
    PutTags(Tags),
    PutPublicAccessBlock([bool; 4]),
    PutVersioning(bool),
    PutEncryption(String, Option<String>),
    /// The rules, and the bucket's TransitionDefaultMinimumObjectSize as it was (a Put
    /// replaces the whole configuration).
    PutLifecycle {
        rules: Vec<RuleState>,
        min_size: Option<String>,
    },
    DeleteLifecycle,
    /// `empty_first`: every object, version and delete marker goes first (only with
    /// `--empty-buckets`); otherwise a bucket holding anything is kept and reported.
    Delete {
        empty_first: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BucketPresence {
    Absent,
    /// The name is taken by another AWS account (S3 names are global).
    OtherAccount,
    /// It exists in this account but in another region.
    OtherRegion(String),
    Present(Box<LiveBucket>),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Versioning {
    /// Never enabled: the only state a bucket can never return to.
    Never,
    Enabled,
    Suspended,
}

impl std::fmt::Display for Versioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Versioning::Never => "unversioned",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        })
    }
}

/// A lifecycle rule in a form both lab.yaml and S3's answer reduce to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleState {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    /// (days, storage class), sorted by days.
    pub transitions: Vec<(i32, String)>,
    pub expiration_days: Option<i32>,
    pub noncurrent_transitions: Vec<(i32, String)>,
    pub noncurrent_expiration_days: Option<i32>,
    pub abort_incomplete_multipart_days: Option<i32>,
    /// Filters labctl does not write (tags, sizes): such a rule is never equal to ours.
    pub other_filter: bool,
}

/// The settings of a bucket that labctl manages, each diffed on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub versioning: Versioning,
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: [bool; 4],
    /// `AES256` or `aws:kms` (+ key); None when no default encryption is readable.
    pub encryption: Option<(String, Option<String>)>,
    pub lifecycle: Vec<RuleState>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveBucket {
    pub name: String,
    pub region: String,
    /// None: the bucket has no tag set at all.
    pub tag_set: Option<Tags>,
    pub config: BucketConfig,
    /// Objects, versions and delete markers, counted for buckets that may be deleted or
    /// adopted; `truncated` when there are more than one page.
    pub objects: Option<ObjectCount>,
    pub notification: LiveNotification,
    /// The lifecycle configuration's TransitionDefaultMinimumObjectSize: not managed,
    /// only kept.
    pub lifecycle_min_size: Option<String>,
}

impl LiveBucket {
    pub fn owner(&self) -> Option<&str> {
        self.tag_set
            .as_ref()
            .and_then(|t| t.get(crate::model::OWNER_TAG))
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCount {
    pub count: usize,
    pub truncated: bool,
}

impl std::fmt::Display for ObjectCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.truncated {
            write!(f, "more than {} objects", self.count)
        } else {
            write!(f, "{} object(s)", self.count)
        }
    }
}

/// A bucket's notification configuration, as S3 holds it (written as a whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveNotification {
    pub entries: Vec<NotificationEntry>,
    pub eventbridge: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    Lambda,
    Queue,
    Topic,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotificationEntry {
    pub id: String,
    pub destination: Destination,
    pub arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

//! What exists in AWS right now, as plain data the planner can compare with lab.yaml.
//! Filled by `read`, which only ever makes read calls.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::aws::{self, Clients, Identity};
use crate::model::{OWNER_TAG, Tags};

#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// Declared bucket names and every bucket the lab owns, by physical name.
    pub buckets: BTreeMap<String, BucketPresence>,
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

impl LiveBucket {
    pub fn owner(&self) -> Option<&str> {
        self.tag_set
            .as_ref()
            .and_then(|t| t.get(OWNER_TAG))
            .map(String::as_str)
    }
}

/// Reads everything the plan needs: every declared bucket by name, and every bucket
/// tagged as this lab's.
pub async fn read(
    c: &Clients,
    id: &Identity,
    lab: &str,
    declared_buckets: &[String],
) -> Result<LiveState> {
    let _ = id;
    let buckets = aws::s3::read_all(c, lab, declared_buckets).await?;
    Ok(LiveState { buckets })
}

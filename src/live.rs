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
    /// The declared role (by name, whoever owns it) and every role tagged as the lab's.
    pub roles: BTreeMap<String, LiveRole>,
    /// For `role: { existing: NAME }`: its ARN, or why it could not be read.
    pub existing_role: Option<Result<String, String>>,
    /// Declared functions and every function tagged as the lab's, by physical name.
    pub functions: BTreeMap<String, LiveFunction>,
    /// Versions of the lab's layers (by layer name) that labctl published.
    pub layers: BTreeMap<String, Vec<LiveLayerVersion>>,
    /// Declared layer names under which only others published: not the lab's.
    pub foreign_layers: std::collections::BTreeSet<String>,
    /// Notification configuration of each lab bucket that exists.
    pub notifications: BTreeMap<String, LiveNotification>,
    /// EventBridge rules named with the lab's prefix, by name; only those tagged as the
    /// lab's are its own (`LiveRule::owner`).
    pub rules: BTreeMap<String, LiveRule>,
    /// The region's default VPC, read only when the lab declares a network or owns
    /// network resources.
    pub network: Option<LiveNetwork>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveNetwork {
    /// None: the region has no default VPC.
    pub vpc: Option<LiveVpc>,
    /// Availability zones of the region: (name, id).
    pub zones: Vec<(String, String)>,
    /// Every subnet of the VPC (the lab's are found by their tags).
    pub subnets: Vec<LiveSubnet>,
    /// Every security group of the VPC.
    pub groups: Vec<LiveGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVpc {
    pub id: String,
    pub cidrs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSubnet {
    pub id: String,
    pub cidr: String,
    pub az: String,
    pub az_id: String,
    pub map_public_ip: bool,
    pub default_for_az: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Tags,
    pub ingress: Vec<SgRuleState>,
    pub egress: Vec<SgRuleState>,
}

/// One security group rule in a normal form both lab.yaml and EC2's answer reduce to:
/// one protocol, one port range, one source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SgRuleState {
    /// `tcp`, `udp`, `icmp` or `-1`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: SgSource,
    /// Part of the rule as compared: a new description replaces the rule.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SgSource {
    Cidr(String),
    Cidr6(String),
    /// A security group by id.
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRole {
    pub name: String,
    pub arn: String,
    pub tags: Tags,
    /// Decoded JSON (IAM returns documents URL-encoded).
    pub trust: String,
    /// Inline policies: name -> decoded JSON document.
    pub inline: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    pub attached: Vec<String>,
}

impl LiveRole {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    pub name: String,
    pub arn: String,
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    /// Layer version ARNs, in order.
    pub layers: Vec<String>,
    pub architecture: String,
    pub code_sha256: String,
    pub tags: Tags,
    /// Resource policy statements by Sid.
    pub permissions: BTreeMap<String, LivePermission>,
}

impl LiveFunction {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

/// One statement of a function's resource policy, reduced to what labctl writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePermission {
    pub principal: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLayerVersion {
    pub version: i64,
    pub arn: String,
    pub description: String,
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

impl LiveRule {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub name: String,
    pub arn: String,
    pub pattern: String,
    /// Someone may disable a rule by hand: the lab's rules are enabled.
    pub enabled: bool,
    /// (target id, target ARN).
    pub targets: Vec<(String, String)>,
    pub tags: Tags,
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

/// What to look up by name; everything else is found by the lab's tag.
pub struct Wanted<'a> {
    pub lab: String,
    /// Bucket names and the role (a role to create, false, or an existing one to use,
    /// true), made from the caller's identity: names may hold `${account_id}`.
    pub named: &'a (dyn Fn(&Identity) -> Named + Sync),
    /// Whether the role's name needs the account id, so its reads wait for STS.
    pub role_needs_account: bool,
    /// Refuses a caller (a Learner Lab session in a region it may not use) as soon as
    /// STS answers; its error comes before any read's.
    pub check: &'a (dyn Fn(&Identity) -> Result<()> + Sync),
    pub functions: Vec<String>,
    pub layers: Vec<String>,
    pub network: NetworkRead,
    /// The zones the declared subnets name.
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Named {
    pub buckets: Vec<String>,
    pub role: Option<(String, bool)>,
}

/// Whether to read the default VPC: the lab declares a network, or may own network
/// resources from an earlier lab.yaml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkRead {
    #[default]
    Skip,
    Declared,
    Discover,
}

/// Reads everything the plan needs, every service at once, and who the caller is.
/// Only read calls. Only what is named with the account id waits for STS to answer.
pub async fn read(c: &Clients, want: &Wanted<'_>) -> Result<(Identity, LiveState)> {
    let lab = want.lab.as_str();
    let cell = tokio::sync::OnceCell::new();
    let identity = || {
        cell.get_or_try_init(|| async {
            let id = aws::identity(c).await?;
            (want.check)(&id)?;
            Ok::<_, anyhow::Error>(id)
        })
    };
    let read = async {
        tokio::try_join!(
            async {
                let names = (want.named)(identity().await?).buckets;
                aws::s3::read_all(c, lab, &names)
                    .await
                    .map_err(anyhow::Error::from)
            },
            async {
                let role = if want.role_needs_account {
                    (want.named)(identity().await?).role
                } else {
                    (want.named)(&Identity::default()).role
                };
                aws::iam::read(c, lab, role.as_ref())
                    .await
                    .map_err(anyhow::Error::from)
            },
            async {
                aws::lambda::read_functions(c, lab, &want.functions)
                    .await
                    .map_err(anyhow::Error::from)
            },
            async {
                aws::lambda::read_layers(c, lab, &want.layers)
                    .await
                    .map_err(anyhow::Error::from)
            },
            async { aws::events::read(c, lab).await.map_err(anyhow::Error::from) },
            async {
                match want.network {
                    NetworkRead::Skip => Ok(None),
                    NetworkRead::Declared => aws::ec2::read(c, &want.zones)
                        .await
                        .map(Some)
                        .map_err(anyhow::Error::from),
                    // Looking for leftovers only: an account that may not describe its VPC
                    // cannot have had the lab's network created either.
                    NetworkRead::Discover => aws::discovery(
                        aws::ec2::read(c, &[]).await.map(Some),
                        "the default VPC's subnets and groups",
                    )
                    .map_err(anyhow::Error::from),
                }
            },
        )
    };
    let (buckets, (roles, existing_role), functions, (layers, foreign_layers), rules, network) =
        match read.await {
            Ok(r) => r,
            // A read that failed before STS answered most likely failed on the credentials,
            // which STS explains best, or on a region the caller may not use.
            Err(e) => {
                identity().await?;
                return Err(e);
            }
        };
    let id = identity().await?.clone();
    let existing_role = existing_role.map(|r| r.resolve(&id.account_id));
    // Notifications of the lab's own buckets (and of declared ones not yet tagged).
    let notifications = buckets
        .iter()
        .filter_map(|(n, p)| match p {
            BucketPresence::Present(b) if b.owner().is_none_or(|o| o == lab) => {
                Some((n.clone(), b.notification.clone()))
            }
            _ => None,
        })
        .collect();
    let live = LiveState {
        buckets,
        roles,
        existing_role,
        functions,
        layers,
        foreign_layers,
        notifications,
        rules,
        network,
    };
    Ok((id, live))
}

//! The lab as declared in lab.yaml, after decoding and validation.
//!
//! Plain data: no I/O, no AWS SDK types. Strings that may hold `${...}` placeholders are
//! kept as written; `template::expand` resolves them once the account id is known.
//! Positions are kept so that checks made later (the plan, against live state) can
//! still point at the line that declared a thing.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::config::diag::Pos;

pub type Tags = BTreeMap<String, String>;

/// Where each key of a mapping was written, for errors found after decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(pub BTreeMap<String, Pos>);

impl Keys {
    /// The position of `key`'s value, or `fallback` when the key was not written.
    pub fn at(&self, key: &str, fallback: Pos) -> Pos {
        self.0.get(key).copied().unwrap_or(fallback)
    }
}

/// The tag that marks what a lab owns. Nothing without it is ever changed or deleted.
pub const OWNER_TAG: &str = "labctl:lab";

#[derive(Debug, Clone)]
pub struct Lab {
    pub name: String,
    pub region: String,
    pub tags: Tags,
    pub buckets: BTreeMap<String, Bucket>,
    pub role: Option<Role>,
    pub layers: BTreeMap<String, Layer>,
    pub functions: BTreeMap<String, Function>,
    pub network: Option<Network>,
    /// Folder of the lab file: code and zip paths are relative to it.
    pub base_dir: PathBuf,
    pub file: String,
}

impl Lab {
    /// The tags every resource of this lab carries: the lab's own, then the owner tag.
    pub fn base_tags(&self) -> Tags {
        let mut t = self.tags.clone();
        t.insert(OWNER_TAG.to_owned(), self.name.clone());
        t
    }

    /// A lab with the same identity and nothing declared: what `destroy` converges to.
    pub fn emptied(&self) -> Lab {
        Lab {
            buckets: BTreeMap::new(),
            role: None,
            layers: BTreeMap::new(),
            functions: BTreeMap::new(),
            network: None,
            ..self.clone()
        }
    }

    /// Physical name of a function, layer or security group: the lab name prefixes it.
    pub fn physical(&self, logical: &str) -> String {
        format!("{}-{}", self.name, logical)
    }
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
    pub days: i32,
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A role that exists already and that labctl must never change (AWS Academy's LabRole).
    Existing {
        pos: Pos,
        name: String,
    },
    Managed(ManagedRole),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManagedRole {
    pub pos: Pos,
    pub keys: Keys,
    pub name: String,
    pub trust: Vec<String>,
    pub managed_policies: Vec<String>,
    pub policies: BTreeMap<String, Vec<Statement>>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub pos: Pos,
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Passed through to IAM as written (after placeholder expansion).
    pub condition: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub pos: Pos,
    pub keys: Keys,
    pub source: LayerSource,
    pub runtimes: Vec<String>,
    pub architecture: Arch,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerSource {
    Requirements(Vec<String>),
    Zip(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub pos: Pos,
    pub keys: Keys,
    pub code: PathBuf,
    pub handler: String,
    pub runtime: String,
    pub architecture: Arch,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    pub layers: Vec<String>,
    pub triggers: Vec<Trigger>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub pos: Pos,
    /// Logical bucket name.
    pub bucket: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffixes: Vec<String>,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    S3,
    EventBridge,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub pos: Pos,
    pub subnets: BTreeMap<String, Subnet>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub pos: Pos,
    pub cidr: String,
    pub cidr_pos: Pos,
    pub az: String,
    pub map_public_ip: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub pos: Pos,
    pub keys: Keys,
    pub description: String,
    pub ingress: Vec<SgRule>,
    /// None keeps the default allow-all egress rule.
    pub egress: Option<Vec<SgRule>>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgRule {
    pub pos: Pos,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: RuleSource,
    pub allow_world: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleSource {
    Cidr(String),
    Cidr6(String),
    /// Another of the lab's security groups, by logical name.
    Group(String),
}

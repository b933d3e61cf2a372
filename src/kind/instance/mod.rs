//! EC2 instances students SSH into, with their key pairs and (optionally) an instance
//! profile for the lab's role. An instance of the lab is found by its tags
//! (`labctl:lab`, and `labctl:instance` for its name in lab.yaml), never by name alone.

mod aws;
mod cfn;
mod decode;
pub mod image;
pub mod keys;
mod plan;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::network::{GROUP, SUBNET};
use super::role::ROLE;
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{Keys, OWNER_TAG, Pos, Tags};
use crate::plan::Kind;
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub use aws::{Reachable, reachable, running_in_region};
pub use plan::ACADEMY_MAX_RUNNING;

pub const INSTANCE: Kind = Kind("ec2 instance");
pub const KEY_PAIR: Kind = Kind("ec2 key pair");
pub const PROFILE: Kind = Kind("iam instance profile");

/// The tag naming an instance's entry in lab.yaml.
pub const NAME_TAG: &str = "labctl:instance";
/// The tag holding the SHA-256 of an imported public key, or of user data at launch.
pub const KEY_HASH_TAG: &str = "labctl:public-key-sha256";
pub const USER_DATA_TAG: &str = "labctl:user-data-sha256";

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    // An instance sits in a subnet behind groups, with a key pair and a profile; a
    // profile holds the role.
    const USES: &'static [(Kind, Kind)] = &[
        (INSTANCE, SUBNET),
        (INSTANCE, GROUP),
        (INSTANCE, KEY_PAIR),
        (INSTANCE, PROFILE),
        (PROFILE, ROLE),
    ];
    type Spec = BTreeMap<String, Instance>;
    type Live = Live;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Self::Spec {
        decode::instances(top, d)
    }

    fn expand(spec: &mut Self::Spec, x: &mut Expander<'_>) {
        for i in spec.values_mut() {
            x.tags(&mut i.tags);
            if let Some(Profile::Existing(name)) = &mut i.instance_profile {
                x.text(name, i.pos);
            }
            if let KeySource::Existing(name) = &mut i.key {
                x.text(name, i.pos);
            }
        }
    }

    fn validate(lab: &Lab, _vars: &Vars, s: &mut Sink) {
        validate::instances(lab, s);
    }

    fn summary(spec: &Self::Spec) -> Vec<String> {
        if spec.is_empty() {
            vec![]
        } else {
            vec![format!("{} instance(s)", spec.len())]
        }
    }

    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
        Ok(aws::read(run, lab).await?)
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &super::Ctx<'_>, out: &mut super::Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        aws::execute(run, work).await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub pos: Pos,
    pub keys: Keys,
    pub ami: Ami,
    pub ami_updates: AmiUpdates,
    /// `t3.micro` by default.
    pub instance_type: String,
    /// A lab subnet by logical name; None: a default subnet of the VPC.
    pub subnet: Option<String>,
    /// The lab's groups, by logical name.
    pub security_groups: Vec<String>,
    pub key: KeySource,
    pub instance_profile: Option<Profile>,
    pub user_data: Option<String>,
    pub root_volume: RootVolume,
    pub public_ip: bool,
    /// Who logs in: from the image unless given.
    pub ssh_user: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ami {
    /// One of `image::ALIASES`, resolved to the newest image at plan time.
    Alias(String),
    Id(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiUpdates {
    /// A newer image than the instance's is reported, and the instance kept.
    #[default]
    Ignore,
    /// A newer image replaces the instance.
    Replace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An OpenSSH public key file: the private key never leaves the machine.
    Import(PathBuf),
    /// A key pair that exists already (AWS Academy's `vockey`), used as it is.
    Existing(String),
    /// A key pair EC2 makes; its private key is written once under `.labctl/keys/`.
    Create,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// An instance profile that exists already (AWS Academy's `LabInstanceProfile`).
    Existing(String),
    /// One labctl makes for the lab's role.
    Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootVolume {
    pub size: i32,
    pub volume_type: String,
}

impl Default for RootVolume {
    fn default() -> Self {
        RootVolume {
            size: 8,
            volume_type: "gp3".into(),
        }
    }
}

/// What exists for the lab's instances.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The lab's instances that are not terminated (nor terminating), by their name in
    /// lab.yaml.
    pub instances: BTreeMap<String, LiveInstance>,
    /// Further instances under a name already in `instances` (two runs launching at
    /// once): the newer ones, which the plan terminates.
    pub duplicates: Vec<(String, LiveInstance)>,
    /// Every pending or running instance of the account in the region (AWS Academy
    /// stops what exceeds 9).
    pub running_in_region: usize,
    /// Key pairs: the declared ones by name (whoever owns them) and the lab's.
    pub key_pairs: BTreeMap<String, LiveKeyPair>,
    /// Instance profiles: the declared ones by name and the lab's.
    pub profiles: BTreeMap<String, LiveProfile>,
    /// Each image alias the lab uses, resolved now; and every image the plan needs
    /// to know (declared ids, the instances' own).
    pub resolved: BTreeMap<String, Result<String, String>>,
    pub images: BTreeMap<String, ImageInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInstance {
    pub id: String,
    /// pending, running, stopping or stopped.
    pub state: String,
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: String,
    pub group_ids: Vec<String>,
    pub key_name: Option<String>,
    pub profile_arn: Option<String>,
    pub public_ip: Option<String>,
    pub public_dns: Option<String>,
    pub imds_required: bool,
    /// (size in GiB, type, encrypted) of the root volume.
    pub root: Option<(i32, String, bool)>,
    /// Seconds since 1970: of two instances of one name, the older is kept.
    pub launched: i64,
    pub tags: Tags,
}

impl LiveInstance {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKeyPair {
    pub name: String,
    pub id: String,
    pub tags: Tags,
}

impl LiveKeyPair {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveProfile {
    pub name: String,
    pub arn: String,
    pub roles: Vec<String>,
    pub tags: Tags,
}

impl LiveProfile {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    pub root_device: String,
}

/// A subnet or group by id, or one this run creates (`new:NAME`, its id known then).
pub type NetRef = String;

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    KeyPair {
        name: String,
        step: KeyStep,
    },
    Profile {
        name: String,
        step: ProfileStep,
    },
    Instance {
        name: String,
        steps: Vec<InstanceStep>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    Import {
        public_key: String,
        tags: Tags,
    },
    /// EC2 makes the key; its private key goes to `pem`, once, mode 0600.
    Create {
        pem: PathBuf,
        tags: Tags,
    },
    /// `pem`: the private key labctl kept for it, useless once the key pair is gone.
    Delete {
        pem: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileStep {
    Create { role: String, tags: Tags },
    Delete { roles: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub image: String,
    pub root_device: String,
    pub instance_type: String,
    pub subnet: Option<NetRef>,
    pub groups: Vec<NetRef>,
    pub key_name: Option<String>,
    pub profile: Option<String>,
    pub user_data: Option<String>,
    pub root_volume: RootVolume,
    pub public_ip: bool,
    pub tags: Tags,
    /// RunInstances' idempotency token, made at plan time: a retry after a lost
    /// answer gets the same instance, never a second one.
    pub client_token: String,
    /// The profile is created in this run: EC2 may not know it for a few seconds.
    pub fresh_profile: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceStep {
    Launch(Box<Launch>),
    /// Start it (a stopped instance), or after a type change.
    Start {
        id: String,
    },
    Stop {
        id: String,
    },
    SetType {
        id: String,
        instance_type: String,
    },
    SetGroups {
        id: String,
        groups: Vec<NetRef>,
    },
    RequireImdsV2 {
        id: String,
    },
    Tags {
        id: String,
        set: Tags,
        remove: Vec<String>,
    },
    Terminate {
        id: String,
    },
}

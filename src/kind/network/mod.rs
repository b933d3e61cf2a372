//! The default VPC's extra subnets and the lab's security groups, rule by rule. One
//! family, read in one go (the VPC, its subnets and its groups).

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

pub use validate::DEFAULT_VPC_CIDR;

pub const SUBNET: Kind = Kind("ec2 subnet");
pub const GROUP: Kind = Kind("ec2 security group");
pub const GROUP_RULES: Kind = Kind("ec2 security group rules");

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    // A group's rules may name other groups.
    const USES: &'static [(Kind, Kind)] = &[(GROUP_RULES, GROUP)];
    type Spec = Option<Network>;
    type Live = Option<LiveNetwork>;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Option<Network> {
        top.get("network").and_then(|n| decode::network(n, d))
    }

    fn expand(spec: &mut Option<Network>, x: &mut Expander<'_>) {
        let Some(n) = spec else { return };
        for s in n.subnets.values_mut() {
            x.tags(&mut s.tags);
        }
        for g in n.security_groups.values_mut() {
            x.text(&mut g.description, g.pos);
            x.tags(&mut g.tags);
            for r in g.ingress.iter_mut().chain(g.egress.iter_mut().flatten()) {
                if let Some(d) = &mut r.description {
                    x.text(d, r.pos);
                }
            }
        }
    }

    fn validate(lab: &Lab, _vars: &Vars, s: &mut Sink) {
        if let Some(net) = &lab.network {
            validate::network(lab, net, s);
        }
    }

    fn summary(spec: &Option<Network>) -> Vec<String> {
        spec.iter()
            .flat_map(|n| {
                [
                    format!("{} subnet(s)", n.subnets.len()),
                    format!("{} security group(s)", n.security_groups.len()),
                ]
            })
            .collect()
    }

    /// Without a `network:` section the lab may still own subnets and groups from an
    /// earlier lab.yaml: they are looked for by tag, and removed.
    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Option<LiveNetwork>> {
        Ok(match &lab.network {
            Some(n) => {
                let zones: Vec<String> = n.subnets.values().map(|s| s.az.clone()).collect();
                Some(aws::read(run, &zones).await?)
            }
            // Looking for leftovers only: an account that may not describe its VPC
            // cannot have had the lab's network created either.
            None => run.discovery(
                aws::read(run, &[]).await.map(Some),
                "the default VPC's subnets and groups",
            )?,
        })
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        match work {
            Work::Subnet { name, steps } => aws::execute_subnet(run, name, steps).await,
            Work::Group { name, vpc, steps } => aws::execute_group(run, vpc, name, steps).await,
            Work::GroupRules { group, changes } => aws::execute_rules(run, group, changes).await,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
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
    /// `tcp`, `udp`, `icmp`, `icmpv6` or `-1` (all).
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
    /// `tcp`, `udp`, `icmp`, `icmpv6` or `-1`.
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
    /// A security group by id (`new:NAME` for one this run creates).
    Group(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Subnet {
        name: String,
        steps: Vec<SubnetStep>,
    },
    Group {
        name: String,
        vpc: String,
        steps: Vec<GroupStep>,
    },
    GroupRules {
        group: GroupRef,
        changes: Vec<RuleChange>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubnetStep {
    Create {
        vpc: String,
        cidr: String,
        az: String,
        map_public_ip: bool,
        tags: Tags,
    },
    SetPublicIp {
        id: String,
        value: bool,
    },
    Tags {
        id: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupStep {
    Create {
        description: String,
        tags: Tags,
    },
    Tags {
        id: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete {
        id: String,
    },
}

/// A security group by id, or one this run creates (its id known only then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Id(String),
    Created(String),
}

impl GroupRef {
    /// Rule sources carry `sg-...` ids, or `new:NAME` for a group created in this run.
    pub fn parse(s: &str) -> GroupRef {
        match s.strip_prefix("new:") {
            Some(name) => GroupRef::Created(name.to_owned()),
            None => GroupRef::Id(s.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleChange {
    Authorize { rule: SgRuleState, ingress: bool },
    Revoke { rule: SgRuleState, ingress: bool },
}

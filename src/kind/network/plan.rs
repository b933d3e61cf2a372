//! The default VPC's lab subnets, then the lab's security groups and their rules, rule
//! by rule. Subnets and groups are the lab's by their owner tag; a subnet's name is its
//! `Name` tag.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    GROUP, GROUP_RULES, GroupRef, GroupStep, LiveGroup, LiveNetwork, LiveSubnet, LiveVpc, Network,
    RuleChange, RuleSource, SUBNET, SgRule, SgRuleState, SgSource, SubnetStep, Work,
};
use crate::cidr::{Cidr4, contains4, next_free4, overlap4, parse4};
use crate::kind::{Ctx, Emit};
use crate::model::{OWNER_TAG, Tags};
use crate::plan::tags;
use crate::plan::{Addr, Change, PlanError};

/// The default egress rule of every new group.
fn allow_all_egress() -> SgRuleState {
    SgRuleState {
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        source: SgSource::Cidr("0.0.0.0/0".into()),
        description: String::new(),
    }
}

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let Some(net) = &cx.live.network else { return };
    let Some(vpc) = &net.vpc else {
        if let Some(n) = &cx.lab.network {
            out.error(PlanError {
                addr: Addr::new(SUBNET, "default VPC"),
                message: format!("the region {} has no default VPC (line {}); labctl builds the lab's network in it", cx.vars.region, n.pos.line),
                help: format!("recreate it with `aws ec2 create-default-vpc --region {}`, then rerun", cx.vars.region),
            });
        }
        return;
    };
    let declared = cx.lab.network.clone().unwrap_or_default();
    subnets(cx, net, vpc, &declared, out);
    groups(cx, net, &vpc.id, &declared, out);
}

fn owned_by(cx: &Ctx<'_>, t: &Tags) -> bool {
    t.get(OWNER_TAG).map(String::as_str) == Some(cx.lab.name.as_str())
}

fn subnets(
    cx: &Ctx<'_>,
    net: &LiveNetwork,
    vpc: &LiveVpc,
    declared: &Network,
    out: &mut Emit<'_, Work>,
) {
    let lab = cx.lab;
    let ours: BTreeMap<String, &LiveSubnet> = net
        .subnets
        .iter()
        .filter(|s| owned_by(cx, &s.tags))
        .filter_map(|s| Some((s.tags.get("Name")?.clone(), s)))
        .collect();
    let others: Vec<&LiveSubnet> = net
        .subnets
        .iter()
        .filter(|s| !owned_by(cx, &s.tags))
        .collect();
    let vpc_blocks: Vec<Cidr4> = vpc.cidrs.iter().filter_map(|c| parse4(c)).collect();
    // A new or replaced subnet waits for the deleted ones: it may reuse their block.
    let deletes: Vec<Addr> = ours
        .keys()
        .filter(|n| !declared.subnets.keys().any(|l| &lab.physical(l) == *n))
        .map(|n| Addr::new(SUBNET, n.clone()))
        .collect();
    let mut declared_names = BTreeSet::new();
    for (logical, s) in &declared.subnets {
        let name = lab.physical(logical);
        declared_names.insert(name.clone());
        let a = Addr::new(SUBNET, name.clone());
        let Some(zone) = net.zones.iter().find(|(n, id)| *n == s.az || *id == s.az) else {
            let names: Vec<String> = net
                .zones
                .iter()
                .map(|(n, id)| format!("{n} ({id})"))
                .collect();
            out.error(PlanError {
                addr: a,
                message: format!(
                    "availability zone `{}` (line {}) is not an available zone of {}",
                    s.az, s.pos.line, cx.vars.region
                ),
                help: format!("use one of: {}", names.join(", ")),
            });
            continue;
        };
        let Some(cidr) = parse4(&s.cidr) else {
            continue;
        };
        if !vpc_blocks.iter().any(|v| contains4(*v, cidr)) {
            out.error(PlanError {
                addr: a,
                message: format!(
                    "{} (line {}) lies outside the default VPC's {}",
                    s.cidr,
                    s.cidr_pos.line,
                    vpc.cidrs.join(", ")
                ),
                help: "choose a block inside the VPC".into(),
            });
            continue;
        }
        if let Some(o) = others
            .iter()
            .find(|o| parse4(&o.cidr).is_some_and(|oc| overlap4(oc, cidr)))
        {
            let kind = if o.default_for_az {
                "the default subnet"
            } else {
                "subnet"
            };
            let taken: Vec<Cidr4> = others
                .iter()
                .filter_map(|o| parse4(&o.cidr))
                .chain(declared.subnets.values().filter_map(|d| parse4(&d.cidr)))
                .collect();
            let free = next_free4(&vpc_blocks, cidr.1, &taken);
            out.error(PlanError {
                addr: a,
                message: format!(
                    "{} (line {}) overlaps {kind} {} ({} in {})",
                    s.cidr, s.cidr_pos.line, o.id, o.cidr, o.az
                ),
                help: free
                    .map(|f| format!("use a free block, e.g. {}/{}", f.0, f.1))
                    .unwrap_or_else(|| {
                        "the VPC has no free block of that size: use a smaller subnet".into()
                    }),
            });
            continue;
        }
        let mut tags = cx.tags(&s.tags);
        tags.insert("Name".into(), name.clone());
        let create = SubnetStep::Create {
            vpc: vpc.id.clone(),
            cidr: s.cidr.clone(),
            az: zone.0.clone(),
            map_public_ip: s.map_public_ip,
            tags: tags.clone(),
        };
        let Some(l) = ours.get(&name) else {
            let act = out.create(
                a,
                Work::Subnet {
                    name: name.clone(),
                    steps: vec![create],
                },
            );
            act.changes = vec![
                Change::new_value("cidr", s.cidr.clone()),
                Change::new_value("az", format!("{} ({})", zone.0, zone.1)),
            ];
            if s.map_public_ip {
                act.changes.push(Change::new_value("map_public_ip", "true"));
            }
            act.after = deletes.clone();
            continue;
        };
        let Some(owned) = cx.owned(a, l.tags.get(OWNER_TAG).map(String::as_str)) else {
            continue;
        };
        if l.cidr != s.cidr || l.az != zone.0 {
            let act = out.replace(
                owned,
                Work::Subnet {
                    name: name.clone(),
                    steps: vec![SubnetStep::Delete { id: l.id.clone() }, create],
                },
            );
            if l.cidr != s.cidr {
                act.changes.push(
                    Change::new("cidr", l.cidr.clone(), s.cidr.clone())
                        .with_note("a subnet's CIDR cannot change: it is replaced"),
                );
            }
            if l.az != zone.0 {
                act.changes.push(
                    Change::new("az", l.az.clone(), zone.0.clone())
                        .with_note("a subnet cannot move to another zone: it is replaced"),
                );
            }
            act.after = deletes.clone();
            continue;
        }
        let mut steps = Vec::new();
        let mut changes = Vec::new();
        if l.map_public_ip != s.map_public_ip {
            changes.push(Change::new(
                "map_public_ip",
                l.map_public_ip.to_string(),
                s.map_public_ip.to_string(),
            ));
            steps.push(SubnetStep::SetPublicIp {
                id: l.id.clone(),
                value: s.map_public_ip,
            });
        }
        if let Some((delta, change)) = tags::diff(&l.tags, &tags) {
            changes.push(change);
            steps.push(SubnetStep::Tags {
                id: l.id.clone(),
                set: delta.set,
                remove: delta.remove,
            });
        }
        if !steps.is_empty() {
            out.update(
                owned,
                Work::Subnet {
                    name: name.clone(),
                    steps,
                },
            )
            .changes = changes;
        }
    }
    for (name, l) in &ours {
        if declared_names.contains(name) {
            continue;
        }
        if let Some(owned) = cx.owned(
            Addr::new(SUBNET, name.clone()),
            l.tags.get(OWNER_TAG).map(String::as_str),
        ) {
            out.delete(
                owned,
                Work::Subnet {
                    name: name.clone(),
                    steps: vec![SubnetStep::Delete { id: l.id.clone() }],
                },
            );
        }
    }
}

fn groups(
    cx: &Ctx<'_>,
    net: &LiveNetwork,
    vpc: &str,
    declared: &Network,
    out: &mut Emit<'_, Work>,
) {
    let lab = cx.lab;
    let ours: BTreeMap<String, &LiveGroup> = net
        .groups
        .iter()
        .filter(|g| owned_by(cx, &g.tags))
        .map(|g| (g.name.clone(), g))
        .collect();
    // Where each lab group is, or will be: a live id, or `new:NAME` for one created now.
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    for (logical, g) in &declared.security_groups {
        let name = lab.physical(logical);
        match ours.get(&name) {
            Some(l) => {
                // EC2 cannot change a description, and replacing a group that
                // instances or other groups use would fail or cut them off: say so.
                if l.description != g.description {
                    out.warn(format!(
                        "security group {name}: its description cannot change in place (\"{}\" in AWS, \"{}\" in lab.yaml); labctl keeps the group. Rename the group in lab.yaml to get a new one",
                        l.description, g.description
                    ));
                }
                refs.insert(logical.clone(), l.id.clone());
            }
            None => {
                refs.insert(logical.clone(), format!("new:{name}"));
            }
        }
    }
    let deleted: Vec<&LiveGroup> = ours
        .values()
        .filter(|l| {
            !declared
                .security_groups
                .keys()
                .any(|g| lab.physical(g) == l.name)
        })
        .copied()
        .collect();

    for (logical, g) in &declared.security_groups {
        let name = lab.physical(logical);
        let a = Addr::new(GROUP, name.clone());
        if let Some(other) = net
            .groups
            .iter()
            .find(|o| !owned_by(cx, &o.tags) && o.name.eq_ignore_ascii_case(&name))
        {
            out.error(PlanError { addr: a, message: format!("security group name `{name}` (line {}) is taken in the default VPC by {} (without labctl's tag)", g.pos.line, other.id), help: "EC2 names are unique per VPC, ignoring case: rename the group in lab.yaml".into() });
            continue;
        }
        for r in g.ingress.iter().filter(|r| r.allow_world) {
            out.warn(format!("security group {name}: the rule on line {} is open to the whole internet (allow_world: true)", r.pos.line));
        }
        let tags = cx.tags(&g.tags);
        let ingress = desired(&g.ingress, &refs);
        let egress = g
            .egress
            .as_ref()
            .map(|e| desired(e, &refs))
            .unwrap_or_else(|| vec![allow_all_egress()]);
        let live = ours.get(&name);
        let (group_ref, have_in, have_out) = match live {
            Some(l) => (
                GroupRef::Id(l.id.clone()),
                l.ingress.clone(),
                l.egress.clone(),
            ),
            // A new group starts with the default egress rule and nothing else.
            None => (
                GroupRef::Created(name.clone()),
                Vec::new(),
                vec![allow_all_egress()],
            ),
        };
        match live {
            None => {
                let act = out.create(
                    a.clone(),
                    Work::Group {
                        name: name.clone(),
                        vpc: vpc.to_owned(),
                        steps: vec![GroupStep::Create {
                            description: g.description.clone(),
                            tags: tags.clone(),
                        }],
                    },
                );
                act.changes
                    .push(Change::new_value("description", g.description.clone()));
                // Rules of other groups that point at a group being deleted go first.
                act.after = deleted
                    .iter()
                    .map(|d| Addr::new(GROUP_RULES, d.name.clone()))
                    .collect();
            }
            Some(l) => {
                if let Some((delta, change)) = tags::diff(&l.tags, &tags)
                    && let Some(owned) = cx.owned(a.clone(), Some(&lab.name))
                {
                    out.update(
                        owned,
                        Work::Group {
                            name: name.clone(),
                            vpc: vpc.to_owned(),
                            steps: vec![GroupStep::Tags {
                                id: l.id.clone(),
                                set: delta.set,
                                remove: delta.remove,
                            }],
                        },
                    )
                    .changes
                    .push(change);
                }
            }
        }
        let mut changes = Vec::new();
        let mut shown = Vec::new();
        for (ingress_dir, want, have) in [(true, &ingress, &have_in), (false, &egress, &have_out)] {
            let dir = if ingress_dir { "ingress" } else { "egress" };
            for r in have.iter().filter(|r| !want.contains(r)) {
                changes.push(RuleChange::Revoke {
                    rule: r.clone(),
                    ingress: ingress_dir,
                });
                shown.push(Change::new(dir, show_rule(r, net, ingress_dir), "(none)"));
            }
            for r in want.iter().filter(|r| !have.contains(r)) {
                changes.push(RuleChange::Authorize {
                    rule: r.clone(),
                    ingress: ingress_dir,
                });
                shown.push(Change::new(dir, "(none)", show_rule(r, net, ingress_dir)));
            }
        }
        if changes.is_empty() {
            continue;
        }
        let ra = Addr::new(GROUP_RULES, name.clone());
        let work = Work::GroupRules {
            group: group_ref,
            changes,
        };
        // A live group's rules are the group's: the lab's (found by its tag above).
        let act = match live.and_then(|_| cx.owned(ra.clone(), Some(&lab.name))) {
            Some(owned) => out.update(owned, work),
            None => out.create(ra, work),
        };
        act.changes = shown;
        act.after = vec![a];
        act.after.extend(
            g.ingress
                .iter()
                .chain(g.egress.iter().flatten())
                .filter_map(|r| match &r.source {
                    RuleSource::Group(o) => Some(Addr::new(GROUP, lab.physical(o))),
                    _ => None,
                }),
        );
    }

    // Groups no longer declared: first their own rules that name other groups (so
    // groups referring to each other can go), then the groups (after every change of
    // group rules, by the engine's USES).
    for d in &deleted {
        let refs_out: Vec<RuleChange> = d
            .ingress
            .iter()
            .map(|r| (r, true))
            .chain(d.egress.iter().map(|r| (r, false)))
            .filter(|(r, _)| matches!(r.source, SgSource::Group(_)))
            .map(|(r, ingress)| RuleChange::Revoke {
                rule: r.clone(),
                ingress,
            })
            .collect();
        if !refs_out.is_empty()
            && let Some(owned) = cx.owned(Addr::new(GROUP_RULES, d.name.clone()), Some(&lab.name))
        {
            out.delete(
                owned,
                Work::GroupRules {
                    group: GroupRef::Id(d.id.clone()),
                    changes: refs_out,
                },
            )
            .reason = Some("rules naming other groups go before the groups".into());
        }
        if let Some(owned) = cx.owned(
            Addr::new(GROUP, d.name.clone()),
            d.tags.get(OWNER_TAG).map(String::as_str),
        ) {
            out.delete(
                owned,
                Work::Group {
                    name: d.name.clone(),
                    vpc: vpc.to_owned(),
                    steps: vec![GroupStep::Delete { id: d.id.clone() }],
                },
            );
        }
    }
}

/// Declared rules in the form EC2's answer reduces to; a rule naming another lab group
/// carries its id (or `new:NAME`).
fn desired(rules: &[SgRule], refs: &BTreeMap<String, String>) -> Vec<SgRuleState> {
    let mut v: Vec<SgRuleState> = rules
        .iter()
        .map(|r| SgRuleState {
            protocol: r.protocol.clone(),
            from_port: if r.protocol == "-1" { -1 } else { r.from_port },
            to_port: if r.protocol == "-1" { -1 } else { r.to_port },
            source: match &r.source {
                RuleSource::Cidr(c) => SgSource::Cidr(c.clone()),
                RuleSource::Cidr6(c) => SgSource::Cidr6(c.clone()),
                RuleSource::Group(other) => {
                    SgSource::Group(refs.get(other).cloned().unwrap_or_default())
                }
            },
            description: r.description.clone().unwrap_or_default(),
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn show_rule(r: &SgRuleState, net: &LiveNetwork, ingress: bool) -> String {
    let proto = if r.protocol == "-1" {
        "all".to_owned()
    } else {
        r.protocol.clone()
    };
    let ports = match (r.protocol.as_str(), r.from_port, r.to_port) {
        ("-1", ..) => String::new(),
        ("icmp" | "icmpv6", -1, _) => String::new(),
        ("icmp" | "icmpv6", t, -1) => format!(" type {t}"),
        ("icmp" | "icmpv6", t, c) => format!(" type {t} code {c}"),
        (_, a, b) if a == b => format!(" {a}"),
        (_, a, b) => format!(" {a}-{b}"),
    };
    let src = match &r.source {
        SgSource::Cidr(c) | SgSource::Cidr6(c) => c.clone(),
        SgSource::Group(g) => match g.strip_prefix("new:") {
            Some(n) => n.to_owned(),
            None => net
                .groups
                .iter()
                .find(|x| &x.id == g)
                .map(|x| x.name.clone())
                .unwrap_or_else(|| g.clone()),
        },
    };
    let dir = if ingress { "from" } else { "to" };
    let desc = if r.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.description)
    };
    format!("{proto}{ports} {dir} {src}{desc}")
}

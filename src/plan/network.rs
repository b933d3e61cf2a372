//! The default VPC's extra subnets and the lab's security groups, rule by rule.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::{
    Action, Addr, Change, Ctx, GroupRef, GroupStep, Kind, Op, Plan, PlanError, RuleChange,
    SubnetStep, Work,
};
use crate::config::validate::{cidr4_contains, cidr4_overlap, parse_cidr4};
use crate::live::{LiveGroup, LiveNetwork, LiveSubnet, SgRuleState, SgSource};
use crate::model::{OWNER_TAG, RuleSource, SgRule, Tags};

fn addr(kind: Kind, name: &str) -> Addr {
    Addr {
        kind,
        name: name.to_owned(),
    }
}

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

pub(super) fn plan(cx: &Ctx, plan: &mut Plan) {
    let Some(net) = &cx.live.network else { return };
    let lab = cx.lab;
    let owned = |t: &Tags| t.get(OWNER_TAG).map(String::as_str) == Some(lab.name.as_str());
    let Some(vpc) = &net.vpc else {
        if let Some(n) = &lab.network {
            plan.errors.push(PlanError {
                addr: addr(Kind::Subnet, "default VPC"),
                message: format!("the region {} has no default VPC (line {}); labctl builds the lab's network in it", cx.vars.region, n.pos.line),
                help: format!("recreate it with `aws ec2 create-default-vpc --region {}`, then rerun", cx.vars.region),
            });
        }
        return;
    };
    let declared = lab
        .network
        .clone()
        .unwrap_or_else(|| crate::model::Network {
            pos: Default::default(),
            subnets: BTreeMap::new(),
            security_groups: BTreeMap::new(),
        });
    let mut base = lab.base_tags();
    base.insert(OWNER_TAG.into(), lab.name.clone());

    // Subnets.
    let ours: BTreeMap<String, &LiveSubnet> = net
        .subnets
        .iter()
        .filter(|s| owned(&s.tags))
        .filter_map(|s| Some((s.tags.get("Name")?.clone(), s)))
        .collect();
    let others: Vec<&LiveSubnet> = net.subnets.iter().filter(|s| !owned(&s.tags)).collect();
    let mut declared_names = BTreeSet::new();
    let deletes: Vec<Addr> = ours
        .keys()
        .filter(|n| !declared.subnets.keys().any(|l| &lab.physical(l) == *n))
        .map(|n| addr(Kind::Subnet, n))
        .collect();
    for (logical, s) in &declared.subnets {
        let name = lab.physical(logical);
        declared_names.insert(name.clone());
        let a = addr(Kind::Subnet, &name);
        let Some(zone) = net.zones.iter().find(|(n, id)| *n == s.az || *id == s.az) else {
            let names: Vec<String> = net
                .zones
                .iter()
                .map(|(n, id)| format!("{n} ({id})"))
                .collect();
            plan.errors.push(PlanError {
                addr: a,
                message: format!(
                    "availability zone `{}` (line {}) is not an available zone of {}",
                    s.az, s.pos.line, cx.vars.region
                ),
                help: format!("use one of: {}", names.join(", ")),
            });
            continue;
        };
        let Some(cidr) = parse_cidr4(&s.cidr) else {
            continue;
        };
        let in_vpc = vpc
            .cidrs
            .iter()
            .filter_map(|c| parse_cidr4(c))
            .any(|v| cidr4_contains(v, cidr));
        if !in_vpc {
            plan.errors.push(PlanError {
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
            .find(|o| parse_cidr4(&o.cidr).is_some_and(|oc| cidr4_overlap(oc, cidr)))
        {
            let kind = if o.default_for_az {
                "the default subnet"
            } else {
                "subnet"
            };
            let taken: Vec<(Ipv4Addr, u8)> = others
                .iter()
                .filter_map(|o| parse_cidr4(&o.cidr))
                .chain(
                    declared
                        .subnets
                        .values()
                        .filter_map(|d| parse_cidr4(&d.cidr)),
                )
                .collect();
            let free = next_free(
                vpc.cidrs.iter().filter_map(|c| parse_cidr4(c)).collect(),
                cidr.1,
                &taken,
            );
            plan.errors.push(PlanError {
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
        let mut tags = base.clone();
        tags.extend(s.tags.clone());
        tags.insert("Name".into(), name.clone());
        let create = SubnetStep::Create {
            vpc: vpc.id.clone(),
            cidr: s.cidr.clone(),
            az: zone.0.clone(),
            map_public_ip: s.map_public_ip,
            tags: tags.clone(),
        };
        match ours.get(&name) {
            None => {
                let mut act = Action::new(
                    a,
                    Op::Create,
                    Work::Subnet {
                        name: name.clone(),
                        steps: vec![create],
                    },
                );
                act.changes = vec![
                    Change {
                        attr: "cidr".into(),
                        before: String::new(),
                        after: s.cidr.clone(),
                        note: None,
                    },
                    Change {
                        attr: "az".into(),
                        before: String::new(),
                        after: format!("{} ({})", zone.0, zone.1),
                        note: None,
                    },
                ];
                if s.map_public_ip {
                    act.changes.push(Change {
                        attr: "map_public_ip".into(),
                        before: String::new(),
                        after: "true".into(),
                        note: None,
                    });
                }
                act.after = deletes.clone();
                plan.actions.push(act);
            }
            Some(l) => {
                if l.cidr != s.cidr || l.az != zone.0 {
                    let mut act = Action::new(
                        a,
                        Op::Replace,
                        Work::Subnet {
                            name: name.clone(),
                            steps: vec![SubnetStep::Delete { id: l.id.clone() }, create],
                        },
                    );
                    if l.cidr != s.cidr {
                        act.changes.push(Change {
                            attr: "cidr".into(),
                            before: l.cidr.clone(),
                            after: s.cidr.clone(),
                            note: Some("a subnet's CIDR cannot change: it is replaced".into()),
                        });
                    }
                    if l.az != zone.0 {
                        act.changes.push(Change {
                            attr: "az".into(),
                            before: l.az.clone(),
                            after: zone.0.clone(),
                            note: Some(
                                "a subnet cannot move to another zone: it is replaced".into(),
                            ),
                        });
                    }
                    act.after = deletes.clone();
                    plan.actions.push(act);
                    continue;
                }
                let mut steps = Vec::new();
                let mut changes = Vec::new();
                if l.map_public_ip != s.map_public_ip {
                    changes.push(Change {
                        attr: "map_public_ip".into(),
                        before: l.map_public_ip.to_string(),
                        after: s.map_public_ip.to_string(),
                        note: None,
                    });
                    steps.push(SubnetStep::SetPublicIp {
                        id: l.id.clone(),
                        value: s.map_public_ip,
                    });
                }
                if l.tags != tags {
                    let (set, remove) = tag_delta(&l.tags, &tags);
                    changes.push(Change {
                        attr: "tags".into(),
                        before: super::bucket::fmt_tags(&l.tags),
                        after: super::bucket::fmt_tags(&tags),
                        note: None,
                    });
                    steps.push(SubnetStep::Tags {
                        id: l.id.clone(),
                        set,
                        remove,
                    });
                }
                if !steps.is_empty() {
                    plan.actions.push(Action {
                        changes,
                        ..Action::new(
                            a,
                            Op::Update,
                            Work::Subnet {
                                name: name.clone(),
                                steps,
                            },
                        )
                    });
                }
            }
        }
    }
    for (name, l) in &ours {
        if !declared_names.contains(name) {
            let mut act = Action::new(
                addr(Kind::Subnet, name),
                Op::Delete,
                Work::Subnet {
                    name: name.clone(),
                    steps: vec![SubnetStep::Delete { id: l.id.clone() }],
                },
            );
            act.reason = Some(super::gone(cx.opts).into());
            plan.actions.push(act);
        }
    }

    groups(cx, net, &vpc.id, &declared, &base, plan);
}

fn tag_delta(have: &Tags, want: &Tags) -> (Tags, Vec<String>) {
    let set = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

/// The first block of size `/len` inside the VPC that overlaps nothing taken.
fn next_free(
    vpc: Vec<(Ipv4Addr, u8)>,
    len: u8,
    taken: &[(Ipv4Addr, u8)],
) -> Option<(Ipv4Addr, u8)> {
    for v in vpc {
        if len < v.1 || len > 32 {
            continue;
        }
        let step = 1u64 << (32 - len);
        let start = u64::from(u32::from(v.0));
        let end = start + (1u64 << (32 - v.1));
        let mut at = start;
        while at < end {
            let cand = (Ipv4Addr::from(at as u32), len);
            if !taken.iter().any(|t| cidr4_overlap(*t, cand)) {
                return Some(cand);
            }
            at += step;
        }
    }
    None
}

fn groups(
    cx: &Ctx,
    net: &LiveNetwork,
    vpc: &str,
    declared: &crate::model::Network,
    base: &Tags,
    plan: &mut Plan,
) {
    let lab = cx.lab;
    let owned = |t: &Tags| t.get(OWNER_TAG).map(String::as_str) == Some(lab.name.as_str());
    let ours: BTreeMap<String, &LiveGroup> = net
        .groups
        .iter()
        .filter(|g| owned(&g.tags))
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
                    plan.warnings.push(format!(
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
        let a = addr(Kind::Group, &name);
        if let Some(other) = net
            .groups
            .iter()
            .find(|o| !owned(&o.tags) && o.name.eq_ignore_ascii_case(&name))
        {
            plan.errors.push(PlanError { addr: a, message: format!("security group name `{name}` (line {}) is taken in the default VPC by {} (without labctl's tag)", g.pos.line, other.id), help: "EC2 names are unique per VPC, ignoring case: rename the group in lab.yaml".into() });
            continue;
        }
        for r in g.ingress.iter().filter(|r| r.allow_world) {
            plan.warnings.push(format!("security group {name}: the rule on line {} is open to the whole internet (allow_world: true)", r.pos.line));
        }
        let mut tags = base.clone();
        tags.extend(g.tags.clone());
        let desired = |rules: &[SgRule]| -> Vec<SgRuleState> {
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
        };
        let ingress = desired(&g.ingress);
        let egress = g
            .egress
            .as_ref()
            .map(|e| desired(e))
            .unwrap_or_else(|| vec![allow_all_egress()]);
        let live = ours.get(&name);
        let group_ref = match live {
            Some(l) => GroupRef::Id(l.id.clone()),
            None => GroupRef::Created(name.clone()),
        };
        let (have_in, have_out) = match live {
            Some(l) => (l.ingress.clone(), l.egress.clone()),
            // A new group starts with the default egress rule and nothing else.
            None => (Vec::new(), vec![allow_all_egress()]),
        };
        match live {
            None => {
                let steps = vec![GroupStep::Create {
                    description: g.description.clone(),
                    tags: tags.clone(),
                }];
                let op = Op::Create;
                let mut act = Action::new(
                    a.clone(),
                    op,
                    Work::Group {
                        name: name.clone(),
                        vpc: vpc.to_owned(),
                        steps,
                    },
                );
                act.changes.push(Change {
                    attr: "description".into(),
                    before: String::new(),
                    after: g.description.clone(),
                    note: None,
                });
                // Rules of other groups that point at a group being deleted go first.
                act.after = deleted
                    .iter()
                    .map(|d| addr(Kind::GroupRules, &d.name))
                    .collect();
                plan.actions.push(act);
            }
            Some(l) => {
                if l.tags != tags {
                    let (set, remove) = tag_delta(&l.tags, &tags);
                    let mut act = Action::new(
                        a.clone(),
                        Op::Update,
                        Work::Group {
                            name: name.clone(),
                            vpc: vpc.to_owned(),
                            steps: vec![GroupStep::Tags {
                                id: l.id.clone(),
                                set,
                                remove,
                            }],
                        },
                    );
                    act.changes.push(Change {
                        attr: "tags".into(),
                        before: super::bucket::fmt_tags(&l.tags),
                        after: super::bucket::fmt_tags(&tags),
                        note: None,
                    });
                    plan.actions.push(act);
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
                shown.push(Change {
                    attr: dir.into(),
                    before: show_rule(r, net, ingress_dir),
                    after: "(none)".into(),
                    note: None,
                });
            }
            for r in want.iter().filter(|r| !have.contains(r)) {
                changes.push(RuleChange::Authorize {
                    rule: r.clone(),
                    ingress: ingress_dir,
                });
                shown.push(Change {
                    attr: dir.into(),
                    before: "(none)".into(),
                    after: show_rule(r, net, ingress_dir),
                    note: None,
                });
            }
        }
        if !changes.is_empty() {
            let mut act = Action::new(
                addr(Kind::GroupRules, &name),
                if live.is_some() {
                    Op::Update
                } else {
                    Op::Create
                },
                Work::GroupRules {
                    group: group_ref,
                    changes,
                },
            );
            act.changes = shown;
            act.after = vec![a];
            act.after.extend(
                g.ingress
                    .iter()
                    .chain(g.egress.iter().flatten())
                    .filter_map(|r| match &r.source {
                        RuleSource::Group(o) => Some(addr(Kind::Group, &lab.physical(o))),
                        _ => None,
                    }),
            );
            plan.actions.push(act);
        }
    }

    // Groups no longer declared: first their own rules that name other groups (so
    // groups referring to each other can go), then the groups.
    let all_rules: Vec<Addr> = deleted
        .iter()
        .map(|d| addr(Kind::GroupRules, &d.name))
        .collect();
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
        if !refs_out.is_empty() {
            let mut act = Action::new(
                addr(Kind::GroupRules, &d.name),
                Op::Delete,
                Work::GroupRules {
                    group: GroupRef::Id(d.id.clone()),
                    changes: refs_out,
                },
            );
            act.reason = Some("rules naming other groups go before the groups".into());
            plan.actions.push(act);
        }
        let mut act = Action::new(
            addr(Kind::Group, &d.name),
            Op::Delete,
            Work::Group {
                name: d.name.clone(),
                vpc: vpc.to_owned(),
                steps: vec![GroupStep::Delete { id: d.id.clone() }],
            },
        );
        act.reason = Some(super::gone(cx.opts).into());
        act.after = all_rules.clone();
        plan.actions.push(act);
    }
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

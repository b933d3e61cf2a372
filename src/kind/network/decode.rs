//! The `network:` section.

use std::collections::BTreeMap;

use super::{Network, RuleSource, SecurityGroup, SgRule, Subnet};
use crate::model::Pos;
use crate::yaml::decode::{Decoder, Fields, boolean, describe, fields, int32, named, seq, string};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};
use crate::yaml::{Node, Value};

pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "network",
    Ty::Obj(NETWORK),
    "Subnets and security groups in the region's default VPC.",
)];

const NETWORK: &[Field] = &[
    Field::opt(
        "vpc",
        Ty::OneOf(&["default"]),
        "`default`: labctl builds in the default VPC.",
    ),
    Field::opt(
        "subnets",
        Ty::Named(&Ty::Obj(SUBNET)),
        "Subnets, by the name instances refer to them.",
    ),
    Field::opt(
        "security_groups",
        Ty::Named(&Ty::Obj(GROUP)),
        "Security groups, by the name instances and rules refer to them.",
    ),
];

const SUBNET: &[Field] = &[
    Field::req(
        "cidr",
        Ty::Str,
        "An IPv4 block inside the default VPC's, /16 to /28.",
    ),
    Field::req(
        "az",
        Ty::Str,
        "Its availability zone, such as `us-east-1a`.",
    ),
    Field::opt(
        "map_public_ip",
        Ty::Bool,
        "Give instances launched here a public address (default false).",
    ),
    TAGS,
];

const GROUP: &[Field] = &[
    Field::req(
        "description",
        Ty::Str,
        "What the group is for (EC2 requires one).",
    ),
    Field::opt("ingress", Ty::List(&Ty::Obj(RULE)), "Inbound rules."),
    Field::opt(
        "egress",
        Ty::List(&Ty::Obj(RULE)),
        "Outbound rules (default: everything out).",
    ),
    TAGS,
];

const RULE: &[Field] = &[
    Field::req(
        "protocol",
        Ty::Str,
        "`tcp`, `udp`, `icmp`, `icmpv6` or `all`.",
    )
    .eg("tcp"),
    Field::opt("port", Ty::Int, "One port (for ICMP: the type)."),
    Field::opt(
        "ports",
        Ty::Str,
        "A range, `FROM-TO` (for ICMP: `TYPE-CODE`).",
    ),
    Field::opt(
        "cidr",
        Ty::Str,
        "The source (or destination) address block, IPv4 or IPv6.",
    ),
    Field::opt(
        "group",
        Ty::Str,
        "Another security group of this lab, as the source.",
    ),
    Field::opt(
        "allow_world",
        Ty::Bool,
        "The explicit opt-in to an ingress rule open to 0.0.0.0/0 or ::/0.",
    ),
    Field::opt("description", Ty::Str, "What the rule is for."),
];

pub(super) fn network(node: &Node, d: &mut Decoder) -> Option<Network> {
    let (s, sites) = (&mut d.sink, &mut d.tag_sites);
    let f = fields(node, "`network`", NETWORK, s)?;
    if let Some(v) = f.get("vpc")
        && let Some(name) = string(v, "`vpc`", s)
        && name != "default"
    {
        s.err(
            v.pos,
            format!("vpc `{name}` is not supported"),
            "labctl builds in the region's default VPC: write `vpc: default`",
        );
    }
    let mut subnets = BTreeMap::new();
    if let Some(n) = f.get("subnets") {
        for (k, v) in named(n, "`subnets`", s) {
            let what = format!("subnet `{}`", k.name);
            let Some(sf) = fields(v, &what, SUBNET, s) else {
                continue;
            };
            let cidr_node = sf.get("cidr");
            let cidr = cidr_node.and_then(|n| string(n, "`cidr`", s));
            let az = sf.get("az").and_then(|n| string(n, "`az`", s));
            let map_public_ip = sf
                .get("map_public_ip")
                .and_then(|n| boolean(n, "`map_public_ip`", s))
                .unwrap_or(false);
            let t = sf.get("tags").map(|n| sites.record(n, &what, s));
            if let (Some(cidr), Some(az)) = (cidr, az) {
                subnets.insert(
                    k.name.clone(),
                    Subnet {
                        pos: k.pos,
                        cidr,
                        cidr_pos: cidr_node.map(|n| n.pos).unwrap_or(v.pos),
                        az,
                        map_public_ip,
                        tags: t.unwrap_or_default(),
                    },
                );
            }
        }
    }
    let mut security_groups = BTreeMap::new();
    if let Some(n) = f.get("security_groups") {
        for (k, v) in named(n, "`security_groups`", s) {
            let what = format!("security group `{}`", k.name);
            let Some(gf) = fields(v, &what, GROUP, s) else {
                continue;
            };
            let description = gf
                .get("description")
                .and_then(|n| string(n, "`description`", s))
                .unwrap_or_default();
            let rules = |key: &str, s: &mut Sink| -> Vec<SgRule> {
                gf.get(key)
                    .map(|n| {
                        seq(n, &format!("`{key}`"), s)
                            .iter()
                            .filter_map(|r| sg_rule(r, s))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let ingress = rules("ingress", s);
            let egress = gf.get("egress").map(|_| rules("egress", s));
            let t = gf.get("tags").map(|n| sites.record(n, &what, s));
            security_groups.insert(
                k.name.clone(),
                SecurityGroup {
                    pos: k.pos,
                    keys: gf.keys(),
                    description,
                    ingress,
                    egress,
                    tags: t.unwrap_or_default(),
                },
            );
        }
    }
    Some(Network {
        pos: node.pos,
        subnets,
        security_groups,
    })
}

/// Reads on past each problem, so one run reports every one of a rule's.
fn sg_rule(node: &Node, s: &mut Sink) -> Option<SgRule> {
    let f = fields(node, "a security group rule", RULE, s)?;
    let mut ok = true;
    let protocol = f
        .get("protocol")
        .and_then(|n| string(n, "`protocol`", s).map(|p| (p, n.pos)));
    let protocol = match protocol {
        None => {
            ok = false;
            String::new()
        }
        Some((p, pos)) => match p.to_ascii_lowercase().as_str() {
            "tcp" | "6" => "tcp".to_owned(),
            "udp" | "17" => "udp".to_owned(),
            "icmp" | "1" => "icmp".to_owned(),
            "icmpv6" | "58" => "icmpv6".to_owned(),
            "all" | "-1" => "-1".to_owned(),
            other => {
                s.err(
                    pos,
                    format!("unknown protocol `{other}`"),
                    "use `tcp`, `udp`, `icmp`, `icmpv6` or `all`",
                );
                ok = false;
                String::new()
            }
        },
    };
    let ports = ports(&f, &protocol, s);
    ok &= ports.is_some();
    let (from_port, to_port) = ports.unwrap_or((-1, -1));
    let source = match (f.get("cidr"), f.get("group")) {
        (Some(c), None) => string(c, "`cidr`", s).map(|c| {
            if c.contains(':') {
                RuleSource::Cidr6(c)
            } else {
                RuleSource::Cidr(c)
            }
        }),
        (None, Some(g)) => string(g, "`group`", s).map(RuleSource::Group),
        (Some(_), Some(g)) => {
            s.err(
                g.pos,
                "a rule has both `cidr` and `group`",
                "one source per rule: write two rules",
            );
            None
        }
        (None, None) => {
            s.err(
                f.pos,
                "a rule has no source",
                "add `cidr: 203.0.113.0/24` or `group: <another security group of this lab>`",
            );
            None
        }
    };
    let allow_world = f
        .get("allow_world")
        .and_then(|n| boolean(n, "`allow_world`", s))
        .unwrap_or(false);
    let description = f
        .get("description")
        .and_then(|n| string(n, "`description`", s));
    if !ok {
        return None;
    }
    Some(SgRule {
        pos: node.pos,
        protocol,
        from_port,
        to_port,
        source: source?,
        allow_world,
        description,
    })
}

/// `port:` or `ports:` as EC2's FromPort and ToPort; `None` after a problem.
fn ports(f: &Fields<'_>, protocol: &str, s: &mut Sink) -> Option<(i32, i32)> {
    Some(match (f.get("port"), f.get("ports")) {
        (Some(_), Some(p)) => {
            s.err(
                p.pos,
                "a rule has both `port` and `ports`",
                "use `port: 22` for one port or `ports: 60000-61000` for a range",
            );
            return None;
        }
        (Some(p), _) | (_, Some(p)) if protocol == "-1" => {
            s.err(
                p.pos,
                "protocol `all` takes no port: it opens every port",
                "remove the port, or use `protocol: tcp` (or udp) with it",
            );
            return None;
        }
        // ICMP has types and codes, not ports: `port: 8` is type 8 with any code,
        // `ports: 3-4` is type 3 code 4 (EC2's FromPort and ToPort).
        (Some(p), None) if protocol.starts_with("icmp") => {
            let (v, pos) = int32(p, "`port`", s)?;
            check_icmp(v, 0, pos, s);
            (v, -1)
        }
        (Some(p), None) => {
            let (v, pos) = int32(p, "`port`", s)?;
            check_port(v, pos, s);
            (v, v)
        }
        (None, Some(p)) => {
            let text = match &p.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => String::new(),
            };
            let parsed = text.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?))
            });
            let Some((a, b)) = parsed else {
                s.err(
                    p.pos,
                    format!(
                        "`ports` must be a range like `60000-61000`, found {}",
                        describe(p)
                    ),
                    "write `FROM-TO`; for one port use `port:`",
                );
                return None;
            };
            if protocol.starts_with("icmp") {
                check_icmp(a, 0, p.pos, s);
                check_icmp(b, -1, p.pos, s);
            } else {
                check_port(a, p.pos, s);
                check_port(b, p.pos, s);
                if a > b {
                    s.err(
                        p.pos,
                        format!("port range {a}-{b} runs backwards"),
                        format!("write `{b}-{a}`"),
                    );
                }
            }
            (a, b)
        }
        (None, None) if protocol == "tcp" || protocol == "udp" => {
            s.err(
                f.pos,
                format!("a {protocol} rule needs `port` or `ports`"),
                "add `port: 22` or `ports: 1000-2000`",
            );
            return None;
        }
        (None, None) => (-1, -1),
    })
}

fn check_icmp(v: i32, min: i32, pos: Pos, s: &mut Sink) {
    if !(min..=255).contains(&v) {
        s.err(
            pos,
            format!("ICMP type or code {v} is out of range"),
            "icmp rules take `port: TYPE` (any code) or `ports: TYPE-CODE`, each 0-255 (code -1: any); omit both for all ICMP",
        );
    }
}

fn check_port(v: i32, pos: Pos, s: &mut Sink) {
    if !(0..=65535).contains(&v) {
        s.err(
            pos,
            format!("port {v} is out of range"),
            "ports are 0-65535",
        );
    }
}

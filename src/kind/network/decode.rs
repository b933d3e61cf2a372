//! The `network:` section.

use std::collections::BTreeMap;

use super::{Network, RuleSource, SecurityGroup, SgRule, Subnet};
use crate::model::Pos;
use crate::yaml::decode::{Decoder, boolean, describe, fields, int32, named, seq, string};
use crate::yaml::diag::Sink;
use crate::yaml::{Node, Value};

pub(super) fn network(node: &Node, d: &mut Decoder) -> Option<Network> {
    let (s, sites) = (&mut d.sink, &mut d.tag_sites);
    let f = fields(node, "`network`", &["vpc", "subnets", "security_groups"], s)?;
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
            let Some(sf) = fields(v, &what, &["cidr", "az", "map_public_ip", "tags"], s) else {
                continue;
            };
            let cidr_node = sf.required("cidr", &what, s);
            let cidr = cidr_node.and_then(|n| string(n, "`cidr`", s));
            let az = sf
                .required("az", &what, s)
                .and_then(|n| string(n, "`az`", s));
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
            let Some(gf) = fields(v, &what, &["description", "ingress", "egress", "tags"], s)
            else {
                continue;
            };
            let description = gf
                .required("description", &what, s)
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

fn sg_rule(node: &Node, s: &mut Sink) -> Option<SgRule> {
    let f = fields(
        node,
        "a security group rule",
        &[
            "protocol",
            "port",
            "ports",
            "cidr",
            "group",
            "allow_world",
            "description",
        ],
        s,
    )?;
    let protocol = f
        .required("protocol", "a security group rule", s)
        .and_then(|n| string(n, "`protocol`", s).map(|p| (p, n.pos)))?;
    let protocol = match protocol.0.to_ascii_lowercase().as_str() {
        "tcp" | "6" => "tcp".to_owned(),
        "udp" | "17" => "udp".to_owned(),
        "icmp" | "1" => "icmp".to_owned(),
        "icmpv6" | "58" => "icmpv6".to_owned(),
        "all" | "-1" => "-1".to_owned(),
        other => {
            s.err(
                protocol.1,
                format!("unknown protocol `{other}`"),
                "use `tcp`, `udp`, `icmp`, `icmpv6` or `all`",
            );
            return None;
        }
    };
    let (from_port, to_port) = match (f.get("port"), f.get("ports")) {
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
    };
    let source = match (f.get("cidr"), f.get("group")) {
        (Some(c), None) => {
            let c = string(c, "`cidr`", s)?;
            if c.contains(':') {
                RuleSource::Cidr6(c)
            } else {
                RuleSource::Cidr(c)
            }
        }
        (None, Some(g)) => RuleSource::Group(string(g, "`group`", s)?),
        (Some(_), Some(g)) => {
            s.err(
                g.pos,
                "a rule has both `cidr` and `group`",
                "one source per rule: write two rules",
            );
            return None;
        }
        (None, None) => {
            s.err(
                f.pos,
                "a rule has no source",
                "add `cidr: 203.0.113.0/24` or `group: <another security group of this lab>`",
            );
            return None;
        }
    };
    Some(SgRule {
        pos: node.pos,
        protocol,
        from_port,
        to_port,
        source,
        allow_world: f
            .get("allow_world")
            .and_then(|n| boolean(n, "`allow_world`", s))
            .unwrap_or(false),
        description: f
            .get("description")
            .and_then(|n| string(n, "`description`", s)),
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

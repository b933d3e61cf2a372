//! EC2's rules: subnet CIDRs and zones, security group names and rules.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Network, RuleSource, SgRule};
use crate::cidr::{
    Cidr4, canonical4, contains4 as cidr4_contains, network4, overlap4 as cidr4_overlap,
    parse4 as parse_cidr4,
};
use crate::kind::Lab;
use crate::model::OWNER_TAG;
use crate::yaml::diag::Sink;

/// The default VPC's block in every region.
pub const DEFAULT_VPC_CIDR: Cidr4 = (Ipv4Addr::new(172, 31, 0, 0), 16);

pub(super) fn network(lab: &Lab, net: &Network, s: &mut Sink) {
    let mut seen: Vec<(&str, (Ipv4Addr, u8))> = Vec::new();
    for (name, sub) in &net.subnets {
        match parse_cidr4(&sub.cidr) {
            None => s.err(
                sub.cidr_pos,
                format!("`{}` is not an IPv4 CIDR", sub.cidr),
                "write e.g. `172.31.96.0/24`",
            ),
            Some(c) => {
                if format!("{}/{}", c.0, c.1) != sub.cidr {
                    s.err(
                        sub.cidr_pos,
                        format!("`{}` is not written the way EC2 writes it", sub.cidr),
                        format!("write `{}/{}`", c.0, c.1),
                    );
                } else if !canonical4(c.0, c.1) {
                    let base = network4(c.0, c.1);
                    s.err(
                        sub.cidr_pos,
                        format!("`{}` has host bits set", sub.cidr),
                        format!("write `{base}/{}`", c.1),
                    );
                } else if !(16..=28).contains(&c.1) {
                    s.err(
                        sub.cidr_pos,
                        format!("subnet `{name}` is a /{}; AWS subnets are /16 to /28", c.1),
                        "choose a prefix length between 16 and 28, e.g. /24",
                    );
                } else if !cidr4_contains(DEFAULT_VPC_CIDR, c) {
                    s.err(sub.cidr_pos, format!("`{}` lies outside the default VPC's 172.31.0.0/16", sub.cidr), "choose a block inside 172.31.0.0/16 above the default subnets, e.g. 172.31.96.0/24");
                } else {
                    if let Some((other, _)) = seen.iter().find(|(_, o)| cidr4_overlap(*o, c)) {
                        s.err(
                            sub.cidr_pos,
                            format!("subnet `{name}` ({}) overlaps subnet `{other}`", sub.cidr),
                            "give each subnet its own block",
                        );
                    }
                    seen.push((name, c));
                }
            }
        }
        let phys = lab.physical(name);
        let keys: BTreeSet<&str> = lab
            .tags
            .keys()
            .chain(sub.tags.keys())
            .map(String::as_str)
            .chain([OWNER_TAG, "Name"])
            .collect();
        if keys.len() > 50 {
            s.err(
                sub.pos,
                format!("subnet `{name}` would carry {} tags (the lab's, its own, labctl's and Name); EC2 allows 50", keys.len()),
                "remove tags",
            );
        }
        if sub.tags.contains_key("Name") {
            s.err(
                sub.pos,
                format!("subnet `{name}` sets the tag Name, which labctl sets to `{phys}` and finds the subnet by"),
                "remove the Name tag; rename the subnet's key to change its Name",
            );
        }
        if phys.chars().count() > 256 {
            s.err(
                sub.pos,
                format!("subnet `{name}` is tagged Name=`{phys}`, longer than the 256 characters a tag value may have"),
                "shorten the subnet's name",
            );
        }
        let az_ok = sub
            .az
            .strip_prefix(lab.region.as_str())
            .is_some_and(|z| z.len() == 1 && z.as_bytes()[0].is_ascii_lowercase())
            || (sub.az.contains("-az")
                && sub
                    .az
                    .split_once("-az")
                    .is_some_and(|(a, n)| !a.is_empty() && n.parse::<u8>().is_ok()));
        if !az_ok {
            s.err(
                sub.pos,
                format!(
                    "availability zone `{}` is not a zone of {}",
                    sub.az, lab.region
                ),
                format!(
                    "write a zone name such as `{}a` or a zone id such as `use1-az1`",
                    lab.region
                ),
            );
        }
    }
    let mut lower = BTreeSet::new();
    for (name, g) in &net.security_groups {
        let phys = lab.physical(name);
        let charset = |t: &str| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
        };
        if phys.len() > 255 || !charset(&phys) || phys.to_ascii_lowercase().starts_with("sg-") {
            s.err(g.pos, format!("security group name `{phys}` is not valid"), "use up to 255 characters of a-z A-Z 0-9 and ._-:/()#,@[]+=&;{}!$*, not starting with `sg-`");
        }
        if !lower.insert(name.to_ascii_lowercase()) {
            s.err(
                g.pos,
                format!("security group `{name}` differs from another only in case"),
                "EC2 compares group names without case: rename one",
            );
        }
        if g.description.is_empty() || g.description.len() > 255 || !charset(&g.description) {
            s.err(
                g.keys.at("description", g.pos),
                format!("security group `{name}` needs a description of 1-255 ASCII characters"),
                "write a short description using letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
            );
        }
        for (dir, rules) in [("ingress", Some(&g.ingress)), ("egress", g.egress.as_ref())] {
            let Some(rules) = rules else { continue };
            // Counted apart for IPv4 and IPv6; a rule naming a group counts in both.
            let v4 = rules
                .iter()
                .filter(|r| !matches!(r.source, RuleSource::Cidr6(_)))
                .count();
            let v6 = rules
                .iter()
                .filter(|r| !matches!(r.source, RuleSource::Cidr(_)))
                .count();
            for (n, family) in [(v4, "IPv4"), (v6, "IPv6")] {
                if n > 60 {
                    s.err(
                        g.pos,
                        format!("{n} {family} {dir} rules; EC2 allows 60"),
                        "merge rules (port ranges, wider CIDRs)",
                    );
                }
            }
            let mut dup = BTreeSet::new();
            for r in rules {
                sg_rule(net, dir, r, s);
                if !dup.insert((&r.protocol, r.from_port, r.to_port, &r.source)) {
                    s.err(
                        r.pos,
                        "this rule repeats another rule of the same group",
                        "remove the duplicate",
                    );
                }
            }
        }
    }
}

fn sg_rule(net: &Network, dir: &str, r: &SgRule, s: &mut Sink) {
    let world = match &r.source {
        RuleSource::Cidr(c) => match parse_cidr4(c) {
            None => {
                s.err(
                    r.pos,
                    format!("`{c}` is not an IPv4 CIDR"),
                    "write e.g. `203.0.113.0/24`",
                );
                false
            }
            Some((ip, len)) if !canonical4(ip, len) => {
                s.err(
                    r.pos,
                    format!("`{c}` has host bits set"),
                    format!("write `{}/{len}`", network4(ip, len)),
                );
                false
            }
            Some((ip, len)) if format!("{ip}/{len}") != *c => {
                s.err(
                    r.pos,
                    format!("`{c}` is not written the way EC2 writes it"),
                    format!("write `{ip}/{len}`"),
                );
                false
            }
            Some((_, len)) => len == 0,
        },
        RuleSource::Cidr6(c) => {
            let parsed = c.split_once('/').and_then(|(ip, l)| {
                Some((
                    ip.parse::<Ipv6Addr>().ok()?,
                    l.parse::<u8>().ok().filter(|l| *l <= 128)?,
                ))
            });
            match parsed {
                None => {
                    s.err(
                        r.pos,
                        format!("`{c}` is not an IPv6 CIDR"),
                        "write e.g. `2001:db8::/32`",
                    );
                    false
                }
                Some((ip, len)) => {
                    let host = match len {
                        0 => u128::MAX,
                        128 => 0,
                        l => u128::MAX >> l,
                    };
                    if u128::from(ip) & host != 0 {
                        s.err(
                            r.pos,
                            format!("`{c}` has host bits set"),
                            "write the network address of the block",
                        );
                    } else if format!("{ip}/{len}") != *c {
                        s.err(
                            r.pos,
                            format!("`{c}` is not written the way EC2 writes it"),
                            format!("write `{ip}/{len}`"),
                        );
                    }
                    len == 0
                }
            }
        }
        RuleSource::Group(g) => {
            if !net.security_groups.contains_key(g) {
                s.err(
                    r.pos,
                    format!("rule names security group `{g}`, which is not declared"),
                    "name a group declared under `security_groups:`",
                );
            }
            false
        }
    };
    if world && dir == "ingress" && !r.allow_world {
        let what = if r.protocol == "tcp" && r.from_port <= 22 && r.to_port >= 22 {
            "SSH".to_owned()
        } else {
            format!("ports {}-{}", r.from_port, r.to_port)
        };
        s.err(r.pos, format!("this rule opens {what} to the whole internet"), "narrow the CIDR to your network (e.g. your campus /24), or add `allow_world: true` if that is really intended");
    }
    match (r.protocol.as_str(), &r.source) {
        ("icmp", RuleSource::Cidr6(_)) => s.err(
            r.pos,
            "ICMP is IPv4: this rule would never match IPv6 traffic",
            "use `protocol: icmpv6` for an IPv6 CIDR",
        ),
        ("icmpv6", RuleSource::Cidr(_)) => s.err(
            r.pos,
            "ICMPv6 is IPv6: this rule would never match IPv4 traffic",
            "use `protocol: icmp` for an IPv4 CIDR",
        ),
        _ => {}
    }
    if r.protocol.starts_with("icmp")
        && (r.from_port < -1 || r.from_port > 255 || r.to_port < -1 || r.to_port > 255)
    {
        s.err(
            r.pos,
            "icmp rules take an ICMP type and code (0-255) as `port`/`ports`",
            "omit the ports for all ICMP",
        );
    }
    if let Some(d) = &r.description
        && (d.len() > 255
            || !d
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)))
    {
        s.err(
            r.pos,
            "a rule description is up to 255 characters of a-z A-Z 0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
            "shorten the description or remove the other characters",
        );
    }
}

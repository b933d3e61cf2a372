//! Every rule about a lab file that can be checked without AWS. Each one is a rule real
//! AWS enforces (and the local emulator often does not), checked here so that a bad lab
//! fails in a second with a line number instead of half-way through an apply.

use std::collections::BTreeMap;

mod bucket;
mod iam;
mod lambda;
mod network;

pub use bucket::bucket_name_problem;
pub use lambda::RUNTIMES;
pub use network::{DEFAULT_VPC_CIDR, canonical4, cidr4_contains, cidr4_overlap, parse_cidr4};

use super::decode::Decoded;
use super::diag::{Pos, Sink};
use crate::model::*;
use crate::template::{STAND_IN_ACCOUNT, Vars};

pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-east-1",
    "sa-east-1",
    "me-south-1",
    "me-central-1",
    "il-central-1",
    "af-south-1",
    "mx-central-1",
];

pub fn check(d: &Decoded, s: &mut Sink) {
    lab_name(&d.lab.name, d.lab_pos, s);
    let vars = stand_in_vars(&d.lab);
    // Checked as AWS will see them: with placeholders filled in.
    let (expanded, errs) = crate::template::expand_lab(&d.lab, &vars);
    for (pos, e) in errs {
        s.err(
            pos,
            e,
            "placeholders are ${lab}, ${account_id}, ${region}, ${buckets.NAME.name|arn}",
        );
    }
    let lab = &expanded;
    if !lab.region.is_empty() && !REGIONS.contains(&lab.region.as_str()) {
        s.err(d.region_pos, format!("unknown region `{}`", lab.region), "use an AWS region code such as `us-east-1` (AWS Academy allows us-east-1 and us-west-2)");
    }
    tags(d, &vars, s);
    bucket::buckets(lab, &vars, s);
    if let Some(role) = &lab.role {
        iam::role(role, &vars, s);
    }
    if let Some((name, f)) = lab.functions.iter().next() {
        match &lab.role {
            None => s.err(
                f.pos,
                format!("function `{name}` needs a role to run as, and the lab declares none"),
                "add `role:` (on AWS Academy: `role: { existing: LabRole }`)",
            ),
            Some(Role::Managed(r)) if !r.trust.iter().any(|t| t == "lambda.amazonaws.com") => s
                .err(
                    r.keys.at("trust", r.pos),
                    "the lab's functions run as this role, but it does not trust Lambda",
                    "add `lambda.amazonaws.com` to `trust`",
                ),
            _ => {}
        }
    }
    for (name, layer) in &lab.layers {
        lambda::layer(lab, name, layer, s);
    }
    for (name, f) in &lab.functions {
        lambda::function(lab, name, f, &vars, s);
    }
    lambda::triggers(lab, &vars, s);
    if let Some(net) = &lab.network {
        network::network(lab, net, s);
    }
}

/// Placeholders as `validate` sees them: a 12-digit stand-in for the account id.
pub fn stand_in_vars(lab: &Lab) -> Vars {
    let mut v = Vars {
        lab: lab.name.clone(),
        account_id: STAND_IN_ACCOUNT.into(),
        region: lab.region.clone(),
        ..Default::default()
    };
    let names: BTreeMap<String, String> = lab
        .buckets
        .iter()
        .filter_map(|(k, b)| v.expand(&b.name, false).ok().map(|n| (k.clone(), n)))
        .collect();
    v.buckets = names;
    v
}

fn lab_name(name: &str, pos: Pos, s: &mut Sink) {
    if name.is_empty() {
        return; // reported as missing
    }
    let ok = name.len() <= 20
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        s.err(pos, format!("lab name `{name}` is not valid"), "use 1-20 characters of a-z, 0-9 and '-', starting with a letter, e.g. `photo-lab`: it prefixes every resource name");
    }
}

fn tags(d: &Decoded, vars: &Vars, s: &mut Sink) {
    let lab_keys: Vec<&str> = d
        .tag_sites
        .sites
        .iter()
        .filter(|(w, _)| w == "lab")
        .flat_map(|(_, t)| t.iter().map(|e| e.0.as_str()))
        .collect();
    for (what, entries) in &d.tag_sites.sites {
        // A resource carries the lab's tags, its own (the same key once) and labctl's.
        // Subnets also carry Name: counted with their other rules.
        let keys: std::collections::BTreeSet<&str> = entries
            .iter()
            .map(|e| e.0.as_str())
            .chain(lab_keys.iter().copied())
            .collect();
        let total = keys.len() + 1;
        if total > 50 && !what.starts_with("subnet ") {
            let p = entries.first().map(|e| e.2).unwrap_or_default();
            s.err(p, format!("{what} would carry {total} tags (with the lab's tags and labctl's own); AWS allows 50"), "remove tags");
        }
        for (k, v, p) in entries {
            let p = *p;
            let v = &match vars.expand(v, true) {
                Ok(v) => v,
                Err(e) => {
                    s.err(p, format!("tag `{k}`: {e}"), "fix the placeholder");
                    continue;
                }
            };
            if k.is_empty() || k.chars().count() > 128 {
                s.err(
                    p,
                    format!("tag key `{k}` must be 1-128 characters"),
                    "shorten the key",
                );
            }
            if v.chars().count() > 256 {
                s.err(
                    p,
                    format!("the value of tag `{k}` is longer than 256 characters"),
                    "shorten the value",
                );
            }
            if k.to_ascii_lowercase().starts_with("aws:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the reserved prefix `aws:`"),
                    "AWS keeps `aws:` for itself: rename the key",
                );
            }
            if k.starts_with("labctl:") {
                s.err(
                    p,
                    format!("tag key `{k}` uses the prefix `labctl:`"),
                    "labctl keeps `labctl:` for its ownership tag: rename the key",
                );
            }
            let ok = |t: &str| {
                t.chars()
                    .all(|c| c.is_alphanumeric() || " +-=._:/@".contains(c))
            };
            if !ok(k) || !ok(v) {
                s.err(
                    p,
                    format!("tag `{k}` has characters AWS does not accept in tags"),
                    "use letters, digits, spaces and + - = . _ : / @",
                );
            }
        }
    }
}

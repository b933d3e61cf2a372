//! EC2's rules for instances, checked before any AWS call: images and types that fit
//! together, the lab's subnets, groups and role, key files, user data and disks.

use super::image::{self, ALIASES};
use super::keys;
use super::{Ami, Instance, KeySource, Profile};
use crate::kind::Lab;
use crate::kind::role::Role;
use crate::yaml::diag::{Sink, did_you_mean};

/// EC2 takes at most 16 KB of user data (before base64).
pub const MAX_USER_DATA: usize = 16 * 1024;
pub(super) const ROOT_TYPES: &[&str] = &["gp3", "gp2", "io1", "io2", "standard"];

pub(super) fn instances(lab: &Lab, s: &mut Sink) {
    for (name, i) in &lab.instances {
        instance(lab, name, i, s);
    }
}

fn instance(lab: &Lab, name: &str, i: &Instance, s: &mut Sink) {
    let at = |k: &str| i.keys.at(k, i.pos);
    let phys = lab.physical(name);
    if phys.len() > 255
        || !phys
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        s.err(
            i.pos,
            format!("instance name `{name}` is not valid"),
            "use letters, digits, '-' and '_': it names the instance and its key pair",
        );
    }
    let image_arch = match &i.ami {
        Ami::Alias(a) => match image::alias(a) {
            Some(alias) => Some(alias.architecture),
            None => {
                let names: Vec<&str> = ALIASES.iter().map(|a| a.name).collect();
                let help = did_you_mean(a, &names)
                    .map(|m| format!("did you mean `{m}`?"))
                    .unwrap_or_else(|| {
                        format!(
                            "use one of {}, or an image id such as `ami-0123456789abcdef0`",
                            names.join(", ")
                        )
                    });
                s.err(at("ami"), format!("unknown image `{a}`"), help);
                None
            }
        },
        Ami::Id(id) => {
            if !image::is_image_id(id) {
                s.err(
                    at("ami"),
                    format!("`{id}` is not an image id"),
                    "write `ami-` and 8 or 17 lower-case hex digits, or an alias such as `al2023`",
                );
            }
            None
        }
    };
    match image::type_architecture(&i.instance_type)
        .filter(|_| image::is_instance_type(&i.instance_type))
    {
        None => s.err(
            at("type"),
            format!("`{}` is not an EC2 instance type", i.instance_type),
            "write a type such as `t3.micro` (x86_64) or `t4g.micro` (arm64)",
        ),
        Some(type_arch) => {
            if let Some(img) = image_arch.filter(|a| *a != type_arch) {
                let hint = if type_arch == "arm64" {
                    "use an arm64 image (`al2023-arm64`, `ubuntu-24.04-arm64`) or an x86_64 type such as `t3.micro`"
                } else {
                    "use an x86_64 image (`al2023`, `ubuntu-24.04`) or an arm64 type such as `t4g.micro`"
                };
                s.err(
                    at("type"),
                    format!(
                        "instance type `{}` runs {type_arch}, but image `{}` is {img}",
                        i.instance_type,
                        match &i.ami {
                            Ami::Alias(a) | Ami::Id(a) => a,
                        }
                    ),
                    hint,
                );
            }
        }
    }
    let net = lab.network.as_ref();
    if let Some(sub) = &i.subnet
        && !net.is_some_and(|n| n.subnets.contains_key(sub))
    {
        let known: Vec<&str> = net
            .iter()
            .flat_map(|n| n.subnets.keys().map(String::as_str))
            .collect();
        let help = did_you_mean(sub, &known)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| "name a subnet declared under `network.subnets`, or leave `subnet` out for a default subnet".into());
        s.err(
            at("subnet"),
            format!("instance `{name}` names subnet `{sub}`, which is not declared"),
            help,
        );
    }
    for g in &i.security_groups {
        if !net.is_some_and(|n| n.security_groups.contains_key(g)) {
            let known: Vec<&str> = net
                .iter()
                .flat_map(|n| n.security_groups.keys().map(String::as_str))
                .collect();
            let help = did_you_mean(g, &known)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| "name a group declared under `network.security_groups`".into());
            s.err(
                at("security_groups"),
                format!("instance `{name}` names security group `{g}`, which is not declared"),
                help,
            );
        }
    }
    if i.security_groups.len() > 5 {
        s.err(
            at("security_groups"),
            format!(
                "{} security groups; EC2 allows 5 per network interface",
                i.security_groups.len()
            ),
            "merge groups",
        );
    }
    match &i.key {
        KeySource::Import(p) => {
            if let Err(why) = keys::read_public(p) {
                s.err(at("key"), format!("key to import: {why}"), "point `import` at an OpenSSH public key (`ssh-keygen -t ed25519` makes ~/.ssh/id_ed25519.pub), or use `key: { create: true }`");
            }
        }
        KeySource::Existing(k) => {
            if k.is_empty() || k.len() > 255 || !k.is_ascii() {
                s.err(
                    at("key"),
                    format!("key pair name `{k}` is not valid"),
                    "key pair names are 1-255 ASCII characters",
                );
            }
        }
        KeySource::Create => {}
    }
    if let Some(Profile::Role) = &i.instance_profile {
        match &lab.role {
            Some(Role::Managed(r)) if r.trust.iter().any(|t| t == "ec2.amazonaws.com") => {}
            Some(Role::Managed(r)) => s.err(
                r.keys.at("trust", r.pos),
                format!("instance `{name}` runs with the lab's role (`instance_profile: {{ role: true }}`), but the role does not trust EC2"),
                "add `ec2.amazonaws.com` to the role's `trust`",
            ),
            _ => s.err(
                at("instance_profile"),
                "`instance_profile: { role: true }` needs a role labctl manages (`role: { name: ... }`)",
                "with an existing role, use its profile: `instance_profile: { existing: LabInstanceProfile }` on AWS Academy",
            ),
        }
    }
    if let Some(u) = &i.user_data
        && u.len() > MAX_USER_DATA
    {
        s.err(
            at("user_data"),
            format!("user data is {} bytes; EC2 takes {MAX_USER_DATA}", u.len()),
            "keep the script short: download the rest from S3 in it",
        );
    }
    let r = &i.root_volume;
    if !ROOT_TYPES.contains(&r.volume_type.as_str()) {
        s.err(
            at("root_volume"),
            format!("`{}` cannot be a root volume type", r.volume_type),
            format!("use one of {}", ROOT_TYPES.join(", ")),
        );
    }
    let min = if matches!(i.ami, Ami::Alias(_)) { 8 } else { 1 };
    if !(min..=16384).contains(&r.size) {
        s.err(
            at("root_volume"),
            format!("root volume size {} GiB is out of range", r.size),
            format!("use {min} to 16384 GiB (the images labctl knows need {min})"),
        );
    }
    let extra = lab.tags.len() + i.tags.len() + 4; // Name, owner, instance, user data
    if extra > 50 {
        s.err(i.pos, format!("instance `{name}` would carry {extra} tags (with the lab's and labctl's own); EC2 allows 50"), "remove tags");
    }
}

//! The `instances:` section.

use std::collections::BTreeMap;

use super::{Ami, AmiUpdates, Instance, KeySource, Profile, RootVolume, keys};
use crate::model::Pos;
use crate::yaml::Node;
use crate::yaml::decode::{Decoder, Fields, boolean, fields, int32, named, string, strings};
use crate::yaml::diag::Sink;
use crate::yaml::shape::{Field, TAGS, Ty};

pub(super) fn instances(top: &Fields<'_>, d: &mut Decoder) -> BTreeMap<String, Instance> {
    let mut out = BTreeMap::new();
    if let Some(n) = top.get("instances") {
        for (k, v) in named(n, "`instances`", &mut d.sink) {
            if let Some(i) = instance(&k.name, k.pos, v, d) {
                out.insert(k.name.clone(), i);
            }
        }
    }
    out
}

pub(super) const SECTIONS: &[Field] = &[Field::opt(
    "instances",
    Ty::Named(&Ty::Obj(INSTANCE)),
    "EC2 instances, by the name `labctl ssh` and `outputs` use.",
)];

const INSTANCE: &[Field] = &[
    Field::req(
        "ami",
        Ty::Str,
        "An image alias (`al2023`, `ubuntu-24.04`, ...) or an AMI id (`ami-...`).",
    ),
    Field::opt(
        "ami_updates",
        Ty::OneOf(&["ignore", "replace"]),
        "On a newer image: `ignore` (reported, the instance kept; the default) or `replace`.",
    ),
    Field::opt("type", Ty::Str, "The instance type (default t3.micro)."),
    Field::opt(
        "subnet",
        Ty::Str,
        "A subnet of this lab (default: the default VPC's).",
    ),
    Field::opt(
        "security_groups",
        Ty::Strings,
        "Security groups of this lab.",
    ),
    Field::opt(
        "key",
        Ty::Obj(KEY),
        "The SSH key: one of `import`, `existing` or `create` (default: yours from ~/.ssh, else created).",
    ),
    Field::opt(
        "instance_profile",
        Ty::Obj(PROFILE),
        "An instance profile: `existing: NAME` or `role: true` (one for the lab's role).",
    ),
    Field::opt(
        "user_data",
        Ty::Str,
        "A script run at first boot, or the file holding it.",
    ),
    Field::opt(
        "root_volume",
        Ty::Obj(ROOT),
        "The root disk's size and type.",
    ),
    Field::opt(
        "public_ip",
        Ty::Bool,
        "Give it a public address (default true).",
    ),
    Field::opt(
        "ssh_user",
        Ty::Str,
        "The login `labctl ssh` uses (default: the image's).",
    ),
    TAGS,
];

const KEY: &[Field] = &[
    Field::opt(
        "import",
        Ty::Str,
        "A public key file to import, such as `~/.ssh/id_ed25519.pub`.",
    ),
    Field::opt(
        "existing",
        Ty::Str,
        "A key pair already in EC2, such as `vockey`.",
    ),
    Field::opt(
        "create",
        Ty::Bool,
        "`true`: EC2 makes a key, saved under .labctl/.",
    ),
];

const PROFILE: &[Field] = &[
    Field::opt(
        "existing",
        Ty::Str,
        "An instance profile already in IAM, such as `LabInstanceProfile`.",
    ),
    Field::opt(
        "role",
        Ty::Bool,
        "`true`: a profile for the lab's own role.",
    ),
];

const ROOT: &[Field] = &[
    Field::opt("size", Ty::Int, "GiB."),
    Field::opt(
        "type",
        Ty::OneOf(super::validate::ROOT_TYPES),
        "The EBS volume type (default gp3).",
    ),
];

fn instance(name: &str, at: Pos, node: &Node, d: &mut Decoder) -> Option<Instance> {
    let what = format!("instance `{name}`");
    let base = d.base_dir.clone();
    let (s, sites) = (&mut d.sink, &mut d.tag_sites);
    let f = fields(node, &what, INSTANCE, s)?;
    let ami = f
        .get("ami")
        .and_then(|n| string(n, "`ami`", s))
        .map(|a| {
            if a.starts_with("ami-") {
                Ami::Id(a)
            } else {
                Ami::Alias(a)
            }
        })
        .unwrap_or(Ami::Alias(String::new()));
    let ami_updates = match f
        .get("ami_updates")
        .and_then(|n| string(n, "`ami_updates`", s).map(|v| (v, n.pos)))
    {
        None => AmiUpdates::Ignore,
        Some((v, _)) if v == "ignore" => AmiUpdates::Ignore,
        Some((v, _)) if v == "replace" => AmiUpdates::Replace,
        Some((v, p)) => {
            s.err(
                p,
                format!("unknown ami_updates `{v}`"),
                "use `ignore` (a newer image is reported, the instance kept) or `replace`",
            );
            AmiUpdates::Ignore
        }
    };
    let instance_type = f
        .get("type")
        .and_then(|n| string(n, "`type`", s))
        .unwrap_or_else(|| "t3.micro".into());
    let subnet = f.get("subnet").and_then(|n| string(n, "`subnet`", s));
    let security_groups = f
        .get("security_groups")
        .map(|n| {
            strings(n, "`security_groups`", s)
                .into_iter()
                .map(|(v, _)| v)
                .collect()
        })
        .unwrap_or_default();
    let key = match f.get("key") {
        Some(n) => key(n, &base, s)?,
        // The user's own key when there is one; else EC2 makes one for the lab.
        None => keys::default_public_key()
            .map(KeySource::Import)
            .unwrap_or(KeySource::Create),
    };
    let instance_profile = f.get("instance_profile").and_then(|n| profile(n, s));
    let user_data = f.get("user_data").and_then(|n| {
        let v = string(n, "`user_data`", s)?;
        user_data(&v, &base, n.pos, s)
    });
    let root_volume = f
        .get("root_volume")
        .map(|n| {
            let mut r = RootVolume::default();
            if let Some(rf) = fields(n, "`root_volume`", ROOT, s) {
                if let Some((v, _)) = rf.get("size").and_then(|n| int32(n, "`size`", s)) {
                    r.size = v;
                }
                if let Some(t) = rf.get("type").and_then(|n| string(n, "`type`", s)) {
                    r.volume_type = t;
                }
            }
            r
        })
        .unwrap_or_default();
    let public_ip = f
        .get("public_ip")
        .and_then(|n| boolean(n, "`public_ip`", s))
        .unwrap_or(true);
    let ssh_user = f.get("ssh_user").and_then(|n| string(n, "`ssh_user`", s));
    let tags = f
        .get("tags")
        .map(|n| sites.record(n, &what, s))
        .unwrap_or_default();
    Some(Instance {
        pos: at,
        keys: f.keys(),
        ami,
        ami_updates,
        instance_type,
        subnet,
        security_groups,
        key,
        instance_profile,
        user_data,
        root_volume,
        public_ip,
        ssh_user,
        tags,
    })
}

fn key(node: &Node, base: &std::path::Path, s: &mut Sink) -> Option<KeySource> {
    let f = fields(node, "`key`", KEY, s)?;
    let given: Vec<&str> = ["import", "existing", "create"]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    if given.len() != 1 {
        s.err(
            node.pos,
            "`key` takes exactly one of `import`, `existing` or `create`",
            "write `key: { import: ~/.ssh/id_ed25519.pub }`, `key: { existing: vockey }` or `key: { create: true }`",
        );
        return None;
    }
    match given[0] {
        "import" => f
            .get("import")
            .and_then(|n| string(n, "`import`", s))
            // `~/` is the home folder; other relative paths are the lab file's.
            .map(|p| KeySource::Import(base.join(keys::expand_home(&p)))),
        "existing" => f
            .get("existing")
            .and_then(|n| string(n, "`existing`", s))
            .map(KeySource::Existing),
        _ => {
            let n = f.get("create")?;
            match boolean(n, "`create`", s)? {
                true => Some(KeySource::Create),
                false => {
                    s.err(
                        n.pos,
                        "`create: false` makes no key",
                        "write `create: true`, or use `import` or `existing`",
                    );
                    None
                }
            }
        }
    }
}

fn profile(node: &Node, s: &mut Sink) -> Option<Profile> {
    let f = fields(node, "`instance_profile`", PROFILE, s)?;
    match (f.get("existing"), f.get("role")) {
        (Some(e), None) => string(e, "`existing`", s).map(Profile::Existing),
        (None, Some(r)) => match boolean(r, "`role`", s)? {
            true => Some(Profile::Role),
            false => None,
        },
        _ => {
            s.err(
                node.pos,
                "`instance_profile` takes one of `existing` or `role`",
                "write `instance_profile: { existing: LabInstanceProfile }` or `instance_profile: { role: true }` (a profile for the lab's role)",
            );
            None
        }
    }
}

/// `user_data` is a file (relative to the lab file) or the script itself.
fn user_data(v: &str, base: &std::path::Path, pos: Pos, s: &mut Sink) -> Option<String> {
    if v.contains('\n') {
        return Some(v.to_owned());
    }
    let path = base.join(v);
    if path.is_file() {
        return match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                s.err(
                    pos,
                    format!("cannot read user data file {}: {e}", path.display()),
                    "point `user_data` at a readable text file, relative to the lab file",
                );
                None
            }
        };
    }
    let looks_like_a_file = !v.contains(' ')
        && (v.contains('/')
            || [".sh", ".yaml", ".yml", ".txt", ".cfg", ".ps1"]
                .iter()
                .any(|e| v.ends_with(e)));
    if looks_like_a_file {
        s.err(
            pos,
            format!("user data file {} does not exist", path.display()),
            "point `user_data` at a file relative to the lab file, or write the script inline (`user_data: |` and the lines below it)",
        );
        return None;
    }
    Some(v.to_owned())
}

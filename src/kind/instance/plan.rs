//! What each declared instance, its key pair and its profile should be. What EC2 can
//! change in place is changed (type by stop, modify, start; groups; IMDSv2; a stopped
//! instance is started); what is fixed at launch (image, key, subnet, user data, root
//! volume) replaces the instance, and the plan says so.

use sha2::{Digest, Sha256};

use super::{
    Ami, AmiUpdates, INSTANCE, Instance, InstanceStep, KEY_HASH_TAG, KEY_PAIR, KeySource, KeyStep,
    Launch, LiveInstance, NAME_TAG, PROFILE, Profile, ProfileStep, USER_DATA_TAG, Work, image,
    keys,
};
use crate::kind::network::{GROUP, GROUP_RULES, LiveNetwork, SUBNET};
use crate::kind::role::{self, ROLE, Role};
use crate::kind::{Ctx, Emit};
use crate::model::{OWNER_TAG, Tags};
use crate::plan::tags;
use crate::plan::{Addr, Change, PlanError};

/// AWS Academy stops what runs beyond 9 instances in a region (20 deactivate the account).
pub const ACADEMY_MAX_RUNNING: usize = 9;

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let lab = cx.lab;
    let live = &cx.live.instances;
    let mut starting = 0;
    let mut key_names = Vec::new();
    let mut profile_names = Vec::new();
    for (name, i) in &lab.instances {
        let key = key_pair(cx, name, i, out);
        let profile = profile(cx, i, out);
        if let Some((k, _)) = &key {
            key_names.push(k.clone());
        }
        if let Some(p) = &profile {
            profile_names.push(p.clone());
        }
        starting += instance(cx, name, i, key, profile, out);
    }
    if cx.opts.learner_lab
        && starting > 0
        && live.running_in_region + starting > ACADEMY_MAX_RUNNING
    {
        out.error(PlanError {
            addr: Addr::new(INSTANCE, lab.name.clone()),
            message: format!(
                "AWS Academy lets {ACADEMY_MAX_RUNNING} instances run in a region: {} run now and this plan starts {starting}",
                live.running_in_region
            ),
            help: "Academy stops what runs beyond that (and 20 deactivate the account): stop or terminate instances you do not need, or declare fewer".into(),
        });
    }
    // What the lab owns and no longer declares: instances, then (after them, by USES)
    // their key pairs and profiles.
    for (name, l) in &live.instances {
        if lab.instances.contains_key(name) {
            continue;
        }
        if let Some(owned) = cx.owned(Addr::new(INSTANCE, lab.physical(name)), l.owner()) {
            out.delete(
                owned,
                Work::Instance {
                    name: name.clone(),
                    steps: vec![InstanceStep::Terminate { id: l.id.clone() }],
                },
            );
        }
    }
    for (name, l) in &live.duplicates {
        if let Some(owned) = cx.owned(
            Addr::new(INSTANCE, format!("{} {}", lab.physical(name), l.id)),
            l.owner(),
        ) {
            out.delete(
                owned,
                Work::Instance {
                    name: name.clone(),
                    steps: vec![InstanceStep::Terminate { id: l.id.clone() }],
                },
            )
            .reason = Some(format!(
                "a second instance `{name}` (two runs launched it at once): the newer goes"
            ));
        }
    }
    for (name, k) in &live.key_pairs {
        if key_names.contains(name) {
            continue;
        }
        if let Some(owned) = cx.owned(Addr::new(KEY_PAIR, name.clone()), k.owner()) {
            out.delete(
                owned,
                Work::KeyPair {
                    name: name.clone(),
                    step: KeyStep::Delete {
                        pem: keys::pem_path(&lab.base_dir, &lab.name, name),
                    },
                },
            );
        }
    }
    for (name, p) in &live.profiles {
        if profile_names.contains(name) {
            continue;
        }
        if let Some(owned) = cx.owned(Addr::new(PROFILE, name.clone()), p.owner()) {
            out.delete(
                owned,
                Work::Profile {
                    name: name.clone(),
                    step: ProfileStep::Delete {
                        roles: p.roles.clone(),
                    },
                },
            );
        }
    }
}

/// The key pair an instance launches with, planned: its name, and whether it is
/// (re)made in this run (which replaces the instance).
fn key_pair(
    cx: &Ctx<'_>,
    name: &str,
    i: &Instance,
    out: &mut Emit<'_, Work>,
) -> Option<(String, bool)> {
    let lab = cx.lab;
    let live = &cx.live.instances.key_pairs;
    if cx.opts.learner_lab && !matches!(i.key, KeySource::Existing(_)) {
        out.warn(format!("instance {name}: on AWS Academy the lab's key pair is `vockey` (its private key is on the AWS Details page): `key: {{ existing: vockey }}`"));
    }
    let key_name = lab.physical(name);
    let addr = Addr::new(KEY_PAIR, key_name.clone());
    match &i.key {
        KeySource::Existing(k) => {
            if !live.contains_key(k) {
                out.error(PlanError {
                    addr: Addr::new(KEY_PAIR, k.clone()),
                    message: format!("key pair `{k}` (line {}) does not exist in {}", i.keys.at("key", i.pos).line, cx.vars.region),
                    help: "create it first, or let labctl import yours (`key: { import: ~/.ssh/id_ed25519.pub }`); on AWS Academy `vockey` is in us-east-1".into(),
                });
                return None;
            }
            Some((k.clone(), false))
        }
        KeySource::Import(path) => {
            let local = keys::read_public(path).ok()?;
            let mut tags = cx.tags(&Tags::new());
            tags.insert(KEY_HASH_TAG.into(), local.sha256.clone());
            let work = Work::KeyPair {
                name: key_name.clone(),
                step: KeyStep::Import {
                    public_key: local.line.clone(),
                    tags,
                },
            };
            match live.get(&key_name) {
                None => {
                    out.create(addr, work).changes = vec![Change::new_value(
                        "public key",
                        format!(
                            "{} (sha256 {})",
                            readable(path, &lab.base_dir),
                            short(&local.sha256)
                        ),
                    )];
                    Some((key_name, true))
                }
                Some(k) => {
                    let owned = match cx.claim(addr, k.owner(), "key pair", "rename the instance in lab.yaml, or use that key pair with `key: { existing: NAME }`") {
                        Ok(o) => o,
                        Err(e) => {
                            out.error(e);
                            return None;
                        }
                    };
                    let have = k.tags.get(KEY_HASH_TAG).cloned().unwrap_or_default();
                    if have == local.sha256 {
                        return Some((key_name, false));
                    }
                    // EC2 cannot change a key pair: it is imported again, and the
                    // instance (which got the key at launch) is replaced.
                    let a = out.replace(owned, work);
                    a.changes = vec![Change::new("public key", format!("sha256 {}", short(&have)), format!("{} (sha256 {})", readable(path, &lab.base_dir), short(&local.sha256)))
                        .with_note("a key pair cannot change: it is imported again, and the instance replaced")];
                    Some((key_name, true))
                }
            }
        }
        KeySource::Create => {
            let pem = keys::pem_path(&lab.base_dir, &lab.name, &key_name);
            match live.get(&key_name) {
                None => {
                    let a = out.create(
                        addr,
                        Work::KeyPair {
                            name: key_name.clone(),
                            step: KeyStep::Create {
                                pem: pem.clone(),
                                tags: cx.tags(&Tags::new()),
                            },
                        },
                    );
                    a.changes = vec![Change::new_value("private key", shown(&pem, &lab.base_dir))
                        .with_note("written once, readable only by you: keep it, a lost file cannot be recovered")];
                    Some((key_name, true))
                }
                Some(k) => {
                    if let Err(e) = cx.claim(addr, k.owner(), "key pair", "rename the instance in lab.yaml, or use that key pair with `key: { existing: NAME }`") {
                        out.error(e);
                        return None;
                    }
                    if !pem.is_file() {
                        out.warn(format!("key pair {key_name}: its private key {} is gone, and EC2 keeps no copy: to get a new key, delete the key pair (`aws ec2 delete-key-pair --key-name {key_name}`) and apply again, which replaces the instance", shown(&pem, &lab.base_dir)));
                    }
                    Some((key_name, false))
                }
            }
        }
    }
}

/// The instance profile an instance runs with: an existing one, or one labctl makes
/// for the lab's role.
fn profile(cx: &Ctx<'_>, i: &Instance, out: &mut Emit<'_, Work>) -> Option<String> {
    let live = &cx.live.instances.profiles;
    match i.instance_profile.as_ref()? {
        Profile::Existing(p) => Some(p.clone()),
        Profile::Role => {
            let Some(Role::Managed(r)) = &cx.lab.role else {
                return None;
            };
            let name = role::name(r, cx.vars);
            let addr = Addr::new(PROFILE, name.clone());
            if out.planned(&addr).is_some() {
                return Some(name);
            }
            if cx.opts.learner_lab {
                out.error(PlanError {
                    addr,
                    message: "AWS Academy denies creating instance profiles".into(),
                    help: "use the one it provides: `instance_profile: { existing: LabInstanceProfile }`".into(),
                });
                return None;
            }
            match live.get(&name) {
                None => {
                    let a = out.create(
                        addr,
                        Work::Profile {
                            name: name.clone(),
                            step: ProfileStep::Create {
                                role: name.clone(),
                                tags: cx.tags(&Tags::new()),
                            },
                        },
                    );
                    a.changes = vec![Change::new_value("role", name.clone())];
                    a.after = vec![Addr::new(ROLE, name.clone())];
                }
                Some(p) => {
                    if let Err(e) = cx.claim(addr, p.owner(), "instance profile", "rename the role in lab.yaml, or use that profile with `instance_profile: { existing: NAME }`") {
                        out.error(e);
                        return None;
                    }
                }
            }
            Some(name)
        }
    }
}

/// A path under the lab file's folder, as the user reads it: relative to that folder.
fn shown(path: &std::path::Path, base: &std::path::Path) -> String {
    path.strip_prefix(base)
        .map(|p| format!("{} (beside the lab file)", p.display()))
        .unwrap_or_else(|_| path.display().to_string())
}

/// A file as the user wrote it: relative to the lab file, or under `~`.
fn readable(path: &std::path::Path, base: &std::path::Path) -> String {
    if let Ok(rel) = path.strip_prefix(base) {
        return rel.display().to_string();
    }
    match std::env::var_os("HOME").map(std::path::PathBuf::from) {
        Some(home) if path.starts_with(&home) => {
            format!("~/{}", path.strip_prefix(&home).unwrap_or(path).display())
        }
        _ => path.display().to_string(),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A lab subnet or group as launch takes it: its id, or `new:NAME` for one created in
/// this run (the executor resolves it), with the address to wait for.
fn net_ref(id: Option<&str>, kind: crate::plan::Kind, physical: &str) -> (String, Addr) {
    let r = id
        .map(str::to_owned)
        .unwrap_or_else(|| format!("new:{physical}"));
    (r, Addr::new(kind, physical))
}

fn subnet_id<'a>(net: Option<&'a LiveNetwork>, cx: &Ctx<'_>, physical: &str) -> Option<&'a str> {
    net?.subnets
        .iter()
        .find(|s| {
            s.tags.get("Name").map(String::as_str) == Some(physical)
                && s.tags.get(OWNER_TAG).map(String::as_str) == Some(cx.lab.name.as_str())
        })
        .map(|s| s.id.as_str())
}

fn group_id<'a>(net: Option<&'a LiveNetwork>, cx: &Ctx<'_>, physical: &str) -> Option<&'a str> {
    net?.groups
        .iter()
        .find(|g| {
            g.name == physical
                && g.tags.get(OWNER_TAG).map(String::as_str) == Some(cx.lab.name.as_str())
        })
        .map(|g| g.id.as_str())
}

/// Plans one instance; returns how many instances it starts (for AWS Academy's cap).
fn instance(
    cx: &Ctx<'_>,
    name: &str,
    i: &Instance,
    key: Option<(String, bool)>,
    profile: Option<String>,
    out: &mut Emit<'_, Work>,
) -> usize {
    let lab = cx.lab;
    let ec2 = &cx.live.instances;
    let physical = lab.physical(name);
    let addr = Addr::new(INSTANCE, physical.clone());
    if cx.opts.learner_lab && !image::academy_size(&i.instance_type) {
        out.error(PlanError {
            addr: addr.clone(),
            message: format!(
                "AWS Academy allows instance sizes nano to large, not `{}` (line {})",
                i.instance_type,
                i.keys.at("type", i.pos).line
            ),
            help: "use a smaller type, such as `t3.micro`".into(),
        });
        return 0;
    }
    if cx.opts.learner_lab && !matches!(i.instance_profile, Some(Profile::Existing(_))) {
        out.warn(format!("instance {name}: on AWS Academy, `instance_profile: {{ existing: LabInstanceProfile }}` gives it the LabRole's permissions"));
    }
    // The image: an alias resolves to the newest id now.
    let (wanted_image, alias) = match &i.ami {
        Ami::Id(id) => (id.clone(), None),
        Ami::Alias(a) => match ec2.resolved.get(a) {
            Some(Ok(id)) => (id.clone(), Some(a.as_str())),
            Some(Err(why)) => {
                out.error(PlanError {
                    addr,
                    message: format!(
                        "image `{a}` (line {}) could not be found: {why}",
                        i.keys.at("ami", i.pos).line
                    ),
                    help: "check the region, or name an image id (`ami: ami-...`)".into(),
                });
                return 0;
            }
            None => return 0,
        },
    };
    let Some(info) = ec2.images.get(&wanted_image) else {
        out.error(PlanError {
            addr,
            message: format!("image {wanted_image} (line {}) does not exist in {}, or is not shared with this account", i.keys.at("ami", i.pos).line, cx.vars.region),
            help: "image ids differ per region: look it up in this region, or use an alias such as `al2023`".into(),
        });
        return 0;
    };
    if let Some(t) = image::type_architecture(&i.instance_type)
        && t != info.architecture
    {
        out.error(PlanError {
            addr,
            message: format!("instance type `{}` runs {t}, but image {wanted_image} is {}", i.instance_type, info.architecture),
            help: "pick a type of the image's architecture (t3 for x86_64, t4g for arm64), or another image".into(),
        });
        return 0;
    }
    let net = cx.live.network.as_ref();
    let mut after = Vec::new();
    let subnet = i.subnet.as_ref().map(|s| {
        let p = lab.physical(s);
        let (r, a) = net_ref(subnet_id(net, cx, &p), SUBNET, &p);
        after.push(a);
        r
    });
    let groups: Vec<String> = i
        .security_groups
        .iter()
        .map(|g| {
            let p = lab.physical(g);
            let (r, a) = net_ref(group_id(net, cx, &p), GROUP, &p);
            after.push(a);
            after.push(Addr::new(GROUP_RULES, p));
            r
        })
        .collect();
    let (key_name, key_new) = match key {
        Some((k, new)) => {
            after.push(Addr::new(KEY_PAIR, k.clone()));
            (Some(k), new)
        }
        None => (None, false),
    };
    let fresh_profile = profile
        .as_ref()
        .is_some_and(|p| out.planned(&Addr::new(PROFILE, p.clone())).is_some());
    if let Some(p) = &profile {
        after.push(Addr::new(PROFILE, p.clone()));
    }
    let mut own = i.tags.clone();
    own.insert("Name".into(), physical.clone());
    let mut tags = cx.tags(&own);
    tags.insert(NAME_TAG.into(), name.to_owned());
    let user_data_hash = i.user_data.as_deref().map(sha256);
    if let Some(h) = &user_data_hash {
        tags.insert(USER_DATA_TAG.into(), h.clone());
    }
    let launch = |image: &str| Launch {
        image: image.to_owned(),
        root_device: info.root_device.clone(),
        instance_type: i.instance_type.clone(),
        subnet: subnet.clone(),
        groups: groups.clone(),
        key_name: key_name.clone(),
        profile: profile.clone(),
        user_data: i.user_data.clone(),
        root_volume: i.root_volume.clone(),
        public_ip: i.public_ip,
        tags: tags.clone(),
        client_token: token(cx, name, image),
        fresh_profile,
    };
    let Some(l) = ec2.instances.get(name) else {
        let a = out.create(
            addr,
            Work::Instance {
                name: name.to_owned(),
                steps: vec![InstanceStep::Launch(Box::new(launch(&wanted_image)))],
            },
        );
        a.changes = describe_new(
            i,
            &wanted_image,
            info,
            alias,
            subnet.as_deref(),
            key_name.as_deref(),
        );
        a.after = after;
        return 1;
    };
    let owned = match cx.claim(
        addr,
        l.owner(),
        "instance",
        "rename the instance in lab.yaml",
    ) {
        Ok(o) => o,
        Err(e) => {
            out.error(e);
            return 0;
        }
    };
    // What only a new instance can change.
    let mut fixed = Vec::new();
    let newer_image = alias.is_some() && l.image_id != wanted_image;
    if newer_image && i.ami_updates == AmiUpdates::Ignore {
        out.warn(format!("instance {name}: a newer `{}` image exists ({wanted_image}); it keeps {} (`ami_updates: replace` would replace it)", alias.unwrap_or_default(), l.image_id));
    }
    let image = if newer_image && i.ami_updates == AmiUpdates::Ignore {
        l.image_id.clone()
    } else {
        wanted_image.clone()
    };
    if l.image_id != image {
        fixed.push(Change::new("image", l.image_id.clone(), image.clone()));
    }
    if l.key_name != key_name || key_new {
        fixed.push(Change::new(
            "key pair",
            l.key_name.clone().unwrap_or_else(|| "(none)".into()),
            key_name.clone().unwrap_or_else(|| "(none)".into())
                + if key_new { " (new key)" } else { "" },
        ));
    }
    if let Some(s) = &subnet
        && !s.starts_with("new:")
        && *s != l.subnet_id
    {
        fixed.push(Change::new("subnet", l.subnet_id.clone(), s.clone()));
    } else if subnet.as_deref().is_some_and(|s| s.starts_with("new:")) {
        fixed.push(Change::new(
            "subnet",
            l.subnet_id.clone(),
            i.subnet.clone().unwrap_or_default(),
        ));
    }
    if l.tags.get(USER_DATA_TAG) != user_data_hash.as_ref() {
        let show = |h: Option<&String>| {
            h.map(|h| format!("sha256 {}", short(h)))
                .unwrap_or_else(|| "(none)".into())
        };
        fixed.push(Change::new(
            "user_data",
            show(l.tags.get(USER_DATA_TAG)),
            show(user_data_hash.as_ref()),
        ));
    }
    if let Some((size, vt, _)) = &l.root
        && (*size != i.root_volume.size || *vt != i.root_volume.volume_type)
    {
        fixed.push(Change::new(
            "root_volume",
            format!("{size} GiB {vt}"),
            format!("{} GiB {}", i.root_volume.size, i.root_volume.volume_type),
        ));
    }
    if !fixed.is_empty() {
        for c in &mut fixed {
            c.note = Some("fixed at launch: the instance is replaced, and its disk with it".into());
        }
        let a = out.replace(
            owned,
            Work::Instance {
                name: name.to_owned(),
                steps: vec![
                    InstanceStep::Terminate { id: l.id.clone() },
                    InstanceStep::Launch(Box::new(launch(&image))),
                ],
            },
        );
        a.changes = fixed;
        a.after = after;
        return 1;
    }
    // What changes in place.
    let (steps, changes) = in_place(l, i, &groups, &tags);
    if steps.is_empty() {
        return 0;
    }
    let starts = usize::from(l.state == "stopped" || l.state == "stopping");
    let a = out.update(
        owned,
        Work::Instance {
            name: name.to_owned(),
            steps,
        },
    );
    a.changes = changes;
    a.after = after;
    starts
}

fn in_place(
    l: &LiveInstance,
    i: &Instance,
    groups: &[String],
    tags: &Tags,
) -> (Vec<InstanceStep>, Vec<Change>) {
    let id = || l.id.clone();
    let mut steps = Vec::new();
    let mut changes = Vec::new();
    let stopped = l.state == "stopped" || l.state == "stopping";
    if l.instance_type != i.instance_type {
        changes.push(
            Change::new("type", l.instance_type.clone(), i.instance_type.clone())
                .with_note("changed in place: the instance is stopped, changed and started again"),
        );
        if !stopped {
            steps.push(InstanceStep::Stop { id: id() });
        }
        steps.push(InstanceStep::SetType {
            id: id(),
            instance_type: i.instance_type.clone(),
        });
        steps.push(InstanceStep::Start { id: id() });
    } else if stopped {
        changes.push(Change::new("state", l.state.clone(), "running"));
        steps.push(InstanceStep::Start { id: id() });
    }
    let mut have_groups = l.group_ids.clone();
    have_groups.sort();
    let mut want_groups = groups.to_vec();
    want_groups.sort();
    // None declared: EC2's default group, which labctl leaves alone.
    if !want_groups.is_empty() && have_groups != want_groups {
        changes.push(Change::new(
            "security groups",
            have_groups.join(", "),
            want_groups.join(", "),
        ));
        steps.push(InstanceStep::SetGroups {
            id: id(),
            groups: groups.to_vec(),
        });
    }
    if !l.imds_required {
        changes.push(Change::new("metadata (IMDS)", "v1 allowed", "v2 required"));
        steps.push(InstanceStep::RequireImdsV2 { id: id() });
    }
    if let Some((delta, change)) = tags::diff(&l.tags, tags) {
        changes.push(change);
        steps.push(InstanceStep::Tags {
            id: id(),
            set: delta.set,
            remove: delta.remove,
        });
    }
    (steps, changes)
}

fn describe_new(
    i: &Instance,
    image: &str,
    info: &super::ImageInfo,
    alias: Option<&str>,
    subnet: Option<&str>,
    key: Option<&str>,
) -> Vec<Change> {
    let mut c = vec![
        Change::new_value(
            "image",
            match alias {
                Some(a) => format!("{image} ({a}: {})", info.name),
                None => format!("{image} ({})", info.name),
            },
        ),
        Change::new_value("type", i.instance_type.clone()),
        Change::new_value(
            "subnet",
            match (&i.subnet, subnet) {
                (Some(logical), _) => logical.clone(),
                (None, _) => "a default subnet".into(),
            },
        ),
    ];
    if !i.security_groups.is_empty() {
        c.push(Change::new_value(
            "security groups",
            i.security_groups.join(", "),
        ));
    }
    if let Some(k) = key {
        c.push(Change::new_value("key pair", k));
    }
    c.push(Change::new_value(
        "root volume",
        format!(
            "{} GiB {}, encrypted",
            i.root_volume.size, i.root_volume.volume_type
        ),
    ));
    c.push(Change::new_value("public ip", i.public_ip.to_string()));
    c.push(Change::new_value("metadata (IMDS)", "v2 required"));
    c
}

/// RunInstances' idempotency token: the same for every retry of this run's launch,
/// and never the same in another run (a token EC2 saw before returns that instance,
/// even terminated).
fn token(cx: &Ctx<'_>, name: &str, image: &str) -> String {
    let h = sha256(&format!(
        "{}/{name}/{image}/{}",
        cx.lab.name, cx.opts.run_id
    ));
    format!("labctl-{}", &h[..32])
}

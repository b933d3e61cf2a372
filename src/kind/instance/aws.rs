//! EC2, IAM and SSM for instances: reading the lab's instances (by tag), key pairs,
//! profiles and images; launching, changing and terminating, waiting and saying what for.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Duration;

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    IamInstanceProfileSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, KeyFormat, KeyType, ResourceType, Tag, TagSpecification,
    VolumeType,
};
use base64::Engine;

use super::{
    ImageInfo, InstanceStep, KEY_HASH_TAG, KeySource, KeyStep, Launch, Live, LiveInstance,
    LiveKeyPair, LiveProfile, NAME_TAG, ProfileStep, Work, image, keys,
};
use crate::aws::error::{AwsError, Class, Ctx, build_err, gone_ok};
use crate::aws::retry::Patience;
use crate::aws::{Clients, Run};
use crate::kind::Lab;
use crate::model::{OWNER_TAG, Tags};
use crate::names::ROLE_PATH;

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn tags_of(t: &[Tag]) -> Tags {
    t.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// States of an instance that is there, or on its way: not terminated nor terminating.
const ALIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

pub(super) async fn read(run: &Run, lab: &Lab) -> Result<Live, AwsError> {
    let declares = !lab.instances.is_empty();
    let ((instances, duplicates), running, key_pairs, profiles, resolved) = tokio::try_join!(
        shared_lab_instances(&run.clients, &run.lab),
        async {
            if declares {
                running_in_region(&run.clients).await
            } else {
                Ok(0)
            }
        },
        key_pairs(run, lab),
        profiles(run, lab),
        resolve_aliases(&run.clients, lab),
    )?;
    // Every image the plan must know: declared ids, resolved aliases, the instances' own.
    let mut ids: Vec<String> = lab
        .instances
        .values()
        .filter_map(|i| match &i.ami {
            super::Ami::Id(id) => Some(id.clone()),
            super::Ami::Alias(_) => None,
        })
        .chain(resolved.values().filter_map(|r| r.as_ref().ok().cloned()))
        .chain(instances.values().map(|i| i.image_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let (images, instances) = tokio::try_join!(
        describe_images(&run.clients, &ids),
        root_volumes(&run.clients, instances)
    )?;
    Ok(Live {
        instances,
        duplicates,
        running_in_region: running,
        key_pairs,
        profiles,
        resolved,
        images,
    })
}

async fn describe_instances(
    c: &Clients,
    filters: Vec<Filter>,
) -> Result<Vec<aws_sdk_ec2::types::Instance>, AwsError> {
    let pages: Vec<_> = c
        .ec2
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("DescribeInstances")?;
    Ok(pages
        .into_iter()
        .flat_map(|r| r.instances().to_vec())
        .collect())
}

/// The lab's instances, by their name in lab.yaml (the `labctl:instance` tag): the
/// oldest of each name, and the newer ones that two runs at once may have launched.
async fn lab_instances(
    c: &Clients,
    lab: &str,
) -> Result<(BTreeMap<String, LiveInstance>, Vec<(String, LiveInstance)>), AwsError> {
    let found = describe_instances(
        c,
        vec![
            filter(&format!("tag:{OWNER_TAG}"), &[lab]),
            filter("instance-state-name", ALIVE),
        ],
    )
    .await?;
    Ok(oldest_first(
        found.iter().filter_map(live_instance).collect(),
    ))
}

/// As `lab_instances`, from one listing of every labctl instance of the account that
/// the labs of a class share: planning reads once, whatever the class's size. Only
/// for planning: a check after a launch must see the launch.
async fn shared_lab_instances(
    c: &Clients,
    lab: &str,
) -> Result<(BTreeMap<String, LiveInstance>, Vec<(String, LiveInstance)>), AwsError> {
    let all = c
        .listings
        .get("ec2:DescribeInstances", || async {
            let found = describe_instances(
                c,
                vec![
                    filter("tag-key", &[OWNER_TAG]),
                    filter("instance-state-name", ALIVE),
                ],
            )
            .await?;
            Ok(found.iter().filter_map(live_instance).collect::<Vec<_>>())
        })
        .await?;
    Ok(oldest_first(
        all.iter()
            .filter(|(_, i)| i.tags.get(OWNER_TAG).map(String::as_str) == Some(lab))
            .cloned()
            .collect(),
    ))
}

fn oldest_first(
    mut all: Vec<(String, LiveInstance)>,
) -> (BTreeMap<String, LiveInstance>, Vec<(String, LiveInstance)>) {
    all.sort_by(|a, b| (a.1.launched, &a.1.id).cmp(&(b.1.launched, &b.1.id)));
    let mut first = BTreeMap::new();
    let mut newer = Vec::new();
    for (name, i) in all {
        match first.entry(name) {
            Entry::Occupied(e) => newer.push((e.key().clone(), i)),
            Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    (first, newer)
}

/// One instance as the plan sees it, by its name in lab.yaml; None for one without.
fn live_instance(i: &aws_sdk_ec2::types::Instance) -> Option<(String, LiveInstance)> {
    let tags = tags_of(i.tags());
    let name = tags.get(NAME_TAG).cloned()?;
    let mut live = LiveInstance {
        id: i.instance_id().unwrap_or_default().to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        image_id: i.image_id().unwrap_or_default().to_owned(),
        subnet_id: i.subnet_id().unwrap_or_default().to_owned(),
        group_ids: groups_of(i),
        key_name: i.key_name().map(str::to_owned),
        profile_arn: i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(str::to_owned),
        public_ip: i.public_ip_address().map(str::to_owned),
        public_dns: i
            .public_dns_name()
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        imds_required: i
            .metadata_options()
            .and_then(|m| m.http_tokens())
            .is_some_and(|t| *t == HttpTokensState::Required),
        // Filled from the volume below; the device name marks the root.
        root: None,
        launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
        tags,
    };
    if let Some(root) = i.root_device_name() {
        let vol = i
            .block_device_mappings()
            .iter()
            .find(|b| b.device_name() == Some(root))
            .and_then(|b| b.ebs())
            .and_then(|e| e.volume_id());
        if let Some(v) = vol {
            live.root = Some((0, v.to_owned(), false));
        }
    }
    Some((name, live))
}

/// The instance's groups; an emulator may list them only on its primary network
/// interface (as AWS does for the interface too).
fn groups_of(i: &aws_sdk_ec2::types::Instance) -> Vec<String> {
    let own: Vec<String> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_owned))
        .collect();
    if !own.is_empty() {
        return own;
    }
    i.network_interfaces()
        .iter()
        .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
        .map(|n| {
            n.groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Size, type and encryption of each instance's root volume, in one call.
async fn root_volumes(
    c: &Clients,
    mut instances: BTreeMap<String, LiveInstance>,
) -> Result<BTreeMap<String, LiveInstance>, AwsError> {
    let ids: Vec<String> = instances
        .values()
        .filter_map(|i| i.root.as_ref().map(|r| r.1.clone()))
        .collect();
    if ids.is_empty() {
        return Ok(instances);
    }
    let vols = c
        .ec2
        .describe_volumes()
        .filters(filter(
            "volume-id",
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .send()
        .await
        .ctx("DescribeVolumes")?;
    for i in instances.values_mut() {
        let Some((_, vid, _)) = &i.root else { continue };
        i.root = vols
            .volumes()
            .iter()
            .find(|v| v.volume_id() == Some(vid.as_str()))
            .map(|v| {
                (
                    v.size().unwrap_or_default(),
                    v.volume_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    v.encrypted().unwrap_or(false),
                )
            });
    }
    Ok(instances)
}

/// Every pending or running instance of the account in the region.
pub async fn running_in_region(c: &Clients) -> Result<usize, AwsError> {
    Ok(describe_instances(
        c,
        vec![filter("instance-state-name", &["pending", "running"])],
    )
    .await?
    .len())
}

/// The declared key pairs (by name, whoever's) and every one tagged as the lab's.
async fn key_pairs(run: &Run, lab: &Lab) -> Result<BTreeMap<String, LiveKeyPair>, AwsError> {
    let names: Vec<String> = lab
        .instances
        .iter()
        .map(|(n, i)| match &i.key {
            KeySource::Existing(k) => k.clone(),
            _ => lab.physical(n),
        })
        .collect();
    let c = &run.clients;
    let by_name = async {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        c.ec2
            .describe_key_pairs()
            .filters(filter(
                "key-name",
                &names.iter().map(String::as_str).collect::<Vec<_>>(),
            ))
            .send()
            .await
            .ctx("DescribeKeyPairs")
            .map(|o| o.key_pairs().to_vec())
    };
    // Every labctl key pair of the account, listed once for the labs of a class.
    let ours = async {
        let all = c
            .listings
            .get("ec2:DescribeKeyPairs", || async {
                c.ec2
                    .describe_key_pairs()
                    .filters(filter("tag-key", &[OWNER_TAG]))
                    .send()
                    .await
                    .ctx("DescribeKeyPairs")
                    .map(|o| o.key_pairs().to_vec())
            })
            .await?;
        Ok(all
            .iter()
            .filter(|k| {
                k.tags()
                    .iter()
                    .any(|t| t.key() == Some(OWNER_TAG) && t.value() == Some(run.lab.as_str()))
            })
            .cloned()
            .collect::<Vec<_>>())
    };
    let (by_name, ours) = tokio::try_join!(by_name, ours)?;
    Ok(by_name
        .into_iter()
        .chain(ours)
        .filter_map(|k| {
            Some((
                k.key_name()?.to_owned(),
                LiveKeyPair {
                    name: k.key_name()?.to_owned(),
                    id: k.key_pair_id().unwrap_or_default().to_owned(),
                    tags: tags_of(k.tags()),
                },
            ))
        })
        .collect())
}

/// The instance profiles under `/labctl/` with their tags (the plan keeps the lab's
/// own), and the declared existing ones. The listing and each profile's tags are read
/// once for every lab of the account (class mode).
async fn profiles(run: &Run, lab: &Lab) -> Result<BTreeMap<String, LiveProfile>, AwsError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let c = &run.clients;
    let listed = c
        .listings
        .get("iam:ListInstanceProfiles", || async {
            c.iam
                .list_instance_profiles()
                .path_prefix(ROLE_PATH)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("ListInstanceProfiles")
        })
        .await
        .map(|l| (*l).clone());
    let listed = run.discovery(listed, "instance profiles")?;
    let found: Vec<Option<(String, LiveProfile)>> = stream::iter(listed)
        .map(|p| async move {
            let name = p.instance_profile_name().to_owned();
            let live = c
                .listings
                .get(&format!("iam:profile:{name}"), || get_profile(c, &name))
                .await?;
            Ok::<_, AwsError>((*live).clone().map(|l| (name, l)))
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    let mut out: BTreeMap<String, LiveProfile> = found.into_iter().flatten().collect();
    for i in lab.instances.values() {
        let Some(super::Profile::Existing(name)) = &i.instance_profile else {
            continue;
        };
        if !out.contains_key(name)
            && let Some(l) = get_profile(c, name).await?
        {
            out.insert(name.clone(), l);
        }
    }
    Ok(out)
}

/// One instance profile with its roles and tags (IAM lists them without tags). None
/// when it is not there, or not readable (AWS Academy may deny it): launching tells.
async fn get_profile(c: &Clients, name: &str) -> Result<Option<LiveProfile>, AwsError> {
    match c
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .ctx("GetInstanceProfile")
    {
        Ok(o) => Ok(o.instance_profile().map(|p| LiveProfile {
            name: name.to_owned(),
            arn: p.arn().to_owned(),
            roles: p.roles().iter().map(|r| r.role_name().to_owned()).collect(),
            tags: p
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
        })),
        Err(e) if e.class == Class::NotFound || e.class == Class::AccessDenied => Ok(None),
        Err(e) => Err(e),
    }
}

/// Each image alias the lab uses, to its newest id: SSM's public parameter, or where
/// SSM is denied (AWS Academy), the owner's newest image of that name.
async fn resolve_aliases(
    c: &Clients,
    lab: &Lab,
) -> Result<BTreeMap<String, Result<String, String>>, AwsError> {
    let mut aliases: Vec<&'static image::Alias> = lab
        .instances
        .values()
        .filter_map(|i| match &i.ami {
            super::Ami::Alias(a) => image::alias(a),
            super::Ami::Id(_) => None,
        })
        .collect();
    aliases.sort_by_key(|a| a.name);
    aliases.dedup_by_key(|a| a.name);
    let mut out = BTreeMap::new();
    if aliases.is_empty() {
        return Ok(out);
    }
    let got = c
        .ssm
        .get_parameters()
        .set_names(Some(
            aliases.iter().map(|a| a.parameter.to_owned()).collect(),
        ))
        .send()
        .await
        .ctx("GetParameters");
    let params: BTreeMap<String, String> = match got {
        Ok(o) => o
            .parameters()
            .iter()
            .filter_map(|p| Some((p.name()?.to_owned(), p.value()?.to_owned())))
            .collect(),
        Err(e) if e.class == Class::AccessDenied => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    for a in aliases {
        let id = match params.get(a.parameter) {
            Some(id) => Ok(id.clone()),
            None => newest_image(c, a).await?,
        };
        out.insert(a.name.to_owned(), id);
    }
    Ok(out)
}

async fn newest_image(c: &Clients, a: &image::Alias) -> Result<Result<String, String>, AwsError> {
    let o = c
        .ec2
        .describe_images()
        .owners(a.owner)
        .filters(filter("name", &[a.name_pattern]))
        .filters(filter("architecture", &[a.architecture]))
        .filters(filter("state", &["available"]))
        .send()
        .await
        .ctx("DescribeImages")?;
    let newest = o
        .images()
        .iter()
        .max_by_key(|i| i.creation_date().unwrap_or_default().to_owned())
        .and_then(|i| i.image_id());
    Ok(newest.map(str::to_owned).ok_or_else(|| {
        format!(
            "neither the SSM parameter {} nor an image named {} of owner {} is there",
            a.parameter, a.name_pattern, a.owner
        )
    }))
}

async fn describe_images(
    c: &Clients,
    ids: &[String],
) -> Result<BTreeMap<String, ImageInfo>, AwsError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    // A filter, not ImageIds: one image that is not there must not fail the others.
    let o = c
        .ec2
        .describe_images()
        .filters(filter(
            "image-id",
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .send()
        .await
        .ctx("DescribeImages")?;
    Ok(o.images()
        .iter()
        .filter_map(|i| {
            let id = i.image_id()?.to_owned();
            Some((
                id.clone(),
                ImageInfo {
                    id,
                    name: i.name().unwrap_or_default().to_owned(),
                    architecture: i
                        .architecture()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    root_device: i.root_device_name().unwrap_or("/dev/xvda").to_owned(),
                },
            ))
        })
        .collect())
}

fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

pub(super) async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
    match work {
        Work::KeyPair { name, step } => key_pair(run, name, step).await,
        Work::Profile { name, step } => profile(run, name, step).await,
        Work::Instance { name, steps } => {
            for step in steps {
                instance_step(run, name, step).await?;
            }
            Ok(())
        }
    }
}

async fn key_pair(run: &Run, name: &str, step: &KeyStep) -> Result<(), AwsError> {
    let ec2 = &run.clients.ec2;
    match step {
        KeyStep::Import { public_key, tags } => {
            match ec2
                .import_key_pair()
                .key_name(name)
                .public_key_material(Blob::new(public_key.as_bytes()))
                .tag_specifications(tag_spec(ResourceType::KeyPair, tags))
                .send()
                .await
                .ctx("ImportKeyPair")
            {
                Ok(_) => Ok(()),
                // A replacement: the old key pair goes first (EC2 cannot change one).
                Err(e) if e.code == "InvalidKeyPair.Duplicate" => {
                    let current = owned_key_hash(run, name).await?;
                    match current {
                        Some(h) if Some(&h) == tags.get(KEY_HASH_TAG) => {
                            run.note(format!("ec2 key pair {name}: already imported"));
                            Ok(())
                        }
                        Some(_) => {
                            gone_ok(
                                ec2.delete_key_pair()
                                    .key_name(name)
                                    .send()
                                    .await
                                    .ctx("DeleteKeyPair"),
                            )?;
                            ec2.import_key_pair()
                                .key_name(name)
                                .public_key_material(Blob::new(public_key.as_bytes()))
                                .tag_specifications(tag_spec(ResourceType::KeyPair, tags))
                                .send()
                                .await
                                .ctx("ImportKeyPair")
                                .map(drop)
                        }
                        None => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        KeyStep::Create { pem, tags } => {
            // EC2 shows a private key once: an answer lost on the way is a key no one
            // has. The key pair is then deleted and made again (nothing uses it yet).
            loop {
                let made = ec2
                    .create_key_pair()
                    .key_name(name)
                    .key_type(KeyType::Ed25519)
                    .key_format(KeyFormat::Pem)
                    .tag_specifications(tag_spec(ResourceType::KeyPair, tags))
                    .customize()
                    .config_override(
                        aws_sdk_ec2::config::Builder::default()
                            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
                    )
                    .send()
                    .await
                    .ctx("CreateKeyPair");
                match made {
                    Ok(o) => {
                        let material = o.key_material().unwrap_or_default();
                        keys::write_private(pem, material).map_err(|e| AwsError {
                            op: "write private key",
                            code: "LocalWrite".into(),
                            message: format!("{}: {e} (the key pair {name} exists without it: delete it and apply again)", pem.display()),
                            status: None,
                            class: Class::Fatal,
                        })?;
                        return Ok(());
                    }
                    // The request may have made the key pair, with a private key no
                    // one saw: such a key is deleted before trying again.
                    Err(e) if e.class == Class::Transient => {
                        if owned_key_hash(run, name).await?.is_some() {
                            run.note(format!("ec2 key pair {name}: made by a request whose answer (and private key) was lost; made again"));
                            gone_ok(
                                ec2.delete_key_pair()
                                    .key_name(name)
                                    .send()
                                    .await
                                    .ctx("DeleteKeyPair"),
                            )?;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    // Made meanwhile by another run, which holds its key: use it.
                    Err(e)
                        if e.code == "InvalidKeyPair.Duplicate"
                            && pem.is_file()
                            && owned_key_hash(run, name).await?.is_some() =>
                    {
                        run.note(format!("ec2 key pair {name}: already existed"));
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        KeyStep::Delete { pem } => {
            gone_ok(
                ec2.delete_key_pair()
                    .key_name(name)
                    .send()
                    .await
                    .ctx("DeleteKeyPair"),
            )?;
            match std::fs::remove_file(pem) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    run.warn(format!(
                        "ec2 key pair {name} is gone, but its private key {} stays: {e}",
                        pem.display()
                    ));
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// The public-key hash tag of a key pair of the lab's; None when it is not the lab's.
async fn owned_key_hash(run: &Run, name: &str) -> Result<Option<String>, AwsError> {
    let o = run
        .clients
        .ec2
        .describe_key_pairs()
        .filters(filter("key-name", &[name]))
        .send()
        .await
        .ctx("DescribeKeyPairs")?;
    Ok(o.key_pairs().first().and_then(|k| {
        let t = tags_of(k.tags());
        (t.get(OWNER_TAG) == Some(&run.lab))
            .then(|| t.get(KEY_HASH_TAG).cloned().unwrap_or_default())
    }))
}

async fn profile(run: &Run, name: &str, step: &ProfileStep) -> Result<(), AwsError> {
    let iam = &run.clients.iam;
    match step {
        ProfileStep::Create { role, tags } => {
            let t: Vec<aws_sdk_iam::types::Tag> = tags
                .iter()
                .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
                .collect::<Result<_, _>>()
                .map_err(build_err)?;
            match iam
                .create_instance_profile()
                .instance_profile_name(name)
                .path(ROLE_PATH)
                .set_tags(Some(t))
                .send()
                .await
                .ctx("CreateInstanceProfile")
            {
                Ok(_) => {}
                Err(e) if e.code == "EntityAlreadyExists" => {
                    run.note(format!("iam instance profile {name}: already existed"))
                }
                Err(e) => return Err(e),
            }
            match iam
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .ctx("AddRoleToInstanceProfile")
            {
                // A profile holds one role: it is there already (a retry, another run).
                Err(e) if e.code == "LimitExceeded" => Ok(()),
                other => other.map(drop),
            }
        }
        ProfileStep::Delete { roles } => {
            for r in roles {
                gone_ok(
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(r)
                        .send()
                        .await
                        .ctx("RemoveRoleFromInstanceProfile"),
                )?;
            }
            gone_ok(
                iam.delete_instance_profile()
                    .instance_profile_name(name)
                    .send()
                    .await
                    .ctx("DeleteInstanceProfile"),
            )
        }
    }
}

/// A lab subnet or group: its id, or the id its create recorded in this run.
fn resolve(run: &Run, r: &str, kind: &str) -> Result<String, AwsError> {
    match r.strip_prefix("new:") {
        None => Ok(r.to_owned()),
        Some(name) => run
            .output(&format!("{kind}:{name}"))
            .ok_or_else(|| AwsError {
                op: "resolve network",
                code: "Missing".into(),
                message: format!("{kind} {name} was not created in this run"),
                status: None,
                class: Class::Fatal,
            }),
    }
}

/// Another run may have launched the same instance at the same time: the older stays
/// (by launch time, then id), the newer is terminated. True when ours went.
async fn yield_to_older(run: &Run, name: &str, id: &str) -> Result<bool, AwsError> {
    let (first, _) = lab_instances(&run.clients, &run.lab).await?;
    let Some(older) = first.get(name).filter(|o| o.id != id) else {
        return Ok(false);
    };
    run.note(format!(
        "ec2 instance {name}: another run launched it first ({}); this run's {id} was terminated",
        older.id
    ));
    run.clients
        .ec2
        .terminate_instances()
        .instance_ids(id)
        .send()
        .await
        .ctx("TerminateInstances")?;
    Ok(true)
}

/// How long an instance may take to reach a state, and to pass its status checks.
const STATE_BUDGET: Duration = Duration::from_secs(600);
const PROFILE_PROPAGATION: Duration = Duration::from_secs(120);

async fn instance_step(run: &Run, name: &str, step: &InstanceStep) -> Result<(), AwsError> {
    let ec2 = &run.clients.ec2;
    match step {
        InstanceStep::Launch(l) => {
            let launched = std::time::Instant::now();
            let id = launch(run, name, l).await?;
            if yield_to_older(run, name, &id).await? {
                return Ok(());
            }
            wait_state(run, name, &id, "running").await?;
            // Looked at again once a launch of another run could no longer share this
            // one's launch time (EC2 gives it to the second): each run then sees both,
            // and they agree on which stays.
            if let Some(rest) = Duration::from_secs(2).checked_sub(launched.elapsed()) {
                tokio::time::sleep(rest).await;
            }
            if yield_to_older(run, name, &id).await? {
                return Ok(());
            }
            status_ok(run, name, &id).await
        }
        InstanceStep::Start { id } => {
            ec2.start_instances()
                .instance_ids(id)
                .send()
                .await
                .ctx("StartInstances")?;
            wait_state(run, name, id, "running").await
        }
        InstanceStep::Stop { id } => {
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .ctx("StopInstances")?;
            wait_state(run, name, id, "stopped").await
        }
        InstanceStep::SetType { id, instance_type } => ec2
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .ctx("ModifyInstanceAttribute")
            .map(drop),
        InstanceStep::SetGroups { id, groups } => {
            let ids = groups
                .iter()
                .map(|g| resolve(run, g, "sg"))
                .collect::<Result<Vec<_>, _>>()?;
            ec2.modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(ids))
                .send()
                .await
                .ctx("ModifyInstanceAttribute")
                .map(drop)
        }
        InstanceStep::RequireImdsV2 { id } => ec2
            .modify_instance_metadata_options()
            .instance_id(id)
            .http_tokens(HttpTokensState::Required)
            .http_endpoint(InstanceMetadataEndpointState::Enabled)
            .send()
            .await
            .ctx("ModifyInstanceMetadataOptions")
            .map(drop),
        InstanceStep::Tags { id, set, remove } => {
            if !remove.is_empty() {
                let mut req = ec2.delete_tags().resources(id);
                for k in remove {
                    req = req.tags(Tag::builder().key(k).build());
                }
                req.send().await.ctx("DeleteTags")?;
            }
            if !set.is_empty() {
                let mut req = ec2.create_tags().resources(id);
                for (k, v) in set {
                    req = req.tags(Tag::builder().key(k).value(v).build());
                }
                req.send().await.ctx("CreateTags")?;
            }
            Ok(())
        }
        InstanceStep::Terminate { id } => {
            match ec2
                .terminate_instances()
                .instance_ids(id)
                .send()
                .await
                .ctx("TerminateInstances")
            {
                Err(e) if e.code == "InvalidInstanceID.NotFound" => return Ok(()),
                other => other?,
            };
            // What it used (its groups, subnet, key) can go only once it is gone.
            wait_state(run, name, id, "terminated").await
        }
    }
}

async fn launch(run: &Run, name: &str, l: &Launch) -> Result<String, AwsError> {
    let ec2 = &run.clients.ec2;
    let groups = l
        .groups
        .iter()
        .map(|g| resolve(run, g, "sg"))
        .collect::<Result<Vec<_>, _>>()?;
    let subnet = l
        .subnet
        .as_deref()
        .map(|s| resolve(run, s, "subnet"))
        .transpose()?;
    let root = BlockDeviceMapping::builder()
        .device_name(&l.root_device)
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(l.root_volume.size)
                .volume_type(VolumeType::from(l.root_volume.volume_type.as_str()))
                .encrypted(true)
                .delete_on_termination(true)
                .build(),
        )
        .build();
    let mut patience = Patience::default();
    loop {
        let mut req = ec2
            .run_instances()
            .image_id(&l.image)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                l.instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .client_token(&l.client_token)
            .block_device_mappings(root.clone())
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .tag_specifications(tag_spec(ResourceType::Instance, &l.tags))
            .tag_specifications(tag_spec(ResourceType::Volume, &l.tags))
            .set_key_name(l.key_name.clone());
        // A subnet is chosen through the network interface, which also says whether it
        // gets a public address; without one, EC2 picks a default subnet.
        req = match &subnet {
            Some(s) => req.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(s)
                    .set_groups(Some(groups.clone()))
                    .associate_public_ip_address(l.public_ip)
                    .build(),
            ),
            None => req.set_security_group_ids(Some(groups.clone())),
        };
        if let Some(p) = &l.profile {
            req = req
                .iam_instance_profile(IamInstanceProfileSpecification::builder().name(p).build());
        }
        if let Some(u) = &l.user_data {
            req = req.user_data(base64::engine::general_purpose::STANDARD.encode(u));
        }
        match req.send().await.ctx("RunInstances") {
            Ok(o) => {
                return o
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError {
                        op: "RunInstances",
                        code: "NoInstance".into(),
                        message: "EC2 answered without an instance".into(),
                        status: None,
                        class: Class::Fatal,
                    });
            }
            // A profile made moments ago is not yet known to EC2 (IAM propagation).
            Err(e)
                if l.fresh_profile
                    && (e.message.contains("Instance Profile") || e.code == "NoSuchEntity")
                    && patience.elapsed() < PROFILE_PROPAGATION =>
            {
                patience.tell(run, &format!("ec2 instance {name}: its new instance profile is not yet known to EC2 (IAM propagation)"), PROFILE_PROPAGATION);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Polls until the instance is in `want`, saying what it waits for.
async fn wait_state(run: &Run, name: &str, id: &str, want: &str) -> Result<(), AwsError> {
    let mut patience = Patience::default();
    loop {
        let o = run
            .clients
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .ctx("DescribeInstances");
        let state = match o {
            Ok(o) => o
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find_map(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .map(|s| s.as_str().to_owned())
                })
                .unwrap_or_default(),
            // EC2 may not list an instance launched moments ago.
            Err(e) if e.code == "InvalidInstanceID.NotFound" && want != "terminated" => {
                "pending".into()
            }
            Err(e) if e.code == "InvalidInstanceID.NotFound" => "terminated".into(),
            Err(e) => return Err(e),
        };
        if state == want {
            return Ok(());
        }
        if patience.elapsed() > STATE_BUDGET {
            return Err(AwsError {
                op: "waiting for the instance",
                code: "Timeout".into(),
                message: format!(
                    "{name} ({id}) is still {state}, not {want}, after {} min",
                    STATE_BUDGET.as_secs() / 60
                ),
                status: None,
                class: Class::Fatal,
            });
        }
        patience.tell(
            run,
            &format!("ec2 instance {name}: {state}, waiting for {want}"),
            STATE_BUDGET,
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits until EC2's status checks pass (on AWS a few minutes after `running`): SSH
/// answers about then.
async fn status_ok(run: &Run, name: &str, id: &str) -> Result<(), AwsError> {
    let mut patience = Patience::default();
    loop {
        let o = run
            .clients
            .ec2
            .describe_instance_status()
            .instance_ids(id)
            .send()
            .await
            .ctx("DescribeInstanceStatus")?;
        let ok = o.instance_statuses().first().is_some_and(|s| {
            let passed = |x: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
                x.and_then(|x| x.status())
                    .is_some_and(|s| s.as_str() == "ok")
            };
            passed(s.instance_status()) && passed(s.system_status())
        });
        if ok {
            return Ok(());
        }
        if patience.elapsed() > STATE_BUDGET {
            run.warn(format!(
                "ec2 instance {name}: running, but its status checks have not passed after {} min",
                STATE_BUDGET.as_secs() / 60
            ));
            return Ok(());
        }
        patience.tell(
            run,
            &format!("ec2 instance {name}: running, waiting for its status checks"),
            STATE_BUDGET,
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// How to reach one of the lab's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachable {
    pub name: String,
    pub id: String,
    pub state: String,
    pub address: Option<String>,
    pub user: String,
    /// The private key to log in with, when labctl knows it.
    pub key: Option<std::path::PathBuf>,
}

impl Reachable {
    /// `ssh -i KEY USER@HOST`, when the instance has a public address.
    pub fn ssh(&self) -> Option<Vec<String>> {
        let host = self.address.as_ref()?;
        let mut cmd = vec!["ssh".to_owned()];
        if let Some(k) = &self.key {
            cmd.extend(["-i".to_owned(), k.display().to_string()]);
        }
        cmd.push(format!("{}@{host}", self.user));
        Some(cmd)
    }
}

/// The lab's instances as a student reaches them: read from AWS.
pub async fn reachable(run: &Run, lab: &Lab) -> Result<Vec<Reachable>, AwsError> {
    let (live, _) = lab_instances(&run.clients, &run.lab).await?;
    let ids: Vec<String> = live.values().map(|i| i.image_id.clone()).collect();
    let images = describe_images(&run.clients, &ids).await?;
    Ok(live
        .into_iter()
        .map(|(name, l)| {
            let declared = lab.instances.get(&name);
            let user = declared
                .and_then(|i| i.ssh_user.clone())
                .or_else(|| match declared.map(|i| &i.ami) {
                    Some(super::Ami::Alias(a)) => image::alias(a).map(|a| a.user.to_owned()),
                    _ => None,
                })
                .unwrap_or_else(|| {
                    image::login_user(
                        images
                            .get(&l.image_id)
                            .map(|i| i.name.as_str())
                            .unwrap_or_default(),
                    )
                    .to_owned()
                });
            let key = match declared.map(|i| &i.key) {
                Some(KeySource::Create) => Some(keys::pem_path(
                    &lab.base_dir,
                    &lab.name,
                    &lab.physical(&name),
                )),
                Some(KeySource::Import(p)) => keys::private_of(p),
                Some(KeySource::Existing(k)) => keys::private_of_existing(k),
                None => None,
            };
            Reachable {
                address: l.public_dns.clone().or(l.public_ip.clone()),
                name,
                id: l.id,
                state: l.state,
                user,
                key,
            }
        })
        .collect())
}

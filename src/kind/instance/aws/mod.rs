//! EC2, IAM and SSM for instances: reading the lab's instances (by tag), key pairs,
//! profiles and images here; launching, changing and terminating, waiting and saying
//! what for, in `execute.rs`.

mod execute;

pub(super) use execute::execute;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use aws_sdk_ec2::types::{Filter, HttpTokensState, Tag};

use super::{
    ImageInfo, KeySource, Live, LiveInstance, LiveKeyPair, LiveProfile, NAME_TAG, image, keys,
};
use crate::aws::error::{AwsError, Class, Ctx};
use crate::aws::{Clients, Run};
use crate::kind::Lab;
use crate::model::{OWNER_TAG, Tags};
use crate::names::ROLE_PATH;

pub(super) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

pub(super) fn tags_of(t: &[Tag]) -> Tags {
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
pub(super) async fn lab_instances(
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

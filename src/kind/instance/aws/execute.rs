//! Launching, changing and terminating instances, their key pairs and profiles, and
//! waiting for EC2 and IAM to catch up, saying what for.

use std::time::Duration;

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, HttpTokensState,
    IamInstanceProfileSpecification, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, KeyFormat, KeyType, ResourceType, Tag, TagSpecification,
    VolumeType,
};
use base64::Engine;

use super::super::{InstanceStep, KEY_HASH_TAG, KeyStep, Launch, ProfileStep, Work, keys};
use crate::aws::Run;
use crate::aws::error::{AwsError, Class, Ctx, build_err, gone_ok};
use crate::aws::retry::Patience;
use crate::model::{OWNER_TAG, Tags};
use crate::names::ROLE_PATH;

use super::{filter, lab_instances, tags_of};

fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

pub(in crate::kind::instance) async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
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

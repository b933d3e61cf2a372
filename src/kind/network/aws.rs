//! EC2: the default VPC, the lab's subnets and security groups and their rules.

use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag,
    TagSpecification, UserIdGroupPair,
};

use super::{
    GroupRef, GroupStep, LiveGroup, LiveNetwork, LiveSubnet, LiveVpc, RuleChange, SgRuleState,
    SgSource, SubnetStep,
};
use crate::aws::error::{AwsError, Class, Ctx};
use crate::aws::{Clients, Run};
use crate::model::Tags;

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
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

/// The default VPC, its subnets and groups, and the zones that `zones` (names or ids,
/// as lab.yaml may give either) need. Zones are taken from the VPC's subnets when they
/// name them all; only an unseen zone costs a DescribeAvailabilityZones.
pub(super) async fn read(run: &Run, zones: &[String]) -> Result<LiveNetwork, AwsError> {
    let c = &run.clients;
    // The default VPC is the account's: read once for every lab of it (class mode).
    let shared = c.listings.get("ec2:default-vpc", || default_vpc(c)).await?;
    let Some((vpc, subnets, groups)) = shared.as_ref().clone() else {
        return Ok(LiveNetwork {
            vpc: None,
            zones: all_zones(c).await?,
            ..Default::default()
        });
    };
    let mut seen: Vec<(String, String)> = subnets
        .iter()
        .map(|s| (s.az.clone(), s.az_id.clone()))
        .collect();
    seen.sort();
    seen.dedup();
    let zones = if zones
        .iter()
        .all(|z| seen.iter().any(|(n, id)| n == z || id == z))
    {
        seen
    } else {
        all_zones(c).await?
    };
    Ok(LiveNetwork {
        vpc: Some(vpc),
        zones,
        subnets,
        groups,
    })
}

type DefaultVpc = Option<(LiveVpc, Vec<LiveSubnet>, Vec<LiveGroup>)>;

/// The default VPC with its subnets and groups, or none.
async fn default_vpc(c: &Clients) -> Result<DefaultVpc, AwsError> {
    let vpcs = c
        .ec2
        .describe_vpcs()
        .filters(filter("isDefault", "true"))
        .send()
        .await
        .ctx("DescribeVpcs")?;
    let Some(vpc) = vpcs.vpcs().first() else {
        return Ok(None);
    };
    let vpc_id = vpc.vpc_id().unwrap_or_default().to_owned();
    let mut cidrs: Vec<String> = vpc
        .cidr_block_association_set()
        .iter()
        .filter_map(|a| a.cidr_block().map(str::to_owned))
        .collect();
    if cidrs.is_empty() {
        cidrs.extend(vpc.cidr_block().map(str::to_owned));
    }
    let (subnets, groups) = tokio::try_join!(
        async {
            c.ec2
                .describe_subnets()
                .filters(filter("vpc-id", &vpc_id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("DescribeSubnets")
        },
        async {
            c.ec2
                .describe_security_groups()
                .filters(filter("vpc-id", &vpc_id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("DescribeSecurityGroups")
        },
    )?;
    let subnets: Vec<LiveSubnet> = subnets
        .iter()
        .map(|s| LiveSubnet {
            id: s.subnet_id().unwrap_or_default().to_owned(),
            cidr: s.cidr_block().unwrap_or_default().to_owned(),
            az: s.availability_zone().unwrap_or_default().to_owned(),
            az_id: s.availability_zone_id().unwrap_or_default().to_owned(),
            map_public_ip: s.map_public_ip_on_launch().unwrap_or(false),
            default_for_az: s.default_for_az().unwrap_or(false),
            tags: tags_of(s.tags()),
        })
        .collect();
    let groups = groups
        .iter()
        .map(|g| LiveGroup {
            id: g.group_id().unwrap_or_default().to_owned(),
            name: g.group_name().unwrap_or_default().to_owned(),
            description: g.description().unwrap_or_default().to_owned(),
            tags: tags_of(g.tags()),
            ingress: rules_of(g.ip_permissions()),
            egress: rules_of(g.ip_permissions_egress()),
        })
        .collect();
    Ok(Some((LiveVpc { id: vpc_id, cidrs }, subnets, groups)))
}

/// The region's available zones: (name, id).
async fn all_zones(c: &Clients) -> Result<Vec<(String, String)>, AwsError> {
    Ok(c.ec2
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .send()
        .await
        .ctx("DescribeAvailabilityZones")?
        .availability_zones()
        .iter()
        .filter_map(|z| Some((z.zone_name()?.to_owned(), z.zone_id()?.to_owned())))
        .collect())
}

/// One rule per (protocol, ports, source), as lab.yaml writes them.
fn rules_of(perms: &[IpPermission]) -> Vec<SgRuleState> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = match p.ip_protocol().unwrap_or("-1") {
            "6" => "tcp",
            "17" => "udp",
            "1" => "icmp",
            "58" => "icmpv6",
            other => other,
        }
        .to_owned();
        let (from_port, to_port) = if protocol == "-1" {
            (-1, -1)
        } else {
            (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1))
        };
        let mut push = |source, description: Option<&str>| {
            out.push(SgRuleState {
                protocol: protocol.clone(),
                from_port,
                to_port,
                source,
                description: description.unwrap_or_default().to_owned(),
            })
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                push(SgSource::Cidr(c.to_owned()), r.description());
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                push(SgSource::Cidr6(c.to_owned()), r.description());
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                push(SgSource::Group(id.to_owned()), g.description());
            }
        }
    }
    out.sort();
    out
}

fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

/// Retries EC2's "not found" for ids created moments ago (EC2 is eventually consistent).
async fn fresh<T, F, Fut>(mut f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match f().await {
            Err(e)
                if e.code.ends_with(".NotFound")
                    && e.code != "InvalidPermission.NotFound"
                    && start.elapsed() < Duration::from_secs(30) =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}

pub(super) async fn execute_subnet(
    run: &Run,
    name: &str,
    steps: &[SubnetStep],
) -> Result<(), AwsError> {
    let c = &run.clients;
    let ec2 = &c.ec2;
    for step in steps {
        match step {
            SubnetStep::Create {
                vpc,
                cidr,
                az,
                map_public_ip,
                tags,
            } => {
                let mut req = ec2
                    .create_subnet()
                    .vpc_id(vpc)
                    .cidr_block(cidr)
                    .tag_specifications(tag_spec(ResourceType::Subnet, tags));
                req = if az.contains("-az") {
                    req.availability_zone_id(az)
                } else {
                    req.availability_zone(az)
                };
                let id = match req.send().await.ctx("CreateSubnet") {
                    Ok(o) => o
                        .subnet()
                        .and_then(|s| s.subnet_id())
                        .unwrap_or_default()
                        .to_owned(),
                    // A create whose answer was lost: the subnet is there, with our tags.
                    Err(e) if e.code == "InvalidSubnet.Conflict" => {
                        match find_subnet(c, vpc, cidr, name).await? {
                            Some(id) => {
                                run.note(format!("ec2 subnet {name}: already existed"));
                                id
                            }
                            None => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                };
                // Instances of this run launch into it by this id.
                run.record(&format!("subnet:{name}"), id.clone());
                if *map_public_ip {
                    fresh(|| async {
                        ec2.modify_subnet_attribute()
                            .subnet_id(&id)
                            .map_public_ip_on_launch(
                                AttributeBooleanValue::builder().value(true).build(),
                            )
                            .send()
                            .await
                            .ctx("ModifySubnetAttribute")
                    })
                    .await?;
                }
            }
            SubnetStep::SetPublicIp { id, value } => {
                ec2.modify_subnet_attribute()
                    .subnet_id(id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(*value).build())
                    .send()
                    .await
                    .ctx("ModifySubnetAttribute")?;
            }
            SubnetStep::Tags { id, set, remove } => retag(c, id, set, remove).await?,
            SubnetStep::Delete { id } => {
                let r = patient_delete(c, id, || async {
                    ec2.delete_subnet()
                        .subnet_id(id)
                        .send()
                        .await
                        .ctx("DeleteSubnet")
                        .map(drop)
                })
                .await;
                match r {
                    Err(e) if e.code == "InvalidSubnetID.NotFound" => {}
                    other => other?,
                }
            }
        }
    }
    Ok(())
}

async fn find_subnet(
    c: &Clients,
    vpc: &str,
    cidr: &str,
    name: &str,
) -> Result<Option<String>, AwsError> {
    let out = c
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", vpc))
        .filters(filter("cidr-block", cidr))
        .filters(filter("tag:Name", name))
        .send()
        .await
        .ctx("DescribeSubnets")?;
    Ok(out
        .subnets()
        .first()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned))
}

async fn retag(c: &Clients, id: &str, set: &Tags, remove: &[String]) -> Result<(), AwsError> {
    if !remove.is_empty() {
        let mut req = c.ec2.delete_tags().resources(id);
        for k in remove {
            req = req.tags(Tag::builder().key(k).build());
        }
        req.send().await.ctx("DeleteTags")?;
    }
    if !set.is_empty() {
        let mut req = c.ec2.create_tags().resources(id);
        for (k, v) in set {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        req.send().await.ctx("CreateTags")?;
    }
    Ok(())
}

/// How long a delete is retried while something still uses the resource (network
/// interfaces of Lambda-in-VPC linger for many minutes after their function is gone).
fn dependency_budget() -> Duration {
    Duration::from_secs(
        std::env::var("LABCTL_DEPENDENCY_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(180),
    )
}

async fn patient_delete<F, Fut>(c: &Clients, id: &str, mut f: F) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_secs(2);
    loop {
        match f().await {
            Err(e) if e.code == "DependencyViolation" && start.elapsed() < dependency_budget() => {
                tracing::info!(%id, "still in use, retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(20));
            }
            Err(mut e) if e.code == "DependencyViolation" => {
                let key = if id.starts_with("sg-") {
                    "group-id"
                } else {
                    "subnet-id"
                };
                let enis = c
                    .ec2
                    .describe_network_interfaces()
                    .filters(filter(key, id))
                    .send()
                    .await
                    .ctx("DescribeNetworkInterfaces")
                    .map(|o| {
                        o.network_interfaces()
                            .iter()
                            .filter_map(|n| n.network_interface_id().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                e.message = format!(
                    "{} — still used by network interface(s) {} after {}s\n  help: delete what uses them (instances, Lambda functions in the VPC; their interfaces can linger ~40 minutes), then rerun",
                    e.message,
                    if enis.is_empty() {
                        "(none listed)".into()
                    } else {
                        enis.join(", ")
                    },
                    dependency_budget().as_secs()
                );
                return Err(e);
            }
            other => return other,
        }
    }
}

pub(super) async fn execute_group(
    run: &Run,
    vpc: &str,
    name: &str,
    steps: &[GroupStep],
) -> Result<(), AwsError> {
    let c = &run.clients;
    let ec2 = &c.ec2;
    for step in steps {
        match step {
            GroupStep::Create { description, tags } => {
                let id = match ec2
                    .create_security_group()
                    .group_name(name)
                    .description(description)
                    .vpc_id(vpc)
                    .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
                    .send()
                    .await
                    .ctx("CreateSecurityGroup")
                {
                    Ok(o) => o.group_id().unwrap_or_default().to_owned(),
                    // A create whose answer was lost: the group is there under our name.
                    Err(e) if e.code == "InvalidGroup.Duplicate" => {
                        let found = ec2
                            .describe_security_groups()
                            .filters(filter("vpc-id", vpc))
                            .filters(filter("group-name", name))
                            .send()
                            .await
                            .ctx("DescribeSecurityGroups")?;
                        let owned = found.security_groups().first().filter(|g| {
                            tags_of(g.tags()).get(crate::model::OWNER_TAG)
                                == tags.get(crate::model::OWNER_TAG)
                        });
                        match owned.and_then(|g| g.group_id()) {
                            Some(id) => {
                                run.note(format!("ec2 security group {name}: already existed"));
                                id.to_owned()
                            }
                            None => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                };
                run.record(&format!("sg:{name}"), id);
            }
            GroupStep::Tags { id, set, remove } => retag(c, id, set, remove).await?,
            GroupStep::Delete { id } => {
                let r = patient_delete(c, id, || async {
                    ec2.delete_security_group()
                        .group_id(id)
                        .send()
                        .await
                        .ctx("DeleteSecurityGroup")
                        .map(drop)
                })
                .await;
                match r {
                    Err(e) if e.code == "InvalidGroup.NotFound" => {}
                    other => other?,
                }
            }
        }
    }
    Ok(())
}

fn resolve(r: &GroupRef, run: &Run) -> Result<String, AwsError> {
    match r {
        GroupRef::Id(id) => Ok(id.clone()),
        GroupRef::Created(name) => run.output(&format!("sg:{name}")).ok_or_else(|| AwsError {
            op: "resolve group",
            code: "Missing".into(),
            message: format!("security group {name} was not created in this run"),
            status: None,
            class: Class::Fatal,
        }),
    }
}

fn permission(rule: &SgRuleState, run: &Run) -> Result<IpPermission, AwsError> {
    let mut p = IpPermission::builder().ip_protocol(&rule.protocol);
    if rule.protocol != "-1" {
        p = p.from_port(rule.from_port).to_port(rule.to_port);
    }
    let d = Some(rule.description.clone()).filter(|d| !d.is_empty());
    Ok(match &rule.source {
        SgSource::Cidr(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
        SgSource::Cidr6(c) => {
            p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(d).build())
        }
        SgSource::Group(g) => p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(resolve(&GroupRef::parse(g), run)?)
                .set_description(d)
                .build(),
        ),
    }
    .build())
}

/// Revokes and authorizes single rules; nothing else of the group is touched.
pub(super) async fn execute_rules(
    run: &Run,
    group: &GroupRef,
    changes: &[RuleChange],
) -> Result<(), AwsError> {
    let id = resolve(group, run)?;
    let ec2 = &run.clients.ec2;
    for ch in changes {
        let (rule, ingress, add) = match ch {
            RuleChange::Authorize { rule, ingress } => (rule, *ingress, true),
            RuleChange::Revoke { rule, ingress } => (rule, *ingress, false),
        };
        let p = permission(rule, run)?;
        let r = fresh(|| async {
            match (ingress, add) {
                (true, true) => ec2
                    .authorize_security_group_ingress()
                    .group_id(&id)
                    .ip_permissions(p.clone())
                    .send()
                    .await
                    .ctx("AuthorizeSecurityGroupIngress")
                    .map(drop),
                (false, true) => ec2
                    .authorize_security_group_egress()
                    .group_id(&id)
                    .ip_permissions(p.clone())
                    .send()
                    .await
                    .ctx("AuthorizeSecurityGroupEgress")
                    .map(drop),
                (true, false) => ec2
                    .revoke_security_group_ingress()
                    .group_id(&id)
                    .ip_permissions(p.clone())
                    .send()
                    .await
                    .ctx("RevokeSecurityGroupIngress")
                    .map(drop),
                (false, false) => ec2
                    .revoke_security_group_egress()
                    .group_id(&id)
                    .ip_permissions(p.clone())
                    .send()
                    .await
                    .ctx("RevokeSecurityGroupEgress")
                    .map(drop),
            }
        })
        .await;
        match r {
            // Already as wanted (a retry after a lost answer, or another run).
            Err(e)
                if e.code == "InvalidPermission.Duplicate"
                    || e.code == "InvalidPermission.NotFound" => {}
            other => other?,
        }
    }
    Ok(())
}

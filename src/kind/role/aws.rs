//! IAM: the lab's role, its trust and permission policies. Roles labctl creates live
//! under the path `/labctl/`, so the lab's roles are listed in one call.

use std::collections::BTreeMap;

use super::{LiveRole, Step, policy};
use crate::aws::error::{AwsError, Class, Ctx, build_err, gone_ok};
use crate::aws::{Clients, Run, retry};
use crate::model::{OWNER_TAG, Tags};
use crate::names::ROLE_PATH;

type Roles = (BTreeMap<String, LiveRole>, Option<ExistingRole>);

/// What reading `role: { existing: NAME }` found. The account id is filled in later:
/// the read does not wait for STS.
#[derive(Debug)]
pub(super) enum ExistingRole {
    Arn(String),
    /// Not readable here (Learner Lab may deny reading roles): the ARN is predictable.
    Unreadable(String),
    Missing(String),
}

impl ExistingRole {
    pub fn resolve(self, account: &str) -> Result<String, String> {
        match self {
            Self::Arn(arn) => Ok(arn),
            Self::Unreadable(name) => Ok(format!("arn:aws:iam::{account}:role/{name}")),
            Self::Missing(name) => {
                Err(format!("role `{name}` does not exist in account {account}"))
            }
        }
    }
}

/// The declared role (managed, or `existing` as its ARN) and every role tagged as the lab's.
pub(super) async fn read(run: &Run, role: Option<&(String, bool)>) -> Result<Roles, AwsError> {
    let c = &run.clients;
    let (declared, discovered) = tokio::join!(
        async {
            match role {
                Some((name, true)) => {
                    let found = match c.iam.get_role().role_name(name).send().await.ctx("GetRole") {
                        Ok(o) => match o.role() {
                            Some(r) => ExistingRole::Arn(r.arn().to_owned()),
                            None => ExistingRole::Unreadable(name.clone()),
                        },
                        Err(e) if e.class == Class::AccessDenied => {
                            ExistingRole::Unreadable(name.clone())
                        }
                        Err(e) if e.class == Class::NotFound => ExistingRole::Missing(name.clone()),
                        Err(e) => return Err(e),
                    };
                    Ok((None, Some(found)))
                }
                // On destroy the documents are not compared, only deleted by name.
                Some((name, false)) => Ok((read_role(c, name, !run.destroying).await?, None)),
                None => Ok((None, None)),
            }
        },
        discover(run, role)
    );
    let (declared, existing) = declared?;
    let mut roles = discovered?;
    if let (Some(r), Some((name, _))) = (declared, role) {
        roles.insert(name.clone(), r);
    }
    Ok((roles, existing))
}

/// Roles of this lab no longer declared, found by path and tag; their tags are read a
/// few at a time (a class account holds hundreds, and IAM throttles early).
async fn discover(
    run: &Run,
    role: Option<&(String, bool)>,
) -> Result<BTreeMap<String, LiveRole>, AwsError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let (c, lab) = (&run.clients, run.lab.as_str());
    let listed = c
        .listings
        .get("iam:ListRoles", || async {
            c.iam
                .list_roles()
                .path_prefix(ROLE_PATH)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("ListRoles")
        })
        .await
        .map(|l| (*l).clone());
    let listed = run.discovery(listed, "IAM roles")?;
    let names: Vec<String> = listed
        .iter()
        .map(|r| r.role_name().to_owned())
        .filter(|n| !role.is_some_and(|(d, _)| d.eq_ignore_ascii_case(n)))
        // Another lab of the class declares it: that lab reads it, and it is not ours.
        .filter(|n| {
            c.listings
                .claimed_by(&super::role_key(n))
                .is_none_or(|l| l == lab)
        })
        .collect();
    let found: Vec<Option<LiveRole>> = stream::iter(names)
        .map(|name| async move {
            // Whose each role is, read once for every lab of the account (class mode).
            // Another lab's role may be deleted between the listing and this read.
            let owner = c
                .listings
                .get(&format!("iam:owner:{name}"), || async {
                    match c
                        .iam
                        .list_role_tags()
                        .role_name(&name)
                        .send()
                        .await
                        .ctx("ListRoleTags")
                    {
                        Err(e) if e.class == Class::NotFound => Ok(None),
                        Err(e) => Err(e),
                        Ok(t) => Ok(t
                            .tags()
                            .iter()
                            .find(|t| t.key() == OWNER_TAG)
                            .map(|t| t.value().to_owned())),
                    }
                })
                .await?;
            let ours = owner.as_deref() == Some(lab);
            if ours {
                // Not declared: only ever deleted, by its policies' names.
                read_role(c, &name, false).await
            } else {
                Ok(None)
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(found
        .into_iter()
        .flatten()
        .map(|r| (r.name.clone(), r))
        .collect())
}

/// The role by name, with its policies; their documents only when `documents` (they
/// are compared with lab.yaml's, and cost a call each on IAM, the slowest service).
async fn read_role(c: &Clients, name: &str, documents: bool) -> Result<Option<LiveRole>, AwsError> {
    // All by name, at once; a missing role makes each answer NoSuchEntity. GetRole
    // carries the tags. Where IAM calls are metered (a class), the lists wait for
    // GetRole: a class's cold apply would spend two of IAM's few calls a second per
    // student on roles that do not exist yet.
    let get = c.iam.get_role().role_name(name).send();
    let lists = async {
        tokio::join!(
            c.iam
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
            c.iam
                .list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .try_collect(),
        )
    };
    let (out, (names, attached)) = if c.metered {
        match get.await.ctx("GetRole") {
            Err(e) if e.class == Class::NotFound => return Ok(None),
            out => (out, lists.await),
        }
    } else {
        tokio::join!(async { get.await.ctx("GetRole") }, lists)
    };
    let out = match out {
        Ok(o) => o,
        Err(e) if e.class == Class::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(role) = out.role() else {
        return Ok(None);
    };
    let (names, attached) = match (
        names.ctx("ListRolePolicies"),
        attached.ctx("ListAttachedRolePolicies"),
    ) {
        (Ok(n), Ok(a)) => (n, a),
        // Deleted between the reads (another run): as good as absent.
        (Err(e), _) | (_, Err(e)) if e.class == Class::NotFound => {
            return Ok(None);
        }
        (n, a) => (n?, a?),
    };
    let mut inline = BTreeMap::new();
    if !documents {
        inline.extend(names.iter().map(|p| (p.clone(), String::new())));
    }
    let names = if documents { names } else { Vec::new() };
    let docs = futures_util::future::join_all(names.iter().map(|p| {
        c.iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
    }))
    .await;
    for (p, doc) in names.into_iter().zip(docs) {
        let doc = doc.ctx("GetRolePolicy")?;
        inline.insert(p, policy::decode(doc.policy_document()));
    }
    let mut attached: Vec<String> = attached
        .iter()
        .filter_map(|a| a.policy_arn().map(str::to_owned))
        .collect();
    attached.sort();
    Ok(Some(LiveRole {
        name: name.to_owned(),
        arn: role.arn().to_owned(),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        trust: policy::decode(role.assume_role_policy_document().unwrap_or_default()),
        inline,
        attached,
    }))
}

fn iam_tags(tags: &Tags) -> Result<Vec<aws_sdk_iam::types::Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_err)
}

/// Where IAM writes are denied (AWS Academy), say what to do instead.
fn denied(mut e: AwsError) -> AwsError {
    if e.class == Class::AccessDenied {
        e.message.push_str("\n  help: this account may not create or change IAM roles (AWS Academy Learner Lab cannot); use the role it provides: `role: { existing: LabRole }` in lab.yaml");
    }
    e
}

pub(super) async fn execute(run: &Run, name: &str, steps: &[Step]) -> Result<(), AwsError> {
    // IAM answers ConcurrentModification while another change of the role settles.
    for step in steps {
        retry::not_ready(retry::NOT_READY_BUDGET, || step_once(run, name, step)).await?;
    }
    Ok(())
}

async fn step_once(run: &Run, name: &str, step: &Step) -> Result<(), AwsError> {
    let (iam, lab) = (&run.clients.iam, run.lab.as_str());
    {
        match step {
            Step::Create { trust, tags } => {
                let r = iam
                    .create_role()
                    .role_name(name)
                    .path(ROLE_PATH)
                    .assume_role_policy_document(trust)
                    .set_tags(Some(iam_tags(tags)?))
                    .send()
                    .await
                    .ctx("CreateRole");
                match r {
                    Ok(_) => {}
                    // Our own earlier attempt whose answer was lost.
                    Err(e) if e.code == "EntityAlreadyExists" => {
                        let t = iam
                            .list_role_tags()
                            .role_name(name)
                            .send()
                            .await
                            .ctx("ListRoleTags")?;
                        if !t
                            .tags()
                            .iter()
                            .any(|t| t.key() == OWNER_TAG && t.value() == lab)
                        {
                            return Err(e);
                        }
                        run.note(format!("iam role {name}: already existed"));
                    }
                    Err(e) => return Err(denied(e)),
                }
            }
            Step::UpdateTrust(doc) => iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(doc)
                .send()
                .await
                .ctx("UpdateAssumeRolePolicy")
                .map_err(denied)
                .map(drop)?,
            Step::PutPolicy(p, doc) => iam
                .put_role_policy()
                .role_name(name)
                .policy_name(p)
                .policy_document(doc)
                .send()
                .await
                .ctx("PutRolePolicy")
                .map_err(denied)
                .map(drop)?,
            Step::DeletePolicy(p) => gone_ok(
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .ctx("DeleteRolePolicy"),
            )?,
            Step::Attach(arn) => iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .ctx("AttachRolePolicy")
                .map_err(denied)
                .map(drop)?,
            Step::Detach(arn) => gone_ok(
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .ctx("DetachRolePolicy"),
            )?,
            Step::Tag(tags) => iam
                .tag_role()
                .role_name(name)
                .set_tags(Some(iam_tags(tags)?))
                .send()
                .await
                .ctx("TagRole")
                .map(drop)?,
            Step::Untag(keys) => iam
                .untag_role()
                .role_name(name)
                .set_tag_keys(Some(keys.clone()))
                .send()
                .await
                .ctx("UntagRole")
                .map(drop)?,
            Step::Delete => gone_ok(
                iam.delete_role()
                    .role_name(name)
                    .send()
                    .await
                    .ctx("DeleteRole"),
            )?,
        }
    }
    Ok(())
}

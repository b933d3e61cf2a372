//! Preflight for a class: the account quotas its plans would exceed, found before any
//! write. One lab never comes near them; 200 labs in one account can (10,000 buckets,
//! 1,000 IAM roles, AWS Academy's 9 running instances), and a class stopped half-way
//! by a quota is a class half-made. Each problem says how many students fit.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Outcome;
use crate::aws::error::{AwsError, Ctx};
use crate::aws::{Clients, Run};
use crate::kind::instance::{self, ACADEMY_MAX_RUNNING, InstanceStep};
use crate::kind::{Plan, Work, bucket, role};
use crate::plan::Op;

/// Buckets per account, AWS's default since late 2024 (Service Quotas L-DC2B2D3D).
pub const BUCKETS: usize = 10_000;
/// IAM roles per account by default (raisable to 5,000; Service Quotas L-FE177D64).
pub const ROLES: usize = 1_000;

/// What one lab's plan adds to the account.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Demand {
    pub buckets: usize,
    pub roles: usize,
    /// Instances set running: launched, or started from stopped.
    pub starts: usize,
    /// The types of the instances launched.
    pub launches: Vec<String>,
}

impl Demand {
    pub fn of(plan: &Plan) -> Demand {
        let mut d = Demand::default();
        for a in &plan.actions {
            let creates = a.op == Op::Create;
            if creates && a.addr.kind == bucket::BUCKET {
                d.buckets += 1;
            }
            if creates && a.addr.kind == role::ROLE {
                d.roles += 1;
            }
            if let Work::Instance(instance::Work::Instance { steps, .. }) = &a.work {
                for s in steps {
                    match s {
                        InstanceStep::Launch(l) => {
                            // A replacement's old instance goes first: no net start.
                            if a.op != Op::Replace {
                                d.starts += 1;
                            }
                            d.launches.push(l.instance_type.clone());
                        }
                        InstanceStep::Start { .. } => d.starts += 1,
                        _ => {}
                    }
                }
            }
        }
        d
    }
}

/// A lab with changes to make, and what they add to its account.
type Planned<'a> = (&'a Outcome, &'a Arc<Run>, Demand);

/// How many of the demands, in roster order, fit in `room`.
pub fn fit(demands: &[usize], room: usize) -> usize {
    let mut used = 0;
    demands
        .iter()
        .take_while(|d| {
            used += **d;
            used <= room
        })
        .count()
}

/// A quota the class would exceed: the message, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub help: String,
}

/// Problems and warnings for every account the planned labs are in (shared-account
/// mode: one; per-account mode: each student's own, where one lab is far below every
/// quota, so only Academy's instance limit can bind).
pub async fn check(planned: &[(Outcome, Option<Arc<Run>>)]) -> (Vec<Problem>, Vec<String>) {
    // The labs of one account share their clients, and so their listings.
    let mut accounts: BTreeMap<usize, Vec<Planned<'_>>> = BTreeMap::new();
    for (o, run) in planned {
        let (Some(run), Some(plan)) = (run, o.plan.as_ref()) else {
            continue;
        };
        if o.status != "changes" {
            continue;
        }
        let key = Arc::as_ptr(&run.clients.listings) as usize;
        accounts
            .entry(key)
            .or_default()
            .push((o, run, Demand::of(plan)));
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for labs in accounts.values() {
        let c = &labs[0].1.clients;
        let academy = labs[0]
            .1
            .identity()
            .await
            .map(|i| i.is_learner_lab())
            .unwrap_or(false);
        let who = if labs.len() > 1 {
            format!("the class's {} labs", labs.len())
        } else {
            format!("student {}'s lab", labs[0].0.student)
        };
        match account(c, labs, academy, &who).await {
            Ok((p, w)) => {
                problems.extend(p);
                warnings.extend(w);
            }
            // A quota that cannot be read is not a reason to stop: AWS still refuses.
            Err(e) => warnings.push(format!(
                "could not count what the account holds ({}: {}); quotas were not checked",
                e.op, e.code
            )),
        }
    }
    (problems, warnings)
}

async fn account(
    c: &Clients,
    labs: &[Planned<'_>],
    academy: bool,
    who: &str,
) -> Result<(Vec<Problem>, Vec<String>), AwsError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let need = |f: fn(&Demand) -> usize| labs.iter().map(|(_, _, d)| f(d)).collect::<Vec<_>>();
    let buckets = need(|d| d.buckets);
    let roles = need(|d| d.roles);
    let starts = need(|d| d.starts);
    if buckets.iter().sum::<usize>() > 0 {
        let have = all_buckets(c).await?;
        if let Some(p) = over("buckets", &buckets, have, BUCKETS, who) {
            problems.push(Problem {
                help: "delete buckets the account no longer needs, ask for more in Service Quotas (S3, \"General purpose buckets\"), or split the roster".into(),
                ..p
            });
        }
    }
    if roles.iter().sum::<usize>() > 0 {
        let have = all_roles(c).await?;
        if let Some(p) = over("IAM roles", &roles, have, ROLES, who) {
            problems.push(Problem {
                help: "declare one existing role for every student (`role: { existing: NAME }`), delete roles no longer needed, or ask for more in Service Quotas (IAM, \"Roles per account\")".into(),
                ..p
            });
        }
    }
    let starting: usize = starts.iter().sum();
    if starting > 0 {
        if academy {
            let running = instance::running_in_region(c).await?;
            if let Some(p) = over(
                "running instances",
                &starts,
                running,
                ACADEMY_MAX_RUNNING,
                who,
            ) {
                problems.push(Problem {
                    help: "AWS Academy stops instances beyond 9 in a region (and 20 deactivate the account): give each student their own Learner Lab (a `profile` or `role_arn` column), or declare no instance".into(),
                    ..p
                });
            }
        } else {
            let types: Vec<String> = labs
                .iter()
                .flat_map(|(_, _, d)| d.launches.iter().cloned())
                .collect();
            let vcpus = vcpus(c, &types).await?;
            warnings.push(format!(
                "{who} launch {} instance(s), {vcpus} vCPU(s) in all: the account's On-Demand vCPU quota (Service Quotas, EC2, \"Running On-Demand Standard instances\") must allow them, and new accounts often allow few",
                types.len()
            ));
        }
    }
    Ok((problems, warnings))
}

/// The problem when `demands` do not fit beside `have` under `quota`.
fn over(what: &str, demands: &[usize], have: usize, quota: usize, who: &str) -> Option<Problem> {
    let total: usize = demands.iter().sum();
    if have + total <= quota {
        return None;
    }
    let room = quota.saturating_sub(have);
    let fits = fit(demands, room);
    Some(Problem {
        message: format!(
            "{who} would add {total} {what} to the {have} the account has, beyond its quota of {quota}: {fits} of {} student(s) fit",
            demands.len()
        ),
        help: String::new(),
    })
}

/// Every bucket of the account, in every region: the quota is the account's.
async fn all_buckets(c: &Clients) -> Result<usize, AwsError> {
    let all: Vec<_> =
        c.s3.list_buckets()
            .max_buckets(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .ctx("ListBuckets")?;
    Ok(all.len())
}

async fn all_roles(c: &Clients) -> Result<usize, AwsError> {
    let all: Vec<_> = c
        .iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ListRoles")?;
    Ok(all.len())
}

/// The vCPUs of these instances, by their types' defaults.
async fn vcpus(c: &Clients, types: &[String]) -> Result<i64, AwsError> {
    let mut unique: Vec<&String> = types.iter().collect();
    unique.sort();
    unique.dedup();
    let known: BTreeMap<String, i64> = c
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(unique.iter().map(|t| t.as_str().into()).collect()))
        .send()
        .await
        .ctx("DescribeInstanceTypes")?
        .instance_types()
        .iter()
        .filter_map(|t| {
            Some((
                t.instance_type()?.as_str().to_owned(),
                i64::from(t.v_cpu_info()?.default_v_cpus()?),
            ))
        })
        .collect();
    Ok(types
        .iter()
        .map(|t| known.get(t).copied().unwrap_or(2))
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_fit_in_roster_order_until_the_room_is_used() {
        assert_eq!(fit(&[2, 2, 2], 5), 2);
        assert_eq!(fit(&[2, 2, 2], 6), 3);
        assert_eq!(fit(&[1, 0, 3, 1], 2), 2);
        assert_eq!(fit(&[3], 0), 0);
    }

    #[test]
    fn a_class_beyond_a_quota_is_told_how_many_fit() {
        let p = over("buckets", &[2; 200], 9_700, BUCKETS, "the class's 200 labs").unwrap();
        assert_eq!(
            p.message,
            "the class's 200 labs would add 400 buckets to the 9700 the account has, beyond its quota of 10000: 150 of 200 student(s) fit"
        );
        assert!(over("buckets", &[2; 200], 9_600, BUCKETS, "x").is_none());
    }
}

//! Lambda: functions, their resource policies, and the lab's layer versions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LayerVersionContentInput, Runtime,
};

use super::{
    FunctionSpec, FunctionStep, LayerRef, LayerStep, LiveFunction, LiveLayerVersion,
    LivePermission, PermissionStep,
};
use crate::aws::error::{AwsError, Class, Ctx, gone_ok};
use crate::aws::retry::Patience;
use crate::aws::{Clients, Run};
use crate::model::Tags;
use crate::names::layer_marker;

fn err(op: &'static str, message: String) -> AwsError {
    AwsError {
        op,
        code: "Error".into(),
        message,
        status: None,
        class: Class::Fatal,
    }
}

/// The declared names, then every listed name with the lab's prefix: candidates whose
/// ownership the caller still has to confirm.
fn with_candidates<'a>(
    declared: &[String],
    lab: &str,
    listed: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let prefix = format!("{lab}-");
    let mut names = declared.to_vec();
    for n in listed {
        if n.starts_with(&prefix) && !names.iter().any(|d| d == n) {
            names.push(n.to_owned());
        }
    }
    names
}

pub(super) async fn read_functions(
    run: &Run,
    declared: &[String],
) -> Result<BTreeMap<String, LiveFunction>, AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    // Declared functions are read by name while the listing looks for leftovers.
    let (listed, known) = tokio::join!(
        c.listings.get("lambda:ListFunctions", || async {
            c.lambda
                .list_functions()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("ListFunctions")
        }),
        futures_util::future::join_all(declared.iter().map(|n| read_function(c, n)))
    );
    let listed = run.discovery(listed.map(|l| (*l).clone()), "functions")?;
    let mut out = BTreeMap::new();
    for (name, f) in declared.iter().zip(known) {
        if let Some(f) = f? {
            out.insert(name.clone(), f);
        }
    }
    let others: Vec<String> = with_candidates(
        declared,
        lab,
        listed.iter().filter_map(|f| f.function_name()),
    )
    .split_off(declared.len());
    let reads = others.iter().map(|n| read_function(c, n));
    for (name, f) in others
        .iter()
        .zip(futures_util::future::join_all(reads).await)
    {
        // Undeclared functions count only when tagged as this lab's.
        if let Some(f) = f?
            && f.owner() == Some(lab)
        {
            out.insert(name.clone(), f);
        }
    }
    Ok(out)
}

async fn read_function(c: &Clients, name: &str) -> Result<Option<LiveFunction>, AwsError> {
    // Both by name, at once: the policy read needs nothing from the function read.
    let (out, policy) = tokio::join!(
        c.lambda.get_function().function_name(name).send(),
        c.lambda.get_policy().function_name(name).send()
    );
    let out = match out.ctx("GetFunction") {
        Ok(o) => o,
        Err(e) if e.class == Class::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(cfg) = out.configuration() else {
        return Ok(None);
    };
    let permissions = match policy.ctx("GetPolicy") {
        Ok(p) => parse_policy(p.policy().unwrap_or_default()),
        Err(e) if e.class == Class::NotFound => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    Ok(Some(LiveFunction {
        name: name.to_owned(),
        arn: cfg.function_arn().unwrap_or_default().to_owned(),
        runtime: cfg
            .runtime()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        handler: cfg.handler().unwrap_or_default().to_owned(),
        role: cfg.role().unwrap_or_default().to_owned(),
        timeout: cfg.timeout().unwrap_or(3),
        memory: cfg.memory_size().unwrap_or(128),
        // Absent when empty, in AWS and moto alike.
        environment: cfg
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        layers: cfg
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_owned))
            .collect(),
        architecture: cfg
            .architectures()
            .first()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| "x86_64".into()),
        code_sha256: cfg.code_sha256().unwrap_or_default().to_owned(),
        tags: match (out.tags(), out.tags_error()) {
            (Some(t), _) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            // Lambda leaves the tags out of GetFunction without an explicit
            // lambda:ListTags allow: ask for them, never take "no answer" for "not ours".
            (None, Some(_)) => list_tags(c, cfg.function_arn().unwrap_or(name)).await?,
            (None, None) => Tags::new(),
        },
        permissions,
    }))
}

async fn list_tags(c: &Clients, arn: &str) -> Result<Tags, AwsError> {
    match c
        .lambda
        .list_tags()
        .resource(arn)
        .send()
        .await
        .ctx("ListTags")
    {
        Ok(o) => Ok(o
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()),
        Err(mut e) if e.class == Class::AccessDenied => {
            e.message = format!(
                "the tags of {arn} are not readable: labctl needs lambda:ListTags (and lambda:TagResource to create functions) to tell the lab's functions from others\n  help: allow lambda:ListTags, lambda:TagResource and lambda:UntagResource on the lab's functions; {}",
                e.message
            );
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Upload calls carry up to 50 MB: they get the long timeouts.
fn upload_config() -> aws_sdk_lambda::config::Builder {
    aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::timeouts(true))
}

/// Statements of a resource policy, by Sid.
fn parse_policy(doc: &str) -> BTreeMap<String, LivePermission> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for st in v["Statement"].as_array().into_iter().flatten() {
        let Some(sid) = st["Sid"].as_str() else {
            continue;
        };
        let principal = st["Principal"]["Service"]
            .as_str()
            .or_else(|| st["Principal"].as_str())
            .unwrap_or_default()
            .to_owned();
        let cond = &st["Condition"];
        let source_arn = cond["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .or_else(|| cond["ArnEquals"]["AWS:SourceArn"].as_str())
            .map(str::to_owned);
        let source_account = cond["StringEquals"]["AWS:SourceAccount"]
            .as_str()
            .map(str::to_owned);
        out.insert(
            sid.to_owned(),
            LivePermission {
                principal,
                source_arn,
                source_account,
            },
        );
    }
    out
}

/// The lab's layer versions by layer name, and the declared names under which only
/// others published (someone else's layer).
pub(super) async fn read_layers(
    run: &Run,
    declared: &[String],
) -> Result<(BTreeMap<String, Vec<LiveLayerVersion>>, BTreeSet<String>), AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    let marker = layer_marker(lab);
    // Declared layers are read by name while the listing looks for leftovers.
    let (listed, known) = tokio::join!(
        c.listings.get("lambda:ListLayers", || async {
            c.lambda
                .list_layers()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .ctx("ListLayers")
        }),
        futures_util::future::join_all(declared.iter().map(|n| all_versions(c, n, &marker)))
    );
    let listed = run.discovery(listed.map(|l| (*l).clone()), "layers")?;
    let others = with_candidates(declared, lab, listed.iter().filter_map(|l| l.layer_name()))
        .split_off(declared.len());
    let found = futures_util::future::join_all(others.iter().map(|n| all_versions(c, n, &marker)));
    let mut out = BTreeMap::new();
    let mut foreign = BTreeSet::new();
    for (i, (name, versions)) in declared
        .iter()
        .chain(&others)
        .zip(known.into_iter().chain(found.await))
        .enumerate()
    {
        let (versions, theirs) = versions?;
        if versions.is_empty() {
            if i < declared.len() && theirs > 0 {
                foreign.insert(name.clone());
            }
        } else {
            out.insert(name.clone(), versions);
        }
    }
    Ok((out, foreign))
}

/// The versions of a layer that this lab published (its marker in the description).
async fn versions(
    c: &Clients,
    name: &str,
    marker: &str,
) -> Result<Vec<LiveLayerVersion>, AwsError> {
    all_versions(c, name, marker).await.map(|(ours, _)| ours)
}

/// This lab's versions of a layer, and how many versions others published there.
async fn all_versions(
    c: &Clients,
    name: &str,
    marker: &str,
) -> Result<(Vec<LiveLayerVersion>, usize), AwsError> {
    let items = match c
        .lambda
        .list_layer_versions()
        .layer_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ctx("ListLayerVersions")
    {
        Ok(v) => v,
        Err(e) if e.class == Class::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut v: Vec<LiveLayerVersion> = items
        .iter()
        .filter(|i| i.description().is_some_and(|d| d.starts_with(marker)))
        .map(|i| LiveLayerVersion {
            version: i.version(),
            arn: i.layer_version_arn().unwrap_or_default().to_owned(),
            description: i.description().unwrap_or_default().to_owned(),
        })
        .collect();
    v.sort_by_key(|x| x.version);
    let theirs = items.len() - v.len();
    Ok((v, theirs))
}

pub(super) async fn execute_layer(run: &Run, name: &str, step: &LayerStep) -> Result<(), AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    match step {
        LayerStep::Publish {
            description,
            source,
            runtimes,
            architecture,
        } => {
            let marker = layer_marker(lab);
            // The plan's read found no version with this content; a publish whose answer
            // is lost still makes one, so a resend looks for it first.
            let find = || async {
                versions(c, name, &marker)
                    .await
                    .map(|v| v.into_iter().rev().find(|x| &x.description == description))
            };
            let _upload = c.uploads.acquire().await.ok();
            let zip = crate::package::layer_zip(source, runtimes, *architecture)
                .map_err(|e| err("build layer", format!("{e:#}")))?;
            run.status(&format!(
                "uploading layer, {:.1} MB",
                zip.len() as f64 / 1_048_576.0
            ));
            let published = run
                .once(
                    "PublishLayerVersion",
                    || async {
                        let content = LayerVersionContentInput::builder()
                            .zip_file(Blob::new(zip.clone()))
                            .build();
                        let mut req = c
                            .lambda
                            .publish_layer_version()
                            .layer_name(name)
                            .description(description)
                            .content(content)
                            .compatible_architectures(Architecture::from(architecture.as_str()));
                        for r in runtimes {
                            req = req.compatible_runtimes(Runtime::from(r.as_str()));
                        }
                        req.customize()
                            .config_override(upload_config().retry_config(
                                aws_sdk_lambda::config::retry::RetryConfig::disabled(),
                            ))
                            .send()
                            .await
                            .ctx("PublishLayerVersion")
                    },
                    || async { find().await.map(|v| v.is_some()) },
                )
                .await?;
            let arn = match published {
                Some(o) => o.layer_version_arn().unwrap_or_default().to_owned(),
                None => find().await?.map(|v| v.arn).unwrap_or_default(),
            };
            run.record(name, arn);
            Ok(())
        }
        LayerStep::DeleteVersion(n) => gone_ok(
            c.lambda
                .delete_layer_version()
                .layer_name(name)
                .version_number(*n)
                .send()
                .await
                .ctx("DeleteLayerVersion"),
        ),
    }
}

fn layer_arns(spec: &FunctionSpec, run: &Run) -> Result<Vec<String>, AwsError> {
    spec.layers
        .iter()
        .map(|l| match l {
            LayerRef::Arn(a) => Ok(a.clone()),
            LayerRef::Published(name) => run.output(name).ok_or_else(|| {
                err(
                    "resolve layer",
                    format!("layer {name} was not published in this run"),
                )
            }),
        })
        .collect()
}

/// How long to wait for Lambda to finish a create or update (it is asynchronous).
const SETTLE: Duration = Duration::from_secs(300);

async fn settle(c: &Clients, name: &str, created: bool) -> Result<(), AwsError> {
    let r = if created {
        c.lambda
            .wait_until_function_active_v2()
            .function_name(name)
            .wait(SETTLE)
            .await
            .map(drop)
    } else {
        c.lambda
            .wait_until_function_updated_v2()
            .function_name(name)
            .wait(SETTLE)
            .await
            .map(drop)
    };
    r.map_err(|e| {
        err(
            "waiting for the function",
            format!(
                "{name} did not become ready: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&e)
            ),
        )
    })
}

/// Waits until the function takes an update: not Pending, no update InProgress. Unlike
/// the SDK's "updated" waiter this accepts a last update that Failed, so the next apply
/// can send the fix.
async fn idle(c: &Clients, name: &str) -> Result<(), AwsError> {
    use aws_sdk_lambda::types::{LastUpdateStatus, State};
    let start = tokio::time::Instant::now();
    loop {
        let cfg = c
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .ctx("GetFunctionConfiguration")?;
        let busy = cfg.state() == Some(&State::Pending)
            || cfg.last_update_status() == Some(&LastUpdateStatus::InProgress);
        if !busy {
            return Ok(());
        }
        if start.elapsed() > SETTLE {
            return Err(err(
                "waiting for the function",
                format!("{name} stayed busy for {}s", SETTLE.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long a role, an inline policy or a KMS grant may take to be usable by Lambda
/// when it changed in this run (terraform allows the same); one that did not change
/// is not propagating, so its refusal stands after a short wait.
const IAM_PROPAGATION: Duration = Duration::from_secs(15 * 60);
const IAM_SETTLED: Duration = Duration::from_secs(120);

/// What Lambda answers while IAM (or KMS) has not caught up with a change.
fn iam_not_propagated(e: &AwsError) -> bool {
    e.code == "InvalidParameterValueException"
        && [
            "cannot be assumed by Lambda",
            "The provided execution role does not have permissions",
            "KMS key is invalid for CreateGrant",
        ]
        .iter()
        .any(|m| e.message.contains(m))
}

/// Retries what Lambda refuses while a function is busy or its role not yet usable.
async fn patiently<T, F, Fut>(run: &Run, what: &str, fresh_role: bool, f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    retry_while(run, what, true, fresh_role, f).await
}

/// `busy_conflicts`: a ResourceConflictException means "busy, try later". For creates
/// it means "already exists", which waiting cannot change.
async fn retry_while<T, F, Fut>(
    run: &Run,
    what: &str,
    busy_conflicts: bool,
    fresh_role: bool,
    mut f: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut patience = Patience::default();
    let mut delay = Duration::from_millis(500);
    let iam_budget = if fresh_role {
        IAM_PROPAGATION
    } else {
        IAM_SETTLED
    };
    loop {
        let e = match f().await {
            // "The statement id ... already exists" is a conflict too, and final.
            Err(e)
                if e.class == Class::NotReady
                    && (busy_conflicts || e.code != "ResourceConflictException")
                    && !e.message.contains("already exists")
                    && patience.elapsed() < IAM_SETTLED =>
            {
                patience.tell(
                    run,
                    &format!("{what}: Lambda is busy with an earlier change"),
                    IAM_SETTLED,
                );
                e
            }
            Err(e) if iam_not_propagated(&e) && patience.elapsed() < iam_budget => {
                patience.tell(
                    run,
                    &format!("{what}: its role is not yet usable by Lambda (IAM propagation)"),
                    iam_budget,
                );
                e
            }
            other => return other,
        };
        tracing::info!(code = %e.code, "not ready yet, retrying in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

fn env(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(spec.environment.clone().into_iter().collect()))
        .build()
}

pub(super) async fn execute_function(
    run: &Run,
    name: &str,
    steps: &[FunctionStep],
) -> Result<(), AwsError> {
    let (c, lab) = (&run.clients, run.lab.as_str());
    let l = &c.lambda;
    for step in steps {
        match step {
            FunctionStep::Create { spec, wait_active } => {
                let layers = layer_arns(spec, run)?;
                let what = format!("lambda function {name}");
                let created = retry_while(run, &what, false, spec.fresh_role, || async {
                    l.create_function()
                        .function_name(name)
                        .role(&spec.role)
                        .runtime(Runtime::from(spec.runtime.as_str()))
                        .handler(&spec.handler)
                        .timeout(spec.timeout)
                        .memory_size(spec.memory)
                        .environment(env(spec))
                        .set_layers(Some(layers.clone()))
                        .architectures(Architecture::from(spec.architecture.as_str()))
                        .code(
                            FunctionCode::builder()
                                .zip_file(Blob::new(spec.zip.as_ref().clone()))
                                .build(),
                        )
                        .set_tags(Some(spec.tags.clone().into_iter().collect()))
                        .customize()
                        .config_override(upload_config())
                        .send()
                        .await
                        .ctx("CreateFunction")
                })
                .await;
                match created {
                    Ok(_) => {}
                    // Our earlier attempt whose answer was lost; the next plan reconciles it.
                    Err(e) if e.code == "ResourceConflictException" => {
                        let owned = read_function(c, name)
                            .await?
                            .is_some_and(|f| f.owner() == Some(lab));
                        if !owned {
                            return Err(e);
                        }
                        run.note(format!("lambda function {name}: already existed"));
                    }
                    Err(e) => return Err(e),
                }
                if *wait_active {
                    settle(c, name, true).await?;
                }
            }
            FunctionStep::UpdateCode { zip, architecture } => {
                idle(c, name).await?;
                patiently(run, &format!("lambda function {name}"), false, || async {
                    l.update_function_code()
                        .function_name(name)
                        .zip_file(Blob::new(zip.as_ref().clone()))
                        .architectures(Architecture::from(architecture.as_str()))
                        .customize()
                        .config_override(upload_config())
                        .send()
                        .await
                        .ctx("UpdateFunctionCode")
                })
                .await?;
                settle(c, name, false).await?;
            }
            FunctionStep::UpdateConfig(spec) => {
                let layers = layer_arns(spec, run)?;
                idle(c, name).await?;
                patiently(
                    run,
                    &format!("lambda function {name}"),
                    spec.fresh_role,
                    || async {
                        l.update_function_configuration()
                            .function_name(name)
                            .role(&spec.role)
                            .runtime(Runtime::from(spec.runtime.as_str()))
                            .handler(&spec.handler)
                            .timeout(spec.timeout)
                            .memory_size(spec.memory)
                            .environment(env(spec))
                            .set_layers(Some(layers.clone()))
                            .send()
                            .await
                            .ctx("UpdateFunctionConfiguration")
                    },
                )
                .await?;
                settle(c, name, false).await?;
            }
            FunctionStep::Tag { arn, set, remove } => {
                if !remove.is_empty() {
                    l.untag_resource()
                        .resource(arn)
                        .set_tag_keys(Some(remove.clone()))
                        .send()
                        .await
                        .ctx("UntagResource")?;
                }
                if !set.is_empty() {
                    l.tag_resource()
                        .resource(arn)
                        .set_tags(Some(set.clone().into_iter().collect()))
                        .send()
                        .await
                        .ctx("TagResource")?;
                }
            }
            FunctionStep::Delete => {
                gone_ok(
                    l.delete_function()
                        .function_name(name)
                        .send()
                        .await
                        .ctx("DeleteFunction"),
                )?;
                // Lambda makes it on the first invocation and never deletes it: a later
                // lab of the same name would inherit the old logs.
                gone_ok(
                    c.logs
                        .delete_log_group()
                        .log_group_name(format!("/aws/lambda/{name}"))
                        .send()
                        .await
                        .ctx("DeleteLogGroup"),
                )?;
            }
        }
    }
    Ok(())
}

/// Lambda accepts permission changes while a new function is Pending: they are sent
/// while waiting for it to become Active, and the action ends when both are done.
pub(super) async fn execute_permissions(
    run: &Run,
    function: &str,
    steps: &[PermissionStep],
) -> Result<(), AwsError> {
    let c = &run.clients;
    let adds = steps
        .iter()
        .any(|s| matches!(s, PermissionStep::Add { .. }));
    let (sent, active) = tokio::join!(send_permissions(run, function, steps), async {
        if adds {
            settle(c, function, true).await
        } else {
            Ok(())
        }
    });
    sent.and(active)
}

async fn send_permissions(
    run: &Run,
    function: &str,
    steps: &[PermissionStep],
) -> Result<(), AwsError> {
    let c = &run.clients;
    for step in steps {
        match step {
            PermissionStep::Add {
                sid,
                principal,
                source_arn,
                source_account,
            } => {
                // Not idempotent on every implementation (an emulator appends a second
                // statement with the same Sid): sent once, checked after a failure.
                let has_sid = || async {
                    match c
                        .lambda
                        .get_policy()
                        .function_name(function)
                        .send()
                        .await
                        .ctx("GetPolicy")
                    {
                        Ok(p) => Ok(parse_policy(p.policy().unwrap_or_default()).contains_key(sid)),
                        Err(e) if e.class == Class::NotFound => Ok(false),
                        Err(e) => Err(e),
                    }
                };
                let r = patiently(
                    run,
                    &format!("lambda permissions {function}"),
                    false,
                    || {
                        run.once(
                            "AddPermission",
                            || async {
                                c.lambda
                                    .add_permission()
                                    .function_name(function)
                                    .statement_id(sid)
                                    .action("lambda:InvokeFunction")
                                    .principal(principal)
                                    .source_arn(source_arn)
                                    .set_source_account(source_account.clone())
                                    .customize()
                                    .config_override(
                                        aws_sdk_lambda::config::Builder::default().retry_config(
                                            aws_sdk_lambda::config::retry::RetryConfig::disabled(),
                                        ),
                                    )
                                    .send()
                                    .await
                                    .ctx("AddPermission")
                            },
                            has_sid,
                        )
                    },
                )
                .await;
                match r {
                    Err(e)
                        if e.code == "ResourceConflictException"
                            && e.message.contains("already exists") =>
                    {
                        run.note(format!(
                            "lambda permissions {function}: statement {sid} already existed"
                        ));
                    }
                    other => other.map(drop)?,
                }
            }
            PermissionStep::Remove { sid } => gone_ok(
                c.lambda
                    .remove_permission()
                    .function_name(function)
                    .statement_id(sid)
                    .send()
                    .await
                    .ctx("RemovePermission"),
            )?,
        }
    }
    Ok(())
}

//! Layers, functions and the functions' resource policies (who may invoke them).

use std::collections::BTreeMap;

use super::{
    Action, Addr, Change, Ctx, FunctionSpec, FunctionStep, Kind, LayerRef, LayerStep, Op,
    PermissionStep, Plan, PlanError, Work,
};
use crate::aws::iam::role_arn;
use crate::aws::lambda::{function_arn, layer_marker};
use crate::live::LivePermission;
use crate::model::{Lab, OWNER_TAG, Role, Tags, Via};

/// The description a layer version carries: its owner and content key.
pub fn layer_description(lab: &str, key: &str) -> String {
    format!("{}sha256={key}", layer_marker(lab))
}

/// The EventBridge rule of a function's `i`-th trigger.
pub fn rule_name(lab: &Lab, function: &str, i: usize) -> String {
    format!("{}-{i}", lab.physical(function))
}

pub fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{account}:rule/{name}")
}

fn addr(kind: Kind, name: &str) -> Addr {
    Addr {
        kind,
        name: name.to_owned(),
    }
}

pub(super) fn plan(cx: &Ctx, plan: &mut Plan) {
    let lab = cx.lab;
    let account = &cx.vars.account_id;
    let region = &cx.vars.region;
    // Layers: publish a version when none of ours carries the content key.
    let mut layer_refs: BTreeMap<String, LayerRef> = BTreeMap::new();
    for (logical, layer) in &lab.layers {
        let name = lab.physical(logical);
        if cx.live.foreign_layers.contains(&name) {
            plan.errors.push(PlanError {
                addr: addr(Kind::Layer, &name),
                message: format!(
                    "lambda layer `{name}` exists, and labctl published none of its versions"
                ),
                help: "it is someone else's layer: rename the layer in lab.yaml (or the lab)"
                    .into(),
            });
            continue;
        }
        let Some(key) = cx.art.layers.get(logical) else {
            continue;
        };
        let description = layer_description(&lab.name, key);
        // Of the versions with this content (a race can publish two), prefer one a
        // function already uses, so the lab converges instead of flapping.
        let in_use = |arn: &str| {
            cx.live
                .functions
                .values()
                .any(|f| f.layers.iter().any(|l| l == arn))
        };
        let matching: Vec<_> = cx
            .live
            .layers
            .get(&name)
            .map(|v| v.iter().filter(|x| x.description == description).collect())
            .unwrap_or_default();
        let existing = matching
            .iter()
            .find(|x| in_use(&x.arn))
            .or(matching.last())
            .copied();
        match existing {
            Some(v) => {
                layer_refs.insert(logical.clone(), LayerRef::Arn(v.arn.clone()));
            }
            None => {
                layer_refs.insert(logical.clone(), LayerRef::Published(name.clone()));
                let before = cx
                    .live
                    .layers
                    .get(&name)
                    .and_then(|v| v.last())
                    .map(|v| format!("version {}", v.version))
                    .unwrap_or_default();
                let what = match &layer.source {
                    crate::model::LayerSource::Requirements(r) => r.join(" "),
                    crate::model::LayerSource::Zip(p) => p.display().to_string(),
                };
                let mut a = Action::new(
                    addr(Kind::Layer, &name),
                    if before.is_empty() {
                        Op::Create
                    } else {
                        Op::Update
                    },
                    Work::Layer {
                        name: name.clone(),
                        steps: vec![LayerStep::Publish {
                            description,
                            source: layer.source.clone(),
                            runtimes: layer.runtimes.clone(),
                            architecture: layer.architecture,
                        }],
                    },
                );
                a.changes.push(Change {
                    attr: "content".into(),
                    before,
                    after: format!(
                        "new version: {what} for {} {}",
                        layer.runtimes.join(","),
                        layer.architecture.as_str()
                    ),
                    note: None,
                });
                plan.actions.push(a);
            }
        }
    }

    let role = match &lab.role {
        Some(Role::Managed(r)) => {
            let name = cx
                .vars
                .expand(&r.name, false)
                .unwrap_or_else(|_| r.name.clone());
            Some((
                cx.live
                    .roles
                    .get(&name)
                    .map(|l| l.arn.clone())
                    .unwrap_or_else(|| role_arn(account, &name)),
                Some(addr(Kind::Role, &name)),
            ))
        }
        Some(Role::Existing { .. }) => cx
            .live
            .existing_role
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|arn| (arn.clone(), None)),
        None => None,
    };

    let mut declared_fns = Vec::new();
    for (logical, f) in &lab.functions {
        let name = lab.physical(logical);
        declared_fns.push(name.clone());
        let fa = addr(Kind::Function, &name);
        let Some((role_arn, role_addr)) = role.clone() else {
            if lab.role.is_none() {
                plan.errors.push(PlanError {
                    addr: fa,
                    message: format!(
                        "function `{logical}` needs a role to run as, and the lab declares none"
                    ),
                    help: "add `role:` to lab.yaml (on AWS Academy: `role: { existing: LabRole }`)"
                        .into(),
                });
            }
            continue;
        };
        let Some((sha, zip)) = cx.art.functions.get(logical) else {
            continue;
        };
        let mut tags: Tags = lab.base_tags();
        tags.extend(f.tags.clone());
        tags.insert(OWNER_TAG.into(), lab.name.clone());
        let environment: BTreeMap<String, String> = f
            .environment
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    cx.vars.expand(v, true).unwrap_or_else(|_| v.clone()),
                )
            })
            .collect();
        let layers: Vec<LayerRef> = f
            .layers
            .iter()
            .filter_map(|l| layer_refs.get(l).cloned())
            .collect();
        let spec = FunctionSpec {
            role: role_arn.clone(),
            runtime: f.runtime.clone(),
            handler: f.handler.clone(),
            timeout: f.timeout,
            memory: f.memory,
            environment: environment.clone(),
            layers: layers.clone(),
            architecture: f.architecture.as_str().to_owned(),
            zip: zip.clone(),
            tags: tags.clone(),
        };
        let mut after: Vec<Addr> = role_addr.into_iter().collect();
        after.extend(f.layers.iter().map(|l| addr(Kind::Layer, &lab.physical(l))));
        let show_layers = |ls: &[LayerRef]| {
            ls.iter()
                .map(|l| match l {
                    LayerRef::Arn(a) => a
                        .rsplit(':')
                        .take(2)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join(":"),
                    LayerRef::Published(n) => format!("{n}:(new version)"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match cx.live.functions.get(&name) {
            None => {
                let mut a = Action::new(
                    fa,
                    Op::Create,
                    Work::Function {
                        name: name.clone(),
                        steps: vec![FunctionStep::Create {
                            spec: Box::new(spec),
                            wait_active: f.triggers.is_empty(),
                        }],
                    },
                );
                let c = |attr: &str, after: String| Change {
                    attr: attr.into(),
                    before: String::new(),
                    after,
                    note: None,
                };
                a.changes = vec![
                    c("runtime", f.runtime.clone()),
                    c("handler", f.handler.clone()),
                    c("code", sha.clone()),
                    c("memory", f.memory.to_string()),
                    c("timeout", f.timeout.to_string()),
                ];
                if !layers.is_empty() {
                    a.changes.push(c("layers", show_layers(&layers)));
                }
                a.after = after;
                plan.actions.push(a);
            }
            Some(live) => {
                if live.owner() != Some(lab.name.as_str()) {
                    let whose = live
                        .owner()
                        .map(|o| format!("belongs to lab `{o}`"))
                        .unwrap_or_else(|| "exists without labctl's tag".into());
                    plan.errors.push(PlanError { addr: fa, message: format!("function `{name}` {whose}"), help: "rename the function in lab.yaml or the lab, or delete the other function".into() });
                    continue;
                }
                let mut changes = Vec::new();
                let mut steps = Vec::new();
                let mut ch = |attr: &str, before: String, after: String| {
                    changes.push(Change {
                        attr: attr.into(),
                        before,
                        after,
                        note: None,
                    })
                };
                let code_changed =
                    live.code_sha256 != *sha || live.architecture != spec.architecture;
                if live.code_sha256 != *sha {
                    ch("code", live.code_sha256.clone(), sha.clone());
                }
                if live.architecture != spec.architecture {
                    ch(
                        "architecture",
                        live.architecture.clone(),
                        spec.architecture.clone(),
                    );
                }
                let mut config = false;
                for (attr, before, after) in [
                    ("runtime", live.runtime.clone(), f.runtime.clone()),
                    ("handler", live.handler.clone(), f.handler.clone()),
                    ("timeout", live.timeout.to_string(), f.timeout.to_string()),
                    ("memory", live.memory.to_string(), f.memory.to_string()),
                    ("role", live.role.clone(), role_arn.clone()),
                ] {
                    if before != after {
                        ch(attr, before, after);
                        config = true;
                    }
                }
                if live.environment != environment {
                    let show = |e: &BTreeMap<String, String>| {
                        e.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    ch("environment", show(&live.environment), show(&environment));
                    config = true;
                }
                let live_layers: Vec<LayerRef> = live
                    .layers
                    .iter()
                    .map(|a| LayerRef::Arn(a.clone()))
                    .collect();
                if live_layers != layers {
                    ch("layers", show_layers(&live_layers), show_layers(&layers));
                    config = true;
                }
                if code_changed {
                    steps.push(FunctionStep::UpdateCode {
                        zip: zip.clone(),
                        architecture: spec.architecture.clone(),
                    });
                }
                if config {
                    steps.push(FunctionStep::UpdateConfig(Box::new(spec)));
                }
                if live.tags != tags {
                    ch(
                        "tags",
                        super::bucket::fmt_tags(&live.tags),
                        super::bucket::fmt_tags(&tags),
                    );
                    let remove = live
                        .tags
                        .keys()
                        .filter(|k| !tags.contains_key(*k))
                        .cloned()
                        .collect();
                    let set = tags
                        .iter()
                        .filter(|(k, v)| live.tags.get(*k) != Some(v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    steps.push(FunctionStep::Tag {
                        arn: live.arn.clone(),
                        set,
                        remove,
                    });
                }
                if !steps.is_empty() {
                    let mut a = Action::new(
                        fa,
                        Op::Update,
                        Work::Function {
                            name: name.clone(),
                            steps,
                        },
                    );
                    a.changes = changes;
                    a.after = after;
                    plan.actions.push(a);
                }
            }
        }
        permissions(cx, logical, &name, plan);
    }

    // Functions tagged as the lab's that lab.yaml no longer declares. Their triggers go
    // first: a notification naming a deleted function breaks every later write of the
    // bucket's notification configuration.
    for (name, live) in &cx.live.functions {
        if declared_fns.contains(name) || live.owner() != Some(lab.name.as_str()) {
            continue;
        }
        let mut a = Action::new(
            addr(Kind::Function, name),
            Op::Delete,
            Work::Function {
                name: name.clone(),
                steps: vec![FunctionStep::Delete],
            },
        );
        a.reason = Some(super::gone(cx.opts).into());
        a.after = cx
            .live
            .notifications
            .keys()
            .map(|b| addr(Kind::Notification, b))
            .chain(cx.live.rules.keys().map(|r| addr(Kind::Rule, r)))
            .collect();
        plan.actions.push(a);
    }

    // Layer versions the lab published for layers it no longer declares, and on destroy
    // every version: after the functions that use them have moved or gone.
    for (name, versions) in &cx.live.layers {
        let declared = lab.layers.keys().any(|l| &lab.physical(l) == name);
        if declared {
            continue;
        }
        let steps = versions
            .iter()
            .map(|v| LayerStep::DeleteVersion(v.version))
            .collect();
        let mut a = Action::new(
            addr(Kind::Layer, name),
            Op::Delete,
            Work::Layer {
                name: name.clone(),
                steps,
            },
        );
        a.reason = Some(format!(
            "{} version(s) published by this lab, no longer in lab.yaml",
            versions.len()
        ));
        a.after = cx
            .live
            .functions
            .keys()
            .chain(declared_fns.iter())
            .map(|f| addr(Kind::Function, f))
            .collect();
        plan.actions.push(a);
    }
    let _ = region;
}

/// The statements that let S3 (direct triggers) and EventBridge (rules) invoke a function.
fn permissions(cx: &Ctx, logical: &str, name: &str, plan: &mut Plan) {
    let lab = cx.lab;
    let f = &lab.functions[logical];
    let account = &cx.vars.account_id;
    let mut want: BTreeMap<String, LivePermission> = BTreeMap::new();
    for (i, t) in f.triggers.iter().enumerate() {
        let Some(bucket) = cx.vars.buckets.get(&t.bucket) else {
            continue;
        };
        match t.via {
            Via::S3 => {
                want.insert(
                    format!("labctl-s3-{bucket}"),
                    LivePermission {
                        principal: "s3.amazonaws.com".into(),
                        source_arn: Some(format!("arn:aws:s3:::{bucket}")),
                        source_account: Some(account.clone()),
                    },
                );
            }
            Via::EventBridge => {
                let rule = rule_name(lab, logical, i);
                want.insert(
                    format!("labctl-events-{rule}"),
                    LivePermission {
                        principal: "events.amazonaws.com".into(),
                        source_arn: Some(rule_arn(&cx.vars.region, account, &rule)),
                        source_account: None,
                    },
                );
            }
        }
    }
    let have = cx
        .live
        .functions
        .get(name)
        .map(|l| l.permissions.clone())
        .unwrap_or_default();
    let mut steps = Vec::new();
    let mut changes = Vec::new();
    for (sid, p) in &want {
        match have.get(sid) {
            Some(h) if h == p => {}
            h => {
                if h.is_some() {
                    steps.push(PermissionStep::Remove { sid: sid.clone() });
                }
                steps.push(PermissionStep::Add {
                    sid: sid.clone(),
                    principal: p.principal.clone(),
                    source_arn: p.source_arn.clone().unwrap_or_default(),
                    source_account: p.source_account.clone(),
                });
                changes.push(Change {
                    attr: sid.clone(),
                    before: h.map(|h| h.principal.clone()).unwrap_or_default(),
                    after: format!(
                        "{} from {}",
                        p.principal,
                        p.source_arn.clone().unwrap_or_default()
                    ),
                    note: None,
                });
            }
        }
    }
    // Only statements labctl wrote (by their Sid prefix) are removed.
    for sid in have
        .keys()
        .filter(|s| s.starts_with("labctl-") && !want.contains_key(*s))
    {
        steps.push(PermissionStep::Remove { sid: sid.clone() });
        changes.push(Change {
            attr: sid.clone(),
            before: "present".into(),
            after: "(none)".into(),
            note: None,
        });
    }
    if steps.is_empty() {
        return;
    }
    let op = if have.keys().any(|s| s.starts_with("labctl-")) {
        Op::Update
    } else {
        Op::Create
    };
    let mut a = Action::new(
        addr(Kind::Permissions, name),
        op,
        Work::Permissions {
            function: name.to_owned(),
            steps,
        },
    );
    a.changes = changes;
    a.after = vec![addr(Kind::Function, name)];
    // Take S3's right to invoke away only after the bucket stopped naming the function,
    // or the bucket keeps an entry S3 can no longer deliver.
    for sid in have.keys().filter(|s| !want.contains_key(*s)) {
        if let Some(bucket) = sid.strip_prefix("labctl-s3-") {
            a.after.push(addr(Kind::Notification, bucket));
        }
    }
    plan.actions.push(a);
    let _ = function_arn;
}

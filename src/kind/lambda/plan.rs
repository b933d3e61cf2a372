//! Layers, functions and the functions' resource policies (who may invoke them).

use std::collections::BTreeMap;

use super::{
    FUNCTION, FunctionSpec, FunctionStep, LAYER, LayerRef, LayerStep, LivePermission, MAX_UNZIPPED,
    MAX_ZIPPED, PERMISSIONS, PermissionStep, Via, Work,
};
use crate::kind::bucket::NOTIFICATION;
use crate::kind::role::{self, ROLE, Role};
use crate::kind::{Ctx, Emit};
use crate::names::{
    bucket_arn, bucket_of_s3_sid, events_permission_sid, layer_description, role_arn, rule_arn,
    rule_name, s3_permission_sid,
};
use crate::plan::tags;
use crate::plan::{Addr, Change, PlanError};

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let lab = cx.lab;
    let live = &cx.live.lambda;
    let art = &live.artifacts;
    let account = &cx.vars.account_id;
    // Layers: publish a version when none of ours carries the content key.
    let mut layer_refs: BTreeMap<String, LayerRef> = BTreeMap::new();
    for (logical, layer) in &lab.lambda.layers {
        let name = lab.physical(logical);
        let addr = Addr::new(LAYER, name.clone());
        if live.foreign_layers.contains(&name) {
            out.error(PlanError {
                addr,
                message: format!(
                    "lambda layer `{name}` exists, and labctl published none of its versions"
                ),
                help: "it is someone else's layer: rename the layer in lab.yaml (or the lab)"
                    .into(),
            });
            continue;
        }
        let Some(built) = art.layers.get(logical) else {
            continue;
        };
        let description = layer_description(&lab.name, &built.key);
        // Of the versions with this content (a race can publish two), prefer one a
        // function already uses, so the lab converges instead of flapping.
        let in_use = |arn: &str| {
            live.functions
                .values()
                .any(|f| f.layers.iter().any(|l| l == arn))
        };
        let matching: Vec<_> = live
            .layers
            .get(&name)
            .map(|v| v.iter().filter(|x| x.description == description).collect())
            .unwrap_or_default();
        let existing = matching
            .iter()
            .find(|x| in_use(&x.arn))
            .or(matching.last())
            .copied();
        if let Some(v) = existing {
            layer_refs.insert(logical.clone(), LayerRef::Arn(v.arn.clone()));
            continue;
        }
        if let Some(why) = &built.build_error {
            out.error(PlanError {
                addr,
                message: format!("layer `{logical}` (line {}) cannot be built: {why}", layer.pos.line),
                help: "check the requirements (pinned `Package==1.2.3`, with wheels for the layer's Python and architecture) and that pip can reach PyPI".into(),
            });
            continue;
        }
        if let Some(n) = built.zipped.filter(|n| *n > MAX_ZIPPED) {
            out.error(PlanError {
                addr,
                message: format!(
                    "layer `{logical}` (line {}) is {} zipped; Lambda takes {} uploaded directly",
                    layer.pos.line,
                    mb(n),
                    mb(MAX_ZIPPED)
                ),
                help:
                    "split its packages into two layers, or drop those the functions do not import"
                        .into(),
            });
            continue;
        }
        layer_refs.insert(logical.clone(), LayerRef::Published(name.clone()));
        let latest = live.layers.get(&name).and_then(|v| v.last());
        let what = match &layer.source {
            super::LayerSource::Requirements(r) => r.join(" "),
            super::LayerSource::Zip(p) => p.display().to_string(),
        };
        let work = Work::Layer {
            name: name.clone(),
            steps: vec![LayerStep::Publish {
                description,
                source: layer.source.clone(),
                runtimes: layer.runtimes.clone(),
                architecture: layer.architecture,
            }],
        };
        // A new version of a layer whose versions the read found to be the lab's
        // (marked in their description) is an update of it.
        let a = match latest.and_then(|_| cx.owned(addr.clone(), Some(&lab.name))) {
            Some(owned) => out.update(owned, work),
            None => out.create(addr, work),
        };
        a.changes.push(Change::new(
            "content",
            latest
                .map(|v| format!("version {}", v.version))
                .unwrap_or_default(),
            format!(
                "new version: {what} for {} {}",
                layer.runtimes.join(","),
                layer.architecture.as_str()
            ),
        ));
    }

    let role = match &lab.role {
        Some(Role::Managed(r)) => {
            let name = role::name(r, cx.vars);
            Some((
                cx.live
                    .role
                    .roles
                    .get(&name)
                    .map(|l| l.arn.clone())
                    .unwrap_or_else(|| role_arn(account, &name)),
                Some(Addr::new(ROLE, name)),
            ))
        }
        Some(Role::Existing { .. }) => cx
            .live
            .role
            .existing
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|arn| (arn.clone(), None)),
        None => None,
    };

    let mut declared_fns = Vec::new();
    for (logical, f) in &lab.lambda.functions {
        let name = lab.physical(logical);
        declared_fns.push(name.clone());
        let fa = Addr::new(FUNCTION, name.clone());
        let Some((role_arn, role_addr)) = role.clone() else {
            if lab.role.is_none() {
                out.error(PlanError {
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
        let Some(pkg) = art.functions.get(logical) else {
            continue;
        };
        let (sha, zip) = (&pkg.sha256, &pkg.zip);
        if !fits(cx, logical, f, pkg, out) {
            continue;
        }
        let tags = cx.tags(&f.tags);
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
            fresh_role: role_addr.as_ref().is_some_and(|r| out.planned(r).is_some()),
        };
        let mut after: Vec<Addr> = role_addr.into_iter().collect();
        after.extend(f.layers.iter().map(|l| Addr::new(LAYER, lab.physical(l))));
        match live.functions.get(&name) {
            None => {
                let a = out.create(
                    fa,
                    Work::Function {
                        name: name.clone(),
                        steps: vec![FunctionStep::Create {
                            spec: Box::new(spec),
                            wait_active: f.triggers.is_empty(),
                        }],
                    },
                );
                a.changes = vec![
                    Change::new_value("runtime", f.runtime.clone()),
                    Change::new_value("handler", f.handler.clone()),
                    Change::new_value("code", sha.clone()),
                    Change::new_value("memory", f.memory.to_string()),
                    Change::new_value("timeout", f.timeout.to_string()),
                ];
                if !layers.is_empty() {
                    a.changes
                        .push(Change::new_value("layers", show_layers(&layers)));
                }
                a.after = after;
            }
            Some(lf) => {
                let owned = match cx.claim(
                    fa,
                    lf.owner(),
                    "function",
                    "rename the function in lab.yaml or the lab, or delete the other function",
                ) {
                    Ok(o) => o,
                    Err(e) => {
                        out.error(e);
                        continue;
                    }
                };
                let mut changes = Vec::new();
                let mut steps = Vec::new();
                let code_changed = lf.code_sha256 != *sha || lf.architecture != spec.architecture;
                if lf.code_sha256 != *sha {
                    changes.push(Change::new("code", lf.code_sha256.clone(), sha.clone()));
                }
                if lf.architecture != spec.architecture {
                    changes.push(Change::new(
                        "architecture",
                        lf.architecture.clone(),
                        spec.architecture.clone(),
                    ));
                }
                let mut config = false;
                for (attr, before, after) in [
                    ("runtime", lf.runtime.clone(), f.runtime.clone()),
                    ("handler", lf.handler.clone(), f.handler.clone()),
                    ("timeout", lf.timeout.to_string(), f.timeout.to_string()),
                    ("memory", lf.memory.to_string(), f.memory.to_string()),
                    ("role", lf.role.clone(), role_arn.clone()),
                ] {
                    if before != after {
                        changes.push(Change::new(attr, before, after));
                        config = true;
                    }
                }
                if lf.environment != environment {
                    let show = |e: &BTreeMap<String, String>| {
                        e.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    changes.push(Change::new(
                        "environment",
                        show(&lf.environment),
                        show(&environment),
                    ));
                    config = true;
                }
                let live_layers: Vec<LayerRef> =
                    lf.layers.iter().map(|a| LayerRef::Arn(a.clone())).collect();
                if live_layers != layers {
                    changes.push(Change::new(
                        "layers",
                        show_layers(&live_layers),
                        show_layers(&layers),
                    ));
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
                if let Some((delta, change)) = tags::diff(&lf.tags, &tags) {
                    changes.push(change);
                    steps.push(FunctionStep::Tag {
                        arn: lf.arn.clone(),
                        set: delta.set,
                        remove: delta.remove,
                    });
                }
                if !steps.is_empty() {
                    let a = out.update(
                        owned,
                        Work::Function {
                            name: name.clone(),
                            steps,
                        },
                    );
                    a.changes = changes;
                    a.after = after;
                }
            }
        }
        permissions(cx, logical, &name, out);
    }

    // Functions tagged as the lab's that lab.yaml no longer declares. Their triggers go
    // first (the trigger family's USES): a notification naming a deleted function
    // breaks every later write of the bucket's notification configuration.
    for (name, lf) in &live.functions {
        if declared_fns.contains(name) {
            continue;
        }
        if let Some(owned) = cx.owned(Addr::new(FUNCTION, name.clone()), lf.owner()) {
            out.delete(
                owned,
                Work::Function {
                    name: name.clone(),
                    steps: vec![FunctionStep::Delete],
                },
            );
        }
    }

    // Layer versions the lab published for layers it no longer declares, and on destroy
    // every version: after the functions that use them have moved or gone.
    for (name, versions) in &live.layers {
        if lab.lambda.layers.keys().any(|l| &lab.physical(l) == name) {
            continue;
        }
        // The read keeps only the versions whose description carries the lab's mark.
        let Some(owned) = cx.owned(Addr::new(LAYER, name.clone()), Some(&lab.name)) else {
            continue;
        };
        let steps = versions
            .iter()
            .map(|v| LayerStep::DeleteVersion(v.version))
            .collect();
        out.delete(
            owned,
            Work::Layer {
                name: name.clone(),
                steps,
            },
        )
        .reason = Some(format!(
            "{} version(s) published by this lab, no longer in lab.yaml",
            versions.len()
        ));
    }
}

/// Whether a function's package is within what Lambda takes: 50 MB zipped, and 250 MB
/// unzipped with its layers (those whose size is known). Otherwise a plan error says
/// what to do, before anything is written.
fn fits(
    cx: &Ctx<'_>,
    logical: &str,
    f: &super::Function,
    pkg: &super::FunctionPackage,
    out: &mut Emit<'_, Work>,
) -> bool {
    let addr = Addr::new(FUNCTION, cx.lab.physical(logical));
    let zipped = pkg.zip.len() as u64;
    if zipped > MAX_ZIPPED {
        out.error(PlanError {
            addr,
            message: format!("function `{logical}` (line {}): its package is {} zipped; Lambda takes {} uploaded directly", f.pos.line, mb(zipped), mb(MAX_ZIPPED)),
            help: "move its dependencies into a layer (`layers:` with `requirements:`)".into(),
        });
        return false;
    }
    let mut parts = vec![format!("code {}", mb(pkg.unzipped))];
    let mut total = pkg.unzipped;
    for l in &f.layers {
        if let Some(n) = cx
            .live
            .lambda
            .artifacts
            .layers
            .get(l)
            .and_then(|a| a.unzipped)
        {
            total += n;
            parts.push(format!("layer {l} {}", mb(n)));
        }
    }
    if total > MAX_UNZIPPED {
        out.error(PlanError {
            addr,
            message: format!("function `{logical}` (line {}) unzips to {} with its layers ({}); Lambda allows {}", f.pos.line, mb(total), parts.join(", "), mb(MAX_UNZIPPED)),
            help: "drop packages the function does not import, or split the work across functions".into(),
        });
        return false;
    }
    true
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

fn show_layers(ls: &[LayerRef]) -> String {
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
}

/// The statements that let S3 (direct triggers) and EventBridge (rules) invoke a function.
fn permissions(cx: &Ctx<'_>, logical: &str, name: &str, out: &mut Emit<'_, Work>) {
    let lab = cx.lab;
    let f = &lab.lambda.functions[logical];
    let account = &cx.vars.account_id;
    let mut want: BTreeMap<String, LivePermission> = BTreeMap::new();
    for (i, t) in f.triggers.iter().enumerate() {
        let Some(bucket) = cx.vars.buckets.get(&t.bucket) else {
            continue;
        };
        match t.via {
            Via::S3 => {
                want.insert(
                    s3_permission_sid(bucket),
                    LivePermission {
                        principal: "s3.amazonaws.com".into(),
                        source_arn: Some(bucket_arn(bucket)),
                        source_account: Some(account.clone()),
                    },
                );
            }
            Via::EventBridge => {
                let rule = rule_name(name, i);
                want.insert(
                    events_permission_sid(&rule),
                    LivePermission {
                        principal: "events.amazonaws.com".into(),
                        source_arn: Some(rule_arn(&cx.vars.region, account, &rule)),
                        source_account: None,
                    },
                );
            }
        }
    }
    let live = cx.live.lambda.functions.get(name);
    let have = live.map(|l| l.permissions.clone()).unwrap_or_default();
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
                changes.push(Change::new(
                    sid.clone(),
                    h.map(|h| h.principal.clone()).unwrap_or_default(),
                    format!(
                        "{} from {}",
                        p.principal,
                        p.source_arn.clone().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    // Only statements labctl wrote (by their Sid prefix) are removed.
    for sid in have
        .keys()
        .filter(|s| s.starts_with("labctl-") && !want.contains_key(*s))
    {
        steps.push(PermissionStep::Remove { sid: sid.clone() });
        changes.push(Change::new(sid.clone(), "present", "(none)"));
    }
    if steps.is_empty() {
        return;
    }
    let addr = Addr::new(PERMISSIONS, name);
    let work = Work::Permissions {
        function: name.to_owned(),
        steps,
    };
    // The function's policy is the function's: the lab's when the function is.
    let owned = live
        .filter(|_| have.keys().any(|s| s.starts_with("labctl-")))
        .and_then(|l| cx.owned(addr.clone(), l.owner()));
    let a = match owned {
        Some(owned) => out.update(owned, work),
        None => out.create(addr, work),
    };
    a.changes = changes;
    a.after = vec![Addr::new(FUNCTION, name)];
    // Take S3's right to invoke away only after the bucket stopped naming the function,
    // or the bucket keeps an entry S3 can no longer deliver.
    for sid in have.keys().filter(|s| !want.contains_key(*s)) {
        if let Some(bucket) = bucket_of_s3_sid(sid) {
            a.after.push(Addr::new(NOTIFICATION, bucket));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layer_names_read_as_name_and_version() {
        let refs = [
            super::LayerRef::Arn("arn:aws:lambda:us-east-1:1:layer:demo-pillow:3".into()),
            super::LayerRef::Published("demo-other".into()),
        ];
        assert_eq!(
            super::show_layers(&refs),
            "demo-pillow:3, demo-other:(new version)"
        );
    }
}

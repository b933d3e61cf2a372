//! What the lab's role should be, compared by meaning: trust, inline policies, managed
//! policy attachments and tags, each on its own.

use std::collections::BTreeSet;

use super::{ROLE, Role, Step, Work, policy};
use crate::kind::{Ctx, Emit};
use crate::plan::tags;
use crate::plan::{Addr, Change, PlanError};

pub(super) fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
    let lab = cx.lab;
    let declared = match &lab.role {
        Some(Role::Managed(r)) => Some(r),
        Some(Role::Existing { name, .. }) => {
            if let Some(Err(why)) = &cx.live.role.existing {
                out.error(PlanError {
                    addr: Addr::new(ROLE, name.clone()),
                    message: why.clone(),
                    help: "on AWS Academy the role is `LabRole`; elsewhere create the role, or let labctl create one (`role: { name: ..., trust: [...] }`)".into(),
                });
            }
            None
        }
        None => None,
    };
    let mut declared_name = None;
    if let Some(r) = declared {
        let name = super::name(r, cx.vars);
        declared_name = Some(name.clone());
        let addr = Addr::new(ROLE, name.clone());
        if cx.opts.learner_lab {
            out.error(PlanError {
                addr,
                message: "this is an AWS Academy Learner Lab session, where creating or changing IAM roles is denied".into(),
                help: "use the role the Learner Lab provides: `role: { existing: LabRole }` (see lab.academy.yaml)".into(),
            });
            return;
        }
        let trust = policy::trust_document(&r.trust);
        let docs: Vec<(String, String)> = r
            .policies
            .iter()
            .map(|(n, st)| (n.clone(), policy::document(st, cx.vars).unwrap_or_default()))
            .collect();
        let tags = cx.tags(&r.tags);
        match cx.live.role.roles.get(&name) {
            None => {
                let mut steps = vec![Step::Create {
                    trust: trust.clone(),
                    tags: tags.clone(),
                }];
                let mut changes = vec![Change::new_value("trust", r.trust.join(", "))];
                for (n, d) in &docs {
                    steps.push(Step::PutPolicy(n.clone(), d.clone()));
                    changes.push(Change::new_value(
                        format!("inline policy {n}"),
                        format!("{} statement(s)", r.policies[n].len()),
                    ));
                }
                for arn in &r.managed_policies {
                    steps.push(Step::Attach(arn.clone()));
                }
                if !r.managed_policies.is_empty() {
                    changes.push(Change::new_value(
                        "managed policies",
                        r.managed_policies.join(", "),
                    ));
                }
                out.create(addr, Work { name, steps }).changes = changes;
            }
            Some(live) => {
                let owned = match cx.claim(
                    addr,
                    live.owner(),
                    "role",
                    "choose another role name, or use it as it is with `role: { existing: NAME }`",
                ) {
                    Ok(o) => o,
                    Err(e) => return out.error(e),
                };
                let mut steps = Vec::new();
                let mut changes = Vec::new();
                if !policy::same(&live.trust, &trust) {
                    changes.push(Change::new("trust", live.trust.clone(), trust.clone()));
                    steps.push(Step::UpdateTrust(trust));
                }
                for (n, d) in &docs {
                    match live.inline.get(n) {
                        Some(have) if policy::same(have, d) => {}
                        have => {
                            changes.push(Change::new(
                                format!("inline policy {n}"),
                                have.cloned().unwrap_or_else(|| "(none)".into()),
                                d.clone(),
                            ));
                            steps.push(Step::PutPolicy(n.clone(), d.clone()));
                        }
                    }
                }
                for n in live.inline.keys().filter(|n| !r.policies.contains_key(*n)) {
                    changes.push(Change::new(
                        format!("inline policy {n}"),
                        "present",
                        "(none)",
                    ));
                    steps.push(Step::DeletePolicy(n.clone()));
                }
                let want: BTreeSet<&String> = r.managed_policies.iter().collect();
                let have: BTreeSet<&String> = live.attached.iter().collect();
                for a in want.difference(&have) {
                    steps.push(Step::Attach((*a).clone()));
                }
                for a in have.difference(&want) {
                    steps.push(Step::Detach((*a).clone()));
                }
                if want != have {
                    let show = |s: &BTreeSet<&String>| {
                        if s.is_empty() {
                            "(none)".to_owned()
                        } else {
                            s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
                        }
                    };
                    changes.push(Change::new("managed policies", show(&have), show(&want)));
                }
                if let Some((delta, change)) = tags::diff(&live.tags, &tags) {
                    changes.push(change);
                    if !delta.remove.is_empty() {
                        steps.push(Step::Untag(delta.remove));
                    }
                    steps.push(Step::Tag(tags));
                }
                if !steps.is_empty() {
                    out.update(owned, Work { name, steps }).changes = changes;
                }
            }
        }
    }
    // Roles tagged as the lab's that lab.yaml no longer declares: detach, delete inline
    // policies, then the role (IAM refuses the role while anything is attached).
    for (name, live) in &cx.live.role.roles {
        if Some(name) == declared_name.as_ref() {
            continue;
        }
        let Some(owned) = cx.owned(Addr::new(ROLE, name.clone()), live.owner()) else {
            continue;
        };
        let mut steps: Vec<Step> = live
            .attached
            .iter()
            .map(|a| Step::Detach(a.clone()))
            .collect();
        steps.extend(live.inline.keys().map(|n| Step::DeletePolicy(n.clone())));
        steps.push(Step::Delete);
        out.delete(
            owned,
            Work {
                name: name.clone(),
                steps,
            },
        );
    }
}

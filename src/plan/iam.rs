//! The lab's role: created with its trust policy, inline policies, managed policy
//! attachments and tags; compared by meaning, never by text.

use std::collections::BTreeSet;

use super::{Action, Addr, Change, Ctx, Kind, Op, Plan, PlanError, RoleStep, Work};
use crate::model::{OWNER_TAG, Role};
use crate::policy;

pub(super) fn plan(cx: &Ctx, plan: &mut Plan) {
    let lab = cx.lab;
    let declared = match &lab.role {
        Some(Role::Managed(r)) => Some(r),
        Some(Role::Existing { name, .. }) => {
            if let Some(Err(why)) = &cx.live.existing_role {
                plan.errors.push(PlanError {
                    addr: Addr { kind: Kind::Role, name: name.clone() },
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
        let name = cx
            .vars
            .expand(&r.name, false)
            .unwrap_or_else(|_| r.name.clone());
        declared_name = Some(name.clone());
        let addr = Addr {
            kind: Kind::Role,
            name: name.clone(),
        };
        if cx.opts.learner_lab {
            plan.errors.push(PlanError {
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
        let mut tags = lab.base_tags();
        tags.extend(r.tags.clone());
        tags.insert(OWNER_TAG.into(), lab.name.clone());
        match cx.live.roles.get(&name) {
            None => {
                let mut steps = vec![RoleStep::Create {
                    trust: trust.clone(),
                    tags: tags.clone(),
                }];
                let mut changes = vec![Change {
                    attr: "trust".into(),
                    before: String::new(),
                    after: r.trust.join(", "),
                    note: None,
                }];
                for (n, d) in &docs {
                    steps.push(RoleStep::PutPolicy(n.clone(), d.clone()));
                    changes.push(Change {
                        attr: format!("inline policy {n}"),
                        before: String::new(),
                        after: format!("{} statement(s)", r.policies[n].len()),
                        note: None,
                    });
                }
                for arn in &r.managed_policies {
                    steps.push(RoleStep::Attach(arn.clone()));
                }
                if !r.managed_policies.is_empty() {
                    changes.push(Change {
                        attr: "managed policies".into(),
                        before: String::new(),
                        after: r.managed_policies.join(", "),
                        note: None,
                    });
                }
                plan.actions.push(Action {
                    changes,
                    ..Action::new(addr, Op::Create, Work::Role { name, steps })
                });
            }
            Some(live) => {
                if live.owner() != Some(lab.name.as_str()) {
                    let whose = live
                        .owner()
                        .map(|o| format!("belongs to lab `{o}`"))
                        .unwrap_or_else(|| "exists without labctl's tag".into());
                    plan.errors.push(PlanError { addr, message: format!("role `{name}` {whose}"), help: "choose another role name, or use it as it is with `role: { existing: NAME }`".into() });
                    return;
                }
                let mut steps = Vec::new();
                let mut changes = Vec::new();
                if !policy::same(&live.trust, &trust) {
                    changes.push(Change {
                        attr: "trust".into(),
                        before: live.trust.clone(),
                        after: trust.clone(),
                        note: None,
                    });
                    steps.push(RoleStep::UpdateTrust(trust));
                }
                for (n, d) in &docs {
                    match live.inline.get(n) {
                        Some(have) if policy::same(have, d) => {}
                        have => {
                            changes.push(Change {
                                attr: format!("inline policy {n}"),
                                before: have.cloned().unwrap_or_else(|| "(none)".into()),
                                after: d.clone(),
                                note: None,
                            });
                            steps.push(RoleStep::PutPolicy(n.clone(), d.clone()));
                        }
                    }
                }
                for n in live.inline.keys().filter(|n| !r.policies.contains_key(*n)) {
                    changes.push(Change {
                        attr: format!("inline policy {n}"),
                        before: "present".into(),
                        after: "(none)".into(),
                        note: None,
                    });
                    steps.push(RoleStep::DeletePolicy(n.clone()));
                }
                let want: BTreeSet<&String> = r.managed_policies.iter().collect();
                let have: BTreeSet<&String> = live.attached.iter().collect();
                for a in want.difference(&have) {
                    steps.push(RoleStep::Attach((*a).clone()));
                }
                for a in have.difference(&want) {
                    steps.push(RoleStep::Detach((*a).clone()));
                }
                if want != have {
                    let show = |s: &BTreeSet<&String>| {
                        if s.is_empty() {
                            "(none)".to_owned()
                        } else {
                            s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")
                        }
                    };
                    changes.push(Change {
                        attr: "managed policies".into(),
                        before: show(&have),
                        after: show(&want),
                        note: None,
                    });
                }
                if live.tags != tags {
                    let remove: Vec<String> = live
                        .tags
                        .keys()
                        .filter(|k| !tags.contains_key(*k))
                        .cloned()
                        .collect();
                    changes.push(Change {
                        attr: "tags".into(),
                        before: super::bucket::fmt_tags(&live.tags),
                        after: super::bucket::fmt_tags(&tags),
                        note: None,
                    });
                    if !remove.is_empty() {
                        steps.push(RoleStep::Untag(remove));
                    }
                    steps.push(RoleStep::Tag(tags));
                }
                if !steps.is_empty() {
                    plan.actions.push(Action {
                        changes,
                        ..Action::new(addr, Op::Update, Work::Role { name, steps })
                    });
                }
            }
        }
    }
    // Roles tagged as the lab's that lab.yaml no longer declares: detach, delete inline
    // policies, then the role (IAM refuses the role while anything is attached).
    for (name, live) in &cx.live.roles {
        if Some(name) == declared_name.as_ref() || live.owner() != Some(lab.name.as_str()) {
            continue;
        }
        let mut steps: Vec<RoleStep> = live
            .attached
            .iter()
            .map(|a| RoleStep::Detach(a.clone()))
            .collect();
        steps.extend(
            live.inline
                .keys()
                .map(|n| RoleStep::DeletePolicy(n.clone())),
        );
        steps.push(RoleStep::Delete);
        let mut a = Action::new(
            Addr {
                kind: Kind::Role,
                name: name.clone(),
            },
            Op::Delete,
            Work::Role {
                name: name.clone(),
                steps,
            },
        );
        a.reason = Some(super::gone(cx.opts).into());
        // After the functions that run as it are gone or moved.
        a.after = cx
            .live
            .functions
            .keys()
            .map(|f| Addr {
                kind: Kind::Function,
                name: f.clone(),
            })
            .collect();
        plan.actions.push(a);
    }
}

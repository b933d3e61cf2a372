//! The planner: lab.yaml and live state in, a list of actions with "must happen after"
//! edges out. Pure and synchronous: it never awaits and never calls AWS, so every
//! decision it makes is unit-testable with a hand-written `LiveState`.

mod bucket;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::live::{LiveState, RuleState};
use crate::model::{Lab, Tags};
use crate::template::Vars;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Bucket,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Bucket => "s3 bucket",
        }
    }
}

/// A resource's address in a plan: its kind and physical name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub kind: Kind,
    pub name: String,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.label(), self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    /// Only possible by deleting and creating again.
    Replace,
    Delete,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Create => "+",
            Op::Update => "~",
            Op::Replace => "-/+",
            Op::Delete => "-",
        }
    }
    pub fn verb(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Replace => "replace",
            Op::Delete => "delete",
        }
    }
}

/// One attribute that differs: shown as `attr: before -> after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub attr: String,
    pub before: String,
    pub after: String,
    /// Why it is done this way, when that is not obvious (e.g. suspend, not disable).
    pub note: Option<String>,
}

/// The AWS calls one action makes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Bucket {
        name: String,
        steps: Vec<BucketStep>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BucketStep {
    Create,
    PutTags(Tags),
    PutPublicAccessBlock([bool; 4]),
    PutVersioning(bool),
    PutEncryption(String, Option<String>),
    PutLifecycle(Vec<RuleState>),
    DeleteLifecycle,
    Delete,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub addr: Addr,
    pub op: Op,
    pub changes: Vec<Change>,
    /// Why the action exists, when the op alone does not say (adoption, deletion).
    pub reason: Option<String>,
    /// Indexes into `Plan::actions` that must finish first.
    pub deps: Vec<usize>,
    pub work: Work,
}

/// A problem that stops the plan: nothing is applied while any exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub addr: Addr,
    pub message: String,
    pub help: String,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub errors: Vec<PlanError>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |f: fn(Op) -> bool| self.actions.iter().filter(|a| f(a.op)).count();
        (
            n(|o| matches!(o, Op::Create | Op::Replace)),
            n(|o| o == Op::Update),
            n(|o| matches!(o, Op::Delete | Op::Replace)),
        )
    }
}

/// What the user allowed for this run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Take over existing, untagged buckets of this account that lab.yaml declares.
    pub adopt: bool,
}

/// Diffs the lab against live state. `vars` carries the real account id.
pub fn diff(lab: &Lab, vars: &Vars, live: &LiveState, opts: Options) -> Plan {
    let mut plan = Plan::default();
    bucket::plan(lab, vars, live, opts, &mut plan);
    let pending: Vec<&str> = [
        ("role", lab.role.is_some()),
        ("layers", !lab.layers.is_empty()),
        ("functions", !lab.functions.is_empty()),
        ("network", lab.network.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    if !pending.is_empty() {
        plan.warnings.push(format!(
            "{} validated but not provisioned yet: this version of labctl provisions buckets only",
            pending.join(", ")
        ));
    }
    plan
}

/// Physical bucket names of the lab, in declaration order of their logical names.
pub fn bucket_names(lab: &Lab, vars: &Vars) -> Vec<(String, String)> {
    lab.buckets
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                vars.expand(&b.name, false)
                    .unwrap_or_else(|_| b.name.clone()),
            )
        })
        .collect()
}

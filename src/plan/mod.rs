//! The planner: lab.yaml and live state in, a list of actions with "must happen after"
//! edges out. Pure and synchronous: it never awaits and never calls AWS, so every
//! decision it makes is unit-testable with a hand-written `LiveState`.

mod bucket;
mod iam;
mod lambda;
mod network;
#[cfg(test)]
mod tests;
pub(crate) mod trigger;

use std::fmt;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::live::{LiveNotification, LiveState, RuleState, SgRuleState};
use crate::model::{Arch, Lab, LayerSource, Tags};
use crate::template::Vars;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Bucket,
    Role,
    Layer,
    Function,
    Permissions,
    Notification,
    Rule,
    Subnet,
    Group,
    GroupRules,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Bucket => "s3 bucket",
            Kind::Role => "iam role",
            Kind::Layer => "lambda layer",
            Kind::Function => "lambda function",
            Kind::Permissions => "lambda permissions",
            Kind::Notification => "s3 notification",
            Kind::Rule => "eventbridge rule",
            Kind::Subnet => "ec2 subnet",
            Kind::Group => "ec2 security group",
            Kind::GroupRules => "ec2 security group rules",
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
    Role {
        name: String,
        steps: Vec<RoleStep>,
    },
    Layer {
        name: String,
        steps: Vec<LayerStep>,
    },
    Function {
        name: String,
        steps: Vec<FunctionStep>,
    },
    Permissions {
        function: String,
        steps: Vec<PermissionStep>,
    },
    Notification {
        bucket: String,
        config: LiveNotification,
    },
    Rule {
        name: String,
        step: RuleStep,
    },
    Subnet {
        name: String,
        steps: Vec<SubnetStep>,
    },
    Group {
        name: String,
        vpc: String,
        steps: Vec<GroupStep>,
    },
    GroupRules {
        group: GroupRef,
        changes: Vec<RuleChange>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubnetStep {
    Create {
        vpc: String,
        cidr: String,
        az: String,
        map_public_ip: bool,
        tags: Tags,
    },
    SetPublicIp {
        id: String,
        value: bool,
    },
    Tags {
        id: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupStep {
    Create {
        description: String,
        tags: Tags,
    },
    Tags {
        id: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete {
        id: String,
    },
}

/// A security group by id, or one this run creates (its id known only then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Id(String),
    Created(String),
}

impl GroupRef {
    /// Rule sources carry `sg-...` ids, or `new:NAME` for a group created in this run.
    pub fn parse(s: &str) -> GroupRef {
        match s.strip_prefix("new:") {
            Some(name) => GroupRef::Created(name.to_owned()),
            None => GroupRef::Id(s.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleChange {
    Authorize { rule: SgRuleState, ingress: bool },
    Revoke { rule: SgRuleState, ingress: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoleStep {
    Create { trust: String, tags: Tags },
    UpdateTrust(String),
    PutPolicy(String, String),
    DeletePolicy(String),
    Attach(String),
    Detach(String),
    Tag(Tags),
    Untag(Vec<String>),
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerStep {
    Publish {
        description: String,
        source: LayerSource,
        runtimes: Vec<String>,
        architecture: Arch,
    },
    DeleteVersion(i64),
}

/// A layer a function uses: a version that exists, or the one this run publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    Arn(String),
    Published(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub role: String,
    pub runtime: String,
    pub handler: String,
    pub timeout: i32,
    pub memory: i32,
    pub environment: BTreeMap<String, String>,
    pub layers: Vec<LayerRef>,
    pub architecture: String,
    pub zip: Arc<Vec<u8>>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FunctionStep {
    /// `wait_active: false` when the function's permissions action waits instead, so
    /// adding them overlaps Lambda's Pending state.
    Create {
        spec: Box<FunctionSpec>,
        wait_active: bool,
    },
    UpdateCode {
        zip: Arc<Vec<u8>>,
        architecture: String,
    },
    UpdateConfig(Box<FunctionSpec>),
    Tag {
        arn: String,
        set: Tags,
        remove: Vec<String>,
    },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionStep {
    Add {
        sid: String,
        principal: String,
        source_arn: String,
        source_account: Option<String>,
    },
    Remove {
        sid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleStep {
    Put {
        pattern: String,
        target: String,
        tags: Tags,
        stale_targets: Vec<String>,
        /// The live rule's tags, when it exists: PutRule ignores tags on an update.
        existing: Option<Tags>,
    },
    Delete {
        targets: Vec<String>,
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
    /// What this action must wait for, by address; resolved into `deps` at the end.
    pub after: Vec<Addr>,
    pub work: Work,
}

impl Action {
    pub fn new(addr: Addr, op: Op, work: Work) -> Action {
        Action {
            addr,
            op,
            changes: Vec::new(),
            reason: None,
            deps: Vec::new(),
            after: Vec::new(),
            work,
        }
    }
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

/// What the user allowed for this run, and what labctl knows about the account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Take over existing, untagged buckets of this account that lab.yaml declares.
    pub adopt: bool,
    /// The caller is an AWS Academy Learner Lab session.
    pub learner_lab: bool,
    /// Planning `destroy`: everything the lab owns goes.
    pub destroying: bool,
    /// Buckets that go may take their objects with them.
    pub empty_buckets: bool,
}

/// Why a resource the lab owns is deleted.
fn gone(opts: Options) -> &'static str {
    if opts.destroying {
        "tagged as this lab's: destroyed"
    } else {
        "tagged as this lab's, no longer in lab.yaml"
    }
}

/// Local build results the plan compares with live state: function packages (with
/// their CodeSha256) and layer content keys, by logical name.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub functions: BTreeMap<String, (String, Arc<Vec<u8>>)>,
    pub layers: BTreeMap<String, String>,
}

/// Everything a resource planner reads.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub vars: &'a Vars,
    pub live: &'a LiveState,
    pub opts: Options,
    pub art: &'a Artifacts,
}

/// Diffs the lab against live state. `vars` carries the real account id.
pub fn diff(lab: &Lab, vars: &Vars, live: &LiveState, opts: Options, art: &Artifacts) -> Plan {
    let mut plan = Plan::default();
    let cx = Ctx {
        lab,
        vars,
        live,
        opts,
        art,
    };
    bucket::plan(lab, vars, live, opts, &mut plan);
    iam::plan(&cx, &mut plan);
    lambda::plan(&cx, &mut plan);
    trigger::plan(&cx, &mut plan);
    network::plan(&cx, &mut plan);
    deletes_last(&mut plan);
    resolve(&mut plan);
    plan
}

/// A bucket is deleted only after every function and rule of the lab is gone: until
/// then they may still write into it while it is being emptied.
fn deletes_last(plan: &mut Plan) {
    let writers: Vec<Addr> = plan
        .actions
        .iter()
        .filter(|a| a.op == Op::Delete && matches!(a.addr.kind, Kind::Function | Kind::Rule))
        .map(|a| a.addr.clone())
        .collect();
    for a in plan
        .actions
        .iter_mut()
        .filter(|a| a.op == Op::Delete && a.addr.kind == Kind::Bucket)
    {
        a.after.extend(writers.iter().cloned());
    }
}

/// Turns "after" addresses into indexes; an address with no action has nothing to wait for.
fn resolve(plan: &mut Plan) {
    let index: BTreeMap<Addr, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.addr.clone(), i))
        .collect();
    for i in 0..plan.actions.len() {
        let mut deps: Vec<usize> = plan.actions[i]
            .after
            .iter()
            .filter_map(|a| index.get(a).copied())
            .filter(|&d| d != i)
            .collect();
        deps.extend(plan.actions[i].deps.iter().copied());
        deps.sort_unstable();
        deps.dedup();
        plan.actions[i].deps = deps;
    }
    if let Some(i) = cycle(plan) {
        // A planner bug, not the user's: refuse rather than deadlock half-way.
        plan.errors.push(PlanError {
            addr: plan.actions[i].addr.clone(),
            message: "labctl planned a dependency cycle through this resource".into(),
            help:
                "this is a bug in labctl; please report it with the output of `labctl plan --json`"
                    .into(),
        });
    }
}

/// An action on a dependency cycle, if any (depth-first search, iterative).
fn cycle(plan: &Plan) -> Option<usize> {
    let n = plan.actions.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some((v, k)) = stack.pop() {
            if let Some(&d) = plan.actions[v].deps.get(k) {
                stack.push((v, k + 1));
                match state[d] {
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => return Some(d),
                    _ => {}
                }
            } else {
                state[v] = 2;
            }
        }
    }
    None
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

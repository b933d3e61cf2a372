//! The engine, which knows no resource kind (the registry instantiates it with its
//! `Work`): each family's planner emits actions through `Emit`, and the engine does
//! what every family would otherwise repeat. An update, replacement or deletion needs
//! an `Owned`, which only the lab's owner tag (or `--adopt`) gives, so nothing the lab
//! does not own can be planned for change. Deletes are ordered after whatever still
//! uses what they delete (each kind's `USES`), "after" addresses become the graph, and
//! a cycle is refused. Pure and synchronous: it never awaits and never calls AWS.

pub mod tags;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A kind of resource as plan text and JSON name it ("s3 bucket"): part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kind(pub &'static str);

impl Kind {
    pub fn label(self) -> &'static str {
        self.0
    }
}

/// A resource's address in a plan: its kind and physical name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub kind: Kind,
    pub name: String,
}

impl Addr {
    pub fn new(kind: Kind, name: impl Into<String>) -> Addr {
        Addr {
            kind,
            name: name.into(),
        }
    }
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

impl Change {
    pub fn new(
        attr: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Change {
        Change {
            attr: attr.into(),
            before: before.into(),
            after: after.into(),
            note: None,
        }
    }

    /// An attribute of something new: only its value is shown.
    pub fn new_value(attr: impl Into<String>, after: impl Into<String>) -> Change {
        Change::new(attr, String::new(), after)
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Change {
        self.note = Some(note.into());
        self
    }
}

#[derive(Debug, Clone)]
pub struct Action<W> {
    pub addr: Addr,
    pub op: Op,
    pub changes: Vec<Change>,
    /// Why the action exists, when the op alone does not say (adoption, deletion).
    pub reason: Option<String>,
    /// Indexes into `Plan::actions` that must finish first.
    pub deps: Vec<usize>,
    /// What this action must wait for, by address; resolved into `deps` at the end.
    pub after: Vec<Addr>,
    /// Resources this action (an update or delete) stops using, beyond what its kind's
    /// `USES` says of whole kinds: their deletion waits for it.
    pub uses: Vec<Addr>,
    /// An untagged resource taken over in this run (`--adopt`).
    pub adopted: bool,
    pub work: W,
}

/// A problem that stops the plan: nothing is applied while any exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub addr: Addr,
    pub message: String,
    pub help: String,
}

#[derive(Debug, Clone)]
pub struct Plan<W> {
    pub actions: Vec<Action<W>>,
    pub errors: Vec<PlanError>,
    pub warnings: Vec<String>,
}

impl<W> Default for Plan<W> {
    fn default() -> Self {
        Plan {
            actions: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl<W> Plan<W> {
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
    /// Different for every run (the time it began): what makes a launch's idempotency
    /// token unique, so that retries within a run share it and later runs never do.
    pub run_id: u64,
}

/// Proof that a live resource is this lab's: only `Owned::by` (its owner tag names the
/// lab) and `Owned::adopted` (`--adopt`) make one, and `Emit` takes one for every
/// update, replacement or deletion.
#[must_use]
#[derive(Debug)]
pub struct Owned {
    addr: Addr,
    adopted: bool,
}

impl Owned {
    /// The proof for a live resource whose owner tag names `lab`.
    pub fn by(lab: &str, addr: Addr, owner: Option<&str>) -> Option<Owned> {
        (owner == Some(lab)).then_some(Owned {
            addr,
            adopted: false,
        })
    }

    /// Takes over an untagged resource: only buckets, only as `--adopt` (or an
    /// interrupted create) allows; the planner that calls this decides.
    pub fn adopted(addr: Addr) -> Owned {
        Owned {
            addr,
            adopted: true,
        }
    }

    pub fn addr(&self) -> &Addr {
        &self.addr
    }
}

/// Why a resource the lab owns is deleted.
pub fn gone(opts: Options) -> &'static str {
    if opts.destroying {
        "tagged as this lab's: destroyed"
    } else {
        "tagged as this lab's, no longer in lab.yaml"
    }
}

/// Why something the lab owns through its parent (a table in the lab's database) is
/// deleted: it carries no tag of its own.
pub fn gone_with(opts: Options, parent: &str) -> String {
    if opts.destroying {
        format!("in {parent}, which is this lab's: destroyed")
    } else {
        format!("in {parent}, which is this lab's; no longer in lab.yaml")
    }
}

/// Where a kind's planner puts its actions: creates need nothing; updates,
/// replacements and deletions need the `Owned` proof for their address.
pub struct Emit<'p, S, W> {
    plan: &'p mut Plan<W>,
    opts: Options,
    _step: PhantomData<fn(S)>,
}

impl<'p, S: Into<W>, W> Emit<'p, S, W> {
    pub fn new(plan: &'p mut Plan<W>, opts: Options) -> Self {
        Emit {
            plan,
            opts,
            _step: PhantomData,
        }
    }

    fn push(&mut self, addr: Addr, op: Op, adopted: bool, work: S) -> &mut Action<W> {
        self.plan.actions.push(Action {
            addr,
            op,
            changes: Vec::new(),
            reason: None,
            deps: Vec::new(),
            after: Vec::new(),
            uses: Vec::new(),
            adopted,
            work: work.into(),
        });
        let last = self.plan.actions.len() - 1;
        &mut self.plan.actions[last]
    }

    pub fn create(&mut self, addr: Addr, work: S) -> &mut Action<W> {
        self.push(addr, Op::Create, false, work)
    }

    pub fn update(&mut self, owned: Owned, work: S) -> &mut Action<W> {
        self.push(owned.addr, Op::Update, owned.adopted, work)
    }

    pub fn replace(&mut self, owned: Owned, work: S) -> &mut Action<W> {
        self.push(owned.addr, Op::Replace, owned.adopted, work)
    }

    /// A deletion, with the reason every deletion of the lab's own resources gives.
    pub fn delete(&mut self, owned: Owned, work: S) -> &mut Action<W> {
        let reason = gone(self.opts);
        let a = self.push(owned.addr, Op::Delete, false, work);
        a.reason = Some(reason.into());
        a
    }

    pub fn error(&mut self, e: PlanError) {
        self.plan.errors.push(e);
    }

    pub fn warn(&mut self, w: impl Into<String>) {
        self.plan.warnings.push(w.into());
    }

    /// An action an earlier kind (in registry order) planned.
    pub fn planned(&self, addr: &Addr) -> Option<&Action<W>> {
        self.plan.actions.iter().find(|a| &a.addr == addr)
    }

    /// Ownership of `addr` through `of`, which this run creates or adopts (a bucket's
    /// notification configuration, when the bucket is new or taken over now).
    pub fn owned_via(&self, addr: Addr, of: &Addr) -> Option<Owned> {
        self.planned(of)
            .filter(|a| a.op == Op::Create || a.adopted)
            .map(|_| Owned {
                addr,
                adopted: false,
            })
    }
}

/// After every family planned: deletes ordered after what uses them, "after"
/// addresses resolved into the graph, and a cycle refused.
pub fn finish<W>(plan: &mut Plan<W>, uses: &[(Kind, Kind)]) {
    order_deletes(plan, uses);
    resolve(plan);
}

/// A deletion waits for every update, replacement or deletion of what uses it: a kind
/// that uses subnets (by `USES`) is moved or gone before a subnet goes, and an action
/// that names a resource in `uses` before that one goes.
fn order_deletes<W>(plan: &mut Plan<W>, uses: &[(Kind, Kind)]) {
    let n = plan.actions.len();
    for y in 0..n {
        if plan.actions[y].op != Op::Delete {
            continue;
        }
        let target = plan.actions[y].addr.clone();
        let users: Vec<Addr> = plan
            .actions
            .iter()
            .enumerate()
            .filter(|(x, a)| {
                *x != y
                    && a.op != Op::Create
                    && (uses.contains(&(a.addr.kind, target.kind)) || a.uses.contains(&target))
            })
            .map(|(_, a)| a.addr.clone())
            .collect();
        plan.actions[y].after.extend(users);
    }
}

/// Turns "after" addresses into indexes; an address with no action has nothing to wait for.
fn resolve<W>(plan: &mut Plan<W>) {
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
fn cycle<W>(plan: &Plan<W>) -> Option<usize> {
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

//! The registry: every resource family labctl manages, one line each in `kinds!` below.
//! It is all the rest of labctl knows of kinds: decoding, placeholder expansion and
//! validation of the lab file, reading what exists, planning, carrying out steps and the
//! `validate` summary each walk this list, in its order.
//!
//! A family is a folder: `mod.rs` holds what it declares (`Spec`), what it observes
//! (`Live`) and the AWS calls it plans (`Work`), with its decode, validate and plan
//! code beside it (pure, no SDK); `aws.rs` reads and executes (the only file of the
//! family that touches the SDK). Families that share one read live together (the
//! Lambda family: layers, functions and their permissions; the network: subnets,
//! groups and rules). See ARCHITECTURE.md for how to add one.

pub mod athena;
pub mod bucket;
pub mod catalog;
pub mod instance;
pub mod lambda;
pub mod network;
pub mod role;
pub mod trigger;

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;

use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{OWNER_TAG, STUDENT_TAG, Tags};
use crate::plan::{Addr, Kind, Options, Owned, PlanError};
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

/// One resource family: its part of lab.yaml, of live state and of the plan.
pub trait Resource {
    /// Its top-level keys in lab.yaml.
    const SECTIONS: &'static [Field];
    /// (user, used): a resource of the first kind may point at one of the second, so
    /// the engine deletes the second only after the first was changed or deleted.
    const USES: &'static [(Kind, Kind)] = &[];
    /// What lab.yaml declares (`Default`: nothing, which is what `destroy` plans towards).
    type Spec: Clone + Debug + Default;
    /// What exists, as plain data.
    type Live: Clone + Debug + Default + Send + Sync + 'static;
    /// What one action does: the AWS calls it makes, in order.
    type Work: Clone + Debug + PartialEq + Send + Sync + 'static;

    /// Reads its sections from the file's top level; every problem goes to `d`.
    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Self::Spec;
    /// Fills `${...}` in the strings that reach AWS as written.
    fn expand(_spec: &mut Self::Spec, _x: &mut Expander<'_>) {}
    /// Every rule AWS enforces that can be checked offline (placeholders filled in with
    /// a stand-in account id).
    fn validate(_lab: &Lab, _vars: &Vars, _s: &mut Sink) {}
    /// What `labctl validate` counts: "2 bucket(s)".
    fn summary(_spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }
    /// Read calls only. Names that hold `${account_id}` wait for `run.identity()`;
    /// everything else is read at once.
    fn read(run: &Run, lab: &Lab) -> impl Future<Output = anyhow::Result<Self::Live>> + Send;
    /// Its part of `labctl export cloudformation` (placeholders filled in with
    /// CloudFormation's stand-ins, `export::vars`).
    fn export(_lab: &Lab, _vars: &Vars, _t: &mut crate::export::Template) {}
    /// Pure and synchronous: what to change, as actions of this family's steps.
    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Self::Work>);
    /// Carries out one action.
    fn execute(run: &Run, work: &Self::Work) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The registry's one line per family generates the lab (`Lab`, a field per family's
/// `Spec`), the live state (`LiveState`), the executor's `Work`, and the walks over them.
macro_rules! kinds {
    ($($field:ident: $variant:ident => $family:ty,)*) => {
        /// The lab as declared in lab.yaml, after decoding and validation.
        #[derive(Debug, Clone)]
        pub struct Lab {
            pub name: String,
            pub region: String,
            pub tags: Tags,
            /// Folder of the lab file: code and zip paths are relative to it.
            pub base_dir: PathBuf,
            pub file: String,
            /// The roster's student this lab is for (class mode), whose id `${student}` is.
            pub student: Option<String>,
            /// What `labctl verify` proves (`checks:`); not a resource.
            pub checks: std::collections::BTreeMap<String, crate::check::Check>,
            $(pub $field: <$family as Resource>::Spec,)*
        }

        /// What exists in AWS right now, each family's part as plain data.
        #[derive(Debug, Clone, Default)]
        pub struct LiveState {
            $(pub $field: <$family as Resource>::Live,)*
        }

        /// The AWS calls one action makes.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Work {
            $($variant(<$family as Resource>::Work),)*
        }

        $(impl From<<$family as Resource>::Work> for Work {
            fn from(s: <$family as Resource>::Work) -> Work {
                Work::$variant(s)
            }
        })*

        impl Work {
            pub async fn execute(&self, run: &Run) -> Result<(), AwsError> {
                match self {
                    $(Work::$variant(s) => <$family as Resource>::execute(run, s).await,)*
                }
            }
        }

        impl Lab {
            /// A lab with the same identity and nothing declared: what `destroy` converges to.
            pub fn emptied(&self) -> Lab {
                Lab {
                    $($field: Default::default(),)*
                    ..self.clone()
                }
            }
        }

        /// Every family's top-level keys, in registry order.
        pub fn sections() -> Vec<Field> {
            let mut v = Vec::new();
            $(v.extend_from_slice(<$family as Resource>::SECTIONS);)*
            v
        }

        pub fn uses() -> Vec<(Kind, Kind)> {
            let mut v = Vec::new();
            $(v.extend_from_slice(<$family as Resource>::USES);)*
            v
        }

        pub fn decode(head: Head, top: &Fields<'_>, d: &mut Decoder) -> Lab {
            Lab {
                name: head.name,
                region: head.region,
                tags: head.tags,
                base_dir: d.base_dir.clone(),
                file: head.file,
                student: None,
                checks: head.checks,
                $($field: <$family as Resource>::decode(top, d),)*
            }
        }

        pub fn expand(lab: &mut Lab, x: &mut Expander<'_>) {
            x.tags(&mut lab.tags);
            $(<$family as Resource>::expand(&mut lab.$field, x);)*
        }

        pub fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
            $(<$family as Resource>::validate(lab, vars, s);)*
        }

        /// Every family's part of the CloudFormation template, in registry order (a
        /// family may add to what one before it wrote: triggers to buckets).
        pub fn export(lab: &Lab, t: &mut crate::export::Template) {
            let vars = crate::export::vars(lab);
            $(<$family as Resource>::export(lab, &vars, t);)*
        }

        pub fn summary(lab: &Lab) -> Vec<String> {
            let mut v = Vec::new();
            $(v.extend(<$family as Resource>::summary(&lab.$field));)*
            if !lab.checks.is_empty() {
                v.push(format!("{} check(s)", lab.checks.len()));
            }
            v
        }

        /// Every family's read at once.
        pub async fn read(run: &Run, lab: &Lab) -> anyhow::Result<LiveState> {
            let ($($field,)*) = tokio::try_join!($(<$family as Resource>::read(run, lab),)*)?;
            Ok(LiveState { $($field,)* })
        }

        /// Every family's planner, in registry order: a family sees what those before
        /// it planned (`Emit::planned`).
        fn plan_all(cx: &Ctx<'_>, plan: &mut Plan) {
            $(<$family as Resource>::plan(cx, &mut Emit::new(plan, cx.opts));)*
        }
    };
}

kinds! {
    buckets: Bucket => bucket::Family,
    role: Role => role::Family,
    lambda: Lambda => lambda::Family,
    triggers: Trigger => trigger::Family,
    network: Network => network::Family,
    instances: Instance => instance::Family,
    catalog: Catalog => catalog::Family,
    athena: Athena => athena::Family,
}

/// The engine's plan, action and emitter, carrying this registry's `Work`.
pub type Plan = crate::plan::Plan<Work>;
pub type Action = crate::plan::Action<Work>;
pub type Emit<'p, S> = crate::plan::Emit<'p, S, Work>;

/// Diffs the lab against live state: every family plans, then the engine orders
/// deletes and resolves the graph. `vars` carries the real account id.
pub fn diff(lab: &Lab, vars: &Vars, live: &LiveState, opts: Options) -> Plan {
    let mut plan = Plan::default();
    let cx = Ctx {
        lab,
        vars,
        live,
        opts,
    };
    plan_all(&cx, &mut plan);
    crate::plan::finish(&mut plan, &uses());
    plan
}

/// Everything a family's planner reads: the declared lab (placeholders filled in), what
/// exists, and the run's options.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub vars: &'a Vars,
    pub live: &'a LiveState,
    pub opts: Options,
}

impl Ctx<'_> {
    /// The tags a resource of the lab carries: the lab's, its own, and the owner tag.
    pub fn tags(&self, own: &Tags) -> Tags {
        self.lab.tags_with(own)
    }

    /// The proof of ownership for a live resource whose owner tag names this lab.
    pub fn owned(&self, addr: Addr, owner: Option<&str>) -> Option<Owned> {
        Owned::by(&self.lab.name, addr, owner)
    }

    /// As `owned`, or the plan error for a declared name someone else holds:
    /// "`noun` `name` belongs to lab `x`" or "... exists without labctl's tag".
    pub fn claim(
        &self,
        addr: Addr,
        owner: Option<&str>,
        noun: &str,
        help: &str,
    ) -> Result<Owned, PlanError> {
        if let Some(owned) = self.owned(addr.clone(), owner) {
            return Ok(owned);
        }
        let message = match owner {
            Some(o) => format!("{noun} `{}` belongs to lab `{o}`", addr.name),
            None => format!("{noun} `{}` exists without labctl's tag", addr.name),
        };
        Err(PlanError {
            addr,
            message,
            help: help.into(),
        })
    }

    /// Takes over an untagged resource (`--adopt`); only buckets do.
    pub fn adopt(&self, addr: Addr) -> Owned {
        Owned::adopted(addr)
    }

    /// Why a resource the lab owns is deleted.
    pub fn gone(&self) -> &'static str {
        crate::plan::gone(self.opts)
    }
}

/// The lab file's own keys, decoded before the families' sections.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub name: String,
    pub region: String,
    pub tags: Tags,
    pub file: String,
    pub checks: std::collections::BTreeMap<String, crate::check::Check>,
}

impl Lab {
    /// The tags every resource of this lab carries: the lab's own, then the owner tag.
    pub fn base_tags(&self) -> Tags {
        let mut t = self.tags.clone();
        t.insert(OWNER_TAG.to_owned(), self.name.clone());
        if let Some(s) = &self.student {
            t.insert(STUDENT_TAG.to_owned(), s.clone());
        }
        t
    }

    /// A resource's tags: the lab's, its own, then the owner tag, which nothing overrides.
    pub fn tags_with(&self, own: &Tags) -> Tags {
        let mut t = self.base_tags();
        t.extend(own.clone());
        t.insert(OWNER_TAG.into(), self.name.clone());
        if let Some(s) = &self.student {
            t.insert(STUDENT_TAG.to_owned(), s.clone());
        }
        t
    }

    /// Physical name of a function, layer or security group: the lab name prefixes it.
    pub fn physical(&self, logical: &str) -> String {
        format!("{}-{}", self.name, logical)
    }

    /// What placeholders resolve to in this account, bucket names included.
    pub fn vars(&self, account_id: &str) -> Vars {
        let mut vars = Vars {
            lab: self.name.clone(),
            account_id: account_id.to_owned(),
            region: self.region.clone(),
            student: self.student.clone().unwrap_or_default(),
            ..Default::default()
        };
        vars.buckets = bucket::names(self, &vars).into_iter().collect();
        vars
    }
}

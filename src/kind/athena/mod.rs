//! Athena workgroups to query the lab's catalog: the results location in a lab bucket,
//! enforced, with a per-query budget of bytes scanned, and named queries from files. A
//! workgroup is the lab's by its tag; its named queries (which cannot be tagged) are
//! the lab's through it.

mod aws;
mod cfn;
mod decode;
mod plan;
pub mod query;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

use super::{Ctx, Emit};
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::kind::catalog::Location;
use crate::model::{Keys, Pos, Tags};
use crate::plan::Kind;
use crate::plan::tags::TagDiff;
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub const WORKGROUP: Kind = Kind("athena workgroup");
pub const NAMED_QUERY: Kind = Kind("athena named query");

/// Athena's smallest per-query cutoff is 10,000,000 bytes: 10 MiB is the least here.
pub const MIN_LIMIT_MB: i64 = 10;

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    const USES: &'static [(Kind, Kind)] = &[(NAMED_QUERY, WORKGROUP)];
    type Spec = Athena;
    type Live = Live;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Athena {
        decode::athena(top, d)
    }

    fn expand(spec: &mut Athena, x: &mut Expander<'_>) {
        for w in spec.workgroups.values_mut() {
            x.tags(&mut w.tags);
        }
    }

    fn validate(lab: &Lab, _vars: &Vars, s: &mut Sink) {
        validate::athena(lab, s);
    }

    fn summary(spec: &Athena) -> Vec<String> {
        if spec.workgroups.is_empty() {
            return vec![];
        }
        let queries: usize = spec.workgroups.values().map(|w| w.queries.len()).sum();
        vec![format!(
            "{} athena workgroup(s) with {queries} named quer{}",
            spec.workgroups.len(),
            if queries == 1 { "y" } else { "ies" }
        )]
    }

    async fn read(run: &Run, lab: &Lab) -> anyhow::Result<Live> {
        aws::read(run, lab).await
    }

    fn export(lab: &Lab, vars: &Vars, t: &mut crate::export::Template) {
        cfn::export(lab, vars, t);
    }

    fn plan(cx: &Ctx<'_>, out: &mut Emit<'_, Work>) {
        plan::plan(cx, out);
    }

    async fn execute(run: &Run, work: &Work) -> Result<(), AwsError> {
        aws::execute(run, work).await
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Athena {
    pub workgroups: BTreeMap<String, Workgroup>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workgroup {
    pub pos: Pos,
    pub keys: Keys,
    pub results: Location,
    pub limit_mb: i64,
    pub enforce: bool,
    pub description: String,
    pub queries: BTreeMap<String, NamedQuery>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    pub pos: Pos,
    /// The file it was read from, as written.
    pub file: String,
    pub sql: String,
    /// The database it runs in; `None`: the lab's only database.
    pub database: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct Live {
    /// By real name: the lab's workgroups, and declared names someone else holds.
    pub workgroups: BTreeMap<String, LiveWorkgroup>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveWorkgroup {
    pub enabled: bool,
    pub config: Config,
    pub description: String,
    pub tags: Tags,
    pub queries: BTreeMap<String, LiveQuery>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveQuery {
    pub id: String,
    pub sql: String,
    pub database: String,
    pub description: String,
}

/// A workgroup's settings as labctl writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub output: String,
    pub enforce: bool,
    pub cutoff_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Workgroup {
        name: String,
        step: WgStep,
    },
    Query {
        workgroup: String,
        name: String,
        step: QueryStep,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum WgStep {
    Create {
        config: Config,
        description: String,
        tags: Tags,
    },
    Update {
        config: Config,
        description: String,
        enable: bool,
    },
    Tags(TagDiff),
    /// With its named queries (RecursiveDeleteOption), as AWS requires for a
    /// workgroup that holds any.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryStep {
    Create {
        sql: String,
        database: String,
        description: String,
    },
    Update {
        id: String,
        sql: String,
        description: String,
    },
    /// Another database: UpdateNamedQuery cannot change it.
    Replace {
        id: String,
        sql: String,
        database: String,
        description: String,
    },
    Delete {
        id: String,
    },
}

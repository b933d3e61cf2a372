//! The Glue Data Catalog over the lab's buckets, for Athena: databases (tagged as the
//! lab's), their tables, and crawlers (tagged). Glue tables carry no tags of their own:
//! a table is the lab's when its database is, so labctl changes or deletes tables only
//! in databases that carry the lab's tag.

mod aws;
pub(crate) mod cfn;
mod decode;
mod plan;
#[cfg(test)]
mod tests;
pub mod types;
mod validate;

use std::collections::BTreeMap;

use super::role::ROLE;
use super::{Ctx, Emit};
use super::{Lab, Resource};
use crate::aws::Run;
use crate::aws::error::AwsError;
use crate::model::{Keys, Pos, Tags};
use crate::plan::Kind;
use crate::plan::tags::TagDiff;
use crate::template::{Expander, Vars};
use crate::yaml::decode::{Decoder, Fields};
use crate::yaml::diag::Sink;
use crate::yaml::shape::Field;

pub(crate) use decode::{LOCATION, location as decode_location};
pub(crate) use validate::{location as check_location, overlap};

pub const DATABASE: Kind = Kind("glue database");
pub const TABLE: Kind = Kind("glue table");
pub const CRAWLER: Kind = Kind("glue crawler");

pub struct Family;

impl Resource for Family {
    const SECTIONS: &'static [Field] = decode::SECTIONS;
    // A table lives in its database; a crawler writes into a database as a role.
    const USES: &'static [(Kind, Kind)] =
        &[(TABLE, DATABASE), (CRAWLER, DATABASE), (CRAWLER, ROLE)];
    type Spec = Catalog;
    type Live = Live;
    type Work = Work;

    fn decode(top: &Fields<'_>, d: &mut Decoder) -> Catalog {
        decode::catalog(top, d)
    }

    fn expand(spec: &mut Catalog, x: &mut Expander<'_>) {
        for db in spec.databases.values_mut() {
            x.glue_name(&mut db.name, db.keys.at("name", db.pos));
            x.tags(&mut db.tags);
        }
        for c in spec.crawlers.values_mut() {
            x.tags(&mut c.tags);
        }
    }

    fn validate(lab: &Lab, vars: &Vars, s: &mut Sink) {
        validate::catalog(lab, vars, s);
    }

    fn summary(spec: &Catalog) -> Vec<String> {
        let mut v = Vec::new();
        if !spec.databases.is_empty() {
            v.push(format!("{} glue database(s)", spec.databases.len()));
        }
        if !spec.tables.is_empty() {
            v.push(format!("{} glue table(s)", spec.tables.len()));
        }
        if !spec.crawlers.is_empty() {
            v.push(format!("{} glue crawler(s)", spec.crawlers.len()));
        }
        v
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

impl Catalog {
    /// The Glue name of a declared database (by its key in lab.yaml).
    pub fn db_name(&self, key: &str) -> String {
        self.databases
            .get(key)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| key.to_owned())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub databases: BTreeMap<String, Database>,
    /// By table name (unique across the lab's databases).
    pub tables: BTreeMap<String, Table>,
    pub crawlers: BTreeMap<String, Crawler>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub pos: Pos,
    pub keys: Keys,
    /// Its name in Glue (`name:`, default the key), placeholders filled in Glue's way.
    pub name: String,
    pub description: String,
    pub tags: Tags,
}

/// A folder of a lab bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub pos: Pos,
    /// Logical bucket name.
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl Location {
    /// `s3://bucket/prefix` with the bucket's real name.
    pub fn url(&self, vars: &Vars) -> String {
        let b = vars.buckets.get(&self.bucket).cloned().unwrap_or_default();
        format!("s3://{b}/{}", self.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv { header: bool, delimiter: String },
    Parquet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub pos: Pos,
    pub name: String,
    pub type_: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub pos: Pos,
    pub keys: Keys,
    pub database: String,
    pub location: Location,
    pub format: Format,
    pub columns: Vec<Column>,
    pub partitions: Vec<Column>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Crawler {
    pub pos: Pos,
    pub keys: Keys,
    pub database: String,
    pub location: Location,
    /// `cron(...)`, as Glue takes it.
    pub schedule: Option<String>,
    pub tags: Tags,
}

/// What exists: the databases this lab owns or declares, with their tables, and the
/// crawlers named as the lab's.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub databases: BTreeMap<String, LiveDatabase>,
    pub crawlers: BTreeMap<String, LiveCrawler>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveDatabase {
    pub description: String,
    pub tags: Tags,
    pub tables: BTreeMap<String, TableDef>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCrawler {
    pub role: String,
    pub database: String,
    pub targets: Vec<String>,
    pub schedule: Option<String>,
    pub tags: Tags,
}

/// A table as Glue stores it: what labctl writes and compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDef {
    pub location: String,
    /// (name, type, comment)
    pub columns: Vec<(String, String, String)>,
    pub partitions: Vec<(String, String, String)>,
    pub serde: String,
    pub input_format: String,
    pub output_format: String,
    pub serde_params: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerDef {
    /// A role name or ARN, as Glue takes it.
    pub role: String,
    pub database: String,
    pub targets: Vec<String>,
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Database {
        name: String,
        step: DbStep,
    },
    Table {
        database: String,
        name: String,
        step: TableStep,
    },
    Crawler {
        name: String,
        step: CrawlerStep,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum DbStep {
    Create {
        description: String,
        tags: Tags,
    },
    Update {
        description: String,
    },
    Tags(TagDiff),
    /// Glue deletes the tables with it.
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableStep {
    Create(TableDef),
    Update(TableDef),
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CrawlerStep {
    Create { def: CrawlerDef, tags: Tags },
    Update(CrawlerDef),
    Tags(TagDiff),
    Delete,
}

//! labctl: provision an AWS teaching lab from one declarative lab.yaml, and keep it so.
//!
//! # Layout
//! - `config`: lab.yaml -> `model::Lab`, or every problem with its line. No AWS.
//! - `model`: the declared lab as plain data. `template`: `${...}` placeholders.
//! - `live`: what exists in AWS, as plain data, read by `aws`.
//! - `plan`: pure diff of model and live state into actions with dependencies.
//! - `apply`: the executor that walks a plan's graph concurrently.
//! - `aws`: the only module that talks to AWS, one file per service.
//! - `render`: the only writer to stdout (human text and JSON).
//! - `package`: reproducible Lambda zips; `policy`: IAM documents compared by meaning.
//! - `cli`: flags and one short function per subcommand.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod live;
pub mod model;
pub mod package;
pub mod plan;
pub mod policy;
pub mod render;
pub mod template;

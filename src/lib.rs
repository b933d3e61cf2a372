//! labctl: provision an AWS teaching lab from one declarative lab.yaml, and keep it so.
//!
//! # Layout
//! - `kind`: the registry of resource families, and one folder per family (what it
//!   declares, observes and plans; its `aws.rs` is its only SDK code).
//! - `config`: lab.yaml -> `kind::Lab`, or every problem with its line. No AWS.
//! - `plan`: the engine: ownership, delete order and the dependency graph.
//! - `reconcile`: read every family's live state, then plan. `apply`: the executor.
//! - `aws`: clients, error classes, the per-run context and retries.
//! - `render`: the only writer to stdout (human text and JSON). `cli`: flags.
//! - Below all of them: `yaml` (the file's syntax), `model` (positions, tags),
//!   `template` (`${...}`), `names` (ARNs), `cidr`, `package` (Lambda zips).

pub mod apply;
pub mod aws;
pub mod check;
pub mod cidr;
pub mod class;
pub mod cli;
pub mod config;
pub mod export;
pub mod graph;
pub mod init;
pub mod kind;
pub mod model;
pub mod names;
pub mod outputs;
pub mod package;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod template;
pub mod verify;
pub mod yaml;

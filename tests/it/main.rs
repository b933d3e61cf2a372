//! Integration tests: the real labctl binary against a real moto server (one per test
//! run, shared; each test uses its own lab name so they run in parallel).
//!
//! - `academy`: AWS Academy Learner Lab emulated (IAM writes denied, LabRole).
//! - `validate`: lab files rejected offline, with lines, and no AWS connection.
//! - `buckets`: apply, converge, drift, delete and destroy of S3 buckets.
//! - `corpus`: the bad-input corpus, rejected offline with lines.
//! - `instances`: EC2 instances and key pairs, reachable, changed, destroyed in order.
//! - `faults`: throttling, lost answers, kills, Ctrl-C, expiry and races converge.
//! - `network`: default-VPC subnets and security groups, drift and conflicts.
//! - `races`: what AWS answers while it catches up, or to restricted accounts.
//! - `serverless`: role, layer, functions, permissions and triggers of the shipped lab.
//! - `snapshots`: plan text and JSON of the shipped labs, byte for byte.
//! - `surface`: init, completions and the manual page.

// Test helpers panic on setup failures: that is how a test reports them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod academy;
mod athena;
mod buckets;
mod class;
mod corpus;
mod faults;
mod harness;
mod instances;
mod network;
mod races;
mod serverless;
mod snapshots;
mod surface;
mod validate;
mod verify;

//! The local runner: on an emulator, labctl plays S3's event delivery and Lambda. An
//! object change fires the functions the lab's triggers select (`check::route`), with
//! the event AWS would send; each runs in a subprocess as Lambda's Python runtime would
//! (`python`, `process`); what it writes to S3 fires triggers in turn, as on AWS, cut
//! at 16 invocations in a chain as Lambda's recursion detection cuts it. A failed
//! invocation is tried twice more, as Lambda retries asynchronous invocations.

pub mod event;
pub mod process;
pub mod python;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::aws::Run;
use crate::check::route::{Change, Fire, route};
use crate::kind::Lab;
use crate::kind::lambda::Via;
use crate::template::Vars;
use crate::verify::s3::{self, Meta};
use event::{Occurrence, Origin};
use process::{Host, Outcome, Status};
use python::Prepared;

/// Lambda stops a recursive chain after about 16 invocations.
pub const MAX_CHAIN: usize = 16;
/// More invocations than this for one probe is a fan-out no check needs.
const MAX_INVOCATIONS: usize = 64;
/// Lambda tries an asynchronous invocation that failed twice more.
const ATTEMPTS: u32 = 3;

pub struct Local {
    lab: Lab,
    vars: Vars,
    buckets: BTreeMap<String, String>,
    s3: aws_sdk_s3::Client,
    host: Host,
    ready: BTreeMap<String, OnceCell<Result<Arc<Prepared>, String>>>,
    _scratch: tempfile::TempDir,
}

/// One function's invocation for one event, with its retries.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub function: String,
    pub via: Via,
    pub event: String,
    pub object: String,
    /// 1 for what the probe fired, 2 for what that one's writes fired...
    pub depth: usize,
    pub attempts: u32,
    pub status: Status,
    pub seconds: f64,
    pub writes: Vec<String>,
    pub logs: Vec<String>,
    pub result: Option<Value>,
}

/// Everything one probe set off.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    /// The triggers on the probe's bucket, fired or not.
    pub routes: Vec<Fire>,
    pub invocations: Vec<Invocation>,
    /// A chain cut as Lambda's recursion detection cuts it, described.
    pub looped: Option<String>,
    /// Every object written, as (bucket, key).
    pub writes: Vec<(String, String)>,
    /// Stopped by the deadline or the invocation cap.
    pub cut: Option<String>,
}

impl Local {
    /// `lab` has its placeholders filled in with `vars`.
    pub async fn new(run: &Run, lab: &Lab, vars: &Vars) -> Result<Local> {
        let account = vars.account_id.as_str();
        use aws_sdk_s3::config::ProvideCredentials;
        let creds = match run.clients.config.credentials_provider() {
            Some(p) => p
                .provide_credentials()
                .await
                .context("getting credentials to hand to the functions")?,
            None => anyhow::bail!("no AWS credentials to hand to the functions"),
        };
        let scratch = tempfile::Builder::new()
            .prefix("labctl-verify-")
            .tempdir()
            .context("making a scratch folder")?;
        let bootstrap = scratch.path().join("bootstrap.py");
        std::fs::write(&bootstrap, process::BOOTSTRAP)?;
        let host = Host {
            endpoint: run.clients.endpoint.clone(),
            region: run.region().to_owned(),
            account: account.to_owned(),
            credentials: (
                creds.access_key_id().to_owned(),
                creds.secret_access_key().to_owned(),
                creds.session_token().map(str::to_owned),
            ),
            bootstrap,
            scratch: scratch.path().to_path_buf(),
        };
        Ok(Local {
            ready: lab
                .lambda
                .functions
                .keys()
                .map(|k| (k.clone(), OnceCell::new()))
                .collect(),
            lab: lab.clone(),
            vars: vars.clone(),
            buckets: vars.buckets.clone(),
            s3: run.clients.s3.clone(),
            host,
            _scratch: scratch,
        })
    }

    /// The function made ready once (unzipped, layers, interpreter), shared by every check.
    pub async fn prepared(&self, logical: &str) -> Result<Arc<Prepared>, String> {
        let Some(cell) = self.ready.get(logical) else {
            return Err(format!("the lab declares no function `{logical}`"));
        };
        cell.get_or_init(|| async {
            let (lab, vars) = (self.lab.clone(), self.vars.clone());
            let name = logical.to_owned();
            let dir = self.host.scratch.clone();
            tokio::task::spawn_blocking(move || python::prepare(&lab, &vars, &name, &dir))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map(Arc::new).map_err(|e| format!("{e:#}")))
        })
        .await
        .clone()
    }

    /// What every prepared function runs differently from Lambda, and with what.
    pub fn prepared_so_far(&self) -> Vec<(String, Arc<Prepared>)> {
        self.ready
            .iter()
            .filter_map(|(k, c)| {
                c.get()
                    .and_then(|r| r.as_ref().ok())
                    .map(|p| (k.clone(), p.clone()))
            })
            .collect()
    }

    fn origin(&self) -> Origin<'_> {
        Origin {
            region: &self.host.region,
            account: &self.host.account,
        }
    }

    /// One invocation, as `labctl invoke` asks: no retries, nothing fed back.
    pub async fn invoke_once(
        &self,
        logical: &str,
        event: &Value,
    ) -> Result<(Outcome, Arc<Prepared>)> {
        let p = self.prepared(logical).await.map_err(anyhow::Error::msg)?;
        let o = process::invoke(&p, event, &self.host).await?;
        Ok((o, p))
    }

    /// The event a trigger of `via` would deliver for this change.
    pub fn event_for(&self, via: Via, o: &Occurrence, config_id: Option<&str>) -> Value {
        match via {
            Via::S3 => event::s3_notification(o, &self.origin(), config_id.unwrap_or_default()),
            Via::EventBridge => event::eventbridge(o, &self.origin()),
        }
    }

    /// Runs everything the probe `first` sets off, until it settles or `deadline`.
    pub async fn cascade(&self, first: Occurrence, deadline: Instant) -> Cascade {
        let mut out = Cascade {
            routes: route(&self.lab, &self.buckets, &first.change),
            ..Default::default()
        };
        // (what happened, the chain of (function, object) that led to it)
        let mut queue: VecDeque<(Occurrence, Vec<(String, String)>)> = VecDeque::new();
        queue.push_back((first, Vec::new()));
        while let Some((occ, chain)) = queue.pop_front() {
            let object = format!("s3://{}/{}", occ.change.bucket, occ.change.key);
            for f in route(&self.lab, &self.buckets, &occ.change) {
                if !f.fires() {
                    continue;
                }
                if chain.len() >= MAX_CHAIN {
                    out.looped
                        .get_or_insert_with(|| describe_loop(&chain, &f.function));
                    continue;
                }
                if out.invocations.len() >= MAX_INVOCATIONS {
                    out.cut = Some(format!(
                        "more than {MAX_INVOCATIONS} invocations for one probe: stopped there"
                    ));
                    return out;
                }
                if Instant::now() > deadline {
                    out.cut = Some("the deadline passed (see --timeout)".into());
                    return out;
                }
                let inv = self.invoke(&f, &occ, &object, chain.len() + 1).await;
                let mut next = chain.clone();
                next.push((f.function.clone(), object.clone()));
                for w in &inv.1 {
                    out.writes.push((w.bucket.clone(), w.key.clone()));
                    queue.push_back((self.occurrence(w).await, next.clone()));
                }
                out.invocations.push(inv.0);
            }
        }
        out
    }

    /// One function for one event, tried up to three times.
    async fn invoke(
        &self,
        f: &Fire,
        occ: &Occurrence,
        object: &str,
        depth: usize,
    ) -> (Invocation, Vec<process::Write>) {
        let mut inv = Invocation {
            function: f.function.clone(),
            via: f.via,
            event: occ.change.event.clone(),
            object: object.to_owned(),
            depth,
            attempts: 0,
            status: Status::Ok,
            seconds: 0.0,
            writes: Vec::new(),
            logs: Vec::new(),
            result: None,
        };
        let p = match self.prepared(&f.function).await {
            Ok(p) => p,
            Err(e) => {
                inv.status = Status::Error {
                    kind: "labctl.NotRunnable".into(),
                    message: e,
                };
                return (inv, Vec::new());
            }
        };
        let mut writes = Vec::new();
        while inv.attempts < ATTEMPTS {
            inv.attempts += 1;
            // Each delivery is a new event (new ids), as a retry on AWS is.
            let ev = self.event_for(f.via, occ, f.config_id.as_deref());
            match process::invoke(&p, &ev, &self.host).await {
                Ok(o) => {
                    inv.seconds += o.seconds;
                    inv.logs.extend(o.logs);
                    inv.writes.extend(
                        o.writes
                            .iter()
                            .map(|w| format!("s3://{}/{}", w.bucket, w.key)),
                    );
                    writes.extend(o.writes);
                    inv.status = o.status;
                    inv.result = o.result;
                }
                Err(e) => {
                    inv.status = Status::Error {
                        kind: "labctl.RunnerError".into(),
                        message: format!("{e:#}"),
                    };
                }
            }
            if inv.status == Status::Ok {
                break;
            }
        }
        (inv, writes)
    }

    /// A write a handler made, as S3 would report it.
    async fn occurrence(&self, w: &process::Write) -> Occurrence {
        let event = match w.op.as_str() {
            "PutObject" => "ObjectCreated:Put",
            "CopyObject" => "ObjectCreated:Copy",
            "CompleteMultipartUpload" => "ObjectCreated:CompleteMultipartUpload",
            _ if w.marker => "ObjectRemoved:DeleteMarkerCreated",
            _ => "ObjectRemoved:Delete",
        };
        let meta = if event.starts_with("ObjectCreated") {
            s3::head(&self.s3, &w.bucket, &w.key)
                .await
                .ok()
                .flatten()
                .unwrap_or_default()
        } else {
            Meta {
                version: w.version.clone(),
                ..Default::default()
            }
        };
        Occurrence {
            change: Change {
                bucket: w.bucket.clone(),
                key: w.key.clone(),
                event: event.into(),
            },
            meta,
            time: SystemTime::now(),
        }
    }
}

fn describe_loop(chain: &[(String, String)], next: &str) -> String {
    let mut steps: Vec<String> = chain
        .iter()
        .take(3)
        .map(|(f, o)| format!("{o} fires {f}"))
        .collect();
    if chain.len() > 3 {
        steps.push("...".into());
    }
    format!(
        "a loop: {}, which writes what fires {next} again. Lambda stops such a chain after {MAX_CHAIN} invocations (recursive loop detection), and so did this run; on AWS the writes until then are billed and kept",
        steps.join(", ")
    )
}

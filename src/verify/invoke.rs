//! `labctl invoke FUNCTION [--event FILE | --put BUCKET/KEY]`: one function, once.
//! On an emulator labctl runs it as `verify` does; on AWS it invokes the real function
//! and shows the log tail Lambda returns.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::{Value, json};

use super::local::Local;
use super::local::event::{self, Occurrence, Origin};
use super::local::process::Status;
use super::s3;
use crate::aws::Run;
use crate::aws::error::Ctx;
use crate::check::route::Change;
use crate::kind::Lab;
use crate::kind::lambda::Via;
use crate::kind::trigger::notification_id;
use crate::yaml::diag::did_you_mean;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub function: String,
    pub event: Option<PathBuf>,
    /// `BUCKET/KEY`: the event S3 would send had that object just been put.
    pub put: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub runner: &'static str,
    pub function: String,
    pub error: Option<(String, String)>,
    pub result: Option<Value>,
    pub logs: Vec<String>,
    pub seconds: f64,
    pub writes: Vec<String>,
    pub approximate: Vec<String>,
}

pub async fn invoke(run: &Run, declared: &Lab, o: &Options) -> Result<Outcome> {
    if !declared.lambda.functions.contains_key(&o.function) {
        let names: Vec<&str> = declared
            .lambda
            .functions
            .keys()
            .map(String::as_str)
            .collect();
        let help = did_you_mean(&o.function, &names)
            .map(|m| format!("did you mean `{m}`?"))
            .unwrap_or_else(|| format!("functions: {}", names.join(", ")));
        bail!(
            "the lab declares no function `{}`\n  help: {help}",
            o.function
        );
    }
    let identity = run.identity().await?.clone();
    let vars = declared.vars(&identity.account_id);
    let (lab, _) = crate::config::expand(declared, &vars);
    let origin = Origin {
        region: run.region(),
        account: &identity.account_id,
    };
    let event = match (&o.event, &o.put) {
        (Some(_), Some(_)) => bail!("give --event or --put, not both"),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<Value>(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}:{}: not JSON: {e}\n  help: the event is a JSON document, e.g. {{\"Records\": [...]}}",
                    path.display(),
                    e.line(),
                    e.column()
                )
            })?
        }
        (None, Some(spec)) => {
            let Some((b, key)) = spec
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            else {
                bail!(
                    "--put takes BUCKET/KEY (the bucket's name in lab.yaml or in S3), e.g. source/photos/cat.jpg"
                );
            };
            let (logical, bucket) = match vars.buckets.get(b) {
                Some(real) => (Some(b.to_owned()), real.clone()),
                None => (
                    vars.buckets
                        .iter()
                        .find(|(_, r)| *r == b)
                        .map(|(l, _)| l.clone()),
                    b.to_owned(),
                ),
            };
            let Some(meta) = s3::head(&run.clients.s3, &bucket, key).await? else {
                bail!(
                    "there is no object s3://{bucket}/{key}\n  help: upload it first; --put builds the event S3 sends for an object just put"
                );
            };
            let f = &lab.lambda.functions[&o.function];
            // As the function's own trigger on that bucket would deliver it.
            let trigger = f
                .triggers
                .iter()
                .enumerate()
                .find(|(_, t)| Some(&t.bucket) == logical.as_ref());
            let occ = Occurrence {
                change: Change::created(&bucket, key, "Put"),
                meta,
                time: SystemTime::now(),
            };
            match trigger {
                Some((_, t)) if t.via == Via::EventBridge => event::eventbridge(&occ, &origin),
                Some((i, t)) => event::s3_notification(
                    &occ,
                    &origin,
                    &notification_id(
                        &lab.name,
                        &o.function,
                        i,
                        (t.suffixes.len() > 1).then_some(0),
                    ),
                ),
                None => event::s3_notification(&occ, &origin, "labctl-invoke"),
            }
        }
        (None, None) => json!({}),
    };
    match &run.clients.endpoint {
        Some(_) => {
            let local = Local::new(run, &lab, &vars).await?;
            let (out, p) = local.invoke_once(&o.function, &event).await?;
            let error = match out.status {
                Status::Ok => None,
                Status::Error { kind, message } => Some((kind, message)),
                Status::Timeout => Some((
                    "Timeout".into(),
                    format!("Task timed out after {} seconds", p.timeout),
                )),
            };
            Ok(Outcome {
                runner: "local",
                function: o.function.clone(),
                error,
                result: out.result,
                logs: out.logs,
                seconds: out.seconds,
                writes: out
                    .writes
                    .iter()
                    .map(|w| format!("s3://{}/{}", w.bucket, w.key))
                    .collect(),
                approximate: p.approximate.clone(),
            })
        }
        None => {
            let started = std::time::Instant::now();
            let r = run
                .clients
                .lambda
                .invoke()
                .function_name(lab.physical(&o.function))
                .log_type(aws_sdk_lambda::types::LogType::Tail)
                .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(
                    &event,
                )?))
                .send()
                .await
                .ctx("Invoke")?;
            let payload: Option<Value> = r
                .payload()
                .and_then(|b| serde_json::from_slice(b.as_ref()).ok());
            let logs = r
                .log_result()
                .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .lines()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let error = r.function_error().map(|_| {
                let get = |k: &str| {
                    payload
                        .as_ref()
                        .and_then(|p| p.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (get("errorType"), get("errorMessage"))
            });
            Ok(Outcome {
                runner: "aws",
                function: o.function.clone(),
                result: if error.is_none() { payload } else { None },
                error,
                logs,
                seconds: started.elapsed().as_secs_f64(),
                writes: Vec::new(),
                approximate: Vec::new(),
            })
        }
    }
}

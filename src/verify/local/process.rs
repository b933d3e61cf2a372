//! One invocation in a subprocess: the handler's interpreter with Lambda's environment
//! (reserved variables, the function's own, the emulator's endpoint), its timeout
//! enforced from here, its output kept as its log with START, END and REPORT lines
//! around it, as CloudWatch Logs shows them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::python::Prepared;
use crate::verify::ids;

pub const BOOTSTRAP: &str = include_str!("bootstrap.py");

/// What every invocation of a run shares.
#[derive(Debug, Clone)]
pub struct Host {
    /// The emulator's endpoint; `None` runs the handlers against AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub account: String,
    /// (access key, secret, session token): the caller's, standing in for the role's.
    pub credentials: (String, String, Option<String>),
    pub bootstrap: PathBuf,
    pub scratch: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Error { kind: String, message: String },
    Timeout,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Write {
    pub op: String,
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    #[serde(default)]
    pub marker: bool,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub result: Option<Value>,
    pub logs: Vec<String>,
    pub writes: Vec<Write>,
    pub seconds: f64,
    pub max_memory_mb: Option<u64>,
}

#[derive(Deserialize)]
struct Answer {
    result: Option<Value>,
    error: Option<LambdaError>,
    max_memory_mb: Option<u64>,
}

#[derive(Deserialize)]
struct LambdaError {
    #[serde(rename = "errorType")]
    kind: String,
    #[serde(rename = "errorMessage")]
    message: String,
}

pub async fn invoke(p: &Prepared, event: &Value, host: &Host) -> Result<Outcome> {
    let request_id = ids::uuid();
    let dir = host.scratch.join(format!("inv-{request_id}"));
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).context("making the invocation's folder")?;
    let now = SystemTime::now();
    let stream = format!("{}/[$LATEST]{}", ids::date_path(now), ids::hex(32));
    let group = format!("/aws/lambda/{}", p.name);
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        host.region, host.account, p.name
    );
    let deadline_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
        + u64::try_from(p.timeout).unwrap_or(3) * 1000;
    let spec = json!({
        "path": p.path,
        "handler": p.handler,
        "request_id": request_id,
        "event": event,
        "writes": dir.join("writes.jsonl"),
        "result": dir.join("result.json"),
        "context": {
            "function_name": p.name,
            "invoked_function_arn": arn,
            "memory_limit_in_mb": p.memory.to_string(),
            "log_group_name": group,
            "log_stream_name": stream,
            "deadline_ms": deadline_ms,
        },
    });
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;

    let mut cmd = tokio::process::Command::new(&p.python.path);
    // No site-packages of the machine's (-s -S): only what Lambda would have. Compiled
    // modules go to labctl's cache, not next to the code, and make later runs quick.
    let pycache = crate::package::cache_root().join("pycache");
    cmd.args(["-E", "-s", "-S", "-u", "-X"])
        .arg(format!("pycache_prefix={}", pycache.display()))
        .arg(&host.bootstrap)
        .arg(&spec_path)
        .current_dir(&p.task_root)
        .env_clear()
        .envs(environment(p, host, &group, &stream, &tmp))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", p.python.path.display()))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let reader = tokio::spawn(async move {
        let a = async {
            let mut a = Vec::new();
            if let Some(mut o) = out {
                let _ = o.read_to_end(&mut a).await;
            }
            a
        };
        let b = async {
            let mut b = Vec::new();
            if let Some(mut e) = err {
                let _ = e.read_to_end(&mut b).await;
            }
            b
        };
        let (mut a, b) = tokio::join!(a, b);
        a.extend(b);
        a
    });
    let limit = Duration::from_secs(u64::try_from(p.timeout).unwrap_or(3));
    let timed_out = tokio::time::timeout(limit, child.wait()).await.is_err();
    if timed_out {
        let _ = child.kill().await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // A process the handler started may hold the pipes open: its output is not waited for.
    let text = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let mut logs = vec![format!("START RequestId: {request_id} Version: $LATEST")];
    logs.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    let answer: Option<Answer> = std::fs::read(dir.join("result.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let writes = std::fs::read_to_string(dir.join("writes.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let max_memory_mb = answer.as_ref().and_then(|a| a.max_memory_mb);
    let mut status = match (&answer, timed_out) {
        (_, true) => {
            logs.push(format!(
                "{} {request_id} Task timed out after {:.2} seconds",
                ids::iso8601(SystemTime::now(), true),
                limit.as_secs_f64()
            ));
            Status::Timeout
        }
        (Some(Answer { error: Some(e), .. }), _) => Status::Error {
            kind: e.kind.clone(),
            message: e.message.clone(),
        },
        (Some(_), _) => Status::Ok,
        (None, _) => Status::Error {
            kind: "Runtime.ExitError".into(),
            message: "the runtime exited without a result".into(),
        },
    };
    if let Some(m) = max_memory_mb
        && m > u64::try_from(p.memory).unwrap_or(128)
        && status == Status::Ok
    {
        status = Status::Error {
            kind: "Runtime.OutOfMemory".into(),
            message: format!(
                "used {m} MB of its {} MB: on AWS the runtime is killed",
                p.memory
            ),
        };
    }
    logs.push(format!("END RequestId: {request_id}"));
    logs.push(format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
        seconds * 1000.0,
        p.memory,
        max_memory_mb.map(|m| m.to_string()).unwrap_or_else(|| "?".into())
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        status,
        result: answer.and_then(|a| a.result),
        logs,
        writes,
        seconds,
        max_memory_mb,
    })
}

fn joined(paths: &[PathBuf], then: Option<std::ffi::OsString>) -> std::ffi::OsString {
    let mut all: Vec<PathBuf> = paths.to_vec();
    if let Some(t) = then {
        all.extend(std::env::split_paths(&t));
    }
    std::env::join_paths(all).unwrap_or_default()
}

/// Lambda's environment for this invocation, then the function's own variables.
fn environment(
    p: &Prepared,
    host: &Host,
    group: &str,
    stream: &str,
    tmp: &Path,
) -> Vec<(String, std::ffi::OsString)> {
    let mut v: Vec<(String, std::ffi::OsString)> = Vec::new();
    let mut set = |k: &str, val: std::ffi::OsString| v.push((k.to_owned(), val));
    let s = |x: &str| std::ffi::OsString::from(x);
    set("PATH", joined(&p.bin, std::env::var_os("PATH")));
    set(
        "LD_LIBRARY_PATH",
        joined(&p.lib, std::env::var_os("LD_LIBRARY_PATH")),
    );
    set("LANG", s("en_US.UTF-8"));
    set("TZ", s(":UTC"));
    set("TMPDIR", tmp.as_os_str().to_owned());
    set("_HANDLER", s(&p.handler));
    set(
        "_X_AMZN_TRACE_ID",
        s(&format!(
            "Root=1-{}-{};Parent={};Sampled=0",
            ids::hex(8),
            ids::hex(24),
            ids::hex(16)
        )),
    );
    set("AWS_EXECUTION_ENV", s(&format!("AWS_Lambda_{}", p.runtime)));
    set("AWS_LAMBDA_FUNCTION_NAME", s(&p.name));
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s(&p.memory.to_string()));
    set("AWS_LAMBDA_FUNCTION_VERSION", s("$LATEST"));
    set("AWS_LAMBDA_INITIALIZATION_TYPE", s("on-demand"));
    set("AWS_LAMBDA_LOG_GROUP_NAME", s(group));
    set("AWS_LAMBDA_LOG_STREAM_NAME", s(stream));
    set("AWS_LAMBDA_RUNTIME_API", s("127.0.0.1:9001"));
    set("LAMBDA_TASK_ROOT", p.task_root.as_os_str().to_owned());
    set("LAMBDA_RUNTIME_DIR", s("/var/runtime"));
    set("AWS_REGION", s(&host.region));
    set("AWS_DEFAULT_REGION", s(&host.region));
    set("AWS_ACCESS_KEY_ID", s(&host.credentials.0));
    set("AWS_SECRET_ACCESS_KEY", s(&host.credentials.1));
    if let Some(t) = &host.credentials.2 {
        set("AWS_SESSION_TOKEN", s(t));
    }
    // The emulator, and no configuration of the user's: Lambda has none either.
    if let Some(e) = &host.endpoint {
        set("AWS_ENDPOINT_URL", s(e));
    }
    set(
        "AWS_CONFIG_FILE",
        tmp.join("no-aws-config").into_os_string(),
    );
    set(
        "AWS_SHARED_CREDENTIALS_FILE",
        tmp.join("no-aws-credentials").into_os_string(),
    );
    set("AWS_EC2_METADATA_DISABLED", s("true"));
    for k in ["NO_PROXY", "no_proxy"] {
        if let Some(val) = std::env::var_os(k) {
            set(k, val);
        }
    }
    for (k, val) in &p.environment {
        set(k, s(val));
    }
    v
}

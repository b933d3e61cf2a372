//! `labctl verify`: the lab proven to do its job. Each check of lab.yaml puts one
//! probe and waits for what the functions should make of it; the report says per check
//! pass or fail, in how long, and for a failure why (which function should have fired,
//! whether its trigger matched, what it did instead, its last log lines). Afterwards
//! every version and delete marker of the run's keys goes, and nothing else.
//!
//! On AWS the probes go through the real triggers. On an emulator (an endpoint is
//! set) labctl runs the functions itself (`local`): emulators run Lambda code only in
//! Docker, and without it a triggering upload silently does nothing.

mod expect;
pub mod ids;
pub mod invoke;
mod journal;
pub mod jpeg;
pub mod local;
mod remote;
mod s3;
pub mod sample;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};
use futures_util::StreamExt;

use crate::aws::Run;
use crate::check::route::{Change, Fire, route};
use crate::check::{Check, Content, Sample, fill};
use crate::kind::Lab;
use crate::kind::lambda::Via;
use crate::template::Vars;
use crate::yaml::diag::did_you_mean;
use expect::PutInfo;
pub use expect::{Found, size as expect_size};
use local::process::Status;
use local::{Invocation, Local};

/// How long verify waits for a check by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// EventBridge delivery for a bucket can take minutes after it is first turned on.
const FIRST_DELIVERY: Duration = Duration::from_secs(300);
const LOG_LINES: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Check names to run; empty runs all.
    pub only: Vec<String>,
    pub timeout: Option<Duration>,
    /// Leave what the probes made in place.
    pub keep: bool,
    /// Run the functions here (`Some(true)`) or let the cloud's triggers run them
    /// (`Some(false)`); by default here exactly when an endpoint is set.
    pub local: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub lab: String,
    pub run: String,
    /// "local" (labctl ran the functions) or "aws".
    pub runner: &'static str,
    /// Where a local run differs from Lambda: the result is approximate.
    pub approximate: Vec<String>,
    /// Which interpreter ran each function (local).
    pub interpreters: Vec<String>,
    pub notes: Vec<String>,
    pub checks: Vec<CheckReport>,
    pub cleanup: Cleanup,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.passed) && self.cleanup.error.is_none()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Cleanup {
    pub kept: bool,
    pub removed: usize,
    /// Objects the handlers wrote outside the run's keys: left alone, named.
    pub left: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub name: String,
    pub passed: bool,
    pub seconds: f64,
    pub put: Probe,
    pub found: Vec<Found>,
    pub invocations: Vec<InvocationReport>,
    pub reasons: Vec<String>,
    /// Each function's last log lines, when the check failed.
    pub logs: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub image: Option<jpeg::Info>,
}

#[derive(Debug, Clone)]
pub struct InvocationReport {
    pub function: String,
    pub via: &'static str,
    pub event: String,
    pub object: String,
    pub depth: usize,
    pub attempts: u32,
    pub status: &'static str,
    pub error: Option<(String, String)>,
    pub seconds: f64,
    pub writes: Vec<String>,
}

fn via_name(v: Via) -> &'static str {
    match v {
        Via::S3 => "s3",
        Via::EventBridge => "eventbridge",
    }
}

impl From<&Invocation> for InvocationReport {
    fn from(i: &Invocation) -> Self {
        let (status, error) = match &i.status {
            Status::Ok => ("ok", None),
            Status::Error { kind, message } => ("error", Some((kind.clone(), message.clone()))),
            Status::Timeout => ("timeout", None),
        };
        InvocationReport {
            function: i.function.clone(),
            via: via_name(i.via),
            event: i.event.clone(),
            object: i.object.clone(),
            depth: i.depth,
            attempts: i.attempts,
            status,
            error,
            seconds: i.seconds,
            writes: i.writes.clone(),
        }
    }
}

/// The checks to run, by name; an unknown name is an error with a suggestion.
fn select<'a>(lab: &'a Lab, only: &[String]) -> Result<Vec<(&'a String, &'a Check)>> {
    if lab.checks.is_empty() {
        bail!(
            "{} declares no checks\n  help: add a `checks:` section (see README: lab.yaml reference, checks)",
            lab.file
        );
    }
    let names: Vec<&str> = lab.checks.keys().map(String::as_str).collect();
    for o in only {
        if !lab.checks.contains_key(o) {
            let help = did_you_mean(o, &names)
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| format!("checks: {}", names.join(", ")));
            bail!("the lab declares no check `{o}`\n  help: {help}");
        }
    }
    Ok(lab
        .checks
        .iter()
        .filter(|(k, _)| only.is_empty() || only.contains(k))
        .collect())
}

/// The lab must be as lab.yaml declares before its behaviour can be judged: a pending
/// change to its buckets, role, functions or triggers means `apply` comes first.
async fn in_sync(run: &Run, lab: &Lab) -> Result<Vec<String>> {
    use crate::kind::{bucket, lambda, role, trigger};
    let p = crate::reconcile::plan(run, lab, crate::plan::Options::default()).await?;
    if !p.errors.is_empty() {
        let e: Vec<String> = p
            .errors
            .iter()
            .map(|e| {
                format!(
                    "  {} {}: {}\n    help: {}",
                    e.addr.kind.0, e.addr.name, e.message, e.help
                )
            })
            .collect();
        bail!("the lab cannot be planned:\n{}", e.join("\n"));
    }
    let matters = [
        bucket::BUCKET,
        bucket::NOTIFICATION,
        lambda::LAYER,
        lambda::FUNCTION,
        lambda::PERMISSIONS,
        trigger::RULE,
        role::ROLE,
    ];
    let (blocking, other): (Vec<_>, Vec<_>) = p
        .actions
        .iter()
        .partition(|a| matters.contains(&a.addr.kind));
    if !blocking.is_empty() {
        let list: Vec<String> = blocking
            .iter()
            .map(|a| format!("  {} {} {}", a.op.symbol(), a.addr.kind.0, a.addr.name))
            .collect();
        bail!(
            "the lab in AWS is not what {} declares ({} change(s) pending):\n{}\n  help: run `labctl apply` first, then verify",
            lab.file,
            blocking.len(),
            list.join("\n")
        );
    }
    Ok(other
        .iter()
        .map(|a| {
            format!(
                "pending, and not needed by the checks: {} {} {}",
                a.op.symbol(),
                a.addr.kind.0,
                a.addr.name
            )
        })
        .collect())
}

/// Everything a check needs that does not change while checks run.
struct Shared<'a> {
    run: &'a Run,
    lab: &'a Lab,
    vars: &'a Vars,
    run_id: &'a str,
    local: Option<&'a Local>,
    timeout: Option<Duration>,
    samples: BTreeMap<&'static str, Arc<Vec<u8>>>,
}

pub async fn verify(run: &Run, declared: &Lab, opts: &Options) -> Result<Report> {
    let selected = select(declared, &opts.only)?;
    let t0 = Instant::now();
    let identity = run.identity().await?.clone();
    let notes = in_sync(run, declared).await?;
    tracing::info!(ms = t0.elapsed().as_millis() as u64, "the lab is in sync");
    let vars = declared.vars(&identity.account_id);
    let (lab, _) = crate::config::expand(declared, &vars);
    let run_id = ids::hex(crate::check::RUN_ID_LEN);
    let mut notes = notes;
    // What runs that were interrupted left behind goes first.
    for (path, e) in journal::unfinished(&declared.base_dir, &lab.name) {
        let mut removed = 0;
        let mut failed = false;
        for (b, p) in &e.prefixes {
            match s3::purge(&run.clients.s3, b, p, &e.run).await {
                Ok(n) => removed += n,
                Err(_) => failed = true,
            }
        }
        if !failed {
            journal::close(&path);
        }
        if removed > 0 {
            notes.push(format!(
                "removed {removed} object version(s) left by verify run {}, which was interrupted",
                e.run
            ));
        }
    }
    // Every folder any check of the lab names, as this run fills it in: a probe of one
    // check may reach a folder another names (a manifest, a compressed copy).
    let mut prefixes = Vec::new();
    for c in lab.checks.values() {
        let targets = std::iter::once(&c.put.at)
            .chain(c.expect.iter().map(|e| &e.at))
            .chain(c.expect_absent.iter());
        for t in targets {
            let key = fill(&t.key, &run_id, &vars).map_err(anyhow::Error::msg)?;
            if let (Some(b), Some(p)) = (vars.buckets.get(&t.bucket), run_prefix(&key, &run_id)) {
                prefixes.push((b.clone(), p));
            }
        }
    }
    prefixes.sort();
    prefixes.dedup();
    let journal = if opts.keep {
        None
    } else {
        let entry = journal::Entry {
            run: run_id.clone(),
            prefixes: prefixes.clone(),
        };
        Some(journal::open(&declared.base_dir, &lab.name, &entry)?)
    };
    let local = match opts.local.unwrap_or(run.clients.endpoint.is_some()) {
        true => Some(Local::new(run, &lab, &vars).await?),
        false => None,
    };
    // Functions are made ready (unpacked, interpreters found) all at once, up front.
    if let Some(l) = &local {
        futures_util::future::join_all(lab.lambda.functions.keys().map(|k| l.prepared(k))).await;
        tracing::info!(ms = t0.elapsed().as_millis() as u64, "functions ready");
    }
    // Each sample is made once per run, off the async threads.
    let wanted: BTreeSet<&'static str> = selected
        .iter()
        .filter_map(|(_, c)| match c.put.content {
            Content::Sample(s) => Some(s.name()),
            _ => None,
        })
        .collect();
    let mut samples = BTreeMap::new();
    for name in wanted {
        if let Some(s) = Sample::parse(name) {
            let bytes = tokio::task::spawn_blocking(move || sample::bytes(s))
                .await?
                .map_err(anyhow::Error::msg)?;
            samples.insert(name, Arc::new(bytes));
        }
    }
    let shared = Shared {
        run,
        lab: &lab,
        vars: &vars,
        run_id: &run_id,
        local: local.as_ref(),
        timeout: opts.timeout,
        samples,
    };
    let mut checks: Vec<(CheckReport, Vec<(String, String)>)> =
        futures_util::stream::iter(selected)
            .map(|(name, c)| one(&shared, name, c))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
    checks.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let mut report = Report {
        lab: lab.name.clone(),
        run: run_id.clone(),
        runner: if local.is_some() { "local" } else { "aws" },
        approximate: Vec::new(),
        interpreters: Vec::new(),
        notes: notes.clone(),
        checks: Vec::new(),
        cleanup: Cleanup {
            kept: opts.keep,
            ..Default::default()
        },
    };
    if let Some(l) = &local {
        for (name, p) in l.prepared_so_far() {
            report.interpreters.push(format!(
                "{name}: Python {} ({})",
                p.python.version,
                p.python.path.display()
            ));
            for a in &p.approximate {
                if !report.approximate.contains(a) {
                    report.approximate.push(a.clone());
                }
            }
        }
    }
    let writes: Vec<(String, String)> = checks.iter().flat_map(|c| c.1.clone()).collect();
    report.checks = checks.into_iter().map(|c| c.0).collect();
    if !opts.keep {
        report.cleanup = cleanup(&shared, &prefixes, &writes).await;
    }
    if let Some(j) = journal
        && report.cleanup.error.is_none()
    {
        journal::close(&j);
    }
    Ok(report)
}

/// The part of a key up to and including the run id: everything under it is the run's.
fn run_prefix(key: &str, run_id: &str) -> Option<String> {
    key.find(run_id).map(|i| key[..i + run_id.len()].to_owned())
}

/// Removes every version and delete marker of the run's keys, in every bucket the
/// probes reached; names what the handlers wrote elsewhere, which stays.
async fn cleanup(
    sh: &Shared<'_>,
    named: &[(String, String)],
    writes: &[(String, String)],
) -> Cleanup {
    let mut c = Cleanup::default();
    let mut prefixes: BTreeSet<(String, String)> = named.iter().cloned().collect();
    for (b, k) in writes {
        match run_prefix(k, sh.run_id) {
            Some(p) => {
                prefixes.insert((b.clone(), p));
            }
            None => {
                let o = format!("s3://{b}/{k}");
                if !c.left.contains(&o) {
                    c.left.push(o);
                }
            }
        }
    }
    for (bucket, prefix) in prefixes {
        match s3::purge(&sh.run.clients.s3, &bucket, &prefix, sh.run_id).await {
            Ok(n) => c.removed += n,
            Err(e) => {
                c.error = Some(format!(
                    "removing the probes' objects from s3://{bucket}/{prefix}: {e}"
                ));
                break;
            }
        }
    }
    c
}

/// Runs one check: its probe in, its expectations decided, its failure explained.
async fn one(
    sh: &Shared<'_>,
    name: &str,
    c: &Check,
) -> Result<(CheckReport, Vec<(String, String)>)> {
    let started = Instant::now();
    let bucket_of = |logical: &str| sh.vars.buckets.get(logical).cloned().unwrap_or_default();
    let key_of = |k: &str| fill(k, sh.run_id, sh.vars).map_err(anyhow::Error::msg);
    let put_bucket = bucket_of(&c.put.at.bucket);
    let put_key = key_of(&c.put.at.key)?;
    let (bytes, content_type) = match &c.put.content {
        Content::Empty => (Arc::new(Vec::new()), None),
        Content::Text(t) => (
            Arc::new(t.clone().into_bytes()),
            Some("text/plain; charset=utf-8"),
        ),
        Content::Sample(s) => (
            sh.samples.get(s.name()).cloned().unwrap_or_default(),
            Some(sample::content_type(*s)),
        ),
    };
    let content_type = c.put.content_type.as_deref().or(content_type);
    let put = PutInfo {
        image: matches!(c.put.content, Content::Sample(_))
            .then(|| jpeg::inspect(&bytes).ok())
            .flatten(),
        bytes: bytes.clone(),
    };
    let targets = remote::Targets {
        expect: c
            .expect
            .iter()
            .map(|e| Ok((bucket_of(&e.at.bucket), key_of(&e.at.key)?)))
            .collect::<Result<_>>()?,
        absent: c
            .expect_absent
            .iter()
            .map(|e| Ok((bucket_of(&e.bucket), key_of(&e.key)?)))
            .collect::<Result<_>>()?,
    };
    // Expected text holds the run id too.
    let expects: Vec<crate::check::Expect> = c
        .expect
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.body = e.body.map(|b| fill(&b, sh.run_id, sh.vars).unwrap_or(b));
            e.contains = e
                .contains
                .iter()
                .map(|t| fill(t, sh.run_id, sh.vars).unwrap_or_else(|_| t.clone()))
                .collect();
            e
        })
        .collect();
    let s3c = &sh.run.clients.s3;
    let put_time = SystemTime::now();
    let meta = s3::put(s3c, &put_bucket, &put_key, &bytes, content_type).await?;
    let change = Change::created(&put_bucket, &put_key, "Put");
    let routes = route(sh.lab, &sh.vars.buckets, &change);
    let mut timeout = sh.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut reasons = Vec::new();
    let mut logs = BTreeMap::new();
    let mut invocations = Vec::new();
    let mut writes = Vec::new();
    let found = match sh.local {
        Some(l) => {
            let occ = local::event::Occurrence {
                change,
                meta,
                time: put_time,
            };
            let cascade = l.cascade(occ, started + timeout).await;
            let mut found = Vec::new();
            for ((b, k), e) in targets.expect.iter().zip(&expects) {
                found.push(expect::present(s3c, b, k, e, &put).await?);
            }
            for (b, k) in &targets.absent {
                found.push(expect::absent(s3c, b, k).await?);
            }
            if let Some(l) = &cascade.looped {
                reasons.push(l.clone());
            }
            if let Some(cut) = &cascade.cut {
                reasons.push(format!("stopped early: {cut}"));
            }
            for i in &cascade.invocations {
                let lines = logs.entry(i.function.clone()).or_insert_with(Vec::new);
                lines.extend(i.logs.iter().cloned());
            }
            invocations = cascade
                .invocations
                .iter()
                .map(InvocationReport::from)
                .collect();
            writes = cascade.writes.clone();
            found
        }
        None => {
            // A bucket's EventBridge delivery can take minutes to start after it is
            // turned on: a function fired that way that never ran gets that long.
            if sh.timeout.is_none() {
                for f in routes
                    .iter()
                    .filter(|f| f.fires() && f.via == Via::EventBridge)
                {
                    if remote::never_ran(sh.run, &sh.lab.physical(&f.function)).await {
                        timeout = timeout.max(FIRST_DELIVERY);
                        reasons.push(format!("{} has never run: EventBridge delivery can take minutes the first time it is turned on for a bucket, so this check waited up to {} min", f.function, FIRST_DELIVERY.as_secs() / 60));
                    }
                }
            }
            remote::wait(s3c, &expects, &targets, &put, started + timeout).await?
        }
    };
    let passed = found.iter().all(|f| f.ok) && !reasons.iter().any(|r| r.starts_with("a loop"));
    if passed {
        reasons.clear();
    } else {
        let mut why: Vec<String> = found.iter().filter_map(|f| f.why.clone()).collect();
        why.extend(explain(sh, &routes, &invocations, &found).await);
        why.append(&mut reasons);
        reasons = why;
        if sh.local.is_none() {
            for f in routes.iter().filter(|f| f.fires()) {
                let lines =
                    remote::log_tail(sh.run, &sh.lab.physical(&f.function), put_time, LOG_LINES)
                        .await;
                logs.insert(f.function.clone(), lines);
            }
        }
        for lines in logs.values_mut() {
            let n = lines.len();
            lines.drain(..n.saturating_sub(LOG_LINES));
        }
    }
    Ok((
        CheckReport {
            name: name.to_owned(),
            passed,
            seconds: started.elapsed().as_secs_f64(),
            put: Probe {
                bucket: put_bucket,
                key: put_key,
                size: bytes.len() as u64,
                image: put.image.clone(),
            },
            found,
            invocations,
            reasons,
            logs,
        },
        writes,
    ))
}

/// A message's first line (the rest is in the logs shown below it).
fn first_line(m: &str) -> String {
    match m.split_once('\n') {
        Some((first, _)) => format!("{} ...", first.trim_end()),
        None => m.to_owned(),
    }
}

/// Why the probe did not have the expected effect: which triggers did not fire and why,
/// what the functions that ran did instead.
async fn explain(
    sh: &Shared<'_>,
    routes: &[Fire],
    invocations: &[InvocationReport],
    found: &[Found],
) -> Vec<String> {
    let mut out = Vec::new();
    if routes.is_empty() {
        out.push("no trigger of the lab is on the probe's bucket, so no function ran".into());
    }
    for f in routes {
        if let Some(m) = &f.miss {
            out.push(format!("{} did not fire: {m}", f.function));
        } else if sh.local.is_none() {
            out.push(format!(
                "{} should have fired (its {} trigger matches the key)",
                f.function,
                if f.via == Via::S3 {
                    "direct S3"
                } else {
                    "EventBridge"
                }
            ));
        }
    }
    for i in invocations {
        let tries = if i.attempts == 1 {
            "1 attempt".to_owned()
        } else {
            format!("{} attempts, as Lambda retries", i.attempts)
        };
        match (i.status, &i.error) {
            ("ok", _) if i.writes.is_empty() => out.push(format!(
                "{} ran on {} without error and wrote nothing",
                i.function, i.object
            )),
            ("ok", _) => out.push(format!(
                "{} ran on {} and wrote {}",
                i.function,
                i.object,
                i.writes.join(", ")
            )),
            ("timeout", _) => out.push(format!(
                "{} timed out on {} ({tries}): raise its `timeout`, or make it faster",
                i.function, i.object
            )),
            (_, Some((kind, msg))) => out.push(format!(
                "{} failed on {} ({tries}): {kind}: {}",
                i.function,
                i.object,
                first_line(msg)
            )),
            _ => {}
        }
    }
    // On AWS, what is there instead, near where the object should be.
    if sh.local.is_none() {
        for f in found.iter().filter(|f| f.wanted && f.size.is_none()) {
            let Some(prefix) = run_prefix(&f.key, sh.run_id) else {
                continue;
            };
            if let Ok(there) = s3::list(&sh.run.clients.s3, &f.bucket, &prefix, 10).await {
                if there.is_empty() {
                    out.push(format!("nothing at all under s3://{}/{prefix}", f.bucket));
                } else {
                    let keys: Vec<String> = there.iter().map(|(k, _)| k.clone()).collect();
                    out.push(format!(
                        "found instead under s3://{}/{prefix}: {}",
                        f.bucket,
                        keys.join(", ")
                    ));
                }
            }
        }
    }
    out
}

//! One run of one lab against AWS: its clients, who the caller is (asked once), and
//! what the run has to say afterwards. Notes, warnings and outputs belong to the run,
//! never to the process, so several labs can run side by side without mixing them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::OnceCell;

use super::error::{AwsError, Class};
use super::{Clients, Identity};

/// Where a run says what it is waiting for, as it waits (the CLI prints it).
pub type Progress = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

pub struct Run {
    pub clients: Clients,
    /// The lab's name: what its owner tag says.
    pub lab: String,
    /// Planning or carrying out `destroy`.
    pub destroying: bool,
    identity: OnceCell<Identity>,
    notes: Mutex<Vec<String>>,
    warnings: Mutex<Vec<String>>,
    outputs: Mutex<BTreeMap<String, String>>,
    progress: Option<Progress>,
    status: Option<Progress>,
}

impl Run {
    pub fn new(clients: Clients, lab: &str, destroying: bool) -> Run {
        Run {
            clients,
            lab: lab.to_owned(),
            destroying,
            identity: OnceCell::new(),
            notes: Mutex::default(),
            warnings: Mutex::default(),
            outputs: Mutex::default(),
            progress: None,
            status: None,
        }
    }

    pub fn with_progress(mut self, progress: Progress) -> Run {
        self.progress = Some(progress);
        self
    }

    /// Where what a running action is doing goes: the terminal's board, or nowhere.
    pub fn with_status(mut self, status: Progress) -> Run {
        self.status = Some(status);
        self
    }

    /// What an action is busy with ("uploading layer, 4.5 MB"): shown on a terminal's
    /// progress board only, as it says nothing a finished line will not.
    pub fn status(&self, what: &str) {
        if let Some(s) = &self.status {
            s(what);
        }
    }

    /// Says what an action waits for ("IAM role propagating, 12 s"), for the user.
    pub fn waiting(&self, what: &str) {
        tracing::info!("{what}");
        if let Some(p) = &self.progress {
            p(what);
        }
    }

    pub fn region(&self) -> &str {
        &self.clients.region
    }

    /// Who the caller is, asked once. A Learner Lab session in a region it may not use
    /// is refused here, so that reason comes before any read's AccessDenied.
    pub async fn identity(&self) -> Result<&Identity> {
        self.identity
            .get_or_try_init(|| async {
                let id = self
                    .clients
                    .caller
                    .get_or_try_init(|| super::identity(&self.clients))
                    .await?
                    .clone();
                if id.is_learner_lab()
                    && !self.destroying
                    && !["us-east-1", "us-west-2"].contains(&self.region())
                {
                    bail!(
                        "this is an AWS Academy Learner Lab session, which only allows us-east-1 and us-west-2, not {}\n  help: set `region: us-east-1` in lab.yaml (or pass --region)",
                        self.region()
                    );
                }
                Ok(id)
            })
            .await
    }

    /// Records that a step found its work already done: by another run at the same
    /// time, by hand, or by an earlier attempt whose answer was lost. The apply report
    /// lists these, so a run says when it saw changes it did not make.
    pub fn note(&self, message: String) {
        tracing::info!("{message}");
        if let Ok(mut n) = self.notes.lock() {
            n.push(message);
        }
    }

    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    pub fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    /// A value only known once an action ran (a new layer version's ARN, a new
    /// security group's id), for the actions that depend on it.
    pub fn record(&self, key: &str, value: String) {
        if let Ok(mut o) = self.outputs.lock() {
            o.insert(key.to_owned(), value);
        }
    }

    pub fn output(&self, key: &str) -> Option<String> {
        self.outputs.lock().ok().and_then(|o| o.get(key).cloned())
    }

    /// A listing that finds what the lab owns but no longer declares. Where it is
    /// denied (restricted accounts such as AWS Academy's), the plan goes on without it
    /// and says what it could not look for.
    pub fn discovery<T: Default>(&self, r: Result<T, AwsError>, what: &str) -> Result<T, AwsError> {
        match r {
            Err(e) if e.class == Class::AccessDenied => {
                self.warn(format!("not allowed to list {what} ({}): {what} this lab owns but no longer declares cannot be found", e.op));
                Ok(T::default())
            }
            other => other,
        }
    }

    /// For calls that are not idempotent, where a retry after a lost answer would make
    /// a second copy (a layer version, a permission statement on an emulator): sent
    /// without the SDK's automatic retry, and after a failure that may have taken
    /// effect, `took_effect` is asked before sending again. `Ok(None)`: it had.
    pub async fn once<T, S, SF, C, CF>(
        &self,
        op: &'static str,
        mut send: S,
        mut took_effect: C,
    ) -> Result<Option<T>, AwsError>
    where
        S: FnMut() -> SF,
        SF: std::future::Future<Output = Result<T, AwsError>>,
        C: FnMut() -> CF,
        CF: std::future::Future<Output = Result<bool, AwsError>>,
    {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match send().await {
                Ok(v) => return Ok(Some(v)),
                Err(e) if e.class == Class::Transient && attempt < 8 => {
                    tracing::debug!(op, %e, "failed; checking whether it took effect");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    if took_effect().await? {
                        self.note(format!(
                            "{op}: had already taken effect (an earlier attempt's answer was lost)"
                        ));
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
        }
    }
}

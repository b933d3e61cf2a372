//! The executor: walks a plan's graph, starting each action the moment everything it
//! depends on has succeeded, with at most `parallelism` in flight. A failed action skips
//! its dependents; independent actions still run. Ctrl-C stops new starts and lets the
//! actions in flight finish, so nothing is left half-written by labctl itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::aws::Run;
use crate::aws::error::{AwsError, Class};
use crate::kind::Plan;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub parallelism: usize,
    /// Actions in flight across several labs (class mode): each action holds a permit.
    pub budget: Option<Arc<tokio::sync::Semaphore>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    Failed(String),
    /// A dependency failed or was skipped (its index).
    Skipped(usize),
    /// Never started: the run was interrupted or stopped on expired credentials.
    NotStarted,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub start: Duration,
    pub end: Duration,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    pub timings: Vec<Option<Timing>>,
    pub interrupted: bool,
    /// Set when credentials expired part-way: retrying cannot help.
    pub credentials_failed: bool,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.outcomes.iter().all(|o| *o == Outcome::Done)
    }
}

/// What the executor tells the renderer as it goes.
pub enum Event<'a> {
    Started(usize),
    Finished(usize, &'a Outcome, Duration),
}

tokio::task_local! {
    /// The plan index of the action this task carries out, so what it says it waits
    /// for lands on its own line of the progress board.
    pub static ACTION: usize;
}

pub async fn run(
    run: Arc<Run>,
    plan: &Plan,
    opts: Options,
    mut on_event: impl FnMut(Event<'_>),
) -> Report {
    let n = plan.actions.len();
    let t0 = Instant::now();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut timings: Vec<Option<Timing>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running: JoinSet<(usize, Result<(), AwsError>)> = JoinSet::new();
    let mut stop = false;
    let mut interrupted = false;
    let mut credentials_failed = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        // Skip what depends on a failure, start what is ready.
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..n {
                if started[i] || outcomes[i].is_some() {
                    continue;
                }
                if let Some(&bad) = plan.actions[i].deps.iter().find(|&&d| {
                    matches!(
                        outcomes[d],
                        Some(Outcome::Failed(_) | Outcome::Skipped(_) | Outcome::NotStarted)
                    )
                }) {
                    outcomes[i] = Some(Outcome::Skipped(bad));
                    progress = true;
                    if let Some(o) = &outcomes[i] {
                        on_event(Event::Finished(i, o, t0.elapsed()));
                    }
                }
            }
        }
        if !stop {
            for i in 0..n {
                if running.len() >= opts.parallelism.max(1) {
                    break;
                }
                if started[i]
                    || outcomes[i].is_some()
                    || !plan.actions[i]
                        .deps
                        .iter()
                        .all(|&d| outcomes[d] == Some(Outcome::Done))
                {
                    continue;
                }
                started[i] = true;
                timings[i] = Some(Timing {
                    start: t0.elapsed(),
                    end: Duration::ZERO,
                });
                on_event(Event::Started(i));
                let work = plan.actions[i].work.clone();
                let run = run.clone();
                let budget = opts.budget.clone();
                // A spawned task does not inherit the class's rank of this lab.
                let rank = crate::aws::limit::RANK.try_with(|r| *r).ok();
                running.spawn(async move {
                    let _permit = match budget {
                        Some(b) => b.acquire_owned().await.ok(),
                        None => None,
                    };
                    let result = ACTION
                        .scope(i, async {
                            match rank {
                                Some(r) => {
                                    crate::aws::limit::RANK.scope(r, work.execute(&run)).await
                                }
                                None => work.execute(&run).await,
                            }
                        })
                        .await;
                    (i, result)
                });
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                let (i, outcome) = match joined {
                    Ok((i, Ok(()))) => (i, Outcome::Done),
                    Ok((i, Err(e))) => {
                        if e.class == Class::Credentials {
                            credentials_failed = true;
                            stop = true;
                        }
                        (i, Outcome::Failed(e.to_string()))
                    }
                    // A panic in an action is a bug; it cannot be tied to its index here.
                    Err(e) => { tracing::error!("action task failed: {e}"); continue; }
                };
                if let Some(t) = timings[i].as_mut() { t.end = t0.elapsed(); }
                outcomes[i] = Some(outcome);
                if let Some(o) = &outcomes[i] { on_event(Event::Finished(i, o, t0.elapsed())); }
            }
            _ = &mut ctrl_c, if !stop => {
                stop = true;
                interrupted = true;
            }
        }
    }
    Report {
        outcomes: outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotStarted))
            .collect(),
        timings,
        interrupted,
        credentials_failed,
        elapsed: t0.elapsed(),
    }
}

//! Waiting out "not ready yet": answers AWS gives while it catches up with a change
//! moments ago (S3's OperationAborted, EC2's fresh ids), which retrying soon cures.

use std::future::Future;
use std::time::Duration;

use super::error::{AwsError, Class};

/// How long a "try again" answer (OperationAborted) is retried before it is reported.
pub const NOT_READY_BUDGET: Duration = Duration::from_secs(120);

/// Runs `f` again while it fails with a not-ready error, with backoff, within a budget.
pub async fn not_ready<T, F, Fut>(budget: Duration, f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    while_(budget, |e| e.class == Class::NotReady, f).await
}

/// Runs `f` again while its error is one `retry` accepts, with backoff from 250 ms to
/// 10 s, until `budget` is spent; then the last error is returned.
pub async fn while_<T, F, Fut>(
    budget: Duration,
    retry: impl Fn(&AwsError) -> bool,
    mut f: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match f().await {
            Err(e) if retry(&e) && start.elapsed() + delay < budget => {
                tracing::debug!(op = e.op, code = %e.code, "not ready, retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Tells the user, every ten seconds, what a retry loop is waiting for.
pub struct Patience {
    start: tokio::time::Instant,
    told: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            start: tokio::time::Instant::now(),
            told: Duration::ZERO,
        }
    }
}

impl Patience {
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// `what` reads "lambda function x: waiting for its new role (IAM propagation)".
    pub fn tell(&mut self, run: &super::Run, what: &str, budget: Duration) {
        let waited = self.start.elapsed();
        if waited >= self.told + Duration::from_secs(10)
            || (self.told.is_zero() && waited >= Duration::from_secs(2))
        {
            self.told = waited;
            run.waiting(&format!(
                "{what}, {} s so far (gives up after {})",
                waited.as_secs(),
                human(budget)
            ));
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

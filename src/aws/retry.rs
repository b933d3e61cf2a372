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

//! On AWS the probe goes through the real triggers: verify polls for what should
//! appear, and reads the functions' logs from CloudWatch Logs when it does not.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::Client;

use super::expect::{self, Found, PutInfo};
use crate::aws::Run;
use crate::aws::error::{AwsError, Ctx};
use crate::check::Expect;

/// How long to keep watching for an object that must not appear, when nothing else
/// tells that the functions are done.
const ABSENCE_WATCH: Duration = Duration::from_secs(20);

/// Keys filled in: (bucket, key) for each `expect`, then each `expect_absent`.
pub struct Targets {
    pub expect: Vec<(String, String)>,
    pub absent: Vec<(String, String)>,
}

/// Polls until every expectation holds or `deadline`.
pub async fn wait(
    c: &Client,
    expects: &[Expect],
    t: &Targets,
    put: &PutInfo,
    deadline: Instant,
) -> Result<Vec<Found>, AwsError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    let mut found: Vec<Found>;
    loop {
        found = Vec::new();
        for ((b, k), e) in t.expect.iter().zip(expects) {
            found.push(expect::present(c, b, k, e, put).await?);
        }
        let all = found.iter().all(|f| f.ok);
        if (all && !t.expect.is_empty()) || Instant::now() >= deadline {
            break;
        }
        if t.expect.is_empty() && started.elapsed() >= ABSENCE_WATCH.min(deadline - started) {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
    for (b, k) in &t.absent {
        found.push(expect::absent(c, b, k).await?);
    }
    Ok(found)
}

/// The last `n` lines a function logged since `since`.
pub async fn log_tail(run: &Run, function: &str, since: SystemTime, n: usize) -> Vec<String> {
    let start = since
        .checked_sub(Duration::from_secs(5))
        .unwrap_or(since)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let r = run
        .clients
        .logs
        .filter_log_events()
        .log_group_name(format!("/aws/lambda/{function}"))
        .start_time(start)
        .limit(1000)
        .send()
        .await
        .ctx("FilterLogEvents");
    match r {
        Ok(o) => {
            let lines: Vec<String> = o
                .events()
                .iter()
                .filter_map(|e| e.message())
                .flat_map(|m| m.trim_end().lines().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            lines[lines.len().saturating_sub(n)..].to_vec()
        }
        Err(e) if e.code == "ResourceNotFoundException" => {
            vec![format!(
                "(no log group /aws/lambda/{function}: the function has never run)"
            )]
        }
        Err(e) => vec![format!("(its logs could not be read: {e})")],
    }
}

/// Whether a function has never logged anything: never invoked since it was made.
pub async fn never_ran(run: &Run, function: &str) -> bool {
    match run
        .clients
        .logs
        .describe_log_streams()
        .log_group_name(format!("/aws/lambda/{function}"))
        .limit(1)
        .send()
        .await
        .ctx("DescribeLogStreams")
    {
        Ok(o) => o.log_streams().is_empty(),
        Err(e) => e.code == "ResourceNotFoundException",
    }
}

//! What every kind's AWS half shares: one client per service, all from one
//! `SdkConfig`; error classes (`error`); the per-run context (`run`: identity, notes,
//! warnings, outputs); and bounded retries of "not ready yet" answers (`retry`). The
//! SDK is used only here and in the kinds' `aws.rs` files.

pub mod error;
pub mod limit;
pub mod retry;
pub mod run;
pub mod shared;
pub mod versions;

pub use run::Run;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

/// How to reach AWS, from the command line and the environment.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub region: String,
    pub profile: Option<String>,
    /// An explicit endpoint (e.g. a local emulator); `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
    /// A role to assume on top of the credentials (class mode, one account per student):
    /// (role ARN, session name).
    pub assume_role: Option<(String, String)>,
    /// A rate per service shared by every lab of a class.
    pub limiter: Option<std::sync::Arc<limit::Limiter>>,
}

#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub glue: aws_sdk_glue::Client,
    pub athena: aws_sdk_athena::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    /// An emulator's endpoint (`AWS_ENDPOINT_URL`), where `verify` runs functions itself.
    pub endpoint: Option<String>,
    /// The resolved configuration: `verify` hands its credentials to the handlers it runs.
    pub config: aws_config::SdkConfig,
    /// Listings every lab of this account shares (class mode).
    pub listings: std::sync::Arc<shared::Listings>,
    /// Who the caller is, asked once for every lab using these clients.
    pub caller: std::sync::Arc<tokio::sync::OnceCell<Identity>>,
    /// Layer uploads in flight (each holds its zip several times over while it is
    /// encoded and sent): a class's 200 labs publishing at once would hold gigabytes.
    pub uploads: std::sync::Arc<tokio::sync::Semaphore>,
    /// Requests go through a rate limit (class mode): a read that an earlier answer
    /// can make moot is worth waiting for that answer.
    pub metered: bool,
}

/// Who we are talking to AWS as.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub account_id: String,
    pub arn: String,
}

/// The roles AWS Academy sessions (Learner Lab, sandbox labs) run as, through Vocareum.
const ACADEMY_ROLES: &[&str] = &["voclabs", "vocstartsoft"];

impl Identity {
    /// An AWS Academy session: the caller is one of Academy's assumed roles.
    pub fn is_learner_lab(&self) -> bool {
        ACADEMY_ROLES
            .iter()
            .any(|r| self.arn.contains(&format!(":assumed-role/{r}/")))
    }
}

pub fn custom_endpoint(opts: &ConnectOptions) -> Option<String> {
    opts.endpoint_url.clone().or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty())
    })
}

pub async fn connect(opts: &ConnectOptions) -> Result<Clients> {
    let retry = RetryConfig::standard()
        .with_max_attempts(env_u32("LABCTL_MAX_ATTEMPTS").unwrap_or(8))
        .with_initial_backoff(Duration::from_millis(
            env_u32("LABCTL_INITIAL_BACKOFF_MS").unwrap_or(500).into(),
        ))
        .with_max_backoff(Duration::from_secs(20));
    let region = Region::new(opts.region.clone());
    // The standard chain, but the instance metadata service (the last resort, off EC2 an
    // address nothing answers on) gets a quarter second instead of seconds: with no
    // credentials anywhere, labctl says so at once.
    let mut chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(region.clone())
        .imds_client(
            aws_config::imds::Client::builder()
                .connect_timeout(Duration::from_millis(250))
                .read_timeout(Duration::from_millis(250))
                .operation_timeout(Duration::from_millis(600))
                .max_attempts(1)
                .build(),
        );
    if let Some(p) = &opts.profile {
        chain = chain.profile_name(p);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Always explicit: an unset region makes aws-config ask the instance metadata
        // service, which off EC2 costs seconds of timeouts.
        .region(region)
        .credentials_provider(chain.build().await)
        .retry_config(retry)
        .timeout_config(timeouts(false));
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    let endpoint = custom_endpoint(opts);
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(l) = &opts.limiter {
        // A request waits for its turn inside the HTTP client, where the SDK would
        // count the wait as a stalled upload or a slow attempt. The connection's own
        // connect and read timeouts start after the wait and still end a stalled call.
        loader = loader
            .http_client(limit::client(l.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .read_timeout(Duration::from_secs(60))
                    .build(),
            )
            .stalled_stream_protection(
                aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
                    .upload_enabled(false)
                    .build(),
            );
    }
    let mut cfg = loader.load().await;
    if let Some((arn, session)) = &opts.assume_role {
        let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
            .session_name(session)
            .configure(&cfg)
            .build()
            .await;
        cfg = cfg
            .into_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
    }
    if cfg.credentials_provider().is_none() {
        bail!("no AWS credentials provider is configured");
    }
    let mut s3 = aws_sdk_s3::config::Builder::from(&cfg);
    if endpoint.is_some() {
        // Emulators answer on one host: bucket-in-hostname addressing would not resolve.
        s3 = s3.force_path_style(true);
    }
    Ok(Clients {
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        iam: aws_sdk_iam::Client::new(&cfg),
        lambda: aws_sdk_lambda::Client::new(&cfg),
        ec2: aws_sdk_ec2::Client::new(&cfg),
        events: aws_sdk_eventbridge::Client::new(&cfg),
        logs: aws_sdk_cloudwatchlogs::Client::new(&cfg),
        ssm: aws_sdk_ssm::Client::new(&cfg),
        glue: aws_sdk_glue::Client::new(&cfg),
        athena: aws_sdk_athena::Client::new(&cfg),
        sts: aws_sdk_sts::Client::new(&cfg),
        region: opts.region.clone(),
        endpoint,
        config: cfg,
        listings: Default::default(),
        caller: Default::default(),
        uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
        metered: opts.limiter.is_some(),
    })
}

/// A stalled connection (campus Wi-Fi, a proxy) must not hang a run: every call gets a
/// minute to start answering and two to finish an attempt, which the SDK then retries.
/// Uploads of function code and layers (up to 50 MB) get fifteen.
pub fn timeouts(upload: bool) -> TimeoutConfig {
    let (read, attempt) = if upload {
        (Duration::from_secs(900), Duration::from_secs(900))
    } else {
        (Duration::from_secs(60), Duration::from_secs(120))
    };
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(read)
        .operation_attempt_timeout(attempt)
        .build()
}

fn env_u32(key: &str) -> Option<u32> {
    std::env::var(key).ok()?.parse().ok()
}

/// The caller's account, bounded in time: with no credentials anywhere the SDK would
/// otherwise try the instance metadata service before giving up.
pub async fn identity(c: &Clients) -> Result<Identity> {
    let call = c.sts.get_caller_identity().send();
    let out = match tokio::time::timeout(Duration::from_secs(20), call).await {
        Err(_) => bail!(
            "timed out asking AWS who you are (sts:GetCallerIdentity)\n  help: check your network, or the endpoint in AWS_ENDPOINT_URL"
        ),
        Ok(r) => r.map_err(|e| error::explain_auth(e.into()))?,
    };
    let account_id = out
        .account()
        .context("GetCallerIdentity returned no account")?
        .to_owned();
    let arn = out.arn().unwrap_or_default().to_owned();
    Ok(Identity { account_id, arn })
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn academy_sessions_are_recognised_in_every_form() {
        let id = |arn: &str| Identity {
            account_id: "111122223333".into(),
            arn: arn.into(),
        };
        for arn in [
            "arn:aws:sts::111122223333:assumed-role/voclabs/user1234567=student@example.edu",
            "arn:aws:sts::111122223333:assumed-role/vocstartsoft/user7654321=x",
        ] {
            assert!(id(arn).is_learner_lab(), "{arn}");
        }
        for arn in [
            "arn:aws:iam::111122223333:user/voclabs",
            "arn:aws:sts::111122223333:assumed-role/Admin/voclabs",
        ] {
            assert!(!id(arn).is_learner_lab(), "{arn}");
        }
    }
}

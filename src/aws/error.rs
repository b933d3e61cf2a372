//! What kind of failure an AWS error is, so the executor knows whether to wait, retry,
//! or stop — and what to tell the user.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};

/// How the executor should treat a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The thing is not there.
    NotFound,
    /// Not ready yet (eventual consistency, an update in progress): retry for a while.
    NotReady,
    /// Credentials expired or invalid: stop everything, retrying cannot help.
    Credentials,
    AccessDenied,
    /// Throttling, a 5xx answer or a lost connection: worth another try.
    Transient,
    /// Anything else: report it.
    Fatal,
}

/// An AWS failure with its code and message copied out of the SDK error, whose own
/// Display is terse.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub op: &'static str,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub class: Class,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        match self.class {
            Class::Credentials => write!(
                f,
                "\n  help: your AWS credentials expired or are invalid (AWS Academy sessions end after about 4 hours): refresh them and rerun; labctl will continue from where it stopped"
            ),
            Class::AccessDenied => write!(f, "\n  help: the credentials in use may not do this"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for AwsError {}

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "NotFound",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NoSuchTagSet",
    "NoSuchTagSetError",
    "NoSuchLifecycleConfiguration",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "InvalidGroup.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidPermission.NotFound",
    "NoSuchBucketPolicy",
    "EntityNotFoundException",
];
const NOT_READY: &[&str] = &[
    "OperationAborted",
    "ResourceConflictException",
    "ConcurrentModification",
    "ConcurrentModificationException",
    "DependencyViolation",
    "ResourceInUseException",
];
const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalError",
    "InternalFailure",
    "InternalException",
    "ServiceUnavailable",
    "ServiceException",
    "ServiceFailure",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
    "DispatchFailure",
    "ResponseError",
    "Timeout",
];
const CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
    "RequestExpired",
];

/// A request the SDK refused to build (a required field missing): a bug, not a retry.
pub fn build_err(e: impl std::fmt::Display) -> AwsError {
    AwsError {
        op: "build request",
        code: "BuildError".into(),
        message: e.to_string(),
        status: None,
        class: Class::Fatal,
    }
}

/// For deletes and removals: "it is not there" is what was wanted.
pub fn gone_ok<T>(r: Result<T, AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.class == Class::NotFound => Ok(()),
        other => other.map(drop),
    }
}

pub fn classify_code(code: &str, status: Option<u16>) -> Class {
    if NOT_FOUND.contains(&code) || (code.is_empty() && status == Some(404)) {
        Class::NotFound
    } else if NOT_READY.contains(&code) {
        Class::NotReady
    } else if TRANSIENT.contains(&code) || status.is_some_and(|s| s >= 500) {
        Class::Transient
    } else if CREDENTIALS.contains(&code) {
        Class::Credentials
    } else if code == "AccessDenied"
        || code == "AccessDeniedException"
        || code == "UnauthorizedOperation"
        || (code.is_empty() && status == Some(403))
    {
        Class::AccessDenied
    } else {
        Class::Fatal
    }
}

pub fn from_sdk<E, R>(op: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + HasStatus,
{
    let status = err.raw_response().and_then(HasStatus::status);
    match &err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or_default().to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            let class = classify_code(&code, status);
            AwsError {
                op,
                code,
                message,
                status,
                class,
            }
        }
        _ => {
            let text = DisplayErrorContext(&err).to_string();
            let code = match &err {
                SdkError::TimeoutError(_) => "Timeout",
                SdkError::DispatchFailure(_) => "DispatchFailure",
                SdkError::ResponseError(_) => "ResponseError",
                _ => "ConstructionFailure",
            };
            let class = if text.contains("no credentials") || text.contains("credential provider") {
                Class::Credentials
            } else if code == "ConstructionFailure" {
                Class::Fatal
            } else {
                Class::Transient
            };
            AwsError {
                op,
                code: code.into(),
                message: short(&text),
                status,
                class,
            }
        }
    }
}

fn short(text: &str) -> String {
    let t: String = text.chars().take(400).collect();
    t.replace('\n', " ")
}

pub trait HasStatus {
    fn status(&self) -> Option<u16>;
}

impl HasStatus for HttpResponse {
    fn status(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
}

/// Turns a credentials failure into a sentence that says how to fix it.
pub fn explain_auth(err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}");
    if text.contains("no credentials")
        || text.contains("credential provider")
        || text.contains("the credential provider was not enabled")
    {
        anyhow::anyhow!(
            "no AWS credentials found\n  help: configure credentials (`aws configure`, `aws sso login`, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN from your AWS Academy \"AWS Details\" page), or try labctl against the local emulator: ./scripts/demo.sh"
        )
    } else {
        err
    }
}

/// `.ctx("HeadBucket")` on an SDK result gives a classified `AwsError`.
pub trait Ctx<T> {
    fn ctx(self, op: &'static str) -> Result<T, AwsError>;
}

impl<T, E, R> Ctx<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + HasStatus,
{
    fn ctx(self, op: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| from_sdk(op, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify_code("NoSuchLifecycleConfiguration", Some(404)),
            Class::NotFound
        );
        assert_eq!(classify_code("", Some(404)), Class::NotFound);
        assert_eq!(
            classify_code("OperationAborted", Some(409)),
            Class::NotReady
        );
        assert_eq!(classify_code("ExpiredToken", Some(400)), Class::Credentials);
        assert_eq!(
            classify_code("AccessDenied", Some(403)),
            Class::AccessDenied
        );
        assert_eq!(
            classify_code("BucketAlreadyExists", Some(409)),
            Class::Fatal
        );
    }
}

//! A request rate per AWS service, for class mode: a whole class's labs share one
//! budget per service, so 200 labs never turn into a storm of throttling errors. It
//! sits in front of the SDK's own HTTPS client (built as the SDK builds its default)
//! and tells the service from each request's signature, so it sees every attempt,
//! retries included, on AWS and on an emulator alike.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Requests per second and burst, per service: what AWS documents for its control
/// planes, with headroom (Lambda's non-invoke calls share about 15 per second; EC2's
/// mutating calls have small buckets; IAM is global and slow to recover).
const RATES: &[(&str, f64, f64)] = &[
    // Lambda documents three budgets: GetFunction 100/s, GetPolicy 15/s, and 15/s
    // for every other control-plane call together.
    ("lambda", 12.0, 15.0),
    ("lambda:GetFunction", 80.0, 100.0),
    ("lambda:GetPolicy", 12.0, 15.0),
    ("iam", 8.0, 10.0),
    ("ec2", 20.0, 40.0),
    ("s3", 100.0, 200.0),
    ("sts", 20.0, 20.0),
    ("events", 10.0, 20.0),
    ("logs", 10.0, 20.0),
    ("glue", 20.0, 30.0),
    ("athena", 10.0, 20.0),
    ("ssm", 20.0, 40.0),
];
/// Anything else.
const OTHER: (f64, f64) = (10.0, 20.0);

tokio::task_local! {
    /// The rank of the lab a request is for (its roster order): when requests queue
    /// for one service, the earliest lab's go first, so labs finish one after another
    /// instead of all at the end, and a lab's next service (Lambda after IAM) starts
    /// while the later labs still wait for the first.
    pub static RANK: u64;
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Requests waiting for a token, by (rank, arrival).
    waiting: BTreeSet<(u64, u64)>,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
            waiting: BTreeSet::new(),
        }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token for `me` if one is there and no request ranked before it waits;
    /// else how long until the next token.
    fn take(&mut self, me: (u64, u64), now: Instant) -> Option<Duration> {
        self.refill(now);
        let first = self.waiting.first().is_none_or(|w| *w >= me);
        if first && self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.waiting.remove(&me);
            return None;
        }
        self.waiting.insert(me);
        let missing = (1.0 - self.tokens).max(0.0);
        // A token is there but an earlier request takes it: look again one token on.
        let wait = if missing > 0.0 { missing } else { 1.0 };
        Some(Duration::from_secs_f64(wait / self.rate).max(Duration::from_millis(1)))
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Arrival order of requests.
    seq: AtomicU64,
    /// How long requests waited in all, for the class report.
    waited: Mutex<Duration>,
}

/// Takes a waiting request off its bucket's queue when it goes, or is dropped (a
/// timeout, a cancelled run): a request that left must not hold back the ones after.
struct Waiting<'a> {
    limiter: &'a Limiter,
    service: &'a str,
    me: (u64, u64),
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut b) = self.limiter.buckets.lock()
            && let Some(b) = b.get_mut(self.service)
        {
            b.waiting.remove(&self.me);
        }
    }
}

impl Limiter {
    pub fn new() -> Arc<Limiter> {
        Arc::new(Limiter::default())
    }

    /// Waits until `service` may take another request, ranked `rank`.
    pub async fn acquire(&self, service: &str, rank: u64) {
        let me = (rank, self.seq.fetch_add(1, Ordering::Relaxed));
        let _queued = Waiting {
            limiter: self,
            service,
            me,
        };
        let started = Instant::now();
        loop {
            let wait = match self.buckets.lock() {
                Ok(mut b) => b
                    .entry(service.to_owned())
                    .or_insert_with(|| {
                        let (rate, burst) = RATES
                            .iter()
                            .find(|(s, _, _)| *s == service)
                            .map(|(_, r, b)| (*r, *b))
                            .unwrap_or(OTHER);
                        Bucket::new(rate, burst)
                    })
                    .take(me, Instant::now()),
                Err(_) => None,
            };
            match wait {
                None => break,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
        let waited = started.elapsed();
        if let Ok(mut w) = self.waited.lock() {
            *w += waited;
        }
    }

    pub fn waited(&self) -> Duration {
        self.waited.lock().map(|w| *w).unwrap_or_default()
    }
}

/// The signing service of a request: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`.
pub fn service_of(authorization: &str) -> Option<&str> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    let mut parts = scope.rsplit('/');
    parts.next()?; // aws4_request
    parts.next()
}

/// The budget a request draws on: its service's, or for the calls a service meters
/// apart, that call's.
pub fn family(service: &str, method: &str, path: &str) -> String {
    if service == "lambda" && method == "GET" {
        // GET /2015-03-31/functions/NAME and GET /2015-03-31/functions/NAME/policy
        let rest = path.split('?').next().unwrap_or_default();
        let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [_, "functions", _] => return "lambda:GetFunction".into(),
            [_, "functions", _, "policy"] => return "lambda:GetPolicy".into(),
            _ => {}
        }
    }
    service.to_owned()
}

/// The SDK's default HTTPS client behind the limiter.
pub fn client(limiter: Arc<Limiter>) -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    });
    SharedHttpClient::new(Limited { inner, limiter })
}

#[derive(Debug)]
struct Limited {
    inner: SharedHttpClient,
    limiter: Arc<Limiter>,
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
        })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<Limiter>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let service = request
            .headers()
            .get("authorization")
            .and_then(service_of)
            .map(|s| {
                let path = request
                    .uri()
                    .split("://")
                    .nth(1)
                    .map_or(request.uri(), |r| r.find('/').map_or("/", |i| &r[i..]));
                family(s, request.method(), path)
            });
        // Unranked requests (outside a class's labs) come after every lab's.
        let rank = RANK.try_with(|r| *r).unwrap_or(u64::MAX);
        let (inner, limiter) = (self.inner.clone(), self.limiter.clone());
        HttpConnectorFuture::new(async move {
            if let Some(s) = service {
                limiter.acquire(&s, rank).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_signature() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(service_of(auth), Some("lambda"));
        assert_eq!(service_of("Bearer x"), None);
    }

    #[test]
    fn lambda_meters_getfunction_and_getpolicy_apart() {
        let f = |m, p| family("lambda", m, p);
        assert_eq!(
            f("GET", "/2015-03-31/functions/lab-backup"),
            "lambda:GetFunction"
        );
        assert_eq!(
            f("GET", "/2015-03-31/functions/lab-backup/policy"),
            "lambda:GetPolicy"
        );
        assert_eq!(f("GET", "/2015-03-31/functions/"), "lambda");
        assert_eq!(f("POST", "/2015-03-31/functions"), "lambda");
        assert_eq!(f("GET", "/2018-10-31/layers/lab-pillow/versions"), "lambda");
        assert_eq!(family("s3", "GET", "/2015-03-31/functions/x"), "s3");
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_paces() {
        let now = Instant::now();
        let mut b = Bucket::new(10.0, 3.0);
        for i in 0..3 {
            assert!(b.take((0, i), now).is_none());
        }
        let w = b.take((0, 3), now).unwrap();
        assert!(
            w > Duration::from_millis(50) && w <= Duration::from_millis(101),
            "{w:?}"
        );
    }

    #[test]
    fn the_earliest_lab_waiting_gets_the_next_token() {
        let now = Instant::now();
        let mut b = Bucket::new(10.0, 1.0);
        assert!(b.take((5, 0), now).is_none());
        // Both wait; a token later, lab 1 goes before lab 7 though 7 came first.
        assert!(b.take((7, 1), now).is_some());
        assert!(b.take((1, 2), now).is_some());
        let later = now + Duration::from_millis(100);
        assert!(b.take((7, 1), later).is_some(), "7 must wait for 1");
        assert!(b.take((1, 2), later).is_none());
        let later = later + Duration::from_millis(100);
        assert!(b.take((7, 1), later).is_none());
        assert!(b.waiting.is_empty());
    }
}

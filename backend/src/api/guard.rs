//! Abuse resistance at the door: request rates per address and per account (token
//! buckets), throttling of repeated failures (logins, invitation codes), the security
//! headers every answer carries, and CORS for the origins the configuration names.
//!
//! The counters live in this process. Behind several `vigil serve` processes each keeps
//! its own, so the effective limit is the configured one times the number of processes.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{AppState, error::AppError};

/// Limits on how fast one address or account may call, and how failures are throttled.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Requests per minute from one address (its burst too); 0 turns the limit off.
    pub per_address_per_minute: u32,
    /// Requests per minute with one account's tokens; 0 turns the limit off.
    pub per_account_per_minute: u32,
    /// Failures of one kind on one key (a username, an address, an account joining)
    /// before it is locked out for a while.
    pub failures_before_lock: u32,
    /// The first lockout; each further failure doubles it, up to [`MAX_LOCK`].
    pub first_lock: Duration,
    /// Read the client's address from the last `X-Forwarded-For` hop (only behind a
    /// proxy you run, which sets it).
    pub trust_forwarded_for: bool,
    /// Origins allowed to call the API from a browser (exact, e.g. `https://vigil.example`).
    pub cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (when served over HTTPS).
    pub hsts: bool,
}

/// New accounts one address may make per hour (off when the address limit is off).
pub const REGISTRATIONS_PER_HOUR: u32 = 20;
/// The longest lockout.
pub const MAX_LOCK: Duration = Duration::from_secs(3_600);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Entries kept before idle ones are swept.
const SWEEP_AT: usize = 50_000;

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            per_address_per_minute: 1_200,
            per_account_per_minute: 600,
            failures_before_lock: 5,
            first_lock: Duration::from_secs(60),
            trust_forwarded_for: false,
            cors_origins: Vec::new(),
            hsts: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The counters; one per API process.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
    failures: Mutex<HashMap<String, Failures>>,
}

fn too_many(retry: Duration, message: String) -> AppError {
    let secs = retry.as_secs().max(1);
    AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).with_retry_after(secs)
}

impl Guard {
    pub fn new(config: GuardConfig) -> Guard {
        Guard {
            config,
            buckets: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Takes one token from `key`'s bucket of `per_minute`, or says how long to wait.
    fn take(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        self.take_over(key, per_minute, Duration::from_secs(60), now)
    }

    /// Takes one token from `key`'s bucket, which holds `n` and refills `n` every `period`.
    fn take_over(&self, key: &str, n: u32, period: Duration, now: Instant) -> Result<(), Duration> {
        if n == 0 {
            return Ok(());
        }
        let capacity = f64::from(n);
        let rate = capacity / period.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            // A bucket idle long enough to be full again holds nothing worth keeping.
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Counts a request from `addr`.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), AppError> {
        self.take(
            &format!("addr:{addr}"),
            self.config.per_address_per_minute,
            Instant::now(),
        )
        .map_err(|wait| {
            too_many(
                wait,
                format!(
                    "more than {} requests a minute from your address; wait and try again",
                    self.config.per_address_per_minute
                ),
            )
        })
    }

    /// Counts a request made with `account`'s token.
    pub fn check_account(&self, account: &str) -> Result<(), AppError> {
        self.take(
            &format!("user:{account}"),
            self.config.per_account_per_minute,
            Instant::now(),
        )
        .map_err(|wait| {
            too_many(
                wait,
                format!(
                    "more than {} requests a minute with your account; wait and try again",
                    self.config.per_account_per_minute
                ),
            )
        })
    }

    /// Counts a new account made from `addr`: at most [`REGISTRATIONS_PER_HOUR`].
    pub fn check_registration(&self, addr: IpAddr) -> Result<(), AppError> {
        if self.config.per_address_per_minute == 0 {
            return Ok(());
        }
        self.take_over(
            &format!("register:{addr}"),
            REGISTRATIONS_PER_HOUR,
            Duration::from_secs(3_600),
            Instant::now(),
        )
        .map_err(|wait| {
            too_many(
                wait,
                format!("more than {REGISTRATIONS_PER_HOUR} new accounts an hour from your address; try again later"),
            )
        })
    }

    /// Refuses while `key` is locked out after repeated failures.
    pub fn check_throttle(&self, key: &str) -> Result<(), AppError> {
        self.check_throttle_at(key, Instant::now())
    }

    fn check_throttle_at(&self, key: &str, now: Instant) -> Result<(), AppError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(too_many(
                until - now,
                format!(
                    "too many failed attempts; try again in {} seconds",
                    (until - now).as_secs().max(1)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Records a failure on `key`; enough of them lock it out, for longer each time.
    pub fn failed(&self, key: &str) {
        self.failed_at(key, 1, Instant::now());
    }

    /// Like [`Guard::failed`] for a key shared by many people (an address): it locks out
    /// after `share` times as many failures.
    pub fn failed_shared(&self, key: &str, share: u32) {
        self.failed_at(key, share, Instant::now());
    }

    fn failed_at(&self, key: &str, share: u32, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| {
                now.duration_since(f.last) < FAILURE_MEMORY
                    || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let f = failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(f.last) >= FAILURE_MEMORY && f.locked_until.is_none_or(|u| u <= now) {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        let before_lock = self
            .config
            .failures_before_lock
            .saturating_mul(share.max(1));
        if f.count >= before_lock {
            let doublings = (f.count - before_lock).min(16);
            let lock = self
                .config
                .first_lock
                .saturating_mul(1 << doublings)
                .min(MAX_LOCK);
            f.locked_until = Some(now + lock);
        }
    }

    /// Forgets `key`'s failures after a success.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The client's address: the connection's peer, or with `trust_forwarded_for` the last
    /// `X-Forwarded-For` hop (the one the trusted proxy added).
    pub fn client_addr(&self, request: &Request) -> Option<IpAddr> {
        if self.config.trust_forwarded_for
            && let Some(hop) = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|h| h.trim().parse::<IpAddr>().ok())
        {
            return Some(hop);
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }
}

/// The client's address, put in the request's extensions by [`per_address`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

/// Middleware: counts the request against its address's bucket (429 with `Retry-After`
/// past the limit) and records the address for handlers.
pub async fn per_address(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let addr = state.guard.client_addr(&request);
    if let Some(addr) = addr
        && let Err(e) = state.guard.check_address(addr)
    {
        return e.into_response();
    }
    request.extensions_mut().insert(ClientAddr(addr));
    next.run(request).await
}

/// Middleware: the headers every answer carries, and CORS for configured origins only.
/// The API serves JSON, never pages, so the content security policy forbids everything.
pub async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| {
            state
                .guard
                .config
                .cors_origins
                .iter()
                .any(|allowed| allowed == o)
        })
        .map(str::to_owned);
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        // Answered here for every origin; only an allowed one gets the CORS headers, so a
        // browser refuses the others.
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "geolocation=(), camera=(), microphone=()",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    if state.guard.config.hsts {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    if let Some(origin) = origin
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let guard = Guard::new(GuardConfig::default());
        let t0 = Instant::now();
        for _ in 0..60 {
            guard.take("k", 60, t0).unwrap();
        }
        let wait = guard.take("k", 60, t0).unwrap_err();
        assert!((0.9..=1.01).contains(&wait.as_secs_f64()), "{wait:?}");
        guard
            .take("k", 60, t0 + Duration::from_millis(1_100))
            .unwrap();
        assert!(
            guard
                .take("k", 60, t0 + Duration::from_millis(1_100))
                .is_err()
        );
        guard.take("other", 60, t0).unwrap();
        guard.take("k", 0, t0).unwrap();
    }

    #[test]
    fn failures_lock_out_for_longer_each_time_and_a_success_forgets_them() {
        let guard = Guard::new(GuardConfig::default());
        let t0 = Instant::now();
        for _ in 0..4 {
            guard.failed_at("login:ann", 1, t0);
        }
        guard.check_throttle_at("login:ann", t0).unwrap();
        guard.failed_at("login:ann", 1, t0);
        let err = guard.check_throttle_at("login:ann", t0).unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(60));
        guard
            .check_throttle_at("login:ann", t0 + Duration::from_secs(61))
            .unwrap();
        guard.failed_at("login:ann", 1, t0 + Duration::from_secs(61));
        let err = guard
            .check_throttle_at("login:ann", t0 + Duration::from_secs(62))
            .unwrap_err();
        assert_eq!(err.retry_after, Some(119), "doubled to 120 s");
        guard.succeeded("login:ann");
        guard
            .check_throttle_at("login:ann", t0 + Duration::from_secs(62))
            .unwrap();
        guard.check_throttle_at("login:bob", t0).unwrap();
    }
}

//! Polite HTTP for the connectors: a per-source rate limit, retries with exponential
//! backoff and full jitter, and `Retry-After` honoured.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header;
use tokio::sync::Mutex;

use super::metrics::IngestMetrics;

/// The longest wait a source may ask for with `Retry-After` before the run gives up (the
/// next scheduled run starts again from the checkpoint).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Why a fetch failed, once retries are spent.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source refused the request itself (4xx other than 408/429, or an error body):
    /// retrying the same request will not help.
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// Timeouts, connection failures, 5xx or 429 beyond the retries.
    #[error("{url} failed after {attempts} attempts: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
    /// The configured address cannot be a URL.
    #[error("{url} is not a valid URL ({message}); check the source's url in config")]
    BadUrl { url: String, message: String },
    /// The body is not the document the source's API promises.
    #[error("{url} sent an unreadable answer: {message}")]
    Unreadable { url: String, message: String },
}

/// Retry settings of one source.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub backoff: Duration,
}

impl RetryPolicy {
    /// Full jitter: a uniform wait in `[0, min(cap, base * 2^attempt)]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .backoff
            .saturating_mul(1u32 << attempt.min(20))
            .min(MAX_BACKOFF);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// One source's HTTP client.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    interval: Duration,
    next_slot: Mutex<Instant>,
    policy: RetryPolicy,
    headers: header::HeaderMap,
    source: String,
    metrics: IngestMetrics,
}

/// What a request failure means for the next attempt.
enum Attempt {
    Retry { wait: Option<Duration>, why: String },
    Fail(FetchError),
}

impl Http {
    pub fn new(
        client: reqwest::Client,
        source: &str,
        requests_per_second: f64,
        policy: RetryPolicy,
        headers: header::HeaderMap,
        metrics: IngestMetrics,
    ) -> Http {
        Http {
            client,
            interval: Duration::from_secs_f64(1.0 / requests_per_second),
            next_slot: Mutex::new(Instant::now()),
            policy,
            headers,
            source: source.to_owned(),
            metrics,
        }
    }

    /// Waits for this source's next request slot.
    async fn pace(&self) {
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        *next = Instant::now().max(*next) + self.interval;
    }

    /// GETs `url` with `query` and parses the JSON body, retrying what may succeed
    /// later. The returned string is the full URL asked, for provenance.
    pub async fn get_json(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<(serde_json::Value, String), FetchError> {
        self.get_json_with(url, query, &Call::default()).await
    }

    /// [`Http::get_json`] with the API's own rules for what a failure means.
    pub async fn get_json_with(
        &self,
        url: &str,
        query: &[(&str, String)],
        call: &Call,
    ) -> Result<(serde_json::Value, String), FetchError> {
        let full = url::Url::parse_with_params(url, query)
            .map_err(|e| FetchError::BadUrl {
                url: url.to_owned(),
                message: e.to_string(),
            })?
            .to_string();
        let mut attempt = 0;
        loop {
            self.pace().await;
            let outcome = match self.attempt(&full, call).await {
                Ok(value) => return Ok((value, full)),
                Err(outcome) => outcome,
            };
            match outcome {
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { wait, why } => {
                    if attempt >= self.policy.retries {
                        return Err(FetchError::GaveUp {
                            url: full,
                            attempts: attempt + 1,
                            last: why,
                        });
                    }
                    let wait = match wait {
                        Some(w) if w > MAX_RETRY_AFTER => {
                            return Err(FetchError::GaveUp {
                                url: full,
                                attempts: attempt + 1,
                                last: format!(
                                    "{why}; the source asks to wait {} s, longer than {} s (the next run resumes from the checkpoint)",
                                    w.as_secs(),
                                    MAX_RETRY_AFTER.as_secs()
                                ),
                            });
                        }
                        Some(w) => w,
                        None => self.policy.backoff(attempt),
                    };
                    tracing::warn!(source = %self.source, url = %full, %why, wait_ms = wait.as_millis() as u64, "retrying");
                    self.metrics.retry(&self.source);
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One request: the parsed body, or what to do about the failure.
    async fn attempt(&self, full: &str, call: &Call) -> Result<serde_json::Value, Attempt> {
        let response = match self
            .client
            .get(full)
            .headers(self.headers.clone())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.metrics.request(&self.source, 0);
                return Err(Attempt::Retry {
                    wait: None,
                    why: if e.is_timeout() {
                        "timed out".into()
                    } else {
                        e.to_string()
                    },
                });
            }
        };
        let status = response.status();
        self.metrics.request(&self.source, status.as_u16());
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let body = response.text().await.unwrap_or_default();
            return Err(classify(full, status.as_u16(), retry_after, &body, call));
        }
        let body = response.bytes().await.map_err(|e| Attempt::Retry {
            wait: None,
            why: format!("body cut off: {e}"),
        })?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            Attempt::Fail(FetchError::Unreadable {
                url: full.to_owned(),
                message: format!("not JSON: {e}"),
            })
        })?;
        // APIs that answer errors with 200 and an error document (ArcGIS).
        if let Some((code, message)) = call.body_error.and_then(|f| f(&value)) {
            return Err(classify(full, code, None, &message, call));
        }
        Ok(value)
    }
}

/// Finds an error (status and message) inside a 200 answer.
pub type BodyError = fn(&serde_json::Value) -> Option<(u16, String)>;

/// An API's own rules for one kind of request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call {
    /// Statuses that mean the request itself must change (not retried), with what to do.
    pub permanent: &'static [(u16, &'static str)],
    /// Reads an error status and message from a 200 answer.
    pub body_error: Option<BodyError>,
}

fn classify(
    url: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
    call: &Call,
) -> Attempt {
    let message = error_message(body);
    if let Some((_, hint)) = call.permanent.iter().find(|(s, _)| *s == status) {
        return Attempt::Fail(FetchError::Refused {
            url: url.to_owned(),
            status,
            message: format!("{message}; {hint}"),
        });
    }
    match status {
        429 | 503 => Attempt::Retry {
            wait: retry_after,
            why: format!("{status}: {message}"),
        },
        408 | 500..=599 => Attempt::Retry {
            wait: None,
            why: format!("{status}: {message}"),
        },
        code => Attempt::Fail(FetchError::Refused {
            url: url.to_owned(),
            status: code,
            message,
        }),
    }
}

/// The useful line of an error body: Socrata's and ArcGIS's `message`, else the start of
/// the text.
fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for pointer in ["/message", "/error/message", "/error"] {
            if let Some(m) = v.pointer(pointer).and_then(|m| m.as_str()) {
                return m.to_owned();
            }
        }
    }
    let text: String = body.chars().take(200).collect();
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        text.trim().to_owned()
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(110) && wait <= Duration::from_secs(120));
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let p = RetryPolicy {
            retries: 5,
            backoff: Duration::from_millis(100),
        };
        for attempt in 0..30 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(p.backoff(attempt) <= ceiling);
            }
        }
        // Jitter: not every wait is the same.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(
                r#"{"code":"query.soql.no-such-column","error":true,"message":"No such column: foo"}"#
            ),
            "No such column: foo"
        );
        assert_eq!(
            error_message(r#"{"error":{"code":400,"message":"Invalid query","details":[]}}"#),
            "Invalid query"
        );
        assert_eq!(error_message(""), "(empty body)");
    }
}

//! The sync client: pushes the outbox and then edits of sent reports, pulls changes, and
//! retries with backoff.
//!
//! Every step is safe to interrupt. A report is marked sent only after the server has
//! answered for it; killed before that, the next sync pushes it again and the server
//! answers `duplicate` (ids are made on the device). A page of changes and its cursor are
//! written in one transaction.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use vigil_sync::{
    Cursor, EditRequest, EditResponse, PullResponse, PushRequest, PushResponse, ReportEdit,
    ReportSubmission, watch::Alert,
};

use crate::{
    alerts::{AreasSent, pull_alerts, push_areas},
    edits::EditsApplied,
    store::{PushApplied, Store, StoreError},
};

/// Reports per push (the server's limit).
pub const PUSH_BATCH: usize = 500;
/// Changes per pull page (the server's limit).
pub const PULL_PAGE: u32 = 1_000;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the server cannot be reached ({0}); your reports are kept and sent later")]
    Offline(String),
    #[error("the server had a problem ({status}); your reports are kept and sent later")]
    Server { status: u16 },
    #[error("the server answered something that is not Vigil's API ({0}); check the server URL")]
    Garbage(String),
    #[error("the server refused the login or token ({0}); log in again")]
    Unauthorized(String),
    #[error("the server refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Offline(_) | SyncError::Server { .. } | SyncError::Garbage(_)
        )
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a random time up to
/// `min(max, base * 2^n)`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Attempts before giving up (the reports stay pending).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
            attempts: 6,
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        cap.mul_f64(fastrand::f64())
    }
}

/// A Vigil server and the session on it.
#[derive(Debug, Clone)]
pub struct Server {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    pub sent: usize,
    pub rejected: usize,
    /// What happened to the edits of submitted reports.
    pub edits: EditsApplied,
    /// Incident changes pulled.
    pub pulled: usize,
    /// Watch-area changes sent.
    pub areas: AreasSent,
    /// Alerts new in the inbox, oldest first.
    pub alerts: Vec<Alert>,
    /// The risk model and cells fetched for offline hints.
    pub risk: crate::risk::RiskSynced,
    /// Photos of sent reports uploaded (or refused).
    pub photos: crate::photos::PhotosSent,
}

impl Server {
    /// A client for the server at `base_url` (`http://host:port`).
    pub fn new(base_url: &str, token: Option<String>) -> Result<Server, SyncError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SyncError::Refused {
                status: 0,
                message: format!("server URL {base_url:?} must start with http:// or https://"),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SyncError::Offline(e.to_string()))?;
        Ok(Server { http, base, token })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends `request` with the token; the body of a successful answer.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<bytes::Bytes, SyncError> {
        let request = match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SyncError::Offline(e.without_url().to_string()))?;
        if status.is_server_error() {
            return Err(SyncError::Server {
                status: status.as_u16(),
            });
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(SyncError::Unauthorized(message_of(&bytes)));
        }
        if !status.is_success() {
            return Err(SyncError::Refused {
                status: status.as_u16(),
                message: message_of(&bytes),
            });
        }
        Ok(bytes)
    }

    /// Sends `request`; the answer's JSON body.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SyncError> {
        let bytes = self.answer(request).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Garbage(e.to_string()))
    }

    /// Sends `request`, whose answer has no body worth reading (`204 No Content`).
    pub(crate) async fn send_empty(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(), SyncError> {
        self.answer(request).await.map(drop)
    }

    /// Creates an account.
    pub async fn register(&self, username: &str, password: &str) -> Result<(), SyncError> {
        let _: serde_json::Value = self
            .send(
                self.http
                    .post(format!("{}/v1/auth/register", self.base))
                    .json(&serde_json::json!({"username": username, "password": password})),
            )
            .await?;
        Ok(())
    }

    /// Logs in and keeps the token for the following calls.
    pub async fn login(&mut self, username: &str, password: &str) -> Result<String, SyncError> {
        #[derive(serde::Deserialize)]
        struct Login {
            token: String,
        }
        let login: Login = self
            .send(
                self.http
                    .post(format!("{}/v1/auth/login", self.base))
                    .json(&serde_json::json!({"username": username, "password": password})),
            )
            .await?;
        self.token = Some(login.token.clone());
        Ok(login.token)
    }

    async fn push(&self, reports: &[ReportSubmission]) -> Result<PushResponse, SyncError> {
        let response: PushResponse = self
            .send(
                self.http
                    .post(format!("{}/v1/sync/push", self.base))
                    .json(&PushRequest {
                        reports: reports.to_vec(),
                    }),
            )
            .await?;
        // One answer per report, in order, or the answer is not to be trusted.
        let matches = response.results.len() == reports.len()
            && response
                .results
                .iter()
                .zip(reports)
                .all(|(r, s)| r.id == s.id);
        if !matches {
            return Err(SyncError::Garbage(
                "the push answer does not match the reports sent".into(),
            ));
        }
        Ok(response)
    }

    async fn edits(&self, edits: &[ReportEdit]) -> Result<EditResponse, SyncError> {
        let response: EditResponse = self
            .send(
                self.http
                    .post(format!("{}/v1/sync/edits", self.base))
                    .json(&EditRequest {
                        edits: edits.to_vec(),
                    }),
            )
            .await?;
        let matches = response.results.len() == edits.len()
            && response
                .results
                .iter()
                .zip(edits)
                .all(|(r, e)| r.edit_id == e.edit_id);
        if !matches {
            return Err(SyncError::Garbage(
                "the edits answer does not match the edits sent".into(),
            ));
        }
        Ok(response)
    }

    async fn pull(&self, cursor: Option<Cursor>) -> Result<PullResponse, SyncError> {
        let mut url = format!("{}/v1/sync/pull?limit={PULL_PAGE}", self.base);
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={}", c.encode()));
        }
        self.send(self.http.get(url)).await
    }
}

fn message_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned())
}

/// Pushes every pending report, a batch at a time. On failure the batch stays pending with
/// the reason ("not sent yet: ...").
pub async fn push_outbox(store: &mut Store, server: &Server) -> Result<PushApplied, SyncError> {
    let mut total = PushApplied::default();
    loop {
        let batch = store.pending(PUSH_BATCH)?;
        if batch.is_empty() {
            return Ok(total);
        }
        match server.push(&batch).await {
            Ok(response) => {
                let applied = store.apply_push(&response.results, Utc::now())?;
                total.sent += applied.sent;
                total.rejected += applied.rejected;
            }
            Err(error) => {
                let ids: Vec<String> = batch.into_iter().map(|r| r.id).collect();
                store.push_failed(&ids, &format!("not sent yet: {error}"))?;
                return Err(error);
            }
        }
    }
}

/// Sends every pending edit, a batch at a time, after the reports they edit have been
/// pushed. On failure the batch stays pending with the reason.
pub async fn push_edits(store: &mut Store, server: &Server) -> Result<EditsApplied, SyncError> {
    let mut total = EditsApplied::default();
    loop {
        let batch = store.pending_edits(PUSH_BATCH)?;
        if batch.is_empty() {
            return Ok(total);
        }
        match server.edits(&batch).await {
            Ok(response) => {
                let applied = store.apply_edit_results(&response.results, Utc::now())?;
                total.applied += applied.applied;
                total.kept += applied.kept;
                total.rejected += applied.rejected;
            }
            Err(error) => {
                let ids: Vec<String> = batch.into_iter().map(|e| e.edit_id).collect();
                store.edits_failed(&ids, &format!("not sent yet: {error}"))?;
                return Err(error);
            }
        }
    }
}

/// Pulls every change after the stored cursor; returns how many were applied.
pub async fn pull_changes(store: &mut Store, server: &Server) -> Result<usize, SyncError> {
    let mut pulled = 0;
    loop {
        let page = server.pull(store.cursor()?).await?;
        pulled += page.changes.len();
        store.apply_page(&page.changes, page.cursor)?;
        if let Some(version) = &page.risk_model {
            store.set_setting(crate::risk::OFFERED, version)?;
        }
        if !page.has_more {
            return Ok(pulled);
        }
    }
}

/// Pushes reports, edits and watch areas, then pulls changes and alerts and refreshes the
/// risk model and cells; transient failures are retried with `backoff`.
pub async fn sync(
    store: &mut Store,
    server: &Server,
    backoff: Backoff,
) -> Result<SyncSummary, SyncError> {
    let mut attempt = 0;
    loop {
        let result = async {
            let pushed = push_outbox(store, server).await?;
            let edits = push_edits(store, server).await?;
            let photos = crate::photos::upload_photos(store, server).await?;
            let areas = push_areas(store, server).await?;
            let pulled = pull_changes(store, server).await?;
            let alerts = pull_alerts(store, server).await?;
            // Hints are extras: a failure here leaves the last model and cells in use and
            // is tried again on the next sync, without failing this one.
            let risk = crate::risk::sync_risk(store, server)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "risk model or cells not refreshed");
                    crate::risk::RiskSynced::default()
                });
            Ok::<_, SyncError>(SyncSummary {
                sent: pushed.sent,
                rejected: pushed.rejected,
                edits,
                pulled,
                areas,
                alerts,
                risk,
                photos,
            })
        }
        .await;
        match result {
            Err(e) if e.is_transient() && attempt + 1 < backoff.attempts => {
                let wait = backoff.delay(attempt);
                tracing::info!(error = %e, retry_in = ?wait, "sync failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

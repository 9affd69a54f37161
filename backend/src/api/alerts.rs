//! A person's alerts: `GET /v1/alerts` pages through the inbox (for apps that were
//! offline), `GET /v1/alerts/stream` sends them live over a WebSocket.
//!
//! Alert ids grow by one per person, so both resume from "after id N": a client that
//! reconnects with the last id it saw gets everything after it, once.

use std::time::Duration;

use axum::{
    Json,
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    },
    http::{HeaderMap, header},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_sync::watch::Alert;

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiQuery, bad_query},
};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;
/// How often a stream re-reads the inbox without a wake-up (wake-ups across processes
/// may be lost while Redis reconnects).
const REREAD: Duration = Duration::from_secs(3);
/// How often a stream pings an idle client.
const PING: Duration = Duration::from_secs(30);

/// Query parameters of `GET /v1/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxParams {
    /// Alerts with ids after this one (default 0: from the oldest kept).
    pub after: Option<u64>,
    /// 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// A page of the inbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboxPage {
    pub alerts: Vec<Alert>,
    /// The id to pass as `after` next time.
    pub last_id: u64,
    /// True when more alerts are waiting: ask again at once.
    pub has_more: bool,
}

/// The caller's alerts after `after`, oldest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", security(("bearer" = [])), params(InboxParams),
    responses((status = 200, body = InboxPage), (status = 401, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn inbox(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> Result<Json<InboxPage>, AppError> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_query("limit", format!("must be from 1 to {MAX_LIMIT}")));
    }
    let after = p.after.unwrap_or(0);
    let mut alerts = state.db.alerts_after(&user.id, after, limit + 1).await?;
    let has_more = alerts.len() > limit as usize;
    alerts.truncate(limit as usize);
    Ok(Json(InboxPage {
        last_id: alerts.last().map_or(after, |a| a.id),
        alerts,
        has_more,
    }))
}

/// Query parameters of `GET /v1/alerts/stream`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Resume after this alert id; without it, only alerts raised from now on are sent.
    pub after: Option<u64>,
    /// The bearer token, for WebSocket clients that cannot set headers (browsers).
    /// Prefer the `Authorization` header.
    pub access_token: Option<String>,
}

/// Alerts as they are raised, over a WebSocket: one text message per alert, an [`Alert`]
/// in JSON, in id order. Reconnect with `after` set to the last id received.
#[utoipa::path(get, path = "/v1/alerts/stream", tag = "alerts", security(("bearer" = [])), params(StreamParams),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 401, body = super::error::ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<StreamParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer.or(p.access_token.as_deref()).ok_or_else(|| {
        AppError::unauthorized(
            "missing_token",
            "send Authorization: Bearer <token> (or ?access_token=<token>); get a token from POST /v1/auth/login",
        )
    })?;
    let user = AuthUser::from_token(&state, token).await?;
    let after = match p.after {
        Some(after) => after,
        None => state.db.last_alert_id(&user.id).await?,
    };
    Ok(ws.on_upgrade(move |socket| send_alerts(state, user, after, socket)))
}

/// Counts an open stream while it lives.
struct Open(prometheus_client::metrics::gauge::Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn send_alerts(state: AppState, user: AuthUser, mut after: u64, socket: WebSocket) {
    let gauge = state.metrics.alerts.streams.clone();
    gauge.inc();
    let _open = Open(gauge);
    let mut wake = state.notifier.subscribe(&user.id.0);
    let (mut tx, mut rx) = socket.split();
    let mut reread = tokio::time::interval(REREAD);
    let mut ping = tokio::time::interval(PING);
    ping.reset();
    loop {
        // Everything after the last id sent, page by page.
        loop {
            let page = match state.db.alerts_after(&user.id, after, MAX_LIMIT).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "alert stream cannot read the inbox; closing it");
                    let _ = tx
                        .send(Message::Close(Some(CloseFrame {
                            code: close_code::AGAIN,
                            reason: "the inbox cannot be read now; reconnect with after=<last id>"
                                .into(),
                        })))
                        .await;
                    return;
                }
            };
            let full = page.len() == MAX_LIMIT as usize;
            for alert in page {
                let Ok(text) = serde_json::to_string(&alert) else {
                    continue;
                };
                if tx.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
                after = alert.id;
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { return },
            _ = reread.tick() => {}
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            msg = rx.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

//! `GET /healthz`: answers 200 when the store answers, 503 otherwise.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::AppState;

/// Liveness and readiness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "the store does not answer")))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let engine = state.db.engine();
    match state.db.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "store": engine, "version": env!("CARGO_PKG_VERSION")})),
        ),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "store": engine})),
            )
        }
    }
}

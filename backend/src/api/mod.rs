//! The HTTP API. [`router`] builds the whole axum app from an [`AppState`], so tests drive
//! it with `tower::ServiceExt::oneshot` and `vigil serve` binds it to a port.

mod alerts;
pub mod auth;
mod devices;
pub mod error;
pub mod extract;
mod groups;
pub mod guard;
mod health;
mod incidents;
mod me;
pub mod metrics;
mod near;
mod openapi;
mod photos;
pub mod risk;
mod stats;
mod sync;
mod watch;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    middleware,
    routing::{get, post, put},
};
use chrono::TimeDelta;
use tower_http::trace::TraceLayer;
use vigil_sync::Limits;

use crate::db::Db;
use error::AppError;
use metrics::Metrics;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a login token stays valid.
    pub token_ttl: TimeDelta,
    /// Time limits on user reports.
    pub limits: Limits,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Accept push endpoints on private addresses or plain http (`push.allow_private_endpoints`).
    pub allow_private_push_endpoints: bool,
    /// Rate limits, failure throttling, CORS and security headers.
    pub guard: guard::GuardConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token_ttl: TimeDelta::days(30),
            limits: Limits::default(),
            max_body_bytes: 2 * 1024 * 1024,
            allow_private_push_endpoints: false,
            guard: guard::GuardConfig::default(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ApiConfig>,
    /// Verified against when a login names an unknown user (see `auth::login`).
    pub dummy_hash: Arc<str>,
    /// The speed layer's real-time views (in process or in Redis), when configured.
    pub views: Option<crate::speed::ViewStore>,
    /// The batch views and the speed layer, merged by the `/v1/stats` endpoints.
    pub layers: crate::serving::Layers,
    /// Wakes alert streams when their person has new alerts.
    pub notifier: crate::alerts::notify::Notifier,
    /// The VAPID public key browsers subscribe with, when push is on.
    pub vapid_public_key: Option<Arc<str>>,
    /// The newest risk model published to the lake, for `/v1/risk`.
    pub risk: crate::risk::publish::RiskServing,
    /// Rate limits and failure throttling.
    pub guard: Arc<guard::Guard>,
}

impl AppState {
    pub fn new(db: Db, config: ApiConfig) -> AppState {
        AppState {
            db,
            guard: Arc::new(guard::Guard::new(config.guard.clone())),
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
            dummy_hash: auth::dummy_hash().into(),
            views: None,
            layers: crate::serving::Layers::new(None, None),
            notifier: crate::alerts::notify::Notifier::local(),
            vapid_public_key: None,
            risk: crate::risk::publish::RiskServing::default(),
        }
    }

    /// Wakes alert streams through `notifier` (shared with an in-process matcher, or
    /// listening to Redis).
    pub fn with_notifier(mut self, notifier: crate::alerts::notify::Notifier) -> AppState {
        self.notifier = notifier;
        self
    }

    /// Serves real-time reads from `views`.
    pub fn with_views(mut self, views: crate::speed::ViewStore) -> AppState {
        self.views = Some(views.clone());
        self.layers = crate::serving::Layers::new(self.layers.batch.clone(), Some(views));
        self
    }

    /// Serves merged statistics from `batch` (and the views, if set).
    pub fn with_batch(mut self, batch: crate::batch::BatchStore) -> AppState {
        self.layers = crate::serving::Layers::new(Some(batch), self.views.clone());
        self
    }
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let guarded = state.clone();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/openapi.json", get(openapi::spec))
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/logout-all", post(auth::logout_all))
        .route("/v1/me", axum::routing::delete(me::delete_account))
        .route("/v1/me/export", get(me::export))
        .route("/v1/groups", get(groups::list).post(groups::create))
        .route("/v1/groups/join", post(groups::join))
        .route("/v1/groups/{id}", get(groups::get))
        .route("/v1/groups/{id}/members", get(groups::members))
        .route(
            "/v1/groups/{id}/members/{user_id}",
            put(groups::set_role).delete(groups::remove_member),
        )
        .route(
            "/v1/groups/{id}/invites",
            post(groups::invite).delete(groups::revoke_invites),
        )
        .route("/v1/groups/{id}/queue", get(groups::queue))
        .route(
            "/v1/groups/{id}/reports/{incident_id}/decision",
            post(groups::decide),
        )
        .route("/v1/groups/{id}/audit", get(groups::audit))
        .route("/v1/sync/push", post(sync::push))
        .route("/v1/sync/edits", post(sync::edits))
        .route("/v1/sync/pull", get(sync::pull))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/near", get(near::near))
        .route("/v1/incidents/{id}", get(incidents::detail))
        .route(
            "/v1/incidents/{id}/photos",
            post(photos::add).layer(DefaultBodyLimit::max(photos::MAX_PHOTO_BYTES)),
        )
        .route("/v1/incidents/{id}/photos/{n}", get(photos::get))
        .route("/v1/cells/{cell}/counts", get(near::cell_counts))
        .route("/v1/stats/heatmap", get(stats::heatmap))
        .route("/v1/stats/trends", get(stats::trends))
        .route("/v1/stats/summary", get(stats::summary))
        .route("/v1/watch-areas", get(watch::list))
        .route(
            "/v1/watch-areas/{id}",
            put(watch::put).delete(watch::delete),
        )
        .route("/v1/alerts", get(alerts::inbox))
        .route("/v1/alerts/stream", get(alerts::stream))
        .route("/v1/devices", get(devices::list))
        .route(
            "/v1/devices/{id}",
            put(devices::put).delete(devices::delete),
        )
        .route("/v1/push/vapid", get(devices::vapid))
        .route("/v1/risk/model", get(risk::model))
        .route("/v1/risk/cells", post(risk::cells))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .route_layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn_with_state(
            guarded.clone(),
            guard::per_address,
        ))
        .layer(middleware::from_fn_with_state(guarded, guard::headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /v1/openapi.json",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /v1/openapi.json",
    )
}

//! Prometheus metrics: HTTP traffic and sync outcomes, served as text on `GET /metrics`.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use vigil_sync::{EditOutcome, PushOutcome};

use super::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: &'static str,
    op: &'static str,
}

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

/// The pipeline roles' metrics (relay, speed layer, archive). Cheap to clone; every clone
/// updates the same series.
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    /// Changes the relay appended to the event log.
    pub relay_published: Counter,
    /// Relay rounds that failed (and were retried).
    pub relay_failures: Counter,
    /// Changes committed in the store but not yet published.
    pub outbox_backlog: Gauge,
    speed_events: Family<OutcomeLabels, Counter>,
    /// Records in the event log the speed layer has not read yet.
    pub speed_lag: Gauge,
    /// Speed-layer rounds that failed (and were retried).
    pub speed_failures: Counter,
    /// Seconds from a change's commit in the store to its visibility in the views.
    pub visibility_delay: Histogram,
    engine_ops: Family<EngineLabels, Histogram>,
    /// Changes the archive has stored in the lake.
    pub archive_rows: Counter,
    /// Objects the archive has written to the lake.
    pub archive_objects: Counter,
    /// Records in the event log the archive has not stored yet.
    pub archive_lag: Gauge,
    /// Archive rounds that failed (and were retried).
    pub archive_failures: Counter,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        PipelineMetrics {
            relay_published: Counter::default(),
            relay_failures: Counter::default(),
            outbox_backlog: Gauge::default(),
            speed_events: Family::default(),
            speed_lag: Gauge::default(),
            speed_failures: Counter::default(),
            visibility_delay: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            engine_ops: Family::new_with_constructor(latency_buckets),
            archive_rows: Counter::default(),
            archive_objects: Counter::default(),
            archive_lag: Gauge::default(),
            archive_failures: Counter::default(),
        }
    }
}

impl PipelineMetrics {
    /// Counts records the speed layer read: `applied`, `repeat` (nothing changed) or
    /// `unreadable` (sent to the dead-letter topic).
    pub fn speed_event(&self, outcome: &'static str, n: u64) {
        if n > 0 {
            self.speed_events
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n);
        }
    }

    /// Times one call to an engine (`kafka`, `redis`, `file`, `memory`): `append`,
    /// `apply`, `commit`.
    pub fn engine_op(&self, engine: &'static str, op: &'static str, took: std::time::Duration) {
        self.engine_ops
            .get_or_create(&EngineLabels { engine, op })
            .observe(took.as_secs_f64());
    }
}

/// The backend's metrics and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    /// Relay and speed-layer series, handed to those roles.
    pub pipeline: PipelineMetrics,
    /// Public-feed ingest series, handed to `vigil ingest`.
    pub ingest: crate::ingest::metrics::IngestMetrics,
    /// Alert matcher and stream series.
    pub alerts: crate::alerts::metrics::AlertMetrics,
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pushed: Family<OutcomeLabels, Counter>,
    edits: Family<OutcomeLabels, Counter>,
    pulled: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("vigil");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_buckets);
        let pushed = Family::<OutcomeLabels, Counter>::default();
        let edits = Family::<OutcomeLabels, Counter>::default();
        let pulled = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "sync_pushed_reports",
            "Pushed reports by outcome",
            pushed.clone(),
        );
        registry.register("sync_edits", "Reporters' edits by outcome", edits.clone());
        registry.register(
            "sync_pulled_changes",
            "Changes sent to devices by pull",
            pulled.clone(),
        );
        let pipeline = PipelineMetrics::default();
        // Known label values start at 0, so rate() and alerts see them from the first scrape.
        for outcome in ["accepted", "duplicate", "rejected"] {
            pushed.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        for outcome in ["applied", "kept_as_revision", "rejected"] {
            edits.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        for outcome in ["applied", "repeat", "too_old", "unreadable"] {
            pipeline
                .speed_events
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
        }
        registry.register(
            "relay_published",
            "Changes published to the event log",
            pipeline.relay_published.clone(),
        );
        registry.register(
            "relay_failures",
            "Relay rounds that failed",
            pipeline.relay_failures.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Committed changes not yet published",
            pipeline.outbox_backlog.clone(),
        );
        registry.register(
            "speed_events",
            "Event-log records read by the speed layer, by outcome",
            pipeline.speed_events.clone(),
        );
        registry.register(
            "speed_lag",
            "Event-log records the speed layer has not read",
            pipeline.speed_lag.clone(),
        );
        registry.register(
            "speed_failures",
            "Speed-layer rounds that failed",
            pipeline.speed_failures.clone(),
        );
        registry.register(
            "speed_visibility_delay_seconds",
            "Time from a change's commit in the store to its visibility in the real-time views",
            pipeline.visibility_delay.clone(),
        );
        registry.register(
            "engine_op_duration_seconds",
            "Latency of calls to the event log and view engines",
            pipeline.engine_ops.clone(),
        );
        registry.register(
            "archive_rows",
            "Incident changes the archive stored in the lake",
            pipeline.archive_rows.clone(),
        );
        registry.register(
            "archive_objects",
            "Parquet objects the archive wrote to the lake",
            pipeline.archive_objects.clone(),
        );
        registry.register(
            "archive_lag",
            "Event-log records the archive has not stored yet",
            pipeline.archive_lag.clone(),
        );
        registry.register(
            "archive_failures",
            "Archive rounds that failed",
            pipeline.archive_failures.clone(),
        );
        let ingest = crate::ingest::metrics::IngestMetrics::default();
        ingest.register(&mut registry);
        let alerts = crate::alerts::metrics::AlertMetrics::default();
        alerts.register(&mut registry);
        Metrics {
            pipeline,
            alerts,
            ingest,
            registry,
            requests,
            latency,
            pushed,
            edits,
            pulled,
        }
    }
}

impl Metrics {
    pub fn push_outcome(&self, outcome: PushOutcome) {
        let outcome = match outcome {
            PushOutcome::Accepted => "accepted",
            PushOutcome::Duplicate => "duplicate",
            PushOutcome::Rejected => "rejected",
        };
        self.pushed.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn edit_outcome(&self, outcome: EditOutcome) {
        let outcome = match outcome {
            EditOutcome::Applied => "applied",
            EditOutcome::KeptAsRevision => "kept_as_revision",
            EditOutcome::Rejected => "rejected",
        };
        self.edits.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn pulled(&self, changes: usize) {
        self.pulled.inc_by(changes as u64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Counts and times every request by its route template (not the raw path, which
/// would make a series per id).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let labels = RouteLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    response
}

/// Prometheus scrape endpoint.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

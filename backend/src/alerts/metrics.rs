//! What the alert matcher and the alert stream show on `/metrics`.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabels {
    provider: &'static str,
    outcome: &'static str,
}

/// Alert series; cheap to clone, every clone updates the same series.
#[derive(Debug, Clone)]
pub struct AlertMetrics {
    outcomes: Family<OutcomeLabels, Counter>,
    pushes: Family<PushLabels, Counter>,
    /// Watch areas the matcher holds.
    pub areas: Gauge,
    /// Matcher rounds that failed (and were retried).
    pub failures: Counter,
    /// Seconds from an incident's commit in the store to its alert in the inbox.
    pub delay: Histogram,
    /// Open alert streams (WebSockets).
    pub streams: Gauge,
    /// Records in the event log the matcher has not read yet.
    pub lag: Gauge,
}

impl Default for AlertMetrics {
    fn default() -> Self {
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["sent", "held", "repeat", "digest", "retraction"] {
            outcomes.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        let pushes = Family::<PushLabels, Counter>::default();
        for provider in ["web_push", "unified_push", "fcm", "apns"] {
            for outcome in ["delivered", "gone", "failed", "retry"] {
                pushes
                    .get_or_create(&PushLabels { provider, outcome })
                    .inc_by(0);
            }
        }
        AlertMetrics {
            outcomes,
            pushes,
            areas: Gauge::default(),
            failures: Counter::default(),
            delay: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            streams: Gauge::default(),
            lag: Gauge::default(),
        }
    }
}

impl AlertMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "alerts",
            "Alerts by outcome: sent, held (for a digest), repeat (deduplicated), digest, retraction",
            self.outcomes.clone(),
        );
        registry.register(
            "pushes",
            "Push notifications by provider and outcome: delivered, gone (device forgotten), failed, retry",
            self.pushes.clone(),
        );
        registry.register(
            "alert_watch_areas",
            "Watch areas the matcher holds",
            self.areas.clone(),
        );
        registry.register(
            "alert_failures",
            "Alert matcher rounds that failed",
            self.failures.clone(),
        );
        registry.register(
            "alert_delay_seconds",
            "Time from an incident's commit in the store to its alert in the inbox",
            self.delay.clone(),
        );
        registry.register(
            "alert_lag",
            "Event-log records the alert matcher has not read",
            self.lag.clone(),
        );
        registry.register(
            "alert_streams",
            "Open alert streams (WebSockets)",
            self.streams.clone(),
        );
    }

    /// Counts one push through `provider` that ended with `outcome`.
    pub fn push(&self, provider: &'static str, outcome: &'static str) {
        self.pushes
            .get_or_create(&PushLabels { provider, outcome })
            .inc();
    }

    /// Counts `n` alerts with `outcome`.
    pub fn outcome(&self, outcome: &'static str, n: u64) {
        self.outcomes
            .get_or_create(&OutcomeLabels { outcome })
            .inc_by(n);
    }
}

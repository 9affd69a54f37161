//! What `vigil ingest` shows on `/metrics`, per source.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    source: String,
    /// The HTTP status, or 0 when no answer came (timeout, connection refused).
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: String,
    outcome: &'static str,
}

/// Ingest series; cheap to clone, every clone updates the same series.
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    requests: Family<RequestLabels, Counter>,
    retries: Family<SourceLabels, Counter>,
    records: Family<OutcomeLabels, Counter>,
    runs: Family<OutcomeLabels, Counter>,
    last_success: Family<SourceLabels, Gauge>,
}

impl IngestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ingest_requests",
            "Requests to public feeds, by source and HTTP status (0: no answer)",
            self.requests.clone(),
        );
        registry.register(
            "ingest_retries",
            "Requests to public feeds retried after a failure, 429 or 503",
            self.retries.clone(),
        );
        registry.register(
            "ingest_records",
            "Feed records by source and outcome (inserted, updated, unchanged, rejected, unmapped)",
            self.records.clone(),
        );
        registry.register(
            "ingest_runs",
            "Source runs by outcome (ok, failed)",
            self.runs.clone(),
        );
        registry.register(
            "ingest_last_success_timestamp_seconds",
            "When each source last finished a run without error",
            self.last_success.clone(),
        );
    }

    pub fn request(&self, source: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                source: source.to_owned(),
                status,
            })
            .inc();
    }

    pub fn retry(&self, source: &str) {
        self.retries
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    pub fn records(&self, source: &str, outcome: &'static str, n: u64) {
        self.records
            .get_or_create(&OutcomeLabels {
                source: source.to_owned(),
                outcome,
            })
            .inc_by(n);
    }

    pub fn run(&self, source: &str, ok: bool, at_unix: i64) {
        self.runs
            .get_or_create(&OutcomeLabels {
                source: source.to_owned(),
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
        if ok {
            self.last_success
                .get_or_create(&SourceLabels {
                    source: source.to_owned(),
                })
                .set(at_unix);
        }
    }

    /// Starts a source's series at 0, so alerts see them from the first scrape.
    pub fn known_source(&self, source: &str) {
        for outcome in ["inserted", "updated", "unchanged", "rejected", "unmapped"] {
            self.records(source, outcome, 0);
        }
        for outcome in ["ok", "failed"] {
            self.runs
                .get_or_create(&OutcomeLabels {
                    source: source.to_owned(),
                    outcome,
                })
                .inc_by(0);
        }
    }
}

//! `vigil relay`: publishes the operational store's change feed (the transactional outbox)
//! to the incident topic, in commit order, keyed by area cell.
//!
//! It publishes a batch, waits until the log has it durably, and only then records its new
//! position. A crash between the two re-publishes that batch on restart: nothing is
//! skipped, and consumers drop the repeats by incident id and version. Two relays at once
//! publish some changes twice but never lose one, since the position only moves forward.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use chrono::Utc;

use crate::{
    api::metrics::PipelineMetrics,
    db::{Db, StoreError},
    events::{EVENT_VERSION, IncidentEvent},
    log::{EventLog, LogError, Record},
    rounds::{Rounds, stopped_during},
};

/// Why a relay round failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("event log: {0}")]
    Log(#[from] LogError),
}

/// Moves changes from the store to the event log.
#[derive(Debug, Clone)]
pub struct Relay {
    db: Db,
    log: EventLog,
    /// Names the position row, so differently configured relays do not share progress.
    name: String,
    batch: u32,
    metrics: PipelineMetrics,
}

impl Relay {
    pub fn new(db: Db, log: EventLog, name: impl Into<String>) -> Relay {
        Relay {
            db,
            log,
            name: name.into(),
            batch: 1_000,
            metrics: PipelineMetrics::default(),
        }
    }

    /// Changes read from the store and published per round.
    pub fn with_batch(mut self, batch: u32) -> Relay {
        self.batch = batch.max(1);
        self
    }

    /// Reports into `metrics` (published, failures, backlog).
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Relay {
        self.metrics = metrics;
        self
    }

    /// Publishes the next batch of changes; returns how many it moved past (private
    /// reports are passed over, not published).
    pub async fn run_once(&self) -> Result<usize, RelayError> {
        let position = self.db.relay_position(&self.name).await?;
        let entries = self.db.outbox_after(position, self.batch).await?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let read = entries.len();
        // A group's private reports never reach the public pipeline (views, lake, alerts),
        // but the position moves past them.
        let records: Vec<Record> = entries
            .into_iter()
            .filter(|e| !e.private)
            .map(|e| {
                let key = e.cell.to_string().into_bytes();
                let event = IncidentEvent {
                    v: EVENT_VERSION,
                    seq: e.seq,
                    cell: e.cell,
                    change: e.change,
                    at: Some(e.at),
                };
                Record {
                    key,
                    payload: event.encode(),
                }
            })
            .collect();
        let now = Utc::now().timestamp_millis();
        if !records.is_empty() {
            let started = Instant::now();
            self.log.append(&records, now).await?;
            self.metrics
                .engine_op(self.log.engine(), "append", started.elapsed());
        }
        self.db.set_relay_position(&self.name, last, now).await?;
        self.metrics.relay_published.inc_by(records.len() as u64);
        let newest = self.db.last_change_seq().await?;
        self.metrics
            .outbox_backlog
            .set(newest.saturating_sub(last) as i64);
        Ok(read)
    }

    /// Relays until `shutdown` completes: at once while there is a backlog, then every
    /// `idle` when there is none; failures are logged and retried with backoff.
    pub async fn run(self, idle: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rounds = Rounds::new(
            "relay",
            idle,
            Duration::from_secs(30),
            self.metrics.relay_failures.clone(),
        );
        loop {
            let result = self.run_once().await.map(|n| {
                if n > 0 {
                    tracing::debug!(published = n, "relay published");
                    Duration::ZERO
                } else {
                    idle
                }
            });
            if stopped_during(rounds.wait_after(result), shutdown.as_mut()).await {
                return;
            }
        }
    }
}

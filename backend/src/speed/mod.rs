//! The speed layer: a consumer of the incident topic that keeps the real-time views.
//!
//! Embedded, the views live in process ([`views::Views`]) and are rebuilt by replaying the
//! log from the start whenever the process starts, so there is nothing to commit. A record
//! that cannot be read is logged, counted and copied to the dead-letter topic, and the
//! consumer goes on.

pub mod views;

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::Duration,
};

use chrono::Utc;

use crate::{
    api::metrics::PipelineMetrics,
    events::IncidentEvent,
    log::{FileLog, LogError, Record},
};
use views::Views;

/// Shared handle to the views, read by the API and written by the consumer.
pub type SharedViews = Arc<RwLock<Views>>;

/// Records read per partition per round.
const BATCH: usize = 2_000;

/// The speed-layer consumer.
#[derive(Debug)]
pub struct Speed {
    log: FileLog,
    dead_letters: FileLog,
    views: SharedViews,
    /// The next offset to read, per partition.
    next: Vec<u64>,
    unreadable: u64,
    metrics: PipelineMetrics,
}

impl Speed {
    /// A consumer that replays `log` from the start into `views`.
    pub fn new(log: FileLog, dead_letters: FileLog, views: SharedViews) -> Speed {
        let next = vec![0; log.partitions() as usize];
        Speed {
            log,
            dead_letters,
            views,
            next,
            unreadable: 0,
            metrics: PipelineMetrics::default(),
        }
    }

    /// Reports into `metrics` (records by outcome, lag).
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Speed {
        self.metrics = metrics;
        self
    }

    /// Records that could not be read so far.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// Applies what is new in every partition; returns how many records it read.
    pub async fn run_once(&mut self) -> Result<usize, LogError> {
        let mut read = 0;
        for p in 0..self.log.partitions() {
            let batch = self.log.read(p, self.next[p as usize], BATCH).await?;
            let Some(last) = batch.last().map(|d| d.offset) else {
                continue;
            };
            let mut bad = Vec::new();
            let mut applied = 0;
            {
                let mut views = self
                    .views
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for d in &batch {
                    match IncidentEvent::decode(&d.payload) {
                        Ok(event) => applied += u64::from(views.apply(&event)),
                        Err(error) => {
                            tracing::warn!(%error, partition = p, offset = d.offset, "unreadable event sent to the dead-letter topic");
                            bad.push(Record {
                                key: d.key.clone(),
                                payload: d.payload.clone(),
                            });
                        }
                    }
                }
            }
            if !bad.is_empty() {
                self.dead_letters
                    .append(&bad, Utc::now().timestamp_millis())
                    .await?;
                self.unreadable += bad.len() as u64;
            }
            self.next[p as usize] = last + 1;
            read += batch.len();
            self.metrics.speed_event("applied", applied);
            self.metrics
                .speed_event("repeat", batch.len() as u64 - applied - bad.len() as u64);
            self.metrics.speed_event("unreadable", bad.len() as u64);
        }
        let mut lag = 0;
        for p in 0..self.log.partitions() {
            lag += self
                .log
                .end_offset(p)
                .await
                .saturating_sub(self.next[p as usize]);
        }
        self.metrics.speed_lag.set(lag as i64);
        Ok(read)
    }

    /// Consumes until `shutdown` completes, waking on every append (or each `idle`).
    pub async fn run(mut self, idle: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.run_once().await {
                Ok(0) => idle,
                Ok(_) => Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "speed layer round failed");
                    idle * 5
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.log.wait_for_append(wait) => {}
            }
        }
    }
}

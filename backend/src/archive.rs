//! The archive: a consumer group on the incident topic that writes every change to the
//! lake as Parquet, under `incidents/date=YYYY-MM-DD/` by the day (UTC) the change was
//! committed to the operational store.
//!
//! Records collect in memory until the buffer holds `max_rows` changes or its oldest record
//! is `max_age` old. Then one object is written per day and log partition, named from the
//! partition and the offset range it holds (`p003-<first>-<last>.parquet`), and only when
//! every object is stored are the offsets committed. A crash before the commit re-reads
//! the same records; re-written with the same range they replace the objects already
//! there, and where the ranges differ the batch layer keeps one copy of each (incident,
//! version). Nothing is committed that is not in the lake.

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant},
};

use chrono::DateTime;

use crate::{
    api::metrics::PipelineMetrics,
    events::IncidentEvent,
    lake::{
        INCIDENTS_PREFIX, Lake, LakeError,
        parquet::{ArchivedChange, to_parquet},
    },
    log::{Delivered, LogConsumer, LogError},
    rounds::{Rounds, stopped_during},
};

/// Why an archive round failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// How the archive batches.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Records per poll.
    pub batch: usize,
    /// Longest wait for new records in one poll.
    pub idle: Duration,
    /// Roll the buffer into objects once it holds this many changes...
    pub max_rows: usize,
    /// ...or once its oldest record has waited this long.
    pub max_age: Duration,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            batch: 5_000,
            idle: Duration::from_millis(200),
            max_rows: 200_000,
            max_age: Duration::from_secs(60),
        }
    }
}

/// What one roll wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolled {
    pub objects: Vec<String>,
    pub rows: usize,
}

/// The archive consumer.
#[derive(Debug)]
pub struct Archive {
    consumer: LogConsumer,
    lake: Lake,
    options: ArchiveOptions,
    delivered: Vec<Delivered>,
    rows: Vec<ArchivedChange>,
    oldest: Option<Instant>,
    unreadable: u64,
    metrics: PipelineMetrics,
    last_lag: Option<Instant>,
}

/// The object key for the changes of one day and log partition, first to last offset.
pub fn object_key(day: &str, partition: u32, first: u64, last: u64) -> String {
    format!("{INCIDENTS_PREFIX}date={day}/p{partition:03}-{first:020}-{last:020}.parquet")
}

impl Archive {
    pub fn new(consumer: LogConsumer, lake: Lake, options: ArchiveOptions) -> Archive {
        Archive {
            consumer,
            lake,
            options,
            delivered: Vec::new(),
            rows: Vec::new(),
            oldest: None,
            unreadable: 0,
            metrics: PipelineMetrics::default(),
            last_lag: None,
        }
    }

    /// Reports into `metrics`.
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Archive {
        self.metrics = metrics;
        self
    }

    /// Records skipped because they could not be read (the speed layer dead-letters them).
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// Changes read but not yet stored.
    pub fn buffered(&self) -> usize {
        self.rows.len()
    }

    fn due(&self) -> bool {
        self.rows.len() >= self.options.max_rows
            || self
                .oldest
                .is_some_and(|t| t.elapsed() >= self.options.max_age)
    }

    /// One round: roll the buffer if it is due (and stop there if the lake refuses), then
    /// poll and buffer; roll again if that made it due. Returns what was rolled.
    pub async fn run_once(&mut self) -> Result<Rolled, ArchiveError> {
        let mut rolled = Rolled::default();
        if self.due() {
            rolled = self.roll().await?;
        }
        self.refresh_lag().await;
        let wait = match self.oldest {
            Some(t) => self
                .options
                .idle
                .min(self.options.max_age.saturating_sub(t.elapsed())),
            None => self.options.idle,
        };
        let room = self
            .options
            .batch
            .min(self.options.max_rows.saturating_sub(self.rows.len()).max(1));
        let batch = self.consumer.poll(room, wait).await?;
        for d in batch {
            match IncidentEvent::decode(&d.payload) {
                Ok(event) => self.rows.push(ArchivedChange::new(&event, &d)),
                Err(error) => {
                    tracing::warn!(%error, partition = d.partition, offset = d.offset, "unreadable event not archived");
                    self.unreadable += 1;
                }
            }
            self.oldest.get_or_insert_with(Instant::now);
            self.delivered.push(d);
        }
        if self.due() {
            let more = self.roll().await?;
            rolled.objects.extend(more.objects);
            rolled.rows += more.rows;
        }
        Ok(rolled)
    }

    /// Writes everything buffered to the lake, then commits its offsets.
    pub async fn roll(&mut self) -> Result<Rolled, ArchiveError> {
        if self.delivered.is_empty() {
            return Ok(Rolled::default());
        }
        let mut groups: BTreeMap<(String, u32), Vec<&ArchivedChange>> = BTreeMap::new();
        for row in &self.rows {
            let day = DateTime::from_timestamp_millis(row.at_ms)
                .unwrap_or_default()
                .format("%Y-%m-%d")
                .to_string();
            groups
                .entry((day, row.log_partition))
                .or_default()
                .push(row);
        }
        let mut rolled = Rolled::default();
        for ((day, partition), rows) in groups {
            let first = rows.iter().map(|r| r.log_offset).min().unwrap_or(0);
            let last = rows.iter().map(|r| r.log_offset).max().unwrap_or(0);
            let key = object_key(&day, partition, first, last);
            let owned: Vec<ArchivedChange> = rows.into_iter().cloned().collect();
            let n = owned.len();
            let bytes = tokio::task::spawn_blocking(move || to_parquet(&owned))
                .await
                .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))??;
            let started = Instant::now();
            self.lake.put(&key, bytes).await?;
            self.metrics
                .engine_op(self.lake.engine(), "put", started.elapsed());
            tracing::debug!(%key, rows = n, "archived");
            rolled.objects.push(key);
            rolled.rows += n;
        }
        self.consumer.commit(&self.delivered).await?;
        self.metrics.archive_rows.inc_by(rolled.rows as u64);
        self.metrics
            .archive_objects
            .inc_by(rolled.objects.len() as u64);
        self.delivered.clear();
        self.rows.clear();
        self.oldest = None;
        Ok(rolled)
    }

    async fn refresh_lag(&mut self) {
        if self
            .last_lag
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_lag = Some(Instant::now());
        self.consumer.refresh_lag(&self.metrics.archive_lag).await;
    }

    /// Archives until `shutdown` completes, then stores what is buffered; failures are
    /// logged and retried with backoff (nothing is committed that is not stored).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rounds = Rounds::new(
            "archive",
            self.options.idle,
            Duration::from_secs(30),
            self.metrics.archive_failures.clone(),
        );
        loop {
            let result = self.run_once().await.map(|_| Duration::ZERO);
            if stopped_during(rounds.wait_after(result), shutdown.as_mut()).await {
                break;
            }
        }
        if let Err(error) = self.roll().await {
            tracing::warn!(%error, buffered = self.rows.len(), "could not store the last changes; they are read again on the next start");
        }
    }
}

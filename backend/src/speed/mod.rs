//! The speed layer: a consumer group on the incident topic that keeps the real-time views.
//!
//! Each round polls a batch, applies it to the views, copies unreadable records to the
//! dead-letter topic and only then commits the batch's offsets. A crash anywhere in the
//! round leaves the batch uncommitted, so it is read again; the views compare incident
//! versions, so reading it again changes nothing.
//!
//! The views live in Redis in scale-out mode ([`redis::RedisViews`]) or in process when
//! embedded ([`views::Views`], rebuilt by replaying the log from the start whenever the
//! process starts). [`ViewStore`] hides which.

pub mod delta;
pub mod redis;
pub mod views;

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use vigil_sync::{AreaCell, Category, Location};

use crate::{
    api::metrics::PipelineMetrics,
    events::IncidentEvent,
    log::{EventLog, LogConsumer, LogError, Record},
    rounds::{Rounds, stopped_during},
};
use redis::{RedisViewError, RedisViews};
use views::{Applied, Seen, Views};

/// Shared handle to the in-process views, read by the API and written by the consumer.
pub type SharedViews = Arc<RwLock<Views>>;

/// Why the views could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Redis(#[from] RedisViewError),
}

#[derive(Debug, Clone)]
enum Backend {
    Memory(SharedViews),
    Redis(RedisViews),
}

/// The real-time views, in process or in Redis, with their retention.
#[derive(Debug, Clone)]
pub struct ViewStore {
    backend: Backend,
    retention: TimeDelta,
}

impl ViewStore {
    /// Views in this process.
    pub fn memory(views: SharedViews, retention: TimeDelta) -> ViewStore {
        ViewStore {
            backend: Backend::Memory(views),
            retention,
        }
    }

    /// Views in Redis.
    pub fn redis(views: RedisViews, retention: TimeDelta) -> ViewStore {
        ViewStore {
            backend: Backend::Redis(views),
            retention,
        }
    }

    /// `"memory"` or `"redis"`.
    pub fn engine(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// The oldest occurrence the views keep at `now`.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.retention
    }

    fn write(views: &SharedViews) -> std::sync::RwLockWriteGuard<'_, Views> {
        views
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(views: &SharedViews) -> std::sync::RwLockReadGuard<'_, Views> {
        views
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `events` in order; says what each one did.
    pub async fn apply(
        &self,
        events: &[IncidentEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Applied>, ViewError> {
        match &self.backend {
            Backend::Memory(views) => {
                let cutoff = self.cutoff(now);
                let mut views = Self::write(views);
                Ok(events.iter().map(|e| views.apply(e, cutoff)).collect())
            }
            Backend::Redis(views) => {
                let applied = views.apply(events, now, self.retention).await?;
                views.apply_delta(events).await?;
                Ok(applied)
            }
        }
    }

    /// The incidents changed after `watermark_ms`, for the serving layer's merge.
    pub async fn delta_after(
        &self,
        watermark_ms: i64,
    ) -> Result<Vec<delta::DeltaEntry>, ViewError> {
        match &self.backend {
            Backend::Memory(views) => Ok(Self::read(views).delta_after(watermark_ms)),
            Backend::Redis(views) => Ok(views.delta_after(watermark_ms).await?),
        }
    }

    /// Forgets what a batch with `watermark_ms` covers; returns how many entries went.
    pub async fn drop_delta_through(&self, watermark_ms: i64) -> Result<u64, ViewError> {
        match &self.backend {
            Backend::Memory(views) => {
                Ok(Self::write(views).drop_delta_through(watermark_ms) as u64)
            }
            Backend::Redis(views) => Ok(views.drop_delta_through(watermark_ms).await?),
        }
    }

    /// Drops what has aged out (Redis expires keys by itself).
    pub fn prune(&self, now: DateTime<Utc>) {
        if let Backend::Memory(views) = &self.backend {
            Self::write(views).prune(self.cutoff(now));
        }
    }

    /// Incidents within `radius_m` of `centre` that occurred at or after `since` (and
    /// within the retention), nearest first, at most `limit`; rejected ones left out.
    pub async fn near(
        &self,
        centre: &Location,
        radius_m: f64,
        since: DateTime<Utc>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<(f64, Seen)>, ViewError> {
        let since = since.max(self.cutoff(now));
        match &self.backend {
            Backend::Memory(views) => Ok(Self::read(views).near(centre, radius_m, since, limit)),
            Backend::Redis(views) => {
                // Reports may be dated a few minutes ahead (clock skew); look a day ahead.
                let until = now + TimeDelta::days(1);
                Ok(views.near(centre, radius_m, since, until, limit).await?)
            }
        }
    }

    /// Counts per category and hour in `cell` for hours starting in `[from, to)`.
    pub async fn counts(
        &self,
        cell: AreaCell,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Category, i64, u64)>, ViewError> {
        let from = from.max(self.cutoff(now) - TimeDelta::milliseconds(views::BUCKET_MS));
        match &self.backend {
            Backend::Memory(views) => Ok(Self::read(views).counts(cell, from, to)),
            Backend::Redis(views) => Ok(views.counts(cell, from, to).await?),
        }
    }

    /// Forgets everything (before a rebuild); returns how many keys or incidents went.
    pub async fn clear(&self) -> Result<u64, ViewError> {
        match &self.backend {
            Backend::Memory(views) => {
                let mut views = Self::write(views);
                let n = views.len() as u64;
                *views = Views::default();
                Ok(n)
            }
            Backend::Redis(views) => Ok(views.clear().await?),
        }
    }
}

/// Why a speed-layer round failed.
#[derive(Debug, thiserror::Error)]
pub enum SpeedError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
}

/// How the consumer batches and how often it refreshes its lag and prunes.
#[derive(Debug, Clone)]
pub struct SpeedOptions {
    /// Records per round.
    pub batch: usize,
    /// Longest wait for new records in one round.
    pub idle: Duration,
    /// Whether to commit offsets (not for in-process views rebuilt on every start).
    pub commit: bool,
}

impl Default for SpeedOptions {
    fn default() -> Self {
        SpeedOptions {
            batch: 2_000,
            idle: Duration::from_millis(200),
            commit: true,
        }
    }
}

/// The speed-layer consumer.
#[derive(Debug)]
pub struct Speed {
    consumer: LogConsumer,
    dead_letters: EventLog,
    views: ViewStore,
    options: SpeedOptions,
    unreadable: u64,
    metrics: PipelineMetrics,
    last_housekeeping: Option<Instant>,
    /// A batch whose round failed: applied again before polling on (the consumer's
    /// position has moved past it).
    pending: Option<Vec<crate::log::Delivered>>,
}

impl Speed {
    pub fn new(
        consumer: LogConsumer,
        dead_letters: EventLog,
        views: ViewStore,
        options: SpeedOptions,
    ) -> Speed {
        Speed {
            consumer,
            dead_letters,
            views,
            options,
            unreadable: 0,
            metrics: PipelineMetrics::default(),
            last_housekeeping: None,
            pending: None,
        }
    }

    /// Reports into `metrics` (records by outcome, lag, delays, engine latencies).
    pub fn with_metrics(mut self, metrics: PipelineMetrics) -> Speed {
        self.metrics = metrics;
        self
    }

    /// Records that could not be read so far.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// One round: poll, apply, dead-letter, commit. Returns how many records it read.
    pub async fn run_once(&mut self) -> Result<usize, SpeedError> {
        let batch = match self.pending.take() {
            Some(batch) => batch,
            None => {
                self.consumer
                    .poll(self.options.batch, self.options.idle)
                    .await?
            }
        };
        self.housekeeping().await;
        if batch.is_empty() {
            return Ok(0);
        }
        let result = self.apply_batch(&batch).await;
        if result.is_err() {
            self.pending = Some(batch);
        }
        result
    }

    /// Applies, dead-letters and commits one batch.
    async fn apply_batch(&mut self, batch: &[crate::log::Delivered]) -> Result<usize, SpeedError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut bad = Vec::new();
        for d in batch {
            match IncidentEvent::decode(&d.payload) {
                Ok(event) => events.push(event),
                Err(error) => {
                    tracing::warn!(%error, partition = d.partition, offset = d.offset, "unreadable event sent to the dead-letter topic");
                    bad.push(Record {
                        key: d.key.clone(),
                        payload: d.payload.clone(),
                    });
                }
            }
        }
        let started = Instant::now();
        let outcomes = self.views.apply(&events, Utc::now()).await?;
        self.metrics
            .engine_op(self.views.engine(), "apply", started.elapsed());
        let visible = Utc::now().timestamp_millis();
        let mut counts = [0u64; 3];
        for (event, outcome) in events.iter().zip(&outcomes) {
            counts[*outcome as usize] += 1;
            if let (Applied::Changed, Some(at)) = (outcome, event.at) {
                self.metrics
                    .visibility_delay
                    .observe((visible - at).max(0) as f64 / 1000.0);
            }
        }
        if !bad.is_empty() {
            self.dead_letters
                .append(&bad, Utc::now().timestamp_millis())
                .await?;
            self.unreadable += bad.len() as u64;
        }
        if self.options.commit {
            let started = Instant::now();
            self.consumer.commit(batch).await?;
            self.metrics
                .engine_op(self.dead_letters.engine(), "commit", started.elapsed());
        }
        self.metrics
            .speed_event("applied", counts[Applied::Changed as usize]);
        self.metrics
            .speed_event("repeat", counts[Applied::Repeat as usize]);
        self.metrics
            .speed_event("too_old", counts[Applied::TooOld as usize]);
        self.metrics.speed_event("unreadable", bad.len() as u64);
        Ok(batch.len())
    }

    /// Every few seconds: refresh the lag gauge and prune aged-out views.
    async fn housekeeping(&mut self) {
        if self
            .last_housekeeping
            .is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        self.last_housekeeping = Some(Instant::now());
        self.consumer.refresh_lag(&self.metrics.speed_lag).await;
        self.views.prune(Utc::now());
    }

    /// Consumes until `shutdown` completes; failures are logged and retried with backoff.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rounds = Rounds::new(
            "speed",
            self.options.idle,
            Duration::from_secs(10),
            self.metrics.speed_failures.clone(),
        );
        loop {
            // `poll` itself waits up to `idle` when there is nothing new.
            let result = self.run_once().await.map(|_| Duration::ZERO);
            if stopped_during(rounds.wait_after(result), shutdown.as_mut()).await {
                return;
            }
        }
    }
}

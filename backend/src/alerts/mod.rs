//! Real-time alerts: the matcher, a consumer group on the incident topic that matches every
//! new incident against the watch areas and fills each person's inbox.
//!
//! Each round reads the watch areas changed since the last round, polls a batch of
//! incident changes, finds the areas each new incident falls in ([`index::AreaIndex`]),
//! and hands the candidates, the retractions (rejected or withdrawn incidents) and the
//! clock to [`Db::record_alerts`], which applies the rules (one alert per person per
//! incident, rate limit into a digest, quiet hours, retraction) in one transaction. Only
//! then are the offsets committed and the open streams woken ([`notify::Notifier`]).
//! A crash anywhere re-reads the batch; the dedupe keys make that a no-op.

pub mod index;
pub mod metrics;
pub mod notify;

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use vigil_sync::{
    Change, Incident, IncidentId, Status,
    watch::{AlertIncident, MAX_NAME_CHARS},
};

use crate::{
    db::{AlertPolicy, Candidate, Db, StoreError},
    events::IncidentEvent,
    log::{LogConsumer, LogError},
    rounds::{Rounds, stopped_during},
};
use index::{AreaIndex, IndexedArea};
use metrics::AlertMetrics;
use notify::Notifier;

/// Areas read per query when refreshing.
const AREA_PAGE: i64 = 10_000;
/// How long an incident's description may be in an alert.
const SUMMARY_CHARS: usize = 280;

/// How the matcher works.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    pub policy: AlertPolicy,
    /// Incidents that occurred longer ago than this alert nobody (imports, late feeds).
    pub max_age: TimeDelta,
    /// Records per round.
    pub batch: usize,
    /// Longest wait for new records in one round.
    pub idle: Duration,
    /// How often to read changed watch areas (zero: every round).
    pub refresh: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            policy: AlertPolicy {
                limit: 5,
                window_ms: 10 * 60 * 1000,
            },
            max_age: TimeDelta::hours(12),
            batch: 2_000,
            idle: Duration::from_millis(200),
            refresh: Duration::from_secs(1),
        }
    }
}

/// Why a matcher round failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub records: usize,
    pub sent: u64,
    pub held: u64,
    pub digests: u64,
    pub retractions: u64,
}

/// The alert matcher.
#[derive(Debug)]
pub struct Matcher {
    consumer: LogConsumer,
    db: Db,
    index: AreaIndex,
    notifier: Notifier,
    options: AlertOptions,
    metrics: AlertMetrics,
    /// The newest area revision read.
    areas_rev: i64,
    last_refresh: Option<Instant>,
    last_prune: Option<Instant>,
    last_lag: Option<Instant>,
    push: Option<crate::push::PushQueue>,
    /// A batch whose round failed: read again before polling on (the consumer's position
    /// has moved past it).
    pending: Option<Vec<crate::log::Delivered>>,
}

impl Matcher {
    pub fn new(
        consumer: LogConsumer,
        db: Db,
        notifier: Notifier,
        options: AlertOptions,
    ) -> Matcher {
        Matcher {
            consumer,
            db,
            index: AreaIndex::default(),
            notifier,
            options,
            metrics: AlertMetrics::default(),
            areas_rev: 0,
            last_refresh: None,
            last_prune: None,
            last_lag: None,
            push: None,
            pending: None,
        }
    }

    pub fn with_metrics(mut self, metrics: AlertMetrics) -> Matcher {
        self.metrics = metrics;
        self
    }

    /// Hands the people with new alerts to a [`crate::push::Pusher`].
    pub fn with_push(mut self, queue: crate::push::PushQueue) -> Matcher {
        self.push = Some(queue);
        self
    }

    /// Watch areas held.
    pub fn areas(&self) -> usize {
        self.index.len()
    }

    /// Reads the watch areas saved or deleted since the last refresh; returns how many
    /// changes it read.
    pub async fn refresh_areas(&mut self) -> Result<usize, StoreError> {
        let first_load = self.index.is_empty();
        let mut loaded = Vec::new();
        let mut read = 0;
        loop {
            let rows = self.db.areas_changed(self.areas_rev, AREA_PAGE).await?;
            read += rows.len();
            for row in &rows {
                self.areas_rev = self.areas_rev.max(row.rev);
                if row.deleted {
                    self.index.remove(&row.id);
                    continue;
                }
                match IndexedArea::from_row(row) {
                    Ok(area) if first_load => loaded.push(area),
                    Ok(area) => self.index.put(area),
                    Err(reason) => {
                        tracing::warn!(area = %row.id, %reason, "watch area cannot be matched; skipped");
                        self.index.remove(&row.id);
                    }
                }
            }
            if (rows.len() as i64) < AREA_PAGE {
                break;
            }
        }
        if !loaded.is_empty() {
            self.index.extend(loaded);
        }
        self.metrics.areas.set(self.index.len() as i64);
        self.last_refresh = Some(Instant::now());
        Ok(read)
    }

    /// One round at time `now`: refresh areas (when due), poll, match, record, commit,
    /// wake streams.
    pub async fn run_once(&mut self, now: DateTime<Utc>) -> Result<Round, AlertError> {
        if self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= self.options.refresh)
        {
            self.refresh_areas().await?;
        }
        let batch = match self.pending.take() {
            Some(batch) => batch,
            None => {
                self.consumer
                    .poll(self.options.batch, self.options.idle)
                    .await?
            }
        };
        let result = self.process(&batch, now).await;
        if result.is_err() {
            self.pending = Some(batch);
        }
        result
    }

    /// Matches, records and commits one batch.
    async fn process(
        &mut self,
        batch: &[crate::log::Delivered],
        now: DateTime<Utc>,
    ) -> Result<Round, AlertError> {
        let mut candidates = Vec::new();
        let mut retracted = Vec::new();
        let mut committed_at = Vec::new();
        for d in batch {
            // Unreadable records are the speed layer's to dead-letter; skip them here.
            let Ok(event) = IncidentEvent::decode(&d.payload) else {
                continue;
            };
            if let Some(id) = retraction(&event.change) {
                retracted.push(id);
            } else if let Change::Upsert { incident } = &event.change {
                let before = candidates.len();
                self.match_incident(incident, now, &mut candidates);
                committed_at.extend(std::iter::repeat_n(event.at, candidates.len() - before));
            }
        }
        let recorded = self
            .db
            .record_alerts(
                &candidates,
                &retracted,
                self.options.policy,
                now.timestamp_millis(),
            )
            .await?;
        self.notifier.publish(&recorded.notify).await;
        if let Some(queue) = &self.push {
            queue.notify(recorded.notify.iter().map(|(u, _)| u.clone()).collect());
        }
        if !batch.is_empty() {
            self.consumer.commit(batch).await?;
        }
        if recorded.sent > 0 {
            let written = Utc::now().timestamp_millis();
            for at in committed_at.iter().flatten() {
                self.metrics
                    .delay
                    .observe((written - at).max(0) as f64 / 1000.0);
            }
        }
        self.metrics.outcome("sent", recorded.sent);
        self.metrics.outcome("held", recorded.held);
        self.metrics.outcome("repeat", recorded.repeats);
        self.metrics.outcome("digest", recorded.digests);
        self.metrics.outcome("retraction", recorded.retractions);
        self.housekeeping(now).await;
        Ok(Round {
            records: batch.len(),
            sent: recorded.sent,
            held: recorded.held,
            digests: recorded.digests,
            retractions: recorded.retractions,
        })
    }

    /// Adds a candidate per person whose areas want `incident`.
    fn match_incident(&self, incident: &Incident, now: DateTime<Utc>, out: &mut Vec<Candidate>) {
        let age = now.signed_duration_since(incident.occurred_at);
        if age > self.options.max_age {
            return;
        }
        let mut by_user: BTreeMap<&str, Vec<&IndexedArea>> = BTreeMap::new();
        for area in self.index.matching(incident.category, &incident.location) {
            by_user.entry(&area.user_id).or_default().push(area);
        }
        if by_user.is_empty() {
            return;
        }
        // Watchers see what a public view shows: the place snapped, no typed address.
        let public = vigil_sync::privacy::public_view(incident.clone());
        let summary = AlertIncident {
            id: incident.id,
            category: incident.category,
            occurred_at: incident.occurred_at,
            location: public.location,
            place: public.place,
            summary: incident.description.chars().take(SUMMARY_CHARS).collect(),
        };
        for (user, mut areas) in by_user {
            areas.sort_by(|a, b| a.area.name.cmp(&b.area.name));
            // Quiet only if every matching area is quiet now; it ends with the first.
            let quiet_until = areas
                .iter()
                .map(|a| a.quiet_until(now))
                .try_fold(None::<DateTime<Utc>>, |soonest, q| {
                    q.map(|q| Some(soonest.map_or(q, |s| s.min(q))))
                })
                .flatten();
            out.push(Candidate {
                user_id: user.to_owned(),
                incident: summary.clone(),
                areas: areas
                    .iter()
                    .map(|a| a.area.name.chars().take(MAX_NAME_CHARS).collect())
                    .collect(),
                quiet_until_ms: quiet_until.map(|t| t.timestamp_millis()),
            });
        }
    }

    /// Every few seconds the lag gauge; hourly, forget alerts older than 90 days.
    async fn housekeeping(&mut self, now: DateTime<Utc>) {
        if self
            .last_lag
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            self.last_lag = Some(Instant::now());
            self.consumer.refresh_lag(&self.metrics.lag).await;
        }
        if self
            .last_prune
            .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        let before = (now - TimeDelta::days(90)).timestamp_millis();
        match self.db.prune_alerts(before).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "old alerts pruned"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot prune old alerts"),
        }
    }

    /// Matches until `shutdown` completes; failures are logged and retried with backoff.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rounds = Rounds::new(
            "alerts",
            self.options.idle,
            Duration::from_secs(10),
            self.metrics.failures.clone(),
        );
        loop {
            let result = self.run_once(Utc::now()).await.map(|_| Duration::ZERO);
            if stopped_during(rounds.wait_after(result), shutdown.as_mut()).await {
                return;
            }
        }
    }
}

/// The incident a change takes back (rejected or withdrawn), if any.
fn retraction(change: &Change) -> Option<IncidentId> {
    match change {
        Change::Status {
            id,
            status: Status::Rejected,
            ..
        }
        | Change::Tombstone { id } => Some(*id),
        Change::Upsert { incident } if incident.status == Status::Rejected => Some(incident.id),
        _ => None,
    }
}

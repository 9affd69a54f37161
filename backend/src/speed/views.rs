//! The real-time views, kept in process (the embedded stand-in for Redis): recent
//! incidents by place and counts per area cell, category and hour.
//!
//! Applying an event is idempotent: each incident's version is remembered, and an event
//! whose version is not newer changes nothing, so a relay's re-publish or a consumer's
//! redelivery cannot double-count. Incidents that occurred before the retention cutoff are
//! not kept; [`Views::prune`] drops those that have aged out since.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use vigil_sync::{AreaCell, Category, Change, IncidentId, Location, Status};

use super::delta::DeltaEntry;
use crate::events::IncidentEvent;

/// Milliseconds in the time bucket of the counts.
pub const BUCKET_MS: i64 = 3_600_000;

/// What the views keep of one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub id: IncidentId,
    pub cell: AreaCell,
    pub category: Category,
    pub location: Location,
    pub occurred_at: DateTime<Utc>,
    pub status: Status,
    pub version: u32,
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The views changed.
    Changed,
    /// The views already had this version or a newer one.
    Repeat,
    /// Newer than what the views had, but it occurred before the retention cutoff, so the
    /// views no longer keep it.
    TooOld,
}

/// A count key: area cell, category and the hour (Unix ms at the bucket's start).
pub type CountKey = (AreaCell, Category, i64);

/// The views themselves.
#[derive(Debug, Default)]
pub struct Views {
    incidents: HashMap<IncidentId, Seen>,
    counts: HashMap<CountKey, u64>,
    /// Incidents changed after the batch watermark (see [`super::delta`]).
    delta: HashMap<IncidentId, DeltaEntry>,
}

fn bucket(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(BUCKET_MS) * BUCKET_MS
}

impl Views {
    /// Applies one event, keeping nothing that occurred before `cutoff` in the real-time
    /// views (the delta keeps every change, whenever it occurred).
    pub fn apply(&mut self, event: &IncidentEvent, cutoff: DateTime<Utc>) -> Applied {
        let id = match &event.change {
            Change::Upsert { incident } => incident.id,
            Change::Status { id, .. } | Change::Tombstone { id } => *id,
        };
        let at = event.at.unwrap_or_else(|| Utc::now().timestamp_millis());
        if let Some(entry) = DeltaEntry::after(self.delta.get(&id), event, at) {
            self.delta.insert(id, entry);
        }
        match &event.change {
            Change::Upsert { incident } => {
                if self
                    .incidents
                    .get(&incident.id)
                    .is_some_and(|s| s.version >= incident.version)
                {
                    return Applied::Repeat;
                }
                self.remove(incident.id);
                if incident.occurred_at < cutoff {
                    return Applied::TooOld;
                }
                let seen = Seen {
                    id: incident.id,
                    cell: event.cell,
                    category: incident.category,
                    location: incident.location,
                    occurred_at: incident.occurred_at.with_timezone(&Utc),
                    status: incident.status,
                    version: incident.version,
                };
                self.insert(seen);
                Applied::Changed
            }
            Change::Status {
                id,
                status,
                version,
            } => {
                let Some(mut seen) = self.incidents.get(id).cloned() else {
                    return Applied::Repeat;
                };
                if seen.version >= *version {
                    return Applied::Repeat;
                }
                self.remove(*id);
                seen.status = *status;
                seen.version = *version;
                self.insert(seen);
                Applied::Changed
            }
            Change::Tombstone { id } => {
                if self.remove(*id) {
                    Applied::Changed
                } else {
                    Applied::Repeat
                }
            }
        }
    }

    /// The delta entries changed after `watermark_ms`.
    pub fn delta_after(&self, watermark_ms: i64) -> Vec<DeltaEntry> {
        let mut out: Vec<DeltaEntry> = self
            .delta
            .values()
            .filter(|e| e.at_ms > watermark_ms)
            .copied()
            .collect();
        out.sort_by_key(|e| e.id);
        out
    }

    /// Forgets the delta entries a batch with `watermark_ms` covers; returns how many.
    pub fn drop_delta_through(&mut self, watermark_ms: i64) -> usize {
        let before = self.delta.len();
        self.delta.retain(|_, e| e.at_ms > watermark_ms);
        before - self.delta.len()
    }

    /// Drops every incident that occurred before `cutoff`.
    pub fn prune(&mut self, cutoff: DateTime<Utc>) {
        let old: Vec<IncidentId> = self
            .incidents
            .values()
            .filter(|s| s.occurred_at < cutoff)
            .map(|s| s.id)
            .collect();
        for id in old {
            self.remove(id);
        }
    }

    fn insert(&mut self, seen: Seen) {
        // Rejected reports stay known (for their version) but are not counted.
        if seen.status != Status::Rejected {
            *self
                .counts
                .entry((seen.cell, seen.category, bucket(seen.occurred_at)))
                .or_default() += 1;
        }
        self.incidents.insert(seen.id, seen);
    }

    fn remove(&mut self, id: IncidentId) -> bool {
        let Some(old) = self.incidents.remove(&id) else {
            return false;
        };
        if old.status != Status::Rejected {
            let key = (old.cell, old.category, bucket(old.occurred_at));
            if let Some(n) = self.counts.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&key);
                }
            }
        }
        true
    }

    /// Incidents within `radius_m` of `centre` that occurred at or after `since`, nearest
    /// first, at most `limit`. Rejected ones are left out.
    pub fn near(
        &self,
        centre: &Location,
        radius_m: f64,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Vec<(f64, Seen)> {
        let mut hits: Vec<(f64, Seen)> = self
            .incidents
            .values()
            .filter(|s| s.status != Status::Rejected && s.occurred_at >= since)
            .map(|s| (centre.distance_m(&s.location), s))
            .filter(|(d, _)| *d <= radius_m)
            .map(|(d, s)| (d, s.clone()))
            .collect();
        hits.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        hits.truncate(limit);
        hits
    }

    /// Counts per category and hour in `cell` for hours starting in `[from, to)`.
    pub fn counts(
        &self,
        cell: AreaCell,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(Category, i64, u64)> {
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        let mut out: Vec<(Category, i64, u64)> = self
            .counts
            .iter()
            .filter(|((c, _, h), _)| *c == cell && *h > from - BUCKET_MS && *h < to)
            .map(|((_, cat, h), n)| (*cat, *h, *n))
            .collect();
        out.sort();
        out
    }

    /// How many incidents the views know (rejected ones included).
    pub fn len(&self) -> usize {
        self.incidents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
    }

    /// The sum of every count: the number of known incidents that are not rejected.
    pub fn total_count(&self) -> u64 {
        self.counts.values().sum()
    }
}

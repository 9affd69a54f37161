//! The speed layer's share of the Lambda merge: the newest state of every incident that
//! changed after the batch layer's watermark.
//!
//! The batch views count each incident's last state as of the watermark `W`. For an
//! incident whose newest change came after `W`, the serving layer takes the batch's
//! contribution out (if the batch had the incident) and puts the newest state in. A
//! [`DeltaEntry`] holds what that needs: the newest version and its commit time, whether
//! it counts (not rejected, not withdrawn), the fields that place it in the views, and
//! when it was created, so an incident created after `W` is known not to be in the batch.
//!
//! Entries are kept whatever the incident's occurrence date (unlike the real-time views'
//! retention), and dropped once a batch covers their newest change.

use serde::{Deserialize, Serialize};
use vigil_sync::{AreaCell, Category, Change, IncidentId, Status};

use crate::events::IncidentEvent;

/// What places an incident in the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// H3 cell at resolution 8.
    pub cell: AreaCell,
    pub category: Category,
    /// Occurrence, UTC milliseconds.
    pub occurred_ms: i64,
    /// The reporter's UTC offset at the occurrence, in seconds.
    pub offset_s: i32,
}

impl Fact {
    /// The occurrence in local wall-clock milliseconds.
    pub fn local_ms(&self) -> i64 {
        self.occurred_ms + i64::from(self.offset_s) * 1000
    }
}

/// The newest known state of one incident that changed after the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaEntry {
    pub id: IncidentId,
    pub version: u32,
    /// Commit time of the newest change, UTC milliseconds.
    pub at_ms: i64,
    /// Commit time of the incident's first version, when this layer saw it.
    pub created_ms: Option<i64>,
    /// Counted in the views: neither rejected nor withdrawn.
    pub counted: bool,
    /// The fields from the newest upsert this layer saw (none after a status change of an
    /// incident whose body only the batch holds).
    pub fact: Option<Fact>,
}

impl DeltaEntry {
    /// The entry after `event`, given the entry held for its incident; `None` when the
    /// event is not newer than what is held.
    pub fn after(
        held: Option<&DeltaEntry>,
        event: &IncidentEvent,
        at_ms: i64,
    ) -> Option<DeltaEntry> {
        let (id, version) = match &event.change {
            Change::Upsert { incident } => (incident.id, incident.version),
            Change::Status { id, version, .. } => (*id, *version),
            Change::Tombstone { id } => (*id, u32::MAX),
        };
        if held.is_some_and(|h| h.version >= version) {
            return None;
        }
        let created_ms = held.and_then(|h| h.created_ms);
        let fact = held.and_then(|h| h.fact);
        Some(match &event.change {
            Change::Upsert { incident } => DeltaEntry {
                id,
                version,
                at_ms,
                created_ms: if version == 1 {
                    Some(at_ms)
                } else {
                    created_ms
                },
                counted: incident.status != Status::Rejected,
                fact: Some(Fact {
                    cell: event.cell,
                    category: incident.category,
                    occurred_ms: incident.occurred_at.timestamp_millis(),
                    offset_s: incident.occurred_at.offset().local_minus_utc(),
                }),
            },
            Change::Status { status, .. } => DeltaEntry {
                id,
                version,
                at_ms,
                created_ms,
                counted: *status != Status::Rejected,
                fact,
            },
            Change::Tombstone { .. } => DeltaEntry {
                id,
                version,
                at_ms,
                created_ms,
                counted: false,
                fact,
            },
        })
    }

    /// Whether the batch with watermark `w` may hold this incident.
    pub fn maybe_in_batch(&self, w: i64) -> bool {
        self.created_ms.is_none_or(|c| c <= w)
    }
}

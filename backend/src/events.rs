//! The records on the incident topic (`vigil.incidents.v1`): one JSON envelope per change
//! of the change feed. Consumers are idempotent by incident id and version, since the relay
//! may publish a change twice after a crash.

use serde::{Deserialize, Serialize};
use vigil_sync::{AreaCell, Change};

/// The topic every incident change is published to (by default; `events.topic`). Records
/// a consumer cannot read go, untouched, to the same name with `.dlq` appended.
pub const INCIDENT_TOPIC: &str = "vigil.incidents.v1";
/// The envelope version this build writes and reads.
pub const EVENT_VERSION: u32 = 1;

/// One change on the incident topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentEvent {
    /// Envelope version; a consumer sends versions it does not know to the dead-letter topic.
    pub v: u32,
    /// Sequence number in the operational store's change feed.
    pub seq: u64,
    /// The H3 cell (resolution 8) of the incident; also the record key.
    pub cell: AreaCell,
    pub change: Change,
    /// When the change was committed to the operational store, Unix milliseconds; the speed
    /// layer measures the delay to visibility from it. Absent in records of older builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// Why a record could not be read as an [`IncidentEvent`].
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not an incident event: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("event version {0} is not supported by this build (it reads version {EVENT_VERSION})")]
    UnsupportedVersion(u64),
}

impl IncidentEvent {
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<IncidentEvent, EventError> {
        #[derive(Deserialize)]
        struct Probe {
            v: u64,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        if probe.v != u64::from(EVENT_VERSION) {
            return Err(EventError::UnsupportedVersion(probe.v));
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

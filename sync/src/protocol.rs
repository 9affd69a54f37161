//! Sync protocol v1: what a device pushes, what it pulls, and the cursor between pulls.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::{Incident, IncidentId, ReportSubmission, Status, ValidationError};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Most reports one push may carry.
pub const MAX_PUSH_BATCH: usize = 500;
/// Most changes one pull page may carry.
pub const MAX_PULL_LIMIT: u32 = 1_000;
/// Changes per pull page when the device does not say.
pub const DEFAULT_PULL_LIMIT: u32 = 200;

/// `POST /v1/sync/push`: reports from the device's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub reports: Vec<ReportSubmission>,
}

/// What happened to one pushed report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PushOutcome {
    /// Stored durably for the first time.
    Accepted,
    /// Already stored by an earlier push; nothing changed.
    Duplicate,
    /// Not stored; `field` and `reason` say why.
    Rejected,
}

/// The answer for one pushed report, in the order of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResult {
    /// The id as sent (kept verbatim even when it is not a valid UUID).
    pub id: String,
    pub outcome: PushOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PushResult {
    pub fn accepted(id: impl Into<String>) -> Self {
        PushResult {
            id: id.into(),
            outcome: PushOutcome::Accepted,
            field: None,
            reason: None,
        }
    }

    pub fn duplicate(id: impl Into<String>) -> Self {
        PushResult {
            id: id.into(),
            outcome: PushOutcome::Duplicate,
            field: None,
            reason: None,
        }
    }

    pub fn rejected(id: impl Into<String>, err: ValidationError) -> Self {
        PushResult {
            id: id.into(),
            outcome: PushOutcome::Rejected,
            field: Some(err.field),
            reason: Some(err.reason),
        }
    }
}

/// `POST /v1/sync/push` answer: one result per report, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// `POST /v1/sync/edits`: changes a reporter made to reports the server already has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditRequest {
    pub edits: Vec<ReportEdit>,
}

/// One edit: the whole report as the reporter now wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportEdit {
    /// A UUID made on the device for this edit, so a retried edit is applied once.
    pub edit_id: String,
    /// The version of the report the device edited.
    pub base_version: u32,
    /// The report with its changes; `report.id` names the report.
    pub report: ReportSubmission,
}

/// What happened to one edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EditOutcome {
    /// The report was still open to its reporter: the edit is its new version.
    Applied,
    /// Moderation had already looked at the report: the edit is kept as a revision for
    /// the moderators and the report is unchanged.
    KeptAsRevision,
    /// Not stored; `field` and `reason` say why.
    Rejected,
}

/// The answer for one edit, in the order of the request. Sending an edit again gets the
/// answer it got the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditResult {
    pub edit_id: String,
    pub outcome: EditOutcome,
    /// The report's version after an applied edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EditResult {
    pub fn applied(edit_id: impl Into<String>, version: u32) -> Self {
        EditResult {
            edit_id: edit_id.into(),
            outcome: EditOutcome::Applied,
            version: Some(version),
            field: None,
            reason: None,
        }
    }

    pub fn kept(edit_id: impl Into<String>) -> Self {
        EditResult {
            edit_id: edit_id.into(),
            outcome: EditOutcome::KeptAsRevision,
            version: None,
            field: None,
            reason: None,
        }
    }

    pub fn rejected(edit_id: impl Into<String>, err: ValidationError) -> Self {
        EditResult {
            edit_id: edit_id.into(),
            outcome: EditOutcome::Rejected,
            version: None,
            field: Some(err.field),
            reason: Some(err.reason),
        }
    }
}

/// `POST /v1/sync/edits` answer: one result per edit, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditResponse {
    pub results: Vec<EditResult>,
}

/// One change a device applies to its cache.
// Nearly every change is an upsert, so boxing the incident would allocate for the common
// case to save space in the rare one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Change {
    /// A new incident, or a new version of one the device may have.
    Upsert { incident: Incident },
    /// Moderation moved an incident to another status.
    Status {
        id: IncidentId,
        status: Status,
        version: u32,
    },
    /// The incident is gone (withdrawn or removed); forget it.
    Tombstone { id: IncidentId },
}

/// `GET /v1/sync/pull` answer: a page of changes after the request's cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Pass this back to get the changes after this page. Unchanged when the page is empty.
    pub cursor: Cursor,
    /// True when more changes are waiting: pull again at once.
    pub has_more: bool,
    /// The newest risk model's version (`GET /v1/risk/model`), when one is published: a
    /// device holding another version fetches it and its cells again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_model: Option<String>,
}

/// An opaque position in the server's change feed. Devices store and send it verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Cursor(u64);

impl Cursor {
    /// The start of the feed: a pull from here returns everything.
    pub const START: Cursor = Cursor(0);

    /// The cursor just after the change with sequence number `seq`.
    pub fn after(seq: u64) -> Cursor {
        Cursor(seq)
    }

    /// The sequence number of the last change before this cursor (0 at the start).
    pub fn seq(self) -> u64 {
        self.0
    }

    /// The cursor's text form.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}", self.0))
    }

    /// Parses a cursor from its text form; an empty string is the start.
    pub fn decode(text: &str) -> Result<Cursor, ValidationError> {
        if text.is_empty() {
            return Ok(Cursor::START);
        }
        let bad = || {
            ValidationError::new(
                "cursor",
                "is not a cursor this server issued; send the cursor from the last pull verbatim, or none to start over",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let seq = text.strip_prefix("v1:").ok_or_else(bad)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        seq.parse().map(Cursor).map_err(|_| bad())
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Cursor::decode(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips() {
        for seq in [0, 1, 42, u64::MAX] {
            let c = Cursor::after(seq);
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        assert_eq!(Cursor::decode("").unwrap(), Cursor::START);
    }

    #[test]
    fn foreign_cursors_are_rejected() {
        for bad in [
            "!!",
            "djE6",
            "djI6MTI",
            "MTIz",
            "djE6LTE",
            "djE6MXgx",
            "djE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ",
        ] {
            let err = Cursor::decode(bad).unwrap_err();
            assert_eq!(err.field, "cursor", "{bad}");
        }
    }

    #[test]
    fn edit_wire_shape() {
        let body = serde_json::json!({"edits": [{"edit_id": "e", "base_version": 1, "report": {
            "id": "r", "category": "theft", "occurred_at": "2026-11-28T07:00:00-05:00",
            "location": {"lat": 43.6, "lon": -79.4}, "description": "bike"}}]});
        let request: EditRequest = serde_json::from_value(body).unwrap();
        assert_eq!(request.edits[0].report.id, "r");
        assert_eq!(
            serde_json::to_value(EditResult::applied("e", 2)).unwrap(),
            serde_json::json!({"edit_id": "e", "outcome": "applied", "version": 2})
        );
        assert_eq!(
            serde_json::to_value(EditResult::kept("e")).unwrap(),
            serde_json::json!({"edit_id": "e", "outcome": "kept_as_revision"})
        );
        let extra = serde_json::json!({"edits": [], "more": 1});
        assert!(serde_json::from_value::<EditRequest>(extra).is_err());
    }

    #[test]
    fn push_result_wire_shape() {
        let r = PushResult::rejected("x", ValidationError::new("location.lat", "out of range"));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"id": "x", "outcome": "rejected", "field": "location.lat", "reason": "out of range"})
        );
        let a = PushResult::accepted("y");
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::json!({"id": "y", "outcome": "accepted"})
        );
    }
}

//! Incidents: what was reported, where, when and by which source.

use std::{fmt, str::FromStr};

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Category;

/// The namespace of feed record ids: `IncidentId::for_feed_record` hashes the feed name
/// and the record id under it, so re-importing a record always yields the same id.
const FEED_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_9a4e_2b7d_4c1a_9e35_7d0b_84f2_c6a1);

/// An incident's id: a UUIDv7 made by the reporting device, or a UUIDv5 of the feed
/// name and its record id for public feed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
pub struct IncidentId(pub Uuid);

impl IncidentId {
    /// The deterministic id of one record of a public feed.
    pub fn for_feed_record(feed: &str, record_id: &str) -> IncidentId {
        let mut name = Vec::with_capacity(feed.len() + 1 + record_id.len());
        name.extend_from_slice(feed.as_bytes());
        name.push(0);
        name.extend_from_slice(record_id.as_bytes());
        IncidentId(Uuid::new_v5(&FEED_NAMESPACE, &name))
    }

    /// The UUID version (7 for device-made ids, 5 for feed records).
    pub fn version(self) -> usize {
        self.0.get_version_num()
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for IncidentId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(IncidentId)
    }
}

/// Where an incident came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Source {
    /// A resident's report made in the app. Who reported it is never part of the public model.
    UserReport,
    /// A record of a public feed, such as `toronto-mci`, with its provenance.
    Feed {
        /// The configured source's name.
        feed: String,
        /// The record's id at the source (the incident id is derived from it).
        record_id: String,
        /// Where this version was fetched from (an API query or a file); absent for files
        /// imported before connectors kept it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// When this version was fetched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fetched_at: Option<DateTime<Utc>>,
    },
}

impl Source {
    /// A feed record without provenance details.
    pub fn feed(feed: impl Into<String>, record_id: impl Into<String>) -> Source {
        Source::Feed {
            feed: feed.into(),
            record_id: record_id.into(),
            url: None,
            fetched_at: None,
        }
    }
}

/// Where moderation has got to with an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    #[default]
    Unverified,
    Verified,
    Resolved,
    Rejected,
}

impl Status {
    /// The stable wire and storage code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Unverified => "unverified",
            Status::Verified => "verified",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Status::Unverified,
            Status::Verified,
            Status::Resolved,
            Status::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// A point on the WGS84 ellipsoid with the reporter's stated accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    /// Latitude in degrees, -90 to 90.
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    pub lon: f64,
    /// Radius of the 68% confidence circle in metres, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

impl Location {
    /// Great-circle distance to `other` in metres (haversine on a 6,371 km sphere; within
    /// 0.5% of the ellipsoid, plenty for "what happened near here").
    pub fn distance_m(&self, other: &Location) -> f64 {
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = la2 - la1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * 6_371_000.0 * h.sqrt().min(1.0).asin()
    }
}

/// A report as it travels on the wire from a device, before validation.
///
/// Text fields stay text so that one bad item can be rejected with the field named while
/// the rest of a batch is accepted; [`ReportSubmission::validate`] turns it into a [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportSubmission {
    /// A UUIDv7 made on the device when the report was submitted.
    pub id: String,
    /// One of the [`Category`] codes.
    pub category: String,
    /// RFC 3339 time with the reporter's UTC offset, e.g. `2026-11-28T07:00:00-05:00`;
    /// kept to the millisecond.
    pub occurred_at: String,
    /// Where it happened.
    pub location: Location,
    /// A place name or address as typed by the reporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// What happened, in the reporter's words.
    pub description: String,
    /// The id of the watch group the report is made through; that group's moderators
    /// review it. The reporter must be a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `public` (the default: everyone sees it, its place snapped to an area) or `group`
    /// (only the group's members see it; needs `group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Hide who made the report from everyone, the group's moderators included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// Who may see a report and whether its reporter is hidden.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audience {
    /// The group that moderates the report.
    pub group: Option<uuid::Uuid>,
    /// Only the group's members may see it.
    pub private: bool,
    /// Nobody is told who reported it.
    pub anonymous: bool,
}

/// A validated report: every field checked and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: IncidentId,
    pub category: Category,
    pub occurred_at: DateTime<FixedOffset>,
    pub location: Location,
    pub place: Option<String>,
    pub description: String,
    pub audience: Audience,
}

impl Report {
    /// The wire form of this report.
    pub fn submission(&self) -> ReportSubmission {
        ReportSubmission {
            id: self.id.to_string(),
            category: self.category.as_str().to_owned(),
            occurred_at: self.occurred_at.to_rfc3339(),
            location: self.location,
            place: self.place.clone(),
            description: self.description.clone(),
            group: self.audience.group.map(|g| g.to_string()),
            visibility: self.audience.private.then(|| "group".to_owned()),
            anonymous: self.audience.anonymous,
        }
    }

    /// The incident this report becomes once the server has stored it. Times keep
    /// millisecond precision, as every store does.
    pub fn into_incident(self, source: Source, reported_at: DateTime<Utc>) -> Incident {
        let reported_at = reported_at.trunc_subsecs(3);
        Incident {
            id: self.id,
            source,
            category: self.category,
            occurred_at: self.occurred_at,
            reported_at,
            location: self.location,
            place: self.place,
            description: self.description,
            status: Status::Unverified,
            version: 1,
        }
    }
}

/// An incident as the backend stores and serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: IncidentId,
    pub source: Source,
    pub category: Category,
    /// When it happened, with the reporter's (or feed's) UTC offset.
    pub occurred_at: DateTime<FixedOffset>,
    /// When the backend first accepted it.
    pub reported_at: DateTime<Utc>,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    pub description: String,
    pub status: Status,
    /// Starts at 1 and grows with every change the server makes.
    pub version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_ids_are_deterministic_and_distinct() {
        let a = IncidentId::for_feed_record("toronto-mci", "GO-20141263217");
        assert_eq!(
            a,
            IncidentId::for_feed_record("toronto-mci", "GO-20141263217")
        );
        assert_eq!(a.version(), 5);
        assert_ne!(
            a,
            IncidentId::for_feed_record("toronto-mci", "GO-20141263218")
        );
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(
            IncidentId::for_feed_record("ab", "c"),
            IncidentId::for_feed_record("a", "bc")
        );
    }

    #[test]
    fn source_wire_shape() {
        let feed = Source::feed("toronto-mci", "GO-1");
        assert_eq!(
            serde_json::to_value(&feed).unwrap(),
            serde_json::json!({"kind": "feed", "feed": "toronto-mci", "record_id": "GO-1"})
        );
        assert_eq!(
            serde_json::to_value(Source::UserReport).unwrap(),
            serde_json::json!({"kind": "user_report"})
        );
    }
}

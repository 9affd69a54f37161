//! Public crime feeds: `vigil ingest`.
//!
//! Each configured source ([`config::SourceConfig`]) is read a page at a time by its
//! connector (Socrata, ArcGIS, police.uk, CSV, JSON). A connector turns the source's
//! records into [`FeedRecord`]s (one taxonomy: [`taxonomy`]) or rejections with a reason,
//! and says where the source will be once the page is stored. [`run`] stores each page's
//! incidents and that position in one transaction of the operational store, so the
//! change feed (and with it the incident topic: the relay publishes it to the embedded
//! log or Kafka) gets every record once, and a crash resumes at the last committed page.
//!
//! Identity: an incident's id is the UUIDv5 of the source's name and the record's id, so
//! reading a record again is a no-op, and a record the source changed becomes the next
//! version of the same incident.

pub mod arcgis;
pub mod config;
pub mod files;
pub mod http;
pub mod json_feed;
pub mod metrics;
pub mod police_uk;
pub mod run;
pub mod socrata;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use vigil_sync::{
    AreaCell, CELL_RESOLUTION, IncidentId, Location, Report, Source, Status,
    validate::MAX_DESCRIPTION_CHARS,
};

use crate::db::NewIncident;

pub use run::{IngestSummary, Runner, SourceSummary, run_once, run_scheduled};
pub use vigil_feeds::{
    FeedRecord, Fields, Rejected, local_time, normalise_name, parse_time, taxonomy,
};

/// One page read from a source.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Result<FeedRecord, Rejected>>,
    /// The request (or file) the page came from, kept as provenance.
    pub url: String,
    /// Where the source is once this page is stored (saved as its checkpoint).
    pub next: Value,
    /// No more pages in this run.
    pub done: bool,
}

/// A feed record as an incident to store (the store's own type, so it lives here).
pub trait IntoIncident {
    /// Validates the record and makes the incident to store under source `feed`.
    fn into_incident(
        self,
        feed: &str,
        page_url: &str,
        fetched_at: DateTime<Utc>,
    ) -> Result<NewIncident, String>;
}

impl IntoIncident for FeedRecord {
    /// Validates the record and makes the incident to store under source `feed`.
    fn into_incident(
        self,
        feed: &str,
        page_url: &str,
        fetched_at: DateTime<Utc>,
    ) -> Result<NewIncident, String> {
        if self.lat == 0.0 && self.lon == 0.0 {
            return Err("location: withheld by the source (0, 0)".into());
        }
        let location = Location {
            lat: self.lat,
            lon: self.lon,
            accuracy_m: None,
        };
        let mut description = format!("{} (reported to {}).", self.label, self.publisher);
        for d in &self.details {
            description.push(' ');
            description.push_str(d);
            if !d.ends_with('.') {
                description.push('.');
            }
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            description = description
                .chars()
                .take(MAX_DESCRIPTION_CHARS - 1)
                .collect::<String>()
                + "…";
        }
        let place = self.place.as_deref().map(|p| {
            p.chars()
                .take(vigil_sync::validate::MAX_PLACE_CHARS)
                .collect::<String>()
        });
        let id = IncidentId::for_feed_record(feed, &self.record_id);
        let report = Report::from_feed(
            id,
            self.category,
            self.occurred_at,
            location,
            place.as_deref(),
            &description,
            fetched_at,
        )
        .map_err(|e| e.to_string())?;
        let cell = AreaCell::of(&report.location, CELL_RESOLUTION).map_err(|e| e.to_string())?;
        let mut incident = report.into_incident(
            Source::Feed {
                feed: feed.to_owned(),
                record_id: self.record_id,
                url: Some(self.link.unwrap_or_else(|| page_url.to_owned())),
                fetched_at: Some(fetched_at.trunc_subsecs_ms()),
            },
            fetched_at,
        );
        // Published by the police: verified at the source.
        incident.status = Status::Verified;
        Ok(NewIncident {
            incident,
            reporter: None,
            cell,
            audience: Default::default(),
        })
    }
}

trait TruncMs {
    fn trunc_subsecs_ms(self) -> Self;
}

impl TruncMs for DateTime<Utc> {
    fn trunc_subsecs_ms(self) -> Self {
        Utc.timestamp_millis_opt(self.timestamp_millis())
            .single()
            .unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_sync::Category;

    fn record(part: &str, category: Category, label: &str, hour: u32) -> FeedRecord {
        FeedRecord {
            record_id: "E1".into(),
            part_id: Some(part.into()),
            category,
            label: label.into(),
            unmapped_in: None,
            occurred_at: DateTime::parse_from_rfc3339(&format!("2024-05-01T{hour:02}:00:00-04:00"))
                .unwrap(),
            lat: 43.65,
            lon: -79.38,
            place: Some("Yonge St".into()),
            details: vec![format!("offence: {label}")],
            publisher: "Toronto Police Service".into(),
            link: None,
        }
    }

    #[test]
    fn a_record_becomes_a_verified_feed_incident_with_provenance() {
        let now = Utc::now();
        let mut r = record("1", Category::Assault, "Assault", 2);
        r.link = Some("https://example.org/r/E1".into());
        let item = r
            .clone()
            .into_incident("toronto", "https://example.org/q", now)
            .unwrap();
        let inc = &item.incident;
        assert_eq!(inc.id, IncidentId::for_feed_record("toronto", "E1"));
        assert_eq!(inc.status, Status::Verified);
        assert!(
            inc.description
                .starts_with("Assault (reported to Toronto Police Service). offence: Assault.")
        );
        match &inc.source {
            Source::Feed {
                url, fetched_at, ..
            } => {
                assert_eq!(url.as_deref(), Some("https://example.org/r/E1"));
                assert_eq!(
                    fetched_at.unwrap().timestamp_millis(),
                    now.timestamp_millis()
                );
            }
            other => panic!("{other:?}"),
        }
        r.lat = 0.0;
        r.lon = 0.0;
        assert_eq!(
            r.into_incident("toronto", "u", now).unwrap_err(),
            "location: withheld by the source (0, 0)"
        );
    }
}

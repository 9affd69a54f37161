//! The generic mapping the CSV and JSON sources share: which field is which, the source's
//! time zone and date format, and its labels to Vigil's categories.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use vigil_sync::Category;

use crate::{
    FeedRecord, Rejected, parse_time,
    taxonomy::{self, CustomTable, Scheme},
};

/// Which column (CSV) or field (JSON) holds each part of a record, and how to read it.
/// Names are matched regardless of case, spaces and punctuation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    pub id: String,
    /// The source's classification label.
    #[serde(rename = "type")]
    pub kind: String,
    pub date: String,
    /// A separate time-of-day column, if the source splits date and time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub address: Option<String>,
    pub lat: String,
    pub lon: String,
    pub description: Option<String>,
    /// A link to the record at the source.
    pub link: Option<String>,
    /// chrono format of `date` (+ " " + `time`) when it is not RFC 3339 or ISO 8601, e.g.
    /// "%m/%d/%y %I:%M %p".
    pub date_format: Option<String>,
    /// The zone local times are in (IANA name), default UTC.
    pub timezone: String,
    /// A taxonomy for `type`: chicago, san_francisco, new_york, toronto_mci, police_uk.
    pub scheme: Option<String>,
    /// The source's own labels to Vigil categories, e.g. { "Shooting" = "weapons" }.
    pub categories: BTreeMap<String, Category>,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap {
            id: "id".into(),
            kind: "type".into(),
            date: "date".into(),
            time: None,
            address: Some("address".into()),
            lat: "lat".into(),
            lon: "lon".into(),
            description: None,
            link: Some("link".into()),
            date_format: None,
            timezone: "UTC".into(),
            scheme: None,
            categories: BTreeMap::new(),
        }
    }
}

/// How a generic source's fields become a [`FeedRecord`].
pub struct Mapping {
    spec: FieldMap,
    zone: Tz,
    scheme: Option<Scheme>,
    table: CustomTable,
    source: String,
}

impl Mapping {
    pub fn new(spec: &FieldMap, source: &str) -> anyhow::Result<Mapping> {
        Ok(Mapping {
            zone: spec
                .timezone
                .parse()
                .map_err(|_| anyhow::anyhow!("timezone {:?} is not an IANA zone", spec.timezone))?,
            scheme: spec.scheme.as_deref().and_then(Scheme::from_name),
            table: CustomTable::new(spec.categories.iter().map(|(l, c)| (l.as_str(), *c))),
            spec: spec.clone(),
            source: source.to_owned(),
        })
    }

    /// Maps one record whose fields `get` returns by (configured) name.
    pub fn map(&self, get: &dyn Fn(&str) -> Option<String>) -> Result<FeedRecord, Rejected> {
        let s = &self.spec;
        let record_id = get(&s.id);
        let reject = |reason: String| Rejected::new(record_id.clone(), reason);
        let need = |name: &str| get(name).ok_or_else(|| reject(format!("{name}: missing")));
        let id = need(&s.id)?;
        let label = need(&s.kind)?;
        let (category, unmapped_in) = match self.scheme {
            Some(scheme) => {
                let m = taxonomy::map(scheme, &label);
                (m.category, (!m.known).then(|| scheme.as_str().to_owned()))
            }
            None => {
                let m = self.table.map(&label);
                (m.category, (!m.known).then(|| self.source.clone()))
            }
        };
        let mut when = need(&s.date)?;
        if let Some(t) = s.time.as_deref().and_then(get) {
            when = format!("{when} {t}");
        }
        let occurred_at =
            parse_time(&when, s.date_format.as_deref(), self.zone).ok_or_else(|| {
                reject(format!(
                    "{}: {when:?} is not a date and time{}",
                    s.date,
                    match &s.date_format {
                        Some(f) => format!(" in the format {f:?}"),
                        None => " (RFC 3339 or ISO 8601; set date_format for other layouts)".into(),
                    }
                ))
            })?;
        let number = |name: &str| {
            need(name)?
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| reject(format!("{name}: not a number")))
        };
        Ok(FeedRecord {
            record_id: id,
            part_id: None,
            category,
            label,
            unmapped_in,
            occurred_at,
            lat: number(&s.lat)?,
            lon: number(&s.lon)?,
            place: s.address.as_deref().and_then(get),
            details: s.description.as_deref().and_then(get).into_iter().collect(),
            publisher: self.source.clone(),
            link: s
                .link
                .as_deref()
                .and_then(get)
                .filter(|l| l.starts_with("http://") || l.starts_with("https://")),
        })
    }
}

impl FieldMap {
    /// Checks the zone and the taxonomy name of source `source`.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        self.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            anyhow::anyhow!(
                "ingest source {source:?}: timezone {:?} is not an IANA zone such as \"America/Chicago\"",
                self.timezone
            )
        })?;
        if let Some(s) = &self.scheme {
            Scheme::from_name(s).with_context(|| {
                format!(
                    "ingest source {source:?}: scheme {s:?} is unknown; use chicago, san_francisco, new_york, toronto_mci or police_uk"
                )
            })?;
        }
        Ok(())
    }
}

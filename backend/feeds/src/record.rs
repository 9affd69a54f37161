//! A feed record on its way in: the common form every connector maps its source's records
//! to, and the helpers mappers share (fields by loose name, times in the source's zone).

use std::collections::HashMap;

use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigil_sync::Category;

/// One record of a public feed, mapped onto Vigil's model but not yet validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRecord {
    /// The record's id at the source (an incident number, an event id).
    pub record_id: String,
    /// Set when the source publishes one record as several rows (one per offence): this
    /// row's id within the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_id: Option<String>,
    pub category: Category,
    /// The source's classification label, as published.
    pub label: String,
    /// The taxonomy that mapped the label, when it did not know it (counted as unmapped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmapped_in: Option<String>,
    pub occurred_at: DateTime<FixedOffset>,
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Further facts the source gives ("premises: Apartment"), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Who published it ("Chicago Police Department").
    pub publisher: String,
    /// A link to the record itself, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A record the connector could not map, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub record_id: Option<String>,
    pub reason: String,
}

impl Rejected {
    pub fn new(record_id: Option<String>, reason: impl Into<String>) -> Rejected {
        Rejected {
            record_id,
            reason: reason.into(),
        }
    }
}

impl FeedRecord {
    /// Folds the rows of one multi-row record into one: the most serious category, every
    /// distinct label and detail, the earliest time, the first row's place.
    pub fn merge(mut parts: Vec<FeedRecord>) -> Option<FeedRecord> {
        parts.sort_by(|a, b| a.part_id.cmp(&b.part_id));
        let mut iter = parts.into_iter();
        let mut merged = iter.next()?;
        let mut labels = vec![merged.label.clone()];
        for part in iter {
            let rank = |c: Category| Category::ALL.iter().position(|x| *x == c);
            if rank(part.category) < rank(merged.category) {
                merged.category = part.category;
            }
            if !labels.contains(&part.label) {
                labels.push(part.label.clone());
            }
            if part.unmapped_in.is_some() {
                merged.unmapped_in = part.unmapped_in;
            }
            merged.occurred_at = merged.occurred_at.min(part.occurred_at);
            for d in part.details {
                if !merged.details.contains(&d) {
                    merged.details.push(d);
                }
            }
        }
        merged.label = labels.join("; ");
        merged.part_id = None;
        Some(merged)
    }
}

/// A JSON object's fields by name, compared on lower-case letters and digits only, so
/// `EVENT_UNIQUE_ID`, `event_unique_id` and `Event Unique Id` are the same field (older
/// exports of a layer differ in case and separators).
pub struct Fields<'a>(HashMap<String, &'a Value>);

impl<'a> Fields<'a> {
    pub fn new(object: &'a serde_json::Map<String, Value>) -> Fields<'a> {
        Fields(object.iter().map(|(k, v)| (normalise_name(k), v)).collect())
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0
            .get(&normalise_name(name))
            .copied()
            .filter(|v| !v.is_null())
    }

    /// The field as trimmed text (numbers too); `None` when missing or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        let text = match self.get(name)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// The field as text, or a rejection naming it.
    pub fn need(&self, name: &str) -> Result<String, String> {
        self.text(name).ok_or_else(|| format!("{name}: missing"))
    }

    /// The field as a number (JSON number or numeric text), or a rejection naming it.
    pub fn number(&self, name: &str) -> Result<f64, String> {
        match self.get(name) {
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("{name}: not a number")),
            Some(Value::String(s)) if !s.trim().is_empty() => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{name}: not a number")),
            _ => Err(format!("{name}: missing")),
        }
    }
}

/// Lower-case letters and digits only; a leading `:` (Socrata's system fields, such as
/// `:id` beside a dataset's own `id`) is kept.
pub fn normalise_name(name: &str) -> String {
    let system = name.trim_start().starts_with(':');
    let letters = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase());
    if system {
        std::iter::once(':').chain(letters).collect()
    } else {
        letters.collect()
    }
}

/// A wall-clock time in `zone` as an instant with its offset. In the hour skipped when
/// clocks go forward, the instant an hour later; in the repeated hour, the first.
///
/// `None` before the zone kept standard time (its local mean time has an offset in
/// seconds, such as -05:17:32 in Toronto before 1895): such a date is a data error, and
/// RFC 3339, which every store and device reads, cannot carry the offset.
pub fn local_time(zone: chrono_tz::Tz, local: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
    let t = zone.from_local_datetime(&local).earliest().or_else(|| {
        zone.from_local_datetime(&(local + TimeDelta::hours(1)))
            .earliest()
    })?;
    let offset = t.offset().fix();
    (offset.local_minus_utc() % 60 == 0).then(|| t.with_timezone(&offset))
}

/// Reads a time as RFC 3339, or with `format` (a chrono format), or as an ISO 8601 local
/// date-time or date, local times being in `zone`.
pub fn parse_time(
    text: &str,
    format: Option<&str>,
    zone: chrono_tz::Tz,
) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    let local = match format {
        Some(f) => {
            // A format with an offset (%z, %:z) gives the instant itself.
            if let Ok(t) = DateTime::parse_from_str(text, f) {
                return Some(t);
            }
            NaiveDateTime::parse_from_str(text, f).ok().or_else(|| {
                NaiveDate::parse_from_str(text, f)
                    .ok()
                    .map(|d| d.and_time(NaiveTime::MIN))
            })?
        }
        None => [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })?,
    };
    local_time(zone, local)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parts_merge_into_the_most_serious_category_in_any_order() {
        let a = record("1", Category::BreakAndEnter, "Break and Enter", 3);
        let b = record("2", Category::Assault, "Assault", 2);
        let one = FeedRecord::merge(vec![a.clone(), b.clone()]).unwrap();
        let other = FeedRecord::merge(vec![b, a]).unwrap();
        assert_eq!(one, other);
        assert_eq!(one.category, Category::Assault);
        assert_eq!(one.label, "Break and Enter; Assault");
        assert_eq!(one.occurred_at.to_rfc3339(), "2024-05-01T02:00:00-04:00");
        assert_eq!(one.details.len(), 2);
        assert_eq!(one.part_id, None);
    }

    #[test]
    fn fields_ignore_case_and_separators() {
        let v: Value = serde_json::json!({"event_unique_id": "GO-1", "LAT_WGS84": "43.7", "n": 3, "blank": " "});
        let f = Fields::new(v.as_object().unwrap());
        assert_eq!(f.text("EVENT_UNIQUE_ID").as_deref(), Some("GO-1"));
        assert_eq!(f.number("lat wgs84"), Ok(43.7));
        assert_eq!(f.text("n").as_deref(), Some("3"));
        // Socrata's system `:id` is not the dataset's `id`.
        let w: Value = serde_json::json!({"id": "13000009", ":id": "row-0009", ":updated_at": "2024-01-01T00:00:00.000Z"});
        let sys = Fields::new(w.as_object().unwrap());
        assert_eq!(sys.text("id").as_deref(), Some("13000009"));
        assert_eq!(sys.text(":id").as_deref(), Some("row-0009"));
        assert_eq!(f.need("blank"), Err("blank: missing".into()));
        assert_eq!(
            f.number("EVENT_UNIQUE_ID"),
            Err("EVENT_UNIQUE_ID: not a number".into())
        );
    }

    #[test]
    fn times_read_in_the_sources_zone() {
        let ny = chrono_tz::America::New_York;
        let t = parse_time("2024-01-05T13:45:00.000", None, ny).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-05T13:45:00-05:00");
        let t = parse_time("07/04/24 09:30 PM", Some("%m/%d/%y %I:%M %p"), ny).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-07-04T21:30:00-04:00");
        let t = parse_time("2024-07-04T21:30:00Z", None, ny).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-07-04T21:30:00+00:00");
        // An offset in the text wins over the zone.
        let t = parse_time(
            "2024-07-04 21:30:00 -0500",
            Some("%Y-%m-%d %H:%M:%S %z"),
            chrono_tz::UTC,
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2024-07-04T21:30:00-05:00");
        // 02:30 on 2024-03-10 does not exist in New York.
        let t = parse_time("2024-03-10 02:30:00", None, ny).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-10T03:30:00-04:00");
        assert!(parse_time("yesterday", None, ny).is_none());
        // Before standard time, New York kept local mean time (-04:56:02): refused.
        assert!(parse_time("1850-06-01T12:00:00", None, ny).is_none());
        assert!(parse_time("1900-06-01T12:00:00", None, ny).is_some());
    }
}

//! data.police.uk street-level crimes (`crimes-street/all-crime?poly=…&date=YYYY-MM`).
//!
//! Forces publish a month at a time, weeks after it ends; `crimes-street-dates` lists the
//! months available. A run reads each month after the checkpoint up to the newest one
//! published, one page per month, and saves the next month to read with each. Records
//! carry only the month of the crime, so an incident's time is the first of that month
//! (UK time) and says so. `persistent_id` identifies a crime across updates; anti-social
//! behaviour has none and is keyed by month and the API's id.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use vigil_feeds::police_uk::parse_month;
use vigil_feeds::police_uk::{crime, month_text};

use super::{
    Fields, Page, Rejected,
    config::PoliceUkConfig,
    http::{Call, FetchError, Http},
};

/// Where a police.uk source is: the next month to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_month: Option<String>,
}

fn month_after(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(month)
}

pub struct PoliceUk {
    config: PoliceUkConfig,
    latest: std::sync::Mutex<Option<NaiveDate>>,
}

impl PoliceUk {
    pub fn new(config: PoliceUkConfig) -> PoliceUk {
        PoliceUk {
            config,
            latest: std::sync::Mutex::new(None),
        }
    }

    fn base(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// The newest month published (asked once per run).
    async fn latest(&self, http: &Http) -> Result<NaiveDate, FetchError> {
        if let Some(m) = *self.latest.lock().unwrap_or_else(|e| e.into_inner()) {
            return Ok(m);
        }
        let (body, url) = http
            .get_json(&format!("{}/crimes-street-dates", self.base()), &[])
            .await?;
        let latest = body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("date").and_then(Value::as_str).and_then(parse_month))
            .max()
            .ok_or_else(|| FetchError::Unreadable {
                url,
                message: "expected an array of {\"date\": \"YYYY-MM\"}".into(),
            })?;
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(latest);
        Ok(latest)
    }

    pub async fn page(&self, http: &Http, position: Position) -> Result<Page, FetchError> {
        let month = position
            .next_month
            .as_deref()
            .or(Some(self.config.from_month.as_str()))
            .and_then(parse_month)
            .unwrap_or_default();
        let latest = self.latest(http).await?;
        if month > latest {
            // Nothing newer published yet.
            return Ok(Page {
                records: Vec::new(),
                url: format!("{}/crimes-street-dates", self.base()),
                next: serde_json::to_value(position).unwrap_or_default(),
                done: true,
            });
        }
        let query = [
            ("poly", self.config.poly.clone()),
            ("date", month_text(month)),
        ];
        let endpoint = format!("{}/crimes-street/all-crime", self.base());
        let call = Call {
            permanent: &[(
                503,
                "police.uk answers 503 when the polygon holds more than 10,000 crimes in a month: make police_uk.poly smaller (or split the area into several sources)",
            )],
            ..Call::default()
        };
        let (body, url) = http.get_json_with(&endpoint, &query, &call).await?;
        let Value::Array(crimes) = body else {
            return Err(FetchError::Unreadable {
                url,
                message: "expected a JSON array of crimes".into(),
            });
        };
        let records = crimes
            .iter()
            .map(|c| match c {
                Value::Object(o) => crime(&Fields::new(o), c, month),
                _ => Err(Rejected::new(None, "crime: not a JSON object")),
            })
            .collect();
        let next = month_after(month);
        Ok(Page {
            records,
            url,
            next: serde_json::to_value(Position {
                next_month: Some(month_text(next)),
            })
            .unwrap_or_default(),
            done: next > latest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crimes_map_with_string_coordinates_and_month_times() {
        let v = serde_json::json!({"category": "burglary", "location_type": "Force",
            "location": {"latitude": "52.629729", "street": {"id": 1, "name": "On or near Elm Road"}, "longitude": "-1.132022"},
            "context": "", "outcome_status": {"category": "Under investigation", "date": "2024-01"},
            "persistent_id": "4d83f5ac", "id": 116208998, "location_subtype": "", "month": "2024-01"});
        let r = crime(
            &Fields::new(v.as_object().unwrap()),
            &v,
            parse_month("2024-01").unwrap(),
        )
        .unwrap();
        assert_eq!(r.record_id, "4d83f5ac");
        assert_eq!(r.category, vigil_sync::Category::BreakAndEnter);
        assert_eq!(r.occurred_at.to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!((r.lat, r.lon), (52.629729, -1.132022));
        // Anti-social behaviour has no persistent id.
        let v = serde_json::json!({"category": "anti-social-behaviour", "location": {"latitude": "52.6", "longitude": "-1.1"},
            "persistent_id": "", "id": 5, "month": "2024-07"});
        let r = crime(
            &Fields::new(v.as_object().unwrap()),
            &v,
            parse_month("2024-07").unwrap(),
        )
        .unwrap();
        assert_eq!(r.record_id, "2024-07/5");
        assert_eq!(r.occurred_at.to_rfc3339(), "2024-07-01T00:00:00+01:00");
    }
}

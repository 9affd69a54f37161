//! data.police.uk street-level crimes: one crime to a feed record.

use chrono::{Datelike, NaiveDate, NaiveTime};
use serde_json::Value;

use crate::{
    FeedRecord, Fields, Rejected, local_time,
    taxonomy::{Scheme, classify},
};

/// `YYYY-MM` as the first day of that month.
pub fn parse_month(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()
}

pub fn month_text(month: NaiveDate) -> String {
    format!("{:04}-{:02}", month.year(), month.month())
}

pub fn crime(f: &Fields, raw: &Value, month: NaiveDate) -> Result<FeedRecord, Rejected> {
    let record_id = f
        .text("persistent_id")
        .or_else(|| f.text("id").map(|id| format!("{}/{id}", month_text(month))));
    let reject = |reason: &str| Rejected::new(record_id.clone(), reason);
    let id = record_id
        .clone()
        .ok_or_else(|| reject("persistent_id and id: missing"))?;
    let label = f.need("category").map_err(|e| reject(&e))?;
    let (category, unmapped_in) = classify(Scheme::PoliceUk, &label);
    let coordinate = |name: &str| {
        let text = raw.pointer(&format!("/location/{name}"));
        match text {
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
        .filter(|x| x.is_finite())
        .ok_or_else(|| reject(&format!("location.{name}: not a number")))
    };
    let lat = coordinate("latitude")?;
    let lon = coordinate("longitude")?;
    let crime_month = f
        .text("month")
        .and_then(|m| parse_month(&m))
        .unwrap_or(month);
    let occurred_at = local_time(
        chrono_tz::Europe::London,
        crime_month.and_time(NaiveTime::MIN),
    )
    .ok_or_else(|| reject("month: not a date"))?;
    let outcome = raw
        .pointer("/outcome_status/category")
        .and_then(Value::as_str)
        .map(|o| format!("Outcome: {o}"));
    Ok(FeedRecord {
        record_id: id,
        part_id: None,
        category,
        label,
        unmapped_in,
        occurred_at,
        lat,
        lon,
        place: raw
            .pointer("/location/street/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        details: [
            Some(format!(
                "In {} (police.uk gives the month only)",
                month_text(crime_month)
            )),
            outcome,
            f.text("location_type").map(|t| format!("Recorded by: {t}")),
        ]
        .into_iter()
        .flatten()
        .collect(),
        publisher: "police.uk".into(),
        link: None,
    })
}

//! The Toronto Police Service "Major Crime Indicators" CSV export: a row to a feed record.

use anyhow::Context;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::{
    FeedRecord,
    arcgis::toronto_occurrence,
    taxonomy::{Scheme, classify},
};

/// The columns this mapping reads.
pub struct Columns {
    pub date: usize,
    pub hour: usize,
    pub premises: usize,
    pub mci: usize,
    pub neighbourhood: usize,
    pub lat: usize,
    pub lon: usize,
}

impl Columns {
    pub fn find(headers: &csv::StringRecord) -> anyhow::Result<Columns> {
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .with_context(|| {
                    format!(
                        "column {name:?} is missing; is this the Toronto Police MCI CSV export?"
                    )
                })
        };
        Ok(Columns {
            date: col("occurrencedate")?,
            hour: col("occurrencehour")?,
            premises: col("premises_type")?,
            mci: col("MCI")?,
            neighbourhood: col("Neighbourhood")?,
            lat: col("Lat")?,
            lon: col("Long")?,
        })
    }
}

/// The occurrence time: the file gives the local date as UTC midnight-in-Toronto
/// (`2017/07/01 04:00:00+00`) and the local hour in its own column.
fn occurred_at(date: &str, hour: &str) -> Result<DateTime<FixedOffset>, String> {
    let day = date.get(..10).ok_or("occurrencedate: too short")?;
    let utc_time = date.get(11..19).unwrap_or("00:00:00");
    let utc = NaiveDate::parse_from_str(day, "%Y/%m/%d")
        .ok()
        .zip(NaiveTime::parse_from_str(utc_time, "%H:%M:%S").ok())
        .ok_or_else(|| format!("occurrencedate: {date:?} is not YYYY/MM/DD HH:MM:SS"))?;
    let hour: u32 = hour
        .trim()
        .parse()
        .ok()
        .filter(|h| *h < 24)
        .ok_or("occurrencehour: not 0 to 23")?;
    toronto_occurrence(Utc.from_utc_datetime(&utc.0.and_time(utc.1)), hour)
        .ok_or_else(|| "occurrencehour: not a local time in Toronto".into())
}

/// A coordinate column; a number too large for an `f64` (`-0.5e340779` parses as
/// infinity) is refused like any other non-number.
fn coordinate(text: &str, column: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{column}: not a number"))
}

/// Maps one row to a feed record.
pub fn map_row(
    row: &csv::StringRecord,
    c: &Columns,
    record_id: String,
) -> Result<FeedRecord, String> {
    let get = |i: usize| row.get(i).unwrap_or("");
    let label = get(c.mci).trim().to_owned();
    if label.is_empty() {
        return Err("MCI: empty".into());
    }
    let (category, unmapped_in) = classify(Scheme::TorontoMci, &label);
    let premises = get(c.premises).trim();
    let neighbourhood = get(c.neighbourhood).trim();
    Ok(FeedRecord {
        record_id,
        part_id: None,
        category,
        label,
        unmapped_in,
        occurred_at: occurred_at(get(c.date), get(c.hour))?,
        lat: coordinate(get(c.lat), "Lat")?,
        lon: coordinate(get(c.lon), "Long")?,
        place: (!neighbourhood.is_empty()).then(|| neighbourhood.to_owned()),
        details: vec![
            format!(
                "Premises: {}",
                if premises.is_empty() {
                    "unknown"
                } else {
                    premises
                }
            ),
            "Location offset to the nearest intersection".into(),
        ],
        publisher: "Toronto Police Service".into(),
        link: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrence_time_uses_toronto_offsets() {
        // Winter: EST, UTC-5.
        let t = occurred_at("2013/12/24 05:00:00+00", "22").unwrap();
        assert_eq!(t.to_rfc3339(), "2013-12-24T22:00:00-05:00");
        // Summer: EDT, UTC-4.
        let t = occurred_at("2017/07/01 04:00:00+00", "0").unwrap();
        assert_eq!(t.to_rfc3339(), "2017-07-01T00:00:00-04:00");
        // 02:00 on 2019-03-10 does not exist in Toronto; it becomes 03:00 EDT.
        let t = occurred_at("2019/03/10 05:00:00+00", "2").unwrap();
        assert_eq!(t.to_rfc3339(), "2019-03-10T03:00:00-04:00");
        assert!(occurred_at("yesterday", "1").is_err());
        assert!(occurred_at("2019/03/10 05:00:00+00", "24").is_err());
    }

    #[test]
    fn coordinates_must_be_finite_numbers() {
        assert_eq!(coordinate(" 43.65 ", "Lat"), Ok(43.65));
        // Found by the fuzzer: this parses as negative infinity.
        assert_eq!(
            coordinate("-0.5e340779", "Long"),
            Err("Long: not a number".into())
        );
        assert!(coordinate("NaN", "Lat").is_err());
    }
}

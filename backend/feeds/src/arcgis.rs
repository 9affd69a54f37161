//! ArcGIS layers: a feature's attributes and geometry to a feed record (Toronto Police
//! Service's Major Crime Indicators layer).

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone, Utc};
use serde_json::Value;

use crate::{
    FeedRecord, Fields, Rejected, local_time,
    taxonomy::{Scheme, classify},
};

/// `(lat, lon)` of a point geometry (GeoJSON `coordinates` or Esri `x`/`y`), from Web
/// Mercator when `mercator`.
pub fn geometry_point(geometry: Option<&Value>, mercator: bool) -> Option<(f64, f64)> {
    let g = geometry?;
    let (x, y) = match g.get("coordinates").and_then(Value::as_array) {
        Some(c) => (c.first()?.as_f64()?, c.get(1)?.as_f64()?),
        None => (g.get("x")?.as_f64()?, g.get("y")?.as_f64()?),
    };
    if mercator {
        const R: f64 = 6_378_137.0;
        let lon = (x / R).to_degrees();
        let lat = (2.0 * (y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
        Some((lat, lon))
    } else {
        Some((y, x))
    }
}

/// The occurrence time of a Toronto Police record: the local date (given as the UTC
/// instant of its midnight in Toronto) at the local hour.
pub fn toronto_occurrence(date: DateTime<Utc>, hour: u32) -> Option<DateTime<FixedOffset>> {
    use chrono_tz::America::Toronto;
    let day = date.with_timezone(&Toronto).date_naive();
    local_time(Toronto, day.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?))
}

pub fn toronto_mci(f: &Fields, point: Option<(f64, f64)>) -> Result<FeedRecord, Rejected> {
    let record_id = f.text("EVENT_UNIQUE_ID");
    let reject = |reason: String| Rejected::new(record_id.clone(), reason);
    let id = record_id
        .clone()
        .ok_or_else(|| reject("EVENT_UNIQUE_ID: missing".into()))?;
    let label = f.need("MCI_CATEGORY").map_err(reject)?;
    let (category, unmapped_in) = classify(Scheme::TorontoMci, &label);
    let date = match f.get("OCC_DATE") {
        Some(Value::Number(ms)) => ms
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        Some(Value::String(s)) => {
            let day = s.trim().get(..10).unwrap_or("").replace('/', "-");
            chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .ok()
                .and_then(|d| local_time(chrono_tz::America::Toronto, d.and_time(NaiveTime::MIN)))
                .map(|t| t.with_timezone(&Utc))
        }
        _ => return Err(reject("OCC_DATE: missing".into())),
    }
    .ok_or_else(|| reject("OCC_DATE: not a date".into()))?;
    let hour = f
        .number("OCC_HOUR")
        .ok()
        .filter(|h| (0.0..24.0).contains(h) && h.fract() == 0.0)
        .ok_or_else(|| reject("OCC_HOUR: not 0 to 23".into()))? as u32;
    let occurred_at = toronto_occurrence(date, hour)
        .ok_or_else(|| reject("OCC_HOUR: not a local time".into()))?;
    let (lat, lon) = match (f.number("LAT_WGS84"), f.number("LONG_WGS84")) {
        (Ok(lat), Ok(lon)) => (lat, lon),
        (lat, lon) => match point {
            Some(p) => p,
            None => return Err(reject(lat.err().or(lon.err()).unwrap_or_default())),
        },
    };
    let offence = f.text("OFFENCE");
    let part_id = match (f.text("UCR_CODE"), f.text("UCR_EXT"), &offence) {
        (None, None, None) => f.need("OBJECTID").map_err(reject)?,
        (code, ext, offence) => format!(
            "{}-{}-{}",
            code.unwrap_or_default(),
            ext.unwrap_or_default(),
            offence.clone().unwrap_or_default()
        ),
    };
    let place = f
        .text("NEIGHBOURHOOD_158")
        .or_else(|| f.text("NEIGHBOURHOOD_140"))
        .or_else(|| f.text("Neighbourhood"));
    let premises = f.text("PREMISES_TYPE").or_else(|| f.text("LOCATION_TYPE"));
    Ok(FeedRecord {
        record_id: id,
        part_id: Some(part_id),
        category,
        label,
        unmapped_in,
        occurred_at,
        lat,
        lon,
        place,
        details: [
            offence.map(|o| format!("Offence: {o}")),
            premises.map(|p| format!("Premises: {p}")),
            f.text("DIVISION").map(|d| format!("Division: {d}")),
            Some("Location offset to the nearest intersection".into()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        publisher: "Toronto Police Service".into(),
        link: None,
    })
}

//! ArcGIS FeatureServer layers (`{layer}/query`), such as the Toronto Police Service's
//! Major Crime Indicators.
//!
//! A run pages through the layer in a stable order (`orderByFields`) with `resultOffset`
//! and `resultRecordCount` while the server says `exceededTransferLimit`; the offset is
//! saved with every page. The MCI layer has a row per offence; the rows of one event
//! (`EVENT_UNIQUE_ID`) are parts of one incident, whichever page brings them.

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    FeedRecord, Fields, Page, Rejected,
    config::{ArcGisConfig, ArcGisFormat, ArcGisMapping},
    http::{Call, FetchError, Http},
    local_time,
    taxonomy::{Scheme, classify},
};

/// Where an ArcGIS source is: features of this run already stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default)]
    pub offset: u64,
}

pub struct ArcGis {
    config: ArcGisConfig,
    page_size: u32,
    /// The first feature of the page before, to notice a layer that ignores paging.
    previous_first: std::sync::Mutex<Option<String>>,
}

/// ArcGIS answers errors with HTTP 200 and `{"error": {"code", "message"}}`; a code
/// without a number counts as 400 (not retried).
fn body_error(body: &Value) -> Option<(u16, String)> {
    let error = body.get("error")?;
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(400);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("ArcGIS error without a message");
    Some((code, message.to_owned()))
}

impl ArcGis {
    pub fn new(config: ArcGisConfig, page_size: u32) -> ArcGis {
        ArcGis {
            config,
            page_size,
            previous_first: std::sync::Mutex::new(None),
        }
    }

    pub async fn page(&self, http: &Http, position: Position) -> Result<Page, FetchError> {
        let format = match self.config.format {
            ArcGisFormat::Geojson => "geojson",
            ArcGisFormat::Json => "json",
        };
        let query = [
            ("where", self.config.filter.clone()),
            ("outFields", "*".to_owned()),
            ("orderByFields", self.config.order_by.clone()),
            ("resultOffset", position.offset.to_string()),
            ("resultRecordCount", self.page_size.to_string()),
            ("returnGeometry", "true".to_owned()),
            ("outSR", self.config.out_sr.to_string()),
            ("f", format.to_owned()),
        ];
        let layer = format!("{}/query", self.config.url.trim_end_matches('/'));
        let call = Call {
            body_error: Some(body_error),
            ..Call::default()
        };
        let (body, url) = http.get_json_with(&layer, &query, &call).await?;
        let Some(features) = body.get("features").and_then(Value::as_array) else {
            return Err(FetchError::Unreadable {
                url,
                message:
                    "no `features` array; is the url a FeatureServer layer (…/FeatureServer/0)?"
                        .into(),
            });
        };
        let exceeded = body
            .get("exceededTransferLimit")
            .or_else(|| body.pointer("/properties/exceededTransferLimit"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let wkid = body
            .pointer("/spatialReference/latestWkid")
            .or_else(|| body.pointer("/spatialReference/wkid"))
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(self.config.out_sr));
        let mercator = matches!(wkid, 3857 | 102100 | 102113) && format == "json"
            || self.config.out_sr == 3857 && format == "geojson";
        let mut records = Vec::with_capacity(features.len());
        for feature in features {
            let attributes = feature
                .get("properties")
                .or_else(|| feature.get("attributes"))
                .and_then(Value::as_object);
            let Some(attributes) = attributes else {
                records.push(Err(Rejected::new(None, "feature: no attributes")));
                continue;
            };
            let point = geometry_point(feature.get("geometry"), mercator);
            records.push(match self.config.mapping {
                ArcGisMapping::TorontoMci => toronto_mci(&Fields::new(attributes), point),
            });
        }
        // A layer that ignores resultOffset answers the first page again and again.
        let first = features.first().map(Value::to_string);
        {
            let mut previous = self
                .previous_first
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if position.offset > 0 && first.is_some() && *previous == first {
                return Err(FetchError::Unreadable {
                    url,
                    message: format!(
                        "the layer answered resultOffset={} with the same features as the page before; it may not support paging (supportsPagination): set page_size to at most its maxRecordCount",
                        position.offset
                    ),
                });
            }
            *previous = first;
        }
        let done = !exceeded || features.is_empty();
        let next = Position {
            offset: if done {
                0
            } else {
                position.offset + features.len() as u64
            },
        };
        Ok(Page {
            records,
            url,
            next: serde_json::to_value(next).unwrap_or_default(),
            done,
        })
    }
}

/// `(lat, lon)` of a point geometry (GeoJSON `coordinates` or Esri `x`/`y`), from Web
/// Mercator when `mercator`.
fn geometry_point(geometry: Option<&Value>, mercator: bool) -> Option<(f64, f64)> {
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

fn toronto_mci(f: &Fields, point: Option<(f64, f64)>) -> Result<FeedRecord, Rejected> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_mercator_points_come_back_as_degrees() {
        let g = serde_json::json!({"x": -8_836_524.0, "y": 5_411_437.0});
        let (lat, lon) = geometry_point(Some(&g), true).unwrap();
        assert!(
            (lat - 43.6).abs() < 0.05 && (lon - -79.38).abs() < 0.05,
            "{lat} {lon}"
        );
        let g = serde_json::json!({"type": "Point", "coordinates": [-79.38, 43.65]});
        assert_eq!(geometry_point(Some(&g), false), Some((43.65, -79.38)));
    }

    #[test]
    fn toronto_features_read_epoch_dates_and_lowercase_names() {
        // 2014-01-01T05:00:00Z is midnight in Toronto.
        let v = serde_json::json!({"event_unique_id": "GO-20141263217", "occ_date": 1388552400000i64,
            "occ_hour": 22, "mci_category": "Assault", "offence": "Assault", "ucr_code": 1430,
            "ucr_ext": 100, "lat_wgs84": 43.65, "long_wgs84": -79.38, "premises_type": "Outside"});
        let r = toronto_mci(&Fields::new(v.as_object().unwrap()), None).unwrap();
        assert_eq!(r.occurred_at.to_rfc3339(), "2014-01-01T22:00:00-05:00");
        assert_eq!(r.part_id.as_deref(), Some("1430-100-Assault"));
        assert_eq!(r.category, vigil_sync::Category::Assault);
        let v = serde_json::json!({"EVENT_UNIQUE_ID": "GO-1", "OCC_DATE": 1388552400000i64, "OCC_HOUR": 25,
            "MCI_CATEGORY": "Assault"});
        assert_eq!(
            toronto_mci(&Fields::new(v.as_object().unwrap()), None)
                .unwrap_err()
                .reason,
            "OCC_HOUR: not 0 to 23"
        );
    }
}

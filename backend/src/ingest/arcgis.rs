//! ArcGIS FeatureServer layers (`{layer}/query`), such as the Toronto Police Service's
//! Major Crime Indicators.
//!
//! A run pages through the layer in a stable order (`orderByFields`) with `resultOffset`
//! and `resultRecordCount` while the server says `exceededTransferLimit`; the offset is
//! saved with every page. The MCI layer has a row per offence; the rows of one event
//! (`EVENT_UNIQUE_ID`) are parts of one incident, whichever page brings them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use vigil_feeds::arcgis::toronto_occurrence;
use vigil_feeds::arcgis::{geometry_point, toronto_mci};

use super::{
    Fields, Page, Rejected,
    config::{ArcGisConfig, ArcGisFormat, ArcGisMapping},
    http::{Call, FetchError, Http},
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

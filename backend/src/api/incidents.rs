//! `GET /v1/incidents`: incidents by area, time and category, as JSON or GeoJSON.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use vigil_sync::{Category, Incident};

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiQuery, bad_query as bad, parse_time},
};
use crate::db::IncidentFilter;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

/// Query parameters of `GET /v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentParams {
    /// `min_lon,min_lat,max_lon,max_lat` in degrees (WGS84).
    pub bbox: Option<String>,
    /// Occurred at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Occurred before this RFC 3339 time.
    pub until: Option<String>,
    /// One category code, e.g. `break_and_enter`.
    pub category: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// `json` (default) or `geojson`.
    pub format: Option<String>,
}

pub(super) fn parse_bbox(text: &str) -> Result<[f64; 4], AppError> {
    let usage = "use min_lon,min_lat,max_lon,max_lat in degrees, e.g. -79.64,43.58,-79.12,43.85";
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bbox", usage))?;
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else {
        return Err(bad("bbox", usage));
    };
    let lon_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
    let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
    if !(lon_ok(min_lon) && lon_ok(max_lon) && lat_ok(min_lat) && lat_ok(max_lat)) {
        return Err(bad("bbox", format!("coordinates out of range; {usage}")));
    }
    if min_lon > max_lon || min_lat > max_lat {
        return Err(bad(
            "bbox",
            format!("minimums must not exceed maximums; {usage}"),
        ));
    }
    Ok([min_lon, min_lat, max_lon, max_lat])
}

impl IncidentParams {
    fn filter(&self) -> Result<IncidentFilter, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad("limit", format!("must be from 1 to {MAX_LIMIT}")));
        }
        Ok(IncidentFilter {
            bbox: self.bbox.as_deref().map(parse_bbox).transpose()?,
            since: self
                .since
                .as_deref()
                .map(|t| parse_time("since", t))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            category: self
                .category
                .as_deref()
                .map(|c| {
                    c.parse::<Category>()
                        .map_err(|e| bad("category", e.to_string()))
                })
                .transpose()?,
            limit,
        })
    }
}

/// List incidents, newest first.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", security(("bearer" = [])), params(IncidentParams),
    responses((status = 200, description = "{\"incidents\": [Incident], \"count\": n}, or a GeoJSON FeatureCollection"),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(params): ApiQuery<IncidentParams>,
) -> Result<Response, AppError> {
    let filter = params.filter()?;
    let geojson = match params.format.as_deref() {
        None | Some("json") => false,
        Some("geojson") => true,
        Some(_) => return Err(bad("format", "use json or geojson")),
    };
    let incidents = state.db.query_incidents(&filter).await?;
    if !geojson {
        let count = incidents.len();
        return Ok(Json(json!({ "incidents": incidents, "count": count })).into_response());
    }
    let features: Vec<Value> = incidents.iter().map(feature).collect::<Result<_, _>>()?;
    let mut response =
        Json(json!({ "type": "FeatureCollection", "features": features })).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(response)
}

/// One incident as a GeoJSON Feature: a Point at `[lon, lat]` (RFC 7946 order) with the
/// rest of the incident as properties.
fn feature(incident: &Incident) -> Result<Value, AppError> {
    let mut properties = serde_json::to_value(incident).map_err(|e| AppError::internal(&e))?;
    if let Some(map) = properties.as_object_mut() {
        map.remove("location");
        if let Some(acc) = incident.location.accuracy_m {
            map.insert("accuracy_m".into(), json!(acc));
        }
    }
    Ok(json!({
        "type": "Feature",
        "id": incident.id,
        "geometry": { "type": "Point", "coordinates": [incident.location.lon, incident.location.lat] },
        "properties": properties,
    }))
}

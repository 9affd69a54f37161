//! `GET /v1/incidents`: incidents by area, time and category, as JSON or GeoJSON.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use vigil_sync::{Category, Incident, IncidentId, privacy::MAX_SNAP_M};

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
#[into_params(parameter_in = Query)]
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
    user: AuthUser,
    ApiQuery(params): ApiQuery<IncidentParams>,
) -> Result<Response, AppError> {
    let filter = params.filter()?;
    let geojson = match params.format.as_deref() {
        None | Some("json") => false,
        Some("geojson") => true,
        Some(_) => return Err(bad("format", "use json or geojson")),
    };
    // The box is applied to what the viewer is shown, so shrinking it around a snapped
    // incident cannot find its precise place: ask the store for a box wider by the most
    // snapping moves a point, then keep what falls inside.
    let mut wide = filter.clone();
    if let Some([min_lon, min_lat, max_lon, max_lat]) = filter.bbox {
        let dlat = MAX_SNAP_M / 111_000.0;
        let dlon = dlat
            / min_lat
                .abs()
                .max(max_lat.abs())
                .min(89.0)
                .to_radians()
                .cos();
        wide.bbox = Some([
            (min_lon - dlon).max(-180.0),
            (min_lat - dlat).max(-90.0),
            (max_lon + dlon).min(180.0),
            (max_lat + dlat).min(90.0),
        ]);
        wide.limit = filter.limit.saturating_mul(2).min(2 * MAX_LIMIT);
    }
    let incidents: Vec<Incident> = state
        .db
        .query_incidents(&user.id, &wide)
        .await?
        .into_iter()
        .map(|v| v.shown())
        .filter(|i| {
            filter
                .bbox
                .is_none_or(|[min_lon, min_lat, max_lon, max_lat]| {
                    (min_lon..=max_lon).contains(&i.location.lon)
                        && (min_lat..=max_lat).contains(&i.location.lat)
                })
        })
        .take(filter.limit as usize)
        .collect();
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

/// One incident with what its viewer may know of its moderation.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    /// Precise for the reporter and the group's members; snapped for everyone else.
    pub incident: Incident,
    /// The watch group that moderates it.
    pub group: Option<String>,
    /// Only the group's members see it.
    pub private: bool,
    /// Why it was rejected (shown to its reporter and the group's members).
    pub status_reason: Option<String>,
    /// For a duplicate: the incident it was merged into.
    pub merged_into: Option<String>,
    /// The caller reported it.
    pub mine: bool,
    /// Whether the location is precise or snapped to an area's centre.
    pub location_precision: &'static str,
    /// Photos the caller may see: `GET /v1/incidents/{id}/photos/1` to `.../{photos}`.
    pub photos: i64,
}

/// One incident, with its provenance (`incident.source`) and moderation status.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = IncidentDetail), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, AppError> {
    let missing = || {
        AppError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_such_incident",
            "no incident you may see has that id; find ids with GET /v1/incidents",
        )
    };
    let id: IncidentId = id.parse().map_err(|_| missing())?;
    let (visible, notes) = state
        .db
        .incident_for(&user.id, &id.to_string())
        .await?
        .ok_or_else(missing)?;
    let exact = visible.exact;
    let photos = if visible.photos_shown() {
        state.db.photo_count(&id.to_string()).await?
    } else {
        0
    };
    Ok(Json(IncidentDetail {
        photos,
        incident: visible.shown(),
        status_reason: notes.status_reason.filter(|_| exact),
        group: notes.group,
        private: notes.private,
        merged_into: notes.merged_into,
        mine: notes.mine,
        location_precision: if exact { "exact" } else { "area" },
    }))
}

//! Reads from the speed layer's real-time views: incidents near a point and counts per
//! area cell.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use vigil_sync::{
    AreaCell, Location,
    privacy::{MAX_SNAP_M, snap},
    validate::check_location,
};

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiQuery, bad_query as bad, parse_time},
};
use crate::speed::{ViewError, ViewStore};

const MAX_RADIUS_M: f64 = 50_000.0;

fn views(state: &AppState) -> Result<&ViewStore, AppError> {
    state.views.as_ref().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "speed_layer_unavailable",
            "this server keeps no real-time views; ask the embedded server or one configured with the speed layer",
        )
    })
}

fn unavailable(error: ViewError) -> AppError {
    tracing::warn!(%error, "real-time views unavailable");
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "speed_layer_unavailable",
        "the real-time views cannot be read right now; try again in a few seconds",
    )
}

/// `text` as a time, or `default` when the parameter is absent.
fn time(
    field: &str,
    text: Option<&str>,
    default: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    Ok(text
        .map(|t| parse_time(field, t))
        .transpose()?
        .unwrap_or(default))
}

/// Query of `GET /v1/incidents/near`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NearParams {
    /// Latitude of the centre, degrees.
    pub lat: f64,
    /// Longitude of the centre, degrees.
    pub lon: f64,
    /// Radius in metres, 1 to 50,000 (default 1,000).
    pub radius_m: Option<f64>,
    /// Occurred at or after this RFC 3339 time (default: 7 days ago).
    pub since: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// Recent incidents near a point, nearest first, from the real-time views. Locations are
/// snapped as every public view shows them, and the radius applies to the snapped ones.
#[utoipa::path(get, path = "/v1/incidents/near", tag = "incidents", security(("bearer" = [])), params(NearParams),
    responses((status = 200, description = "{\"incidents\": [{id, category, location, occurred_at, status, distance_m}], \"count\": n}"),
              (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn near(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<NearParams>,
) -> Result<Json<Value>, AppError> {
    let centre = Location {
        lat: q.lat,
        lon: q.lon,
        accuracy_m: None,
    };
    check_location(&centre).map_err(|e| bad(e.field.trim_start_matches("location."), e.reason))?;
    let radius = q.radius_m.unwrap_or(1_000.0);
    if !radius.is_finite() || !(1.0..=MAX_RADIUS_M).contains(&radius) {
        return Err(bad(
            "radius_m",
            format!("must be from 1 to {MAX_RADIUS_M} metres"),
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(bad("limit", "must be from 1 to 1000"));
    }
    let since = time("since", q.since.as_deref(), Utc::now() - TimeDelta::days(7))?;
    // Distances are measured to the snapped places: a small circle moved about cannot
    // find an incident's precise place. The views are asked for a wider circle, since
    // snapping moves a point by up to MAX_SNAP_M.
    let hits = views(&state)?
        .near(
            &centre,
            radius + MAX_SNAP_M,
            since,
            limit.saturating_mul(2),
            Utc::now(),
        )
        .await
        .map_err(unavailable)?;
    let mut shown: Vec<(f64, _, Location)> = hits
        .into_iter()
        .map(|(_, s)| {
            let place = snap(&s.location, s.category);
            (centre.distance_m(&place), s, place)
        })
        .filter(|(d, ..)| *d <= radius)
        .collect();
    shown.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    shown.truncate(limit);
    let incidents: Vec<Value> = shown
        .iter()
        .map(|(d, s, place)| {
            json!({
                "id": s.id, "category": s.category, "location": place, "status": s.status,
                "occurred_at": s.occurred_at, "distance_m": (d * 10.0).round() / 10.0,
            })
        })
        .collect();
    Ok(Json(
        json!({ "count": incidents.len(), "incidents": incidents }),
    ))
}

/// Query of `GET /v1/cells/{cell}/counts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    /// Hours from this RFC 3339 time (default: 24 hours ago).
    pub from: Option<String>,
    /// Hours before this RFC 3339 time (default: now).
    pub to: Option<String>,
}

/// Incident counts per category and hour in one area cell, from the real-time views.
#[utoipa::path(get, path = "/v1/cells/{cell}/counts", tag = "incidents", security(("bearer" = [])),
    params(("cell" = String, Path, description = "H3 cell id, resolution 8"), CountParams),
    responses((status = 200, description = "{\"cell\", \"counts\": [{category, hour, count}]}"),
              (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn cell_counts(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(cell): Path<String>,
    ApiQuery(q): ApiQuery<CountParams>,
) -> Result<Json<Value>, AppError> {
    let cell: AreaCell = cell
        .parse()
        .map_err(|e: vigil_sync::ValidationError| bad("cell", e.reason))?;
    let now = Utc::now();
    let from = time("from", q.from.as_deref(), now - TimeDelta::hours(24))?;
    let to = time("to", q.to.as_deref(), now)?;
    let counts = views(&state)?
        .counts(cell, from, to, now)
        .await
        .map_err(unavailable)?;
    let counts: Vec<Value> = counts
        .into_iter()
        .map(|(category, hour, count)| {
            let hour = DateTime::from_timestamp_millis(hour).unwrap_or_default();
            json!({ "category": category, "hour": hour, "count": count })
        })
        .collect();
    Ok(Json(json!({ "cell": cell, "counts": counts })))
}

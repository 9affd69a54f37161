//! `GET /v1/stats/heatmap`, `/v1/stats/trends` and `/v1/stats/summary`: counts merged from
//! the batch views and the speed layer (see [`crate::serving`]). Every answer says up to
//! when it is exact (`as_of`, `watermark`) and whether a layer was missing (`partial`).

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{NaiveDate, TimeDelta};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use vigil_sync::{AreaCell, Category};

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiQuery, bad_query as bad},
    incidents::parse_bbox,
};
use crate::serving::{Area, Freshness, Heatmap, TrendBy, Trends, by_sub, cells_in, tomorrow};

/// Most cells one heatmap may cover.
const MAX_CELLS: usize = 20_000;
/// The default start of a range: all of the history.
const EPOCH: &str = "2000-01-01";

fn date(field: &str, text: Option<&str>, default: NaiveDate) -> Result<NaiveDate, AppError> {
    match text {
        None => Ok(default),
        Some(t) => t
            .parse()
            .map_err(|_| bad(field, "must be a date such as 2026-11-28 (YYYY-MM-DD)")),
    }
}

fn range(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), AppError> {
    let epoch = EPOCH.parse().unwrap_or(NaiveDate::MIN);
    let (from, to) = (date("from", from, epoch)?, date("to", to, tomorrow())?);
    if from >= to {
        return Err(bad("to", "must be after from (to is exclusive)"));
    }
    if to - from > TimeDelta::days(366 * 60) {
        return Err(bad("from", "the range may span at most 60 years"));
    }
    Ok((from, to))
}

fn category(text: Option<&str>) -> Result<Option<Category>, AppError> {
    text.map(|c| {
        c.parse::<Category>()
            .map_err(|e| bad("category", e.to_string()))
    })
    .transpose()
}

fn freshness(f: &Freshness) -> Value {
    json!({"as_of": f.as_of, "watermark": f.watermark, "partial": f.partial, "unavailable": f.unavailable})
}

fn layers(state: &AppState) -> &crate::serving::Layers {
    &state.layers
}

/// Query parameters of `GET /v1/stats/heatmap`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeatmapParams {
    /// `min_lon,min_lat,max_lon,max_lat` in degrees: cells whose centre lies inside.
    pub bbox: String,
    /// First UTC day of occurrence, `YYYY-MM-DD` (default: all history).
    pub from: Option<String>,
    /// Day after the last, `YYYY-MM-DD` (default: tomorrow).
    pub to: Option<String>,
    /// One category code.
    pub category: Option<String>,
    /// H3 resolution of the cells: 8 (about 0.7 km², default) or 6 (about 36 km²).
    pub res: Option<u8>,
    /// `json` (default) or `geojson` (a Point feature at each cell's centre).
    pub format: Option<String>,
}

fn heatmap_query(p: &HeatmapParams) -> Result<Heatmap, AppError> {
    let bbox = parse_bbox(&p.bbox)?;
    let res = p.res.unwrap_or(8);
    if res != 8 && res != 6 {
        return Err(bad("res", "must be 8 (blocks) or 6 (districts)"));
    }
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let cells = cells_in(bbox, res, MAX_CELLS).ok_or_else(|| {
        bad(
            "bbox",
            format!("covers more than {MAX_CELLS} cells at res {res}; use a smaller box or res=6"),
        )
    })?;
    Ok(Heatmap {
        res,
        cells,
        from,
        to,
        category: category(p.category.as_deref())?,
    })
}

/// Incidents per H3 cell in a box, merged from the batch views and the speed layer.
#[utoipa::path(get, path = "/v1/stats/heatmap", tag = "stats", security(("bearer" = [])), params(HeatmapParams),
    responses((status = 200, description = "{\"cells\": [{cell, lat, lon, count, by_category}], \"as_of\", \"watermark\", \"partial\", \"unavailable\"} or GeoJSON"),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn heatmap(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(p): ApiQuery<HeatmapParams>,
) -> Result<Response, AppError> {
    let geojson = match p.format.as_deref() {
        None | Some("json") => false,
        Some("geojson") => true,
        Some(_) => return Err(bad("format", "must be json or geojson")),
    };
    let q = heatmap_query(&p)?;
    let (counts, fresh) = layers(&state).counts(&q).await;
    let mut per_cell: BTreeMap<String, BTreeMap<Category, i64>> = BTreeMap::new();
    for ((key, _, cat), n) in &counts {
        *per_cell
            .entry(key.clone())
            .or_default()
            .entry(*cat)
            .or_default() += n;
    }
    let cells: Vec<Value> = per_cell
        .iter()
        .filter_map(|(key, cats)| {
            let cell: AreaCell = key.split_once(':')?.1.parse().ok()?;
            let c = cell.centre();
            let by: BTreeMap<&str, i64> = cats.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            Some(json!({"cell": cell.to_string(), "lat": c.lat, "lon": c.lon,
                        "count": cats.values().sum::<i64>(), "by_category": by}))
        })
        .collect();
    if geojson {
        let features: Vec<Value> = cells
            .iter()
            .map(|c| {
                json!({"type": "Feature",
                       "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                       "properties": {"cell": c["cell"], "count": c["count"], "by_category": c["by_category"]}})
            })
            .collect();
        let body =
            json!({"type": "FeatureCollection", "features": features, "vigil": freshness(&fresh)});
        let mut response = Json(body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/geo+json"),
        );
        return Ok(response);
    }
    let mut body = freshness(&fresh);
    body["res"] = json!(q.res);
    body["cells"] = Value::Array(cells);
    Ok(Json(body).into_response())
}

/// Query parameters of `GET /v1/stats/trends`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendsParams {
    /// `city`, or an H3 cell at resolution 8 or 6.
    pub area: Option<String>,
    /// Buckets (months or weeks) starting on or after this day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// ... and before this day (default: tomorrow).
    pub to: Option<String>,
    pub category: Option<String>,
    /// `month` (default), `week` or `hour_of_week`, in the reporter's local time.
    pub by: Option<TrendBy>,
}

/// Incidents in an area over time, merged from the batch views and the speed layer.
#[utoipa::path(get, path = "/v1/stats/trends", tag = "stats", security(("bearer" = [])), params(TrendsParams),
    responses((status = 200, description = "{\"area\", \"by\", \"series\": [{bucket, category, count}], \"as_of\", \"watermark\", \"partial\"}"),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn trends(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(p): ApiQuery<TrendsParams>,
) -> Result<Json<Value>, AppError> {
    let area = match p.area.as_deref().unwrap_or("city") {
        "city" => Area::City,
        text => {
            let cell: AreaCell = text.parse().map_err(|_| {
                bad(
                    "area",
                    "must be `city` or an H3 cell id (resolution 8 or 6)",
                )
            })?;
            if cell.resolution() != 8 && cell.resolution() != 6 {
                return Err(bad("area", "cells must be at resolution 8 or 6"));
            }
            Area::Cell(cell)
        }
    };
    let (from, to) = range(p.from.as_deref(), p.to.as_deref())?;
    let by = p.by.unwrap_or(TrendBy::Month);
    let q = Trends {
        area,
        from,
        to,
        by,
        category: category(p.category.as_deref())?,
    };
    let (counts, fresh) = layers(&state).counts(&q).await;
    let series: Vec<Value> = match by {
        // One profile of 168 hours by category, summed over the months in the range.
        TrendBy::HourOfWeek => {
            let mut profile: BTreeMap<(u32, Category), i64> = BTreeMap::new();
            for ((sub, cat), n) in by_sub(&counts) {
                if let Ok(h) = sub.parse::<u32>() {
                    *profile.entry((h, cat)).or_default() += n;
                }
            }
            profile
                .into_iter()
                .map(|((h, c), n)| json!({"bucket": h, "category": c.as_str(), "count": n}))
                .collect()
        }
        TrendBy::Month | TrendBy::Week => by_sub(&counts)
            .into_iter()
            .map(|((sub, c), n)| json!({"bucket": sub, "category": c.as_str(), "count": n}))
            .collect(),
    };
    let mut body = freshness(&fresh);
    body["area"] = json!(q.area.key());
    body["by"] = json!(by);
    body["series"] = Value::Array(series);
    Ok(Json(body))
}

/// Query parameters of `GET /v1/stats/summary`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// `min_lon,min_lat,max_lon,max_lat`: resolution-8 cells whose centre lies inside.
    pub bbox: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Totals by category in a box, merged from the batch views and the speed layer.
#[utoipa::path(get, path = "/v1/stats/summary", tag = "stats", security(("bearer" = [])), params(SummaryParams),
    responses((status = 200, description = "{\"total\", \"by_category\", \"cells\", \"as_of\", \"watermark\", \"partial\"}"),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(p): ApiQuery<SummaryParams>,
) -> Result<Json<Value>, AppError> {
    let q = heatmap_query(&HeatmapParams {
        bbox: p.bbox,
        from: p.from,
        to: p.to,
        category: None,
        res: Some(8),
        format: None,
    })?;
    let (counts, fresh) = layers(&state).counts(&q).await;
    let mut by: BTreeMap<&str, i64> = BTreeMap::new();
    let mut cells = std::collections::BTreeSet::new();
    for ((key, _, cat), n) in &counts {
        *by.entry(cat.as_str()).or_default() += n;
        cells.insert(key.clone());
    }
    let mut body = freshness(&fresh);
    body["total"] = json!(by.values().sum::<i64>());
    body["by_category"] = json!(by);
    body["cells_with_incidents"] = json!(cells.len());
    Ok(Json(body))
}

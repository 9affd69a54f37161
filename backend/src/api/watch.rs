//! `/v1/watch-areas`: a person's watch areas. The device makes each area's id (a UUID), so
//! saving again, after a lost answer or an edit, replaces the same area.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_sync::watch::WatchAreaSpec;

use super::{AppState, auth::AuthUser, error::AppError, extract::ApiJson};
use crate::db::{AreaRow, MAX_AREAS_PER_USER, PutArea};

/// A stored watch area.
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchAreaOut {
    pub id: String,
    #[serde(flatten)]
    pub spec: WatchAreaSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/watch-areas` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchAreaList {
    pub areas: Vec<WatchAreaOut>,
}

fn out(row: AreaRow) -> Result<WatchAreaOut, AppError> {
    let spec: WatchAreaSpec =
        serde_json::from_str(&row.spec).map_err(|e| AppError::internal(&e))?;
    let time = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Ok(WatchAreaOut {
        id: row.id,
        spec,
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
    })
}

fn area_id(raw: &str) -> Result<String, AppError> {
    Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            AppError::invalid_field(
                "id",
                "use a UUID made on the device, e.g. 0192f0c4-6d8e-7cc2-9a41-3f1c2b7d9e10",
            )
        })
}

/// Create or replace a watch area.
#[utoipa::path(put, path = "/v1/watch-areas/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "A UUID made on the device")),
    request_body = WatchAreaSpec,
    responses((status = 201, body = WatchAreaOut), (status = 200, body = WatchAreaOut),
              (status = 401, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<WatchAreaSpec>,
) -> Result<(StatusCode, Json<WatchAreaOut>), AppError> {
    let id = area_id(&id)?;
    let area = spec
        .validate()
        .map_err(|e| AppError::invalid_field(e.field, e.reason))?;
    if let Some((_, zone)) = &area.quiet
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(AppError::invalid_field(
            "quiet_hours.time_zone",
            format!("{zone:?} is not an IANA time zone; use one such as America/Toronto"),
        ));
    }
    // Store the normalised area (trimmed name, sorted categories).
    let stored = WatchAreaSpec {
        name: area.name.clone(),
        categories: area.categories.clone(),
        ..spec
    };
    let json = serde_json::to_string(&stored).map_err(|e| AppError::internal(&e))?;
    let now = Utc::now().timestamp_millis();
    match state
        .db
        .put_area(&user.id, &id, &area.name, &json, now)
        .await?
    {
        PutArea::Created(row) => Ok((StatusCode::CREATED, Json(out(row)?))),
        PutArea::Updated(row) => Ok((StatusCode::OK, Json(out(row)?))),
        PutArea::NotYours => Err(AppError::new(
            StatusCode::CONFLICT,
            "id_taken",
            "another account has an area with this id; make a new UUID",
        )
        .with_field("id")),
        PutArea::TooMany => Err(AppError::new(
            StatusCode::CONFLICT,
            "too_many_areas",
            format!(
                "you already watch {MAX_AREAS_PER_USER} areas; delete one first, or make one area larger"
            ),
        )),
    }
}

/// The caller's watch areas, oldest first.
#[utoipa::path(get, path = "/v1/watch-areas", tag = "alerts", security(("bearer" = [])),
    responses((status = 200, body = WatchAreaList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<WatchAreaList>, AppError> {
    let rows = state.db.list_areas(&user.id).await?;
    Ok(Json(WatchAreaList {
        areas: rows.into_iter().map(out).collect::<Result<_, _>>()?,
    }))
}

/// Delete a watch area.
#[utoipa::path(delete, path = "/v1/watch-areas/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The area's UUID")),
    responses((status = 204), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = area_id(&id)?;
    if state
        .db
        .delete_area(&user.id, &id, Utc::now().timestamp_millis())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "you have no watch area with this id; GET /v1/watch-areas lists yours",
        )
        .with_field("id"))
    }
}

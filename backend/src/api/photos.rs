//! `/v1/incidents/{id}/photos`: photos of residents' reports. The reporter attaches them;
//! the server removes their metadata (where and when it was taken, the camera) before
//! storing (`crate::photo`). Who may see a photo: whoever may see the report precisely
//! (its reporter and its group's members), and everyone else once a moderator has
//! verified the report.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use vigil_sync::IncidentId;

use super::{AppState, auth::AuthUser, error::AppError};
use crate::{
    db::{AddPhoto, MAX_PHOTOS_PER_REPORT},
    photo::strip_metadata,
};

/// Largest photo accepted, in bytes. Devices resize before sending; 8 MiB leaves room.
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;

/// A stored photo.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoOut {
    /// Its number on the report: `GET /v1/incidents/{id}/photos/{n}`.
    pub n: i64,
    pub content_type: &'static str,
    /// Bytes stored (after the metadata was removed).
    pub bytes: usize,
    /// SHA-256 of the stored file, hex.
    pub sha256: String,
    /// `false` when this photo was attached before (nothing new was stored).
    pub added: bool,
}

fn no_report() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "no_such_report",
        "no report you made has that id; push the report before its photos",
    )
}

/// Attach a photo (JPEG or PNG, at most 8 MiB) to one of your reports; at most 4 each.
#[utoipa::path(post, path = "/v1/incidents/{id}/photos", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The photo's bytes (image/jpeg or image/png)"),
    responses((status = 201, body = PhotoOut), (status = 200, body = PhotoOut, description = "Attached before"),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 415, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PhotoOut>), AppError> {
    let id: IncidentId = id.parse().map_err(|_| no_report())?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !matches!(declared, "image/jpeg" | "image/png") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the photo's bytes with Content-Type image/jpeg or image/png",
        ));
    }
    let body = body.map_err(|e| {
        AppError::new(
            e.status(),
            "photo_too_large",
            format!(
                "a photo may have at most {} MiB; resize it on the device first",
                MAX_PHOTO_BYTES / (1024 * 1024)
            ),
        )
    })?;
    let (kind, clean) = strip_metadata(&body)
        .map_err(|e| AppError::invalid_field("photo", format!("the photo {e}")))?;
    if kind.content_type() != declared {
        return Err(AppError::invalid_field(
            "photo",
            format!(
                "the bytes are a {} but were sent as {declared}",
                kind.content_type()
            ),
        ));
    }
    let sha = hex::encode(Sha256::digest(&clean));
    let outcome = state
        .db
        .add_photo(
            &user.id,
            &id.to_string(),
            kind.content_type(),
            &sha,
            &clean,
            Utc::now().timestamp_millis(),
        )
        .await?;
    let out = |n, added| PhotoOut {
        n,
        content_type: kind.content_type(),
        bytes: clean.len(),
        sha256: sha.clone(),
        added,
    };
    match outcome {
        AddPhoto::Added(n) => Ok((StatusCode::CREATED, Json(out(n, true)))),
        AddPhoto::Duplicate(n) => Ok((StatusCode::OK, Json(out(n, false)))),
        AddPhoto::NoSuchReport | AddPhoto::NotYours => Err(no_report()),
        AddPhoto::TooMany => Err(AppError::new(
            StatusCode::CONFLICT,
            "too_many_photos",
            format!("a report may have {MAX_PHOTOS_PER_REPORT} photos; it has them already"),
        )),
    }
}

/// One photo of an incident, as stored (metadata removed).
#[utoipa::path(get, path = "/v1/incidents/{id}/photos/{n}", tag = "incidents", security(("bearer" = [])),
    params(("id" = String, Path), ("n" = i64, Path)),
    responses((status = 200, description = "The photo (image/jpeg or image/png)"),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let missing = || {
        AppError::new(
            StatusCode::NOT_FOUND,
            "no_such_photo",
            "no photo you may see is there; a public report's photos show once it is verified",
        )
    };
    let id: IncidentId = id.parse().map_err(|_| missing())?;
    let n: i64 = n.parse().map_err(|_| missing())?;
    let (visible, _) = state
        .db
        .incident_for(&user.id, &id.to_string())
        .await?
        .ok_or_else(missing)?;
    if !visible.photos_shown() {
        return Err(missing());
    }
    let (content_type, bytes) = state
        .db
        .photo(&id.to_string(), n)
        .await?
        .ok_or_else(missing)?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).map_err(|e| AppError::internal(&e))?,
    );
    Ok(response)
}

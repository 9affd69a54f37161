//! `GET /v1/risk/model` and `POST /v1/risk/cells`: the newest risk model the batch layer
//! published, and the cells a device caches for offline hints. The device computes its
//! hints itself; no location it asks about is kept.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_sync::{AreaCell, risk::CellStats};

use super::{AppState, auth::AuthUser, error::AppError, extract::ApiJson};
use crate::risk::publish::Published;

/// Most cells one request may ask for (a 5 km circle at H3 resolution 9 is about 900).
pub const MAX_CELLS: usize = 5_000;

/// A published model's two files.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RiskModelFiles {
    pub version: String,
    /// `manifest.json`: version, grid, features, training window, metrics, city reference.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    /// `model.safetensors`, base64 (standard alphabet, padded).
    pub weights: String,
}

/// Which cells to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CellsRequest {
    /// H3 resolution-9 cells in hex, at most 5000.
    pub cells: Vec<String>,
}

/// The asked cells that had incidents near them; a cell left out had none.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CellsResponse {
    /// The model these cells go with.
    pub version: String,
    pub cells: Vec<CellStats>,
}

async fn published(state: &AppState) -> Result<std::sync::Arc<Published>, AppError> {
    state
        .risk
        .current()
        .await
        .map_err(|e| AppError::internal(&format!("{e:#}")))?
        .ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                "no_risk_model",
                "no risk model has been published yet; it appears after the next `vigil batch` with enough history",
            )
        })
}

/// The newest risk model.
#[utoipa::path(get, path = "/v1/risk/model", tag = "risk", security(("bearer" = [])),
    responses((status = 200, body = RiskModelFiles), (status = 401, body = super::error::ErrorBody),
              (status = 404, description = "no model published yet", body = super::error::ErrorBody)))]
pub async fn model(State(state): State<AppState>, _user: AuthUser) -> Result<Response, AppError> {
    let p = published(&state).await?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&p.manifest).map_err(|e| AppError::internal(&e))?;
    let mut response = Json(RiskModelFiles {
        version: p.version.clone(),
        manifest,
        weights: base64::engine::general_purpose::STANDARD.encode(&p.weights),
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", p.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// The cached features of the asked cells, for the newest model.
#[utoipa::path(post, path = "/v1/risk/cells", tag = "risk", security(("bearer" = [])), request_body = CellsRequest,
    responses((status = 200, body = CellsResponse), (status = 401, body = super::error::ErrorBody),
              (status = 404, description = "no model published yet", body = super::error::ErrorBody),
              (status = 422, description = "a cell is not an H3 index, or too many", body = super::error::ErrorBody)))]
pub async fn cells(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(request): ApiJson<CellsRequest>,
) -> Result<Json<CellsResponse>, AppError> {
    if request.cells.len() > MAX_CELLS {
        return Err(AppError::invalid_field(
            "cells",
            format!("at most {MAX_CELLS} cells per request; ask in several requests"),
        ));
    }
    let mut ids = Vec::with_capacity(request.cells.len());
    for (i, text) in request.cells.iter().enumerate() {
        let id = text.parse::<AreaCell>().map(AreaCell::index).map_err(|_| {
            AppError::invalid_field(
                format!("cells[{i}]"),
                format!("{text:?} is not an H3 cell index in hex, such as 892b9bc4a1bffff"),
            )
        })?;
        ids.push(id);
    }
    let p = published(&state).await?;
    let cells = ids
        .iter()
        .filter_map(|id| p.cells.get(id).cloned())
        .collect();
    Ok(Json(CellsResponse {
        version: p.version.clone(),
        cells,
    }))
}

//! Sync protocol v1 over HTTP: `POST /v1/sync/push` and `GET /v1/sync/pull`.

use axum::{Json, extract::State};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vigil_sync::{
    AreaCell, CELL_RESOLUTION, Cursor, PullResponse, PushRequest, PushResponse, PushResult, Source,
    protocol::{DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_BATCH},
};

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiJson, ApiQuery},
};
use crate::db::{InsertOutcome, NewIncident};

/// Push reports from the device's outbox. Each report is answered in order: accepted,
/// duplicate (already stored; pushing an id again changes nothing) or rejected with the
/// field and reason. Accepted reports are committed durably before the answer is sent.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync", security(("bearer" = [])),
    request_body(content = PushRequest, description = "At most 500 reports"),
    responses((status = 200, body = PushResponse, description = "One result per report, in order"),
              (status = 401, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn push(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>, AppError> {
    if request.reports.len() > MAX_PUSH_BATCH {
        return Err(AppError::invalid_field(
            "reports",
            format!(
                "{} reports in one push; send at most {MAX_PUSH_BATCH} per push",
                request.reports.len()
            ),
        ));
    }
    let now = Utc::now();
    let mut results: Vec<Option<PushResult>> = Vec::with_capacity(request.reports.len());
    let mut valid = Vec::with_capacity(request.reports.len());
    for (i, submission) in request.reports.iter().enumerate() {
        let checked = submission
            .validate(now, &state.config.limits)
            .and_then(|report| {
                let cell = AreaCell::of(&report.location, CELL_RESOLUTION)?;
                Ok((report, cell))
            });
        match checked {
            Ok((report, cell)) => {
                valid.push((
                    i,
                    NewIncident {
                        incident: report.into_incident(Source::UserReport, now),
                        reporter: Some(user.id.clone()),
                        cell,
                    },
                ));
                results.push(None);
            }
            Err(err) => results.push(Some(PushResult::rejected(submission.id.clone(), err))),
        }
    }
    let items: Vec<NewIncident> = valid.iter().map(|(_, item)| item.clone()).collect();
    let outcomes = if items.is_empty() {
        Vec::new()
    } else {
        state
            .db
            .insert_incidents(&items, now.timestamp_millis())
            .await?
    };
    for ((i, _), outcome) in valid.iter().zip(outcomes) {
        let id = request.reports[*i].id.clone();
        results[*i] = Some(match outcome {
            InsertOutcome::Inserted => PushResult::accepted(id),
            InsertOutcome::Duplicate => PushResult::duplicate(id),
            InsertOutcome::IdTaken => PushResult::rejected(
                id,
                vigil_sync::ValidationError::new(
                    "id",
                    "is already used by another report; make a new UUIDv7 for this one",
                ),
            ),
        });
    }
    let results: Vec<PushResult> = results.into_iter().flatten().collect();
    for r in &results {
        state.metrics.push_outcome(r.outcome);
    }
    Ok(Json(PushResponse { results }))
}

/// Pull parameters.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullParams {
    /// The cursor from the last pull; leave out to start from the beginning.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Changes per page, 1 to 1000 (default 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Pull the changes after a cursor, oldest first. Changes are ordered by commit, so a
/// cursor never passes a change that is still being written.
#[utoipa::path(get, path = "/v1/sync/pull", tag = "sync", security(("bearer" = [])), params(PullParams),
    responses((status = 200, body = PullResponse),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn pull(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(params): ApiQuery<PullParams>,
) -> Result<Json<PullResponse>, AppError> {
    let cursor = Cursor::decode(params.cursor.as_deref().unwrap_or("")).map_err(|e| {
        AppError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_cursor",
            e.reason,
        )
        .with_field("cursor")
    })?;
    let limit = params.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(AppError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be from 1 to {MAX_PULL_LIMIT}"),
        )
        .with_field("limit"));
    }
    let (changes, has_more) = state.db.changes_after(cursor.seq(), limit).await?;
    let cursor = changes
        .last()
        .map_or(cursor, |(seq, _)| Cursor::after(*seq));
    state.metrics.pulled(changes.len());
    Ok(Json(PullResponse {
        changes: changes.into_iter().map(|(_, c)| c).collect(),
        cursor,
        has_more,
    }))
}

//! Sync protocol v1 over HTTP: `POST /v1/sync/push`, `POST /v1/sync/edits` and
//! `GET /v1/sync/pull`.

use axum::{Json, extract::State};
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vigil_sync::{
    AreaCell, CELL_RESOLUTION, Cursor, EditRequest, EditResponse, EditResult, PullResponse,
    PushRequest, PushResponse, PushResult, Source, ValidationError,
    protocol::{DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_BATCH},
};

use super::{
    AppState,
    auth::AuthUser,
    error::AppError,
    extract::{ApiJson, ApiQuery},
};
use crate::db::{EditItem, EditStored, InsertOutcome, NewIncident};

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
    let groups = if request.reports.iter().any(|r| r.group.is_some()) {
        state.db.group_ids_of(&user.id).await?
    } else {
        Vec::new()
    };
    for (i, submission) in request.reports.iter().enumerate() {
        let checked = submission
            .validate(now, &state.config.limits)
            .and_then(|report| {
                if let Some(g) = report.audience.group
                    && !groups.contains(&g.to_string())
                {
                    return Err(ValidationError::new(
                        "group",
                        "names no group you belong to; join it first, or leave the group out",
                    ));
                }
                let cell = AreaCell::of(&report.location, CELL_RESOLUTION)?;
                Ok((report, cell))
            });
        match checked {
            Ok((report, cell)) => {
                let audience = report.audience;
                valid.push((
                    i,
                    NewIncident {
                        incident: report.into_incident(Source::UserReport, now),
                        reporter: Some(user.id.clone()),
                        cell,
                        audience,
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

/// Send edits of reports already pushed. Each is answered in order: `applied` (the report
/// was still unverified; `version` is its new version), `kept_as_revision` (moderation had
/// already looked at it: the report is unchanged and the edit is kept for the moderators)
/// or `rejected` with the field and reason. Sending an edit id again gets its first answer.
#[utoipa::path(post, path = "/v1/sync/edits", tag = "sync", security(("bearer" = [])),
    request_body(content = EditRequest, description = "At most 500 edits"),
    responses((status = 200, body = EditResponse, description = "One result per edit, in order"),
              (status = 401, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn edits(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<EditRequest>,
) -> Result<Json<EditResponse>, AppError> {
    if request.edits.len() > MAX_PUSH_BATCH {
        return Err(AppError::invalid_field(
            "edits",
            format!(
                "{} edits in one request; send at most {MAX_PUSH_BATCH} per request",
                request.edits.len()
            ),
        ));
    }
    let now = Utc::now();
    let mut results: Vec<Option<EditResult>> = Vec::with_capacity(request.edits.len());
    let mut valid = Vec::with_capacity(request.edits.len());
    for (i, edit) in request.edits.iter().enumerate() {
        let checked = edit
            .edit_id
            .parse::<uuid::Uuid>()
            .map_err(|_| {
                ValidationError::new("edit_id", "must be a UUID made on the device for this edit")
            })
            .and_then(|_| {
                let report = edit
                    .report
                    .validate(now, &state.config.limits)
                    .map_err(|e| ValidationError::new(format!("report.{}", e.field), e.reason))?;
                let cell = AreaCell::of(&report.location, CELL_RESOLUTION)?;
                Ok((report, cell))
            });
        match checked {
            Ok((report, cell)) => {
                valid.push((
                    i,
                    EditItem {
                        edit_id: edit.edit_id.clone(),
                        base_version: edit.base_version,
                        report,
                        cell,
                        body: serde_json::to_string(&edit.report).unwrap_or_default(),
                    },
                ));
                results.push(None);
            }
            Err(err) => results.push(Some(EditResult::rejected(edit.edit_id.clone(), err))),
        }
    }
    let items: Vec<EditItem> = valid.iter().map(|(_, item)| item.clone()).collect();
    let stored = if items.is_empty() {
        Vec::new()
    } else {
        state
            .db
            .apply_edits(&user.id, &items, now.timestamp_millis())
            .await?
    };
    for ((i, item), stored) in valid.iter().zip(stored) {
        let id = item.edit_id.clone();
        results[*i] = Some(match stored {
            EditStored::Applied(version) => EditResult::applied(id, version),
            EditStored::Kept => EditResult::kept(id),
            EditStored::NoSuchReport => EditResult::rejected(
                id,
                ValidationError::new(
                    "report.id",
                    "names no report on this server; push the report before editing it",
                ),
            ),
            EditStored::NotYours => EditResult::rejected(
                id,
                ValidationError::new(
                    "report.id",
                    "names a report you did not make; only its reporter may edit it",
                ),
            ),
            EditStored::EditIdTaken => EditResult::rejected(
                id,
                ValidationError::new(
                    "edit_id",
                    "was already used for another edit; make a new UUID for this one",
                ),
            ),
        });
    }
    let results: Vec<EditResult> = results.into_iter().flatten().collect();
    for r in &results {
        state.metrics.edit_outcome(r.outcome);
    }
    Ok(Json(EditResponse { results }))
}

/// Pull parameters.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
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
    user: AuthUser,
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
    let (changes, has_more) = state
        .db
        .changes_after(&user.id, cursor.seq(), limit)
        .await?;
    let cursor = changes
        .last()
        .map_or(cursor, |(seq, _)| Cursor::after(*seq));
    state.metrics.pulled(changes.len());
    // A lake that cannot be read must not stop a sync: the model is offered next time.
    let risk_model = match state.risk.current().await {
        Ok(p) => p.map(|p| p.version.clone()),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "cannot read the published risk model");
            None
        }
    };
    Ok(Json(PullResponse {
        changes: changes.into_iter().map(|(_, c)| c.shown()).collect(),
        cursor,
        has_more,
        risk_model,
    }))
}

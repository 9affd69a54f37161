//! `/v1/me`: a resident's own data: everything the server holds about them as one JSON
//! document, and deleting their account.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{AppState, auth::AuthUser, error::AppError, extract::ApiJson};

/// Most alerts an export carries (the newest; older ones are pruned anyway).
const EXPORT_ALERTS: u32 = 10_000;

/// Everything the server holds about the caller.
#[utoipa::path(get, path = "/v1/me/export", tag = "account", security(("bearer" = [])),
    responses((status = 200, description = "{\"account\", \"reports\": [{incident, group, status_reason}], \"watch_areas\", \"devices\", \"groups\", \"alerts\", \"exported_at\"}"),
              (status = 401, body = super::error::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, AppError> {
    let (username, created_at) = state
        .db
        .account(&user.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "this account was deleted"))?;
    let reports: Vec<Value> = state
        .db
        .reports_of(&user.id)
        .await?
        .into_iter()
        .map(|(incident, reason, group)| json!({"incident": incident, "group": group, "status_reason": reason}))
        .collect();
    let areas: Vec<Value> = state
        .db
        .list_areas(&user.id)
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "area": serde_json::from_str::<Value>(&a.spec).unwrap_or(Value::Null),
                "created_at": DateTime::from_timestamp_millis(a.created_at),
                "updated_at": DateTime::from_timestamp_millis(a.updated_at),
            })
        })
        .collect();
    let devices: Vec<Value> = state
        .db
        .devices_of(&user.id.0)
        .await?
        .into_iter()
        .map(|d| json!({"id": d.id, "address": d.address}))
        .collect();
    let groups: Vec<Value> = state
        .db
        .groups_of(&user.id)
        .await?
        .into_iter()
        .map(|(g, role)| json!({"id": g.id, "name": g.name, "role": role}))
        .collect();
    let newest = state.db.last_alert_id(&user.id).await?;
    let alerts = state
        .db
        .alerts_after(
            &user.id,
            newest.saturating_sub(u64::from(EXPORT_ALERTS)),
            EXPORT_ALERTS,
        )
        .await?;
    Ok(Json(json!({
        "account": {
            "user_id": user.id.0,
            "username": username,
            "created_at": DateTime::from_timestamp_millis(created_at),
        },
        "reports": reports,
        "watch_areas": areas,
        "devices": devices,
        "groups": groups,
        "alerts": alerts,
        "exported_at": Utc::now(),
    })))
}

/// Confirmation of an account deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's password.
    pub password: String,
}

/// What deleting the account did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// Reports stay (others rely on them) but no longer name the reporter.
    pub reports_unlinked: u64,
}

/// Delete the caller's account: sessions, devices, watch areas, alerts and memberships go;
/// reports stay without the reporter's name. Needs the password. Refused (409) while the
/// caller is the only admin of a group with other members.
#[utoipa::path(delete, path = "/v1/me", tag = "account", security(("bearer" = [])), request_body = DeleteAccount,
    responses((status = 200, body = Deleted), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(confirm): ApiJson<DeleteAccount>,
) -> Result<Json<Deleted>, AppError> {
    let throttle_key = format!("delete:{}", user.id);
    state.guard.check_throttle(&throttle_key)?;
    let stored = state
        .db
        .password_hash(&user.id)
        .await?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "this account was deleted"))?;
    let verified = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(confirm.password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| AppError::internal(&e))?;
    if !verified {
        state.guard.failed(&throttle_key);
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "wrong_password",
            "the password does not match; deleting an account needs its password",
        )
        .with_field("password"));
    }
    let sole = state.db.sole_admin_of(&user.id).await?;
    if !sole.is_empty() {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "last_admin",
            format!(
                "you are the only admin of {}; make another member admin first",
                sole.join(", ")
            ),
        ));
    }
    let reports = state
        .db
        .delete_account(&user.id, Utc::now().timestamp_millis())
        .await?;
    tracing::info!(user = %user.id, reports, "account deleted");
    Ok(Json(Deleted {
        reports_unlinked: reports,
    }))
}

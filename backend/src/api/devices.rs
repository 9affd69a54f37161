//! `/v1/devices`: where a person's phones and browsers receive push notifications, and
//! `/v1/push/vapid`, the key browsers subscribe with.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use vigil_sync::watch::DeviceAddress;

use super::{AppState, auth::AuthUser, error::AppError, extract::ApiJson};
use crate::db::{MAX_DEVICES_PER_USER, PutDevice};

/// A registered device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceOut {
    pub id: String,
    #[serde(flatten)]
    pub address: DeviceAddress,
}

/// `GET /v1/devices` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceOut>,
}

/// `GET /v1/push/vapid` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidKey {
    /// Pass as `applicationServerKey` to `PushManager.subscribe` (base64url).
    pub public_key: String,
}

/// Refuses endpoints this server should not POST to: plain http, loopback, private,
/// link-local or unspecified addresses and `localhost`, unless `allow_private`.
fn check_public(endpoint: &str, allow_private: bool) -> Result<(), AppError> {
    let refuse = |why: &str| {
        AppError::invalid_field(
            "endpoint",
            format!("{why}; use the https:// endpoint the browser or distributor gave"),
        )
    };
    let url = url::Url::parse(endpoint).map_err(|_| refuse("not a URL"))?;
    if allow_private {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err(refuse("only https endpoints are accepted"));
    }
    let private = match url.host() {
        None => true,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
        }
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some()
        }
    };
    if private {
        return Err(refuse("the endpoint points inside this network"));
    }
    Ok(())
}

fn device_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::invalid_field("id", "use a UUID made on the device"))
}

/// Register a device, or move it to a new token or subscription.
#[utoipa::path(put, path = "/v1/devices/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "A UUID made on the device")),
    request_body = DeviceAddress,
    responses((status = 201), (status = 200), (status = 401, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(address): ApiJson<DeviceAddress>,
) -> Result<StatusCode, AppError> {
    let id = device_id(&id)?;
    address
        .validate()
        .map_err(|e| AppError::invalid_field(e.field, e.reason))?;
    if let DeviceAddress::WebPush { endpoint, .. } | DeviceAddress::UnifiedPush { endpoint, .. } =
        &address
    {
        check_public(endpoint, state.config.allow_private_push_endpoints)?;
    }
    match state
        .db
        .put_device(&user.id, &id, &address, Utc::now().timestamp_millis())
        .await?
    {
        PutDevice::Created => Ok(StatusCode::CREATED),
        PutDevice::Updated => Ok(StatusCode::OK),
        PutDevice::NotYours => Err(AppError::new(
            StatusCode::CONFLICT,
            "id_taken",
            "another account has a device with this id; make a new UUID",
        )
        .with_field("id")),
        PutDevice::TooMany => Err(AppError::new(
            StatusCode::CONFLICT,
            "too_many_devices",
            format!("you have {MAX_DEVICES_PER_USER} devices; remove one you no longer use"),
        )),
    }
}

/// The caller's devices.
#[utoipa::path(get, path = "/v1/devices", tag = "alerts", security(("bearer" = [])),
    responses((status = 200, body = DeviceList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<DeviceList>, AppError> {
    let devices = state.db.devices_of(&user.id.0).await?;
    Ok(Json(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceOut {
                id: d.id,
                address: d.address,
            })
            .collect(),
    }))
}

/// Stop pushing to a device.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The device's UUID")),
    responses((status = 204), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = device_id(&id)?;
    if state.db.delete_device(&user.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "you have no device with this id; GET /v1/devices lists yours",
        )
        .with_field("id"))
    }
}

/// The VAPID public key for browser subscriptions.
#[utoipa::path(get, path = "/v1/push/vapid", tag = "alerts",
    responses((status = 200, body = VapidKey), (status = 404, body = super::error::ErrorBody)))]
pub async fn vapid(State(state): State<AppState>) -> Result<Json<VapidKey>, AppError> {
    match &state.vapid_public_key {
        Some(key) => Ok(Json(VapidKey {
            public_key: key.to_string(),
        })),
        None => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "push_disabled",
            "this server sends no push notifications (push.enabled = false); use /v1/alerts/stream",
        )),
    }
}

//! Accounts and bearer tokens: register, log in, log out, and the [`AuthUser`] extractor
//! that every other `/v1` endpoint requires.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use axum::{
    Extension, Json,
    extract::{FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{AppState, error::AppError, extract::ApiJson, guard::ClientAddr};
use crate::db::UserId;

/// Credentials for register and login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// 3 to 32 characters: letters, digits, `.`, `_`, `-`; case-insensitive.
    pub username: String,
    /// 12 to 256 characters.
    pub password: String,
}

/// A new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub user_id: String,
    pub username: String,
}

/// A bearer token for the `Authorization: Bearer` header.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
}

fn normalise_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_lowercase();
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(3..=32).contains(&name.len()) || !ok_chars {
        return Err(AppError::invalid_field(
            "username",
            "use 3 to 32 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(name)
}

fn check_password(password: &str) -> Result<(), AppError> {
    let n = password.chars().count();
    if !(12..=256).contains(&n) {
        return Err(AppError::invalid_field(
            "password",
            "use 12 to 256 characters; a passphrase of a few words is easy to remember",
        ));
    }
    Ok(())
}

/// The stored form of a token: its SHA-256 in hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Register a new account.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = Credentials,
    responses((status = 201, body = Registered), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    addr: Option<Extension<ClientAddr>>,
    ApiJson(creds): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<Registered>), AppError> {
    let username = normalise_username(&creds.username)?;
    check_password(&creds.password)?;
    if let Some(Extension(ClientAddr(Some(addr)))) = addr {
        state.guard.check_registration(addr)?;
    }
    let hash = tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(creds.password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::internal(&e))?
    .map_err(|e| AppError::internal(&e))?;
    let id = state
        .db
        .create_user(&username, &hash, Utc::now().timestamp_millis())
        .await?;
    tracing::info!(user = %id, "registered");
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            user_id: id.0,
            username,
        }),
    ))
}

/// Log in and receive a bearer token.
/// Repeated failures lock out the username, and the address, for a minute, then for twice
/// as long with each further failure (429 with `Retry-After`).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Session), (status = 401, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    addr: Option<Extension<ClientAddr>>,
    ApiJson(creds): ApiJson<Credentials>,
) -> Result<Json<Session>, AppError> {
    let invalid = || {
        AppError::unauthorized(
            "invalid_credentials",
            "wrong username or password; check both and try again",
        )
    };
    let username = normalise_username(&creds.username).map_err(|_| invalid())?;
    let user_key = format!("login:user:{username}");
    let addr_key = match addr {
        Some(Extension(ClientAddr(Some(a)))) => Some(format!("login:addr:{a}")),
        _ => None,
    };
    state.guard.check_throttle(&user_key)?;
    if let Some(key) = &addr_key {
        state.guard.check_throttle(key)?;
    }
    let user = state.db.user_by_name(&username).await?;
    // Verify against a real hash even for unknown users, so timing does not reveal
    // which usernames exist.
    let (user_id, stored) = match user {
        Some((id, hash)) => (Some(id), hash),
        None => (None, state.dummy_hash.to_string()),
    };
    let verified = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(creds.password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .map_err(|e| AppError::internal(&e))?;
    let Some(user_id) = user_id.filter(|_| verified) else {
        state.guard.failed(&user_key);
        // A household or an office shares an address: it gets four times the failures.
        if let Some(key) = &addr_key {
            state.guard.failed_shared(key, 4);
        }
        return Err(invalid());
    };
    state.guard.succeeded(&user_key);
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = format!("vgl_{}", URL_SAFE_NO_PAD.encode(raw));
    let now = Utc::now();
    let expires_at = now + state.config.token_ttl;
    state
        .db
        .insert_token(
            &token_hash(&token),
            &user_id,
            now.timestamp_millis(),
            expires_at.timestamp_millis(),
        )
        .await?;
    Ok(Json(Session {
        token,
        token_type: "Bearer",
        expires_at,
    }))
}

/// Revoke the token this request carries.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = super::error::ErrorBody)))]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, AppError> {
    state
        .db
        .revoke_token(&user.token_hash, Utc::now().timestamp_millis())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/logout-all` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOut {
    /// How many sessions (tokens) were ended.
    pub revoked: u64,
}

/// Revoke every token of the caller's account: signs out all devices, this one included.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SignedOut), (status = 401, body = super::error::ErrorBody)))]
pub async fn logout_all(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SignedOut>, AppError> {
    let revoked = state
        .db
        .revoke_all_tokens(&user.id, Utc::now().timestamp_millis())
        .await?;
    tracing::info!(user = %user.id, revoked, "signed out everywhere");
    Ok(Json(SignedOut { revoked }))
}

/// The caller, proven by a valid bearer token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    token_hash: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            AppError::unauthorized(
                "missing_token",
                "send Authorization: Bearer <token>; get a token from POST /v1/auth/login",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::unauthorized(
                    "invalid_token",
                    "the Authorization header must be 'Bearer <token>'",
                )
            })?;
        AuthUser::from_token(state, token).await
    }
}

impl AuthUser {
    /// The user a bearer token belongs to, if it is valid now.
    pub async fn from_token(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
        let token_hash = token_hash(token);
        let id = state
            .db
            .token_user(&token_hash, Utc::now().timestamp_millis())
            .await?;
        let id = id.ok_or_else(|| {
            AppError::unauthorized(
                "invalid_token",
                "the token is unknown, expired or revoked; log in again with POST /v1/auth/login",
            )
        })?;
        state.guard.check_account(&id.0)?;
        Ok(AuthUser { id, token_hash })
    }
}

/// A hash of a random password, verified against when a username is unknown.
pub fn dummy_hash() -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"no such user, constant-time decoy", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

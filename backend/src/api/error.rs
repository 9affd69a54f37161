//! The one error type handlers return, and its stable JSON shape:
//! `{"error": code, "message": text, "field": name or null}`.
//!
//! Clients branch on `error` (a stable code); `message` is for people and says what to do;
//! `field` names the offending input when there is one. Internal details are logged, never
//! sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

/// The wire shape of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code to branch on, e.g. `invalid_field`.
    pub error: &'static str,
    /// What went wrong and what to do next.
    pub message: String,
    /// The request field at fault (dotted path), or null.
    pub field: Option<String>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A request field failed a rule (422).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// The caller must present a valid bearer token (401).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        AppError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Something failed on our side; the details go to the log only.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; nothing was changed, try again later",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => AppError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "that username is taken; choose another",
            )
            .with_field("username"),
            StoreError::Sqlx(ref inner) => {
                tracing::error!(error = %inner, "store unavailable");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database did not answer; nothing was changed, try again shortly",
                )
            }
            other => AppError::internal(&other),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            field: self.field,
        };
        let mut response = (self.status, Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

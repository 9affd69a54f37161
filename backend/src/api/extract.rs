//! Request extractors that reject bad input with an [`AppError`] naming the field,
//! instead of axum's plain-text rejections.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::error::AppError;

/// A JSON body: 415 without a JSON content type, 413 over the body limit, 400 for bad
/// syntax, 422 naming the field for a missing field, unknown field or wrong type.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is over the server's limit; send fewer reports per push",
                )
            } else {
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    rejection.body_text(),
                )
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises JSON, naming the path of the first bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Data => {
                let field = if path == "." { None } else { Some(path) };
                let mut e = AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!(
                        "{}; see /v1/openapi.json for the request shape",
                        strip_position(&inner)
                    ),
                );
                e.field = field;
                e
            }
            Category::Syntax | Category::Eof | Category::Io => AppError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON ({inner}); fix the syntax and send it again"),
            ),
        }
    })
}

/// serde_json appends " at line L column C"; for data errors the field path says more.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Query-string parameters, with a 400 naming the bad parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                AppError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("query parameter: {}", err.into_inner()),
                )
                .with_field(path)
            })
    }
}

/// A 400 naming the query parameter at fault.
pub fn bad_query(field: &str, message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field)
}

/// An RFC 3339 query parameter as a UTC instant, or a 400 naming it.
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad_query(
                field,
                format!("{text:?} is not an RFC 3339 time such as 2026-11-28T07:00:00Z"),
            )
        })
}

//! Request extractors that refuse bad input with the API's error shape (SPEC R20): a JSON
//! body whose errors name the field (`serde_path_to_error`), path ids and query strings.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::AppError;

/// Longest accepted id, in characters.
pub use openline_core::id::MAX_ID_LEN;

/// Largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Checks an id from a path or a body (the rules of [`openline_core::id::check`]); the
/// error names `what`.
pub fn validate_id(what: &str, id: &str) -> Result<(), String> {
    openline_core::id::check(id).map_err(|e| format!("`{what}` {e}"))
}

/// The typed id (agent, channel, conversation) in `text`; the error names `what`.
pub fn parse_id<T>(what: &str, text: &str) -> Result<T, String>
where
    T: for<'a> TryFrom<&'a str, Error = openline_core::id::IdError>,
{
    T::try_from(text).map_err(|e| format!("`{what}` {e}"))
}

/// Parses a JSON document into `T`; the error names the field (`path: message`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::invalid(
            "the request body is empty; a JSON document is expected",
        ));
    }
    if let Some((field, character)) = super::text_check::first_control_character(bytes) {
        return Err(AppError::invalid(format!(
            "`{field}` must not contain control characters (found {character})"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            AppError::invalid(format!("malformed JSON: {inner}"))
        } else if path == "." || path.is_empty() {
            AppError::invalid(inner.to_string())
        } else {
            AppError::invalid(format!("`{path}`: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| AppError::invalid(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn body_rejection(rejection: BytesRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::too_large(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes"
        ))
    } else {
        AppError::invalid(format!("cannot read the request body: {rejection}"))
    }
}

/// The request's body; a non-empty one must say `Content-Type: application/json` (SPEC R27:
/// a web page cannot post one to the API without a CORS preflight), else 415.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    let declared_json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_json_media_type);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(body_rejection)?;
    if !declared_json && !bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::UnsupportedMediaType(
            "a request body must be sent with `Content-Type: application/json`".into(),
        ));
    }
    Ok(bytes)
}

/// Whether a `Content-Type` value is JSON (`application/json`, parameters such as
/// `charset=utf-8` allowed, any case).
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// A JSON request body (`Content-Type: application/json`, else 415); bad input becomes a 400
/// naming the field, a body over [`MAX_BODY_BYTES`] 413.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Body)
    }
}

/// Like [`Body`], but an empty body is `None`.
#[derive(Debug, Clone)]
pub struct OptionalBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        parse_json(&bytes).map(|value| Self(Some(value)))
    }
}

/// The one `{id}` segment of a path, validated with [`validate_id`]; [`Id::typed`] gives
/// it as the id type a command needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::invalid(format!("invalid path: {e}")))?;
        validate_id("id", &id).map_err(AppError::invalid)?;
        Ok(Self(id))
    }
}

impl Id {
    /// The id as an agent's, channel's or conversation's id.
    pub fn typed<T>(&self) -> Result<T, AppError>
    where
        T: for<'a> TryFrom<&'a str, Error = openline_core::id::IdError>,
    {
        parse_id("id", &self.0).map_err(AppError::invalid)
    }
}

/// A query string; unknown or malformed parameters become a 400.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| AppError::invalid(format!("invalid query string: {}", e.body_text())))
    }
}

/// The `limit` query parameter of a paged list: `default` when absent or empty, else a whole
/// number from 1 to `max` (400 otherwise).
pub fn page_limit(value: Option<String>, default: usize, max: usize) -> Result<usize, AppError> {
    match value.filter(|text| !text.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AppError::invalid(format!(
                    "`limit` must be a whole number from 1 to {max}, got `{}`",
                    text.chars().take(100).collect::<String>()
                ))
            }),
    }
}

//! The one error type of the HTTP shell: every non-2xx answer is
//! `{"error": {"code": "<snake_case>", "message": "<human text>"}}` (API.md "Errors").
//! Internal failures are logged and never leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openline_core::EngineError;

use crate::clock::ClockError;
use crate::runtime::RuntimeError;
use crate::store::writer::WriteFailed;

/// Every `code` an error body can carry, one per [`AppError`] variant.
pub const ERROR_CODES: [&str; 16] = [
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "request_timeout",
    "uri_too_long",
    "request_header_fields_too_large",
    "rate_limited",
    "too_many_streams",
    "http_version_not_supported",
    "unavailable",
    "internal",
];

/// The body of every error answer, as the OpenAPI document describes it ([`AppError::body`]
/// writes it; a test in `openapi.rs` holds the two together).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// `{"code", "message"}` of an error body.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The stable snake_case code, e.g. `invalid_request`.
    #[schema(schema_with = error_code_schema)]
    pub code: &'static str,
    /// The human message: names the field at fault, never internals.
    pub message: String,
}

fn error_code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_CODES))
        .build()
}

/// An error answer of the HTTP layer; each variant has one status and one stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppError {
    /// 400 `invalid_request`: the message names the field (and, in a batch, the index).
    Invalid(String),
    /// 401 `unauthorized`: no valid credential (SPEC R25).
    Unauthorized(String),
    /// 403 `forbidden`: the caller may not do this.
    Forbidden(String),
    /// 404 `not_found`.
    NotFound(String),
    /// 405 `method_not_allowed`.
    MethodNotAllowed(String),
    /// 409 `conflict`: the transition is not allowed now.
    Conflict(String),
    /// 413 `payload_too_large`.
    TooLarge(String),
    /// 415 `unsupported_media_type`: a body without `Content-Type: application/json`.
    UnsupportedMediaType(String),
    /// 408 `request_timeout`: the request body did not arrive in time (SPEC R24b).
    RequestTimeout(String),
    /// 414 `uri_too_long`: refused by the HTTP layer before routing (SPEC R24c).
    UriTooLong(String),
    /// 431 `request_header_fields_too_large`: refused by the HTTP layer (SPEC R24c).
    HeadersTooLarge(String),
    /// 429 `rate_limited`: the caller sent more requests than its rate (SPEC R28).
    RateLimited(String),
    /// 429 `too_many_streams`: the credential holds as many open event streams as
    /// `server.max_streams_per_credential` allows (SPEC R35c).
    TooManyStreams(String),
    /// 505 `http_version_not_supported`: not HTTP/1.x, e.g. an HTTP/2 preface (SPEC R24c).
    HttpVersionNotSupported(String),
    /// 503 `unavailable`: the store cannot be reached or the server is stopping.
    Unavailable(&'static str),
    /// 500 `internal`: the details were logged, never sent.
    Internal,
}

impl AppError {
    /// 400 `invalid_request`: the message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::TooLarge(message.into())
    }

    /// 503 `unavailable`: the store failed; the server is stopping (fail-stop).
    pub fn unavailable() -> Self {
        Self::Unavailable(
            "the server cannot make writes durable and is shutting down; retry after it restarts",
        )
    }

    /// 500 `internal`: logs `error`, answers without its details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::Internal
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited(_) | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::HttpVersionNotSupported(_) => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code, e.g. `invalid_request`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RequestTimeout(_) => "request_timeout",
            Self::UriTooLong(_) => "uri_too_long",
            Self::HeadersTooLarge(_) => "request_header_fields_too_large",
            Self::RateLimited(_) => "rate_limited",
            Self::TooManyStreams(_) => "too_many_streams",
            Self::HttpVersionNotSupported(_) => "http_version_not_supported",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The JSON body of every error answer: `{"error": {"code": …, "message": …}}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code(), "message": self.message()}})
    }

    /// The human message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m)
            | Self::Unauthorized(m)
            | Self::RateLimited(m)
            | Self::TooManyStreams(m)
            | Self::HttpVersionNotSupported(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::MethodNotAllowed(m)
            | Self::Conflict(m)
            | Self::TooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::RequestTimeout(m)
            | Self::UriTooLong(m)
            | Self::HeadersTooLarge(m) => m,
            Self::Unavailable(m) => m,
            Self::Internal => "internal error",
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.code(),
            self.message()
        )
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<EngineError> for AppError {
    fn from(error: EngineError) -> Self {
        // The status follows the kind of refusal; the message keeps its context (e.g. the
        // index of the refused signal in a batch).
        let message = error.to_string();
        match error.root() {
            EngineError::NotFound { .. } => Self::not_found(message),
            EngineError::Conflict(_) => Self::conflict(message),
            _ => Self::invalid(message),
        }
    }
}

impl From<RuntimeError> for AppError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Refused(error) => error.into(),
            RuntimeError::Clock(error) => error.into(),
            RuntimeError::Unavailable => Self::unavailable(),
            RuntimeError::Reconnecting => Self::Unavailable(
                "the store is unreachable and the server is reconnecting; nothing was changed: try again shortly",
            ),
            RuntimeError::Internal(message) => Self::internal(message),
        }
    }
}

impl From<ClockError> for AppError {
    fn from(error: ClockError) -> Self {
        match error {
            ClockError::NotManual => Self::conflict(error.to_string()),
            other => Self::invalid(other.to_string()),
        }
    }
}

impl From<WriteFailed> for AppError {
    fn from(_: WriteFailed) -> Self {
        Self::unavailable()
    }
}

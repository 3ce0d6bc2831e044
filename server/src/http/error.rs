//! The one error type of the HTTP shell: every non-2xx answer is
//! `{"error": {"code": "<snake_case>", "message": "<human text>"}}` (API.md "Errors").
//! Internal failures are logged and never leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openline_core::EngineError;

use crate::clock::ClockError;
use crate::store::writer::WriteFailed;

/// An error answer: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AppError {
    /// Any status with its code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_request`: the message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 503 `unavailable`: the store failed; the server is stopping (fail-stop).
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server cannot make writes durable and is shutting down; retry after it restarts",
        )
    }

    /// 500 `internal`: logs `error`, answers without its details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code, e.g. `invalid_request`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AppError {}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for AppError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::NotFound { .. } => Self::not_found(error.to_string()),
            EngineError::Conflict(message) => Self::conflict(message),
            EngineError::Invalid(message) => Self::invalid(message),
            other => Self::invalid(other.to_string()),
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

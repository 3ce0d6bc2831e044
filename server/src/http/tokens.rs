//! `GET /v1/whoami` for every caller, and the admin API of tokens (API.md "Authentication"):
//! `GET /v1/tokens`, `POST /v1/tokens` (the secret is in this answer only),
//! `DELETE /v1/tokens/{name}`. The gate lets only admins reach the token routes (SPEC R26).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::AppError;
use super::extract::Body;
use crate::auth::Caller;
use crate::auth::token::{Role, TokenError};
use crate::store::StoreError;

/// `GET /v1/whoami` → `{"name", "role", "agent"}` of the presented credential.
pub async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "name": caller.name,
        "role": caller.role,
        "agent": caller.agent,
    }))
}

/// `GET /v1/tokens` → `{"tokens": [{"name", "role", "agent", "created_at"}]}`, never a secret.
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    let tokens = state
        .runtime
        .store()
        .list_tokens()
        .await
        .map_err(store_error)?;
    Ok(Json(json!({ "tokens": tokens })))
}

/// The body of `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: Role,
    #[serde(default)]
    agent: Option<String>,
}

/// `POST /v1/tokens` → 201 with the token and its secret (`token`), shown this once.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewToken>,
) -> Result<Response, AppError> {
    let now = state.runtime.clock().now();
    let (info, secret) = state
        .runtime
        .store()
        .create_token(
            &body.name,
            body.role,
            body.agent.as_deref(),
            now,
            &caller.name,
        )
        .await
        .map_err(store_error)?;
    state.gate.token_created();
    let shown = json!({
        "name": info.name,
        "role": info.role,
        "agent": info.agent,
        "created_at": info.created_at,
        "token": secret,
    });
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// `DELETE /v1/tokens/{name}` → 204; 404 when no live token has that name. The token is
/// refused from the next request on, by every server on the store.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    let now = state.runtime.clock().now();
    let revoked = state
        .runtime
        .store()
        .revoke_token(&name, now, &caller.name)
        .await
        .map_err(store_error)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!(
            "no token named `{}`",
            name.chars().take(100).collect::<String>()
        )))
    }
}

fn store_error(error: StoreError) -> AppError {
    match error {
        StoreError::Token(TokenError::NameTaken(name)) => {
            AppError::conflict(TokenError::NameTaken(name).to_string())
        }
        StoreError::Token(other) => AppError::invalid(other.to_string()),
        other => {
            tracing::warn!(error = %other, "the token store failed");
            AppError::Unavailable("the token store cannot be reached now; try again")
        }
    }
}

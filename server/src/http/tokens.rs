//! `GET /v1/whoami` for every caller, and the admin API of tokens (API.md "Authentication"):
//! `GET /v1/tokens`, `POST /v1/tokens` (the secret is in this answer only),
//! `DELETE /v1/tokens/{name}`. The gate lets only admins reach the token routes (SPEC R26).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openline_core::Timestamp;
use openline_core::id::AgentId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{AppError, ErrorBody};
use super::extract::Body;
use crate::auth::Caller;
use crate::auth::token::{Role, TokenError, TokenInfo};
use crate::store::StoreError;

/// `GET /v1/whoami`: the presented credential.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The token's name, the JWT's subject, or `local` / `anonymous` without authentication.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The agent an agent-role credential acts as, else null.
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
}

/// `GET /v1/whoami` → `{"name", "role", "agent"}` of the presented credential.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    operation_id = "whoami",
    tag = "auth",
    responses((status = 200, description = "The caller", body = WhoAmI)),
)]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: caller.name,
        role: caller.role,
        agent: caller.agent,
    })
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenList {
    /// The live tokens, by name (never a secret).
    pub tokens: Vec<TokenInfo>,
}

/// `GET /v1/tokens` → `{"tokens": [{"name", "role", "agent", "created_at"}]}`, never a secret.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    operation_id = "list_tokens",
    tag = "auth",
    responses((status = 200, description = "The live tokens", body = TokenList)),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<TokenList>, AppError> {
    let tokens = state
        .runtime
        .store()
        .list_tokens()
        .await
        .map_err(store_error)?;
    Ok(Json(TokenList { tokens }))
}

/// The body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Its unique name: 1 to 64 of A-Z a-z 0-9 `.` `_` `-`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    name: String,
    /// What it may do.
    role: Role,
    /// The agent it acts as: required for, and only for, the `agent` role.
    #[serde(default)]
    #[schema(value_type = Option<super::openapi::IdSchema>)]
    agent: Option<String>,
}

/// `POST /v1/tokens` → the new token with its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The agent it acts as, or null.
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The secret to present as `Authorization: Bearer <token>`; never shown again.
    pub token: String,
}

/// `POST /v1/tokens` → 201 with the token and its secret (`token`), shown this once.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    operation_id = "create_token",
    tag = "auth",
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the secret is in `token`, this once",
            body = CreatedToken),
        (status = 409, description = "`conflict`: a live token has this name", body = ErrorBody),
    ),
)]
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
            &caller.actor(),
        )
        .await
        .map_err(store_error)?;
    state.gate.token_created();
    let shown = CreatedToken {
        name: info.name,
        role: info.role,
        agent: info.agent,
        created_at: info.created_at,
        token: secret,
    };
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// `DELETE /v1/tokens/{name}` → 204; 404 when no live token has that name. The token is
/// refused from the next request on, by every server on the store.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{name}",
    operation_id = "revoke_token",
    tag = "auth",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`not_found`: no live token has this name", body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    let now = state.runtime.clock().now();
    let revoked = state
        .runtime
        .store()
        .revoke_token(&name, now, &caller.actor())
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

//! Channels (API.md "Channels"; SPEC R1, R10): PUT replaces, PATCH is a read-modify-write
//! into a full `PutChannel` under the engine's lock.

use super::dto::{ChannelList, ConversationList};
use super::error::{AppError, ErrorBody};
use super::extract::{Body, Id};
use super::openapi::IdSchema;
use super::{AppState, same_id};
use crate::auth::Caller;
use crate::channel::{ChannelBody, ChannelPatch};
use crate::runtime::Origin;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use openline_core::{ChannelId, Engine, EngineError};

fn view(engine: &Engine, id: &str) -> Option<ChannelBody> {
    ChannelBody::of(engine, id)
}

fn missing(id: &str) -> AppError {
    AppError::not_found(format!("channel `{id}` not found"))
}

/// `PUT /v1/channels/{channel}` → 201 created / 200 replaced.
#[utoipa::path(
    put,
    path = "/v1/channels/{id}",
    operation_id = "put_channel",
    tag = "channels",
    params(("id" = IdSchema, Path,
        description = "The channel's id")),
    request_body(content = ChannelBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = ChannelBody),
        (status = 200, description = "Replaced", body = ChannelBody),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    id: Id,
    Body(body): Body<ChannelBody>,
) -> Result<Response, AppError> {
    same_id(&id.0, body.id.as_deref())?;
    let command = body.to_command(id.typed()?);
    let origin = Origin::caller(&caller.actor()).audited(
        "channel.put",
        id.0.as_str(),
        serde_json::to_value(&body).unwrap_or_default(),
    );
    state
        .create_or_replace(origin, command, |engine| view(engine, &id.0))
        .await
}

/// `PATCH /v1/channels/{channel}`: any subset of the fields (takes effect at once).
#[utoipa::path(
    patch,
    path = "/v1/channels/{id}",
    operation_id = "patch_channel",
    tag = "channels",
    params(("id" = IdSchema, Path,
        description = "The channel's id")),
    request_body(content = ChannelPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The channel after the change", body = ChannelBody),
        (status = 404, description = "`not_found`: no such channel", body = ErrorBody),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(patch): Body<ChannelPatch>,
) -> Result<Json<Option<ChannelBody>>, AppError> {
    same_id(&id, patch.id.as_deref())?;
    let beyond = patch.beyond_supervisor();
    if caller.role == crate::auth::Role::Supervisor && !beyond.is_empty() {
        return Err(AppError::Forbidden(format!(
            "a supervisor may change only {} of a channel, not {}",
            crate::auth::roles::SUPERVISOR_CHANNEL_FIELDS.join(", "),
            beyond.join(", ")
        )));
    }
    let origin = Origin::caller(&caller.actor()).audited(
        "channel.patch",
        id.as_str(),
        serde_json::to_value(&patch).unwrap_or_default(),
    );
    let build = |_, engine: &Engine| {
        let current = view(engine, &id).ok_or_else(|| EngineError::not_found("channel", &id))?;
        let channel = ChannelId::new(&id).map_err(|e| EngineError::field("id", e.to_string()))?;
        Ok(patch.apply(current).to_command(channel))
    };
    let channel = state
        .runtime
        .execute_as(origin, build, |engine, _| view(engine, &id))
        .await?;
    Ok(Json(channel))
}

/// `GET /v1/channels/{channel}`.
#[utoipa::path(
    get,
    path = "/v1/channels/{id}",
    operation_id = "get_channel",
    tag = "channels",
    params(("id" = IdSchema, Path,
        description = "The channel's id")),
    responses(
        (status = 200, description = "The channel", body = ChannelBody),
        (status = 404, description = "`not_found`: no such channel", body = ErrorBody),
    ),
)]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Result<Json<ChannelBody>, AppError> {
    state.find(|engine| view(engine, &id), || missing(&id))
}

/// `GET /v1/channels`.
#[utoipa::path(
    get,
    path = "/v1/channels",
    operation_id = "list_channels",
    tag = "channels",
    responses((status = 200, description = "Every channel", body = ChannelList)),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<ChannelList>, AppError> {
    let channels: Vec<ChannelBody> = state.runtime.read(|engine| {
        engine
            .channels()
            .map(|(id, settings)| ChannelBody::from_settings(id, settings))
            .collect()
    })?;
    Ok(Json(ChannelList { channels }))
}

/// `GET /v1/channels/{channel}/queue`: waiting conversations in queue order.
#[utoipa::path(
    get,
    path = "/v1/channels/{id}/queue",
    operation_id = "channel_queue",
    tag = "channels",
    params(("id" = IdSchema, Path,
        description = "The channel's id")),
    responses(
        (status = 200, description = "Waiting conversations, in queue order",
            body = ConversationList),
        (status = 404, description = "`not_found`: no such channel", body = ErrorBody),
    ),
)]
pub async fn queue(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Json<ConversationList>, AppError> {
    state.find(
        |engine| engine.queue(&id).map(|waiting| waiting.collect()),
        || missing(&id),
    )
}

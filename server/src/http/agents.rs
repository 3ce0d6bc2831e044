//! Agents and user groups (API.md "Agents", "User groups"; SPEC R8, R17).

use super::dto::{
    AgentBody, AgentList, AgentView, AvailabilityView, ConversationList, GroupBody, GroupView,
};
use super::error::{AppError, ErrorBody};
use super::extract::{Body, Id, parse_id};
use super::openapi::IdSchema;
use super::{AppState, same_id};
use crate::auth::Caller;
use crate::runtime::Origin;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use openline_core::{Command, Engine};

fn view(engine: &Engine, id: &str) -> Option<AgentView> {
    AgentView::of(engine, id)
}

/// The view of group `id` with every group setting the engine's sources declare.
fn group_view(engine: &Engine, id: &str, settings: &openline_core::GroupSettings) -> GroupView {
    GroupView::new(id, settings, engine.group_setting_keys())
}

fn missing(id: &str) -> AppError {
    AppError::not_found(format!("agent `{id}` not found"))
}

/// `PUT /v1/agents/{agent}` → 201 created / 200 replaced.
#[utoipa::path(
    put,
    path = "/v1/agents/{id}",
    operation_id = "put_agent",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The agent's id")),
    request_body(content = AgentBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 200, description = "Replaced", body = AgentView),
    ),
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<AgentBody>,
) -> Result<Response, AppError> {
    same_id(&id, body.id.as_deref())?;
    let profile = body.into_profile();
    let origin = Origin::caller(&caller.actor()).audited(
        "agent.put",
        id.as_str(),
        serde_json::to_value(&profile).unwrap_or_default(),
    );
    let command = Command::PutAgent {
        id: parse_id("id", &id).map_err(AppError::invalid)?,
        profile,
    };
    state
        .create_or_replace(origin, command, |engine| view(engine, &id))
        .await
}

/// `GET /v1/agents/{agent}`.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}",
    operation_id = "get_agent",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The agent's id")),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
    ),
)]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Result<Json<AgentView>, AppError> {
    state.find(|engine| view(engine, &id), || missing(&id))
}

/// `GET /v1/agents`.
#[utoipa::path(
    get,
    path = "/v1/agents",
    operation_id = "list_agents",
    tag = "agents",
    responses((status = 200, description = "Every agent", body = AgentList)),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<AgentList>, AppError> {
    let agents: Vec<AgentView> = state.runtime.read(|engine| {
        engine
            .agents()
            .map(|(id, profile)| AgentView::new(id, profile, AgentView::is_dismissed(engine, id)))
            .collect()
    })?;
    Ok(Json(AgentList { agents }))
}

/// `GET /v1/agents/{agent}/availability`: why the agent is or is not available, per channel.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}/availability",
    operation_id = "agent_availability",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The agent's id")),
    responses(
        (status = 200, description = "One entry per channel whose queue holds the agent",
            body = AvailabilityView),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
    ),
)]
pub async fn availability(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Json<AvailabilityView>, AppError> {
    let channels = state.runtime.read(|engine| {
        engine
            .explain(&id)
            .map(|channels| channels.iter().map(Into::into).collect::<Vec<_>>())
    })?;
    let channels = channels.ok_or_else(|| missing(&id))?;
    Ok(Json(AvailabilityView {
        agent: id,
        channels,
    }))
}

/// `GET /v1/agents/{agent}/conversations`: offered to or held by the agent.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}/conversations",
    operation_id = "agent_conversations",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The agent's id")),
    responses(
        (status = 200, description = "Offered to or held by the agent", body = ConversationList),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
    ),
)]
pub async fn conversations(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Json<ConversationList>, AppError> {
    state.find(
        |engine| {
            engine
                .agent_conversations(&id)
                .map(|list| list.into_iter().collect())
        },
        || missing(&id),
    )
}

/// `PUT /v1/groups/{group}` → 200.
#[utoipa::path(
    put,
    path = "/v1/groups/{id}",
    operation_id = "put_group",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The group's id")),
    request_body(content = GroupBody, content_type = "application/json"),
    responses((status = 200, description = "The group's settings", body = GroupView)),
)]
pub async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<GroupBody>,
) -> Result<Json<GroupView>, AppError> {
    same_id(&id, body.id.as_deref())?;
    let origin = Origin::caller(&caller.actor()).audited(
        "group.put",
        id.as_str(),
        serde_json::Value::Object(body.settings.clone()),
    );
    let settings: openline_core::GroupSettings = body.settings.into_iter().collect();
    let command = Command::PutGroup {
        id: id.clone(),
        settings: settings.clone(),
    };
    let view = state
        .runtime
        .execute_as(
            origin,
            |_, _| Ok(command),
            |engine, _| group_view(engine, &id, &settings),
        )
        .await?;
    Ok(Json(view))
}

/// `GET /v1/groups/{group}`.
#[utoipa::path(
    get,
    path = "/v1/groups/{id}",
    operation_id = "get_group",
    tag = "agents",
    params(("id" = IdSchema, Path,
        description = "The group's id")),
    responses(
        (status = 200, description = "The group's settings", body = GroupView),
        (status = 404, description = "`not_found`: no such group", body = ErrorBody),
    ),
)]
pub async fn get_group(
    State(state): State<AppState>,
    Id(id): Id,
) -> Result<Json<GroupView>, AppError> {
    state.find(
        |engine| {
            engine
                .group(&id)
                .map(|settings| group_view(engine, &id, settings))
        },
        || AppError::not_found(format!("group `{id}` not found")),
    )
}

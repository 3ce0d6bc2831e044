//! Conversations (API.md "Conversations"; SPEC R10–R15): every answer is the conversation
//! after the command was applied and routed, captured under the engine's lock.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use openline_core::{Command, Engine};

use super::dto::{
    AgentRef, CloseBody, ConversationBody, ConversationView, MessageBody, TransferBody,
};
use super::error::AppError;
use super::extract::{Body, Id, OptionalBody, parse_id, validate_id};
use super::{AppState, created_status};

fn view(engine: &Engine, id: &str) -> Option<ConversationView> {
    engine.conversation(id).map(ConversationView::from)
}

fn missing(id: &str) -> AppError {
    AppError::not_found(format!("conversation `{id}` not found"))
}

/// The answer of every conversation action: the conversation after it.
type Reply = Result<Json<ConversationView>, AppError>;

/// Applies the command `make` builds for conversation `id`; the conversation after it.
async fn run(
    state: &AppState,
    id: &str,
    make: impl FnOnce(openline_core::ConversationId) -> Command,
) -> Reply {
    let command = make(parse_id("id", id).map_err(AppError::invalid)?);
    state
        .runtime
        .execute(|_, _| Ok(command), |engine, _| view(engine, id))
        .await?
        .map(Json)
        .ok_or_else(|| missing(id))
}

fn agent_id(field: &str, agent: &str) -> Result<openline_core::AgentId, AppError> {
    parse_id(field, agent).map_err(AppError::invalid)
}

/// `POST /v1/channels/{channel}/conversations` → 201 new / 200 existing id (idempotent).
pub async fn open(
    State(state): State<AppState>,
    Id(channel): Id,
    Body(body): Body<ConversationBody>,
) -> Result<Response, AppError> {
    let id = match body.id {
        Some(id) => {
            validate_id("id", &id).map_err(AppError::invalid)?;
            id
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let command = Command::OpenConversation {
        channel: parse_id("channel", &channel).map_err(AppError::invalid)?,
        id: parse_id("id", &id).map_err(AppError::invalid)?,
        customer: body.customer,
        with_message: body.text.is_some(),
    };
    let (created, conversation) = state
        .runtime
        .execute(
            |_, _| Ok(command),
            |engine, applied| (applied.created, view(engine, &id)),
        )
        .await?;
    let conversation = conversation.ok_or_else(|| missing(&id))?;
    Ok((created_status(created), Json(conversation)).into_response())
}

/// `GET /v1/conversations/{id}`.
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Reply {
    state.find(|engine| view(engine, &id), || missing(&id))
}

/// `POST /v1/conversations/{id}/messages` (SPEC R15).
pub async fn message(State(state): State<AppState>, Id(id): Id, body: Body<MessageBody>) -> Reply {
    let Body(MessageBody { from, agent, .. }) = body;
    let agent = agent.as_deref().map(|a| agent_id("agent", a)).transpose()?;
    run(&state, &id, |conversation| Command::Message {
        conversation,
        from,
        agent,
    })
    .await
}

/// `POST /v1/conversations/{id}/accept` → 409 when not offered to the agent (SPEC R12).
pub async fn accept(state: State<AppState>, id: Id, body: Body<AgentRef>) -> Reply {
    answer_offer(state, id, body, true).await
}

/// `POST /v1/conversations/{id}/decline` (SPEC R12).
pub async fn decline(state: State<AppState>, id: Id, body: Body<AgentRef>) -> Reply {
    answer_offer(state, id, body, false).await
}

/// The agent in `body` accepts (or declines) the offer of conversation `id`.
async fn answer_offer(
    State(state): State<AppState>,
    Id(id): Id,
    Body(body): Body<AgentRef>,
    accepts: bool,
) -> Reply {
    let agent = agent_id("agent", &body.agent)?;
    run(&state, &id, |conversation| {
        Command::answer(conversation, agent, accepts)
    })
    .await
}

/// `POST /v1/conversations/{id}/transfer`: to an agent, or `null` for the queue.
pub async fn transfer(
    State(state): State<AppState>,
    Id(id): Id,
    body: Body<TransferBody>,
) -> Reply {
    let to = body
        .0
        .to
        .as_deref()
        .map(|a| agent_id("to", a))
        .transpose()?;
    run(&state, &id, |conversation| Command::Transfer {
        conversation,
        to,
    })
    .await
}

/// `POST /v1/conversations/{id}/close`; closing twice → 409.
pub async fn close(State(state): State<AppState>, Id(id): Id, _: OptionalBody<CloseBody>) -> Reply {
    run(&state, &id, |conversation| Command::Close { conversation }).await
}

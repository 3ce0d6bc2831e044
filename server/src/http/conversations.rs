//! Conversations (API.md "Conversations"; SPEC R10–R15, R21b): every answer is the
//! conversation after the command was applied and routed, captured under the engine's lock.
//!
//! A closed conversation leaves memory `retention.closed_in_memory` after it closed and is then
//! read from the store's archive until `retention.closed_conversations` (the archive horizon).
//! The runtime archives first and removes from memory after the commit, bumping
//! [`Runtime::archived_generation`](crate::runtime::Runtime::archived_generation): at any
//! instant a closed conversation is in memory, in the archive, or both (memory wins). Reads
//! therefore look in memory first, then in the archive.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openline_core::{Command, Conversation, Engine, EngineError, Timestamp};

use super::dto::{
    AgentRef, CloseBody, ConversationBody, ConversationView, MessageBody, TransferBody,
};
use super::error::{AppError, ErrorBody};
use super::extract::{Body, Id, OptionalBody, parse_id, validate_id};
use super::openapi::IdSchema;
use super::{AppState, created_status};
use crate::auth::Caller;
use crate::runtime::Origin;
use crate::runtime::RuntimeError;
use crate::store::StoreError;
use crate::store::archive::to_micros;

fn view(engine: &Engine, id: &str) -> Option<ConversationView> {
    engine.conversation(id).map(ConversationView::from)
}

fn missing(id: &str) -> AppError {
    AppError::not_found(format!("conversation `{id}` not found"))
}

/// The engine's answer to an action on a closed conversation (core `open_conversation_key`).
fn closed(id: &str) -> AppError {
    AppError::conflict(format!("conversation `{id}` is closed"))
}

/// A failed read of the archive: 503 when the database failed (retry), else 500 (logged).
pub(super) fn store_failed(error: StoreError) -> AppError {
    match error {
        StoreError::Database(error) => {
            tracing::warn!(%error, "reading archived conversations failed");
            AppError::Unavailable("the store cannot be reached right now; retry")
        }
        other => AppError::internal(other),
    }
}

/// Whether `conversation` still exists at `horizon`: one closed before it is deleted (SPEC
/// R21b), even while it is still in memory. Compared at the archive's precision.
pub(super) fn exists_at(conversation: &Conversation, horizon: Timestamp) -> bool {
    conversation
        .closed_at
        .is_none_or(|at| to_micros(at) >= to_micros(horizon))
}

/// Archived conversation `id`, unless closed before the archive horizon.
async fn archived(state: &AppState, id: &str) -> Result<Option<Conversation>, AppError> {
    let runtime = &state.runtime;
    runtime
        .store()
        .archived(id, runtime.archive_horizon())
        .await
        .map_err(store_failed)
}

/// The answer of every conversation action: the conversation after it.
type Reply = Result<Json<ConversationView>, AppError>;

/// Applies the command `make` builds for conversation `id`; the conversation after it. A
/// conversation that is no longer in memory but archived is closed: 409, as in memory.
async fn run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    make: impl FnOnce(openline_core::ConversationId) -> Command,
) -> Reply {
    let command = make(parse_id("id", id).map_err(AppError::invalid)?);
    let outcome = state
        .runtime
        .execute_as(
            Origin::caller(&caller.actor()),
            |_, _| Ok(command),
            |engine, _| view(engine, id),
        )
        .await;
    match outcome {
        Ok(shown) => shown.map(Json).ok_or_else(|| missing(id)),
        // Not in memory under the engine's lock: it was never opened, or it was archived
        // (committed) before it left memory, so the archive read now has it.
        Err(RuntimeError::Refused(EngineError::NotFound {
            what: "conversation",
            ..
        })) => match archived(state, id).await? {
            Some(_) => Err(closed(id)),
            None => Err(missing(id)),
        },
        Err(error) => Err(error.into()),
    }
}

fn agent_id(field: &str, agent: &str) -> Result<openline_core::AgentId, AppError> {
    parse_id(field, agent).map_err(AppError::invalid)
}

/// How many times opening a conversation looks again in the archive when conversations left
/// memory while it looked (each time: one indexed read).
const OPEN_ATTEMPTS: usize = 5;

/// Why an open was not handed to the engine.
enum Held {
    /// The id is archived (and not in memory): the existing conversation answers.
    Archived(Conversation),
    /// Conversations left memory since the archive was read: read it again.
    Moved,
}

/// `POST /v1/channels/{channel}/conversations` → 201 new / 200 existing id (idempotent), also
/// when the existing conversation is closed and archived: a client id is never reused for a
/// second conversation while the first is readable.
#[utoipa::path(
    post,
    path = "/v1/channels/{id}/conversations",
    operation_id = "open_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The channel's id")),
    request_body(content = ConversationBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Opened; the conversation after routing",
            body = ConversationView),
        (status = 200, description = "The id exists already: that conversation",
            body = ConversationView),
        (status = 404, description = "`not_found`: no such channel", body = ErrorBody),
        (status = 409, description = "`conflict`: the id exists for another channel or customer",
            body = ErrorBody),
    ),
)]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Id(channel): Id,
    Body(body): Body<ConversationBody>,
) -> Result<Response, AppError> {
    let client_id = body.id.is_some();
    let id = match body.id {
        Some(id) => {
            validate_id("id", &id).map_err(AppError::invalid)?;
            id
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let channel_id: openline_core::ChannelId =
        parse_id("channel", &channel).map_err(AppError::invalid)?;
    let conversation_id: openline_core::ConversationId =
        parse_id("id", &id).map_err(AppError::invalid)?;
    let runtime = &state.runtime;
    for _ in 0..OPEN_ATTEMPTS {
        // Read before the archive: if it is unchanged under the engine's lock, no conversation
        // left memory since, so one absent from both places does not exist.
        let generation = runtime.archived_generation();
        let in_archive = if client_id {
            archived(&state, &id).await?
        } else {
            None
        };
        let command = Command::OpenConversation {
            channel: channel_id.clone(),
            id: conversation_id.clone(),
            customer: body.customer.clone(),
            with_message: body.text.is_some(),
        };
        let mut held = None;
        let outcome = runtime
            .execute_as(
                Origin::caller(&caller.actor()),
                |_, engine| {
                    // In memory (memory wins), a fresh id, or an unknown channel (the engine's
                    // 404 comes first): the engine answers.
                    if !client_id
                        || engine.conversation(&id).is_some()
                        || engine.channel(&channel).is_none()
                    {
                        return Ok(command);
                    }
                    if let Some(existing) = in_archive {
                        held = Some(Held::Archived(existing));
                    } else if runtime.archived_generation() != generation {
                        held = Some(Held::Moved);
                    } else {
                        return Ok(command);
                    }
                    Err(EngineError::Conflict(format!(
                        "conversation `{id}` is not in memory"
                    )))
                },
                |engine, applied| (applied.created, view(engine, &id)),
            )
            .await;
        match held {
            None => {
                let (created, conversation) = outcome?;
                let conversation = conversation.ok_or_else(|| missing(&id))?;
                return Ok((created_status(created), Json(conversation)).into_response());
            }
            Some(Held::Archived(existing)) => {
                // As the engine answers for an existing id (core `open_conversation`).
                if *existing.channel != *channel || existing.customer != body.customer {
                    return Err(AppError::conflict(format!(
                        "conversation `{id}` already exists for another channel or customer"
                    )));
                }
                let shown = ConversationView::from(&existing);
                return Ok((StatusCode::OK, Json(shown)).into_response());
            }
            Some(Held::Moved) => continue,
        }
    }
    Err(AppError::Unavailable(
        "conversations are moving to the archive right now; retry",
    ))
}

/// `GET /v1/conversations/{id}`: from memory, else from the archive. An agent's
/// credential reads only the conversations it holds or is offered.
#[utoipa::path(
    get,
    path = "/v1/conversations/{id}",
    operation_id = "get_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation (or past retention)",
            body = ErrorBody),
    ),
)]
pub async fn get(State(state): State<AppState>, caller: Caller, Id(id): Id) -> Reply {
    let found = find(&state, &id).await?;
    if let Some(agent) = caller.only_agent() {
        let own = found.agent.as_deref() == Some(agent.as_str())
            || found
                .offered_to
                .iter()
                .any(|offered| offered == agent.as_str());
        if !own {
            return Err(AppError::Forbidden(format!(
                "`{}` may read only the conversations its agent holds or is offered",
                caller.name
            )));
        }
    }
    Ok(found)
}

/// Conversation `id` from memory, else from the archive.
async fn find(state: &AppState, id: &str) -> Reply {
    let runtime = &state.runtime;
    // A second look only if conversations left memory meanwhile (never needed when the
    // archive commits before memory forgets, but cheap insurance against a false 404).
    for _ in 0..2 {
        let generation = runtime.archived_generation();
        let horizon = runtime.archive_horizon();
        let found = runtime.read(|engine| {
            engine
                .conversation(id)
                .filter(|c| exists_at(c, horizon))
                .map(ConversationView::from)
        })?;
        if let Some(found) = found {
            return Ok(Json(found));
        }
        if let Some(found) = archived(state, id).await? {
            return Ok(Json(ConversationView::from(&found)));
        }
        if runtime.archived_generation() == generation {
            break;
        }
    }
    Err(missing(id))
}

/// `POST /v1/conversations/{id}/messages`: a customer's or an agent's message.
/// An agent's credential writes only as its own agent (the engine then refuses a message on
/// a conversation that agent does not hold).
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/messages",
    operation_id = "post_message",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    request_body(content = MessageBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The conversation after the message", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation or agent",
            body = ErrorBody),
        (status = 409, description = "`conflict`: not allowed now (e.g. closed, or not held by \
            the agent)", body = ErrorBody),
    ),
)]
pub async fn message(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Body<MessageBody>,
) -> Reply {
    let Body(MessageBody { from, agent, .. }) = body;
    if caller.only_agent().is_some()
        && (from != openline_core::Author::Agent
            || !agent.as_deref().is_some_and(|a| caller.speaks_for(a)))
    {
        return Err(AppError::Forbidden(format!(
            "`{}` may write only as its own agent (`from`: \"agent\", `agent`: its id)",
            caller.name
        )));
    }
    let agent = agent.as_deref().map(|a| agent_id("agent", a)).transpose()?;
    run(&state, &caller, &id, |conversation| Command::Message {
        conversation,
        from,
        agent,
    })
    .await
}

/// `POST /v1/conversations/{id}/accept` → 409 when not offered to the agent.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/accept",
    operation_id = "accept_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    request_body(content = AgentRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Accepted: the conversation", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation or agent",
            body = ErrorBody),
        (status = 409, description = "`conflict`: not offered to this agent", body = ErrorBody),
    ),
)]
pub async fn accept(state: State<AppState>, caller: Caller, id: Id, body: Body<AgentRef>) -> Reply {
    answer_offer(state, caller, id, body, true).await
}

/// `POST /v1/conversations/{id}/decline`: the offer moves on to the next agent.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/decline",
    operation_id = "decline_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    request_body(content = AgentRef, content_type = "application/json"),
    responses(
        (status = 200, description = "Declined: the conversation", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation or agent",
            body = ErrorBody),
        (status = 409, description = "`conflict`: not offered to this agent", body = ErrorBody),
    ),
)]
pub async fn decline(
    state: State<AppState>,
    caller: Caller,
    id: Id,
    body: Body<AgentRef>,
) -> Reply {
    answer_offer(state, caller, id, body, false).await
}

/// The agent in `body` accepts (or declines) the offer of conversation `id`; an agent's
/// credential answers only for its own agent (SPEC R26).
async fn answer_offer(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<AgentRef>,
    accepts: bool,
) -> Reply {
    if !caller.speaks_for(&body.agent) {
        return Err(AppError::Forbidden(format!(
            "`{}` may answer offers only for its own agent",
            caller.name
        )));
    }
    let agent = agent_id("agent", &body.agent)?;
    run(&state, &caller, &id, |conversation| {
        Command::answer(conversation, agent, accepts)
    })
    .await
}

/// `POST /v1/conversations/{id}/transfer`: to an agent, or `null` for the queue.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/transfer",
    operation_id = "transfer_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    request_body(content = TransferBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Transferred: the conversation", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation or agent",
            body = ErrorBody),
        (status = 409, description = "`conflict`: not allowed now (e.g. closed)", body = ErrorBody),
    ),
)]
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Body<TransferBody>,
) -> Reply {
    let to = body
        .0
        .to
        .as_deref()
        .map(|a| agent_id("to", a))
        .transpose()?;
    run(&state, &caller, &id, |conversation| Command::Transfer {
        conversation,
        to,
    })
    .await
}

/// `POST /v1/conversations/{id}/close`; closing twice → 409.
#[utoipa::path(
    post,
    path = "/v1/conversations/{id}/close",
    operation_id = "close_conversation",
    tag = "conversations",
    params(("id" = IdSchema, Path,
        description = "The conversation's id")),
    request_body(content = Option<CloseBody>, content_type = "application/json",
        description = "Optional: no body, or `{}`"),
    responses(
        (status = 200, description = "Closed: the conversation", body = ConversationView),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: closed already", body = ErrorBody),
    ),
)]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    _: OptionalBody<CloseBody>,
) -> Reply {
    run(&state, &caller, &id, |conversation| Command::Close {
        conversation,
    })
    .await
}

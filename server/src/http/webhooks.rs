//! Webhook subscriptions (API.md "Webhooks"; SPEC R30), for admins: create, list, read,
//! delete, and each one's deliveries. The secret is never shown back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::AppError;
use super::extract::{Body, QueryParams, page_limit, validate_id};
use crate::auth::Caller;
use crate::store::StoreError;
use crate::store::audit::AuditEntry;
use crate::store::webhooks::Webhook;
use crate::webhooks::{EVENT_TYPES, MAX_SUBSCRIPTIONS, target};

/// The shortest and longest secret accepted.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;
/// The most ids in a `channels` or `agents` filter.
const MAX_FILTER: usize = 1000;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    agents: Option<Vec<String>>,
    secret: String,
}

/// A subscription as the API shows it: everything but its secret.
fn view(hook: &Webhook) -> Value {
    json!({
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "channels": hook.channels,
        "agents": hook.agents,
        "created_at": hook.created_at,
    })
}

fn store_failed(error: StoreError) -> AppError {
    tracing::warn!(%error, "the webhook store failed");
    AppError::Unavailable("the store cannot be reached now; try again")
}

/// The ids of a filter, checked; `None` stays "any".
fn id_list(field: &str, list: Option<Vec<String>>) -> Result<Option<Vec<String>>, AppError> {
    let Some(list) = list else { return Ok(None) };
    if list.is_empty() || list.len() > MAX_FILTER {
        return Err(AppError::invalid(format!(
            "`{field}` lists 1 to {MAX_FILTER} ids, or is left out for any"
        )));
    }
    for (index, id) in list.iter().enumerate() {
        validate_id(&format!("{field}[{index}]"), id).map_err(AppError::invalid)?;
    }
    Ok(Some(list))
}

/// `POST /v1/webhooks` → 201 with the subscription (never its secret). It receives the
/// matching events that happen from now on.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewWebhook>,
) -> Result<Response, AppError> {
    let webhooks = state.runtime.webhooks();
    target::check(&body.url, &webhooks.settings().allowed_hosts).map_err(AppError::invalid)?;
    if body.events.is_empty() {
        return Err(AppError::invalid(format!(
            "`events` lists the event types to receive: {}",
            EVENT_TYPES.join(", ")
        )));
    }
    if let Some(unknown) = body
        .events
        .iter()
        .find(|e| !EVENT_TYPES.contains(&e.as_str()))
    {
        return Err(AppError::invalid(format!(
            "`events`: unknown event type `{}`; the types are {}",
            unknown.chars().take(100).collect::<String>(),
            EVENT_TYPES.join(", ")
        )));
    }
    let mut events = body.events;
    events.sort_unstable();
    events.dedup();
    if !SECRET_LEN.contains(&body.secret.chars().count()) {
        return Err(AppError::invalid(format!(
            "`secret` must be {} to {} characters (use a random one)",
            SECRET_LEN.start(),
            SECRET_LEN.end()
        )));
    }
    let now = state.runtime.clock().now();
    let hook = Webhook {
        id: uuid::Uuid::now_v7().to_string(),
        url: body.url,
        events,
        channels: id_list("channels", body.channels)?,
        agents: id_list("agents", body.agents)?,
        secret: body.secret,
        created_at: crate::store::archive::instant_text(now),
        cursor: 0,
    };
    let mut change = view(&hook);
    if let Some(change) = change.as_object_mut() {
        change.remove("id");
        change.remove("created_at");
    }
    let entry = AuditEntry::new(now, &caller.name, "webhook.create", hook.id.clone(), change);
    let created = state
        .runtime
        .store()
        .create_webhook(&hook, &entry, MAX_SUBSCRIPTIONS)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| {
            AppError::conflict(format!(
                "there are {MAX_SUBSCRIPTIONS} webhook subscriptions already, the most a server keeps"
            ))
        })?;
    webhooks.subscriptions_changed();
    Ok((StatusCode::CREATED, Json(view(&created))).into_response())
}

/// `GET /v1/webhooks`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let hooks = state
        .runtime
        .store()
        .webhooks()
        .await
        .map_err(store_failed)?;
    let shown: Vec<Value> = hooks.iter().map(view).collect();
    Ok(Json(json!({ "webhooks": shown })))
}

async fn find(state: &AppState, id: &str) -> Result<Webhook, AppError> {
    state
        .runtime
        .store()
        .webhook(id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no webhook `{}`",
                id.chars().take(100).collect::<String>()
            ))
        })
}

/// `GET /v1/webhooks/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(view(&find(&state, &id).await?)))
}

/// `DELETE /v1/webhooks/{id}` → 204: nothing more is delivered to it.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let now = state.runtime.clock().now();
    let entry = AuditEntry::new(now, &caller.name, "webhook.delete", id.clone(), json!({}));
    let deleted = state
        .runtime
        .store()
        .delete_webhook(&id, &entry)
        .await
        .map_err(store_failed)?;
    if !deleted {
        return Err(AppError::not_found(format!(
            "no webhook `{}`",
            id.chars().take(100).collect::<String>()
        )));
    }
    state.runtime.webhooks().subscriptions_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// The query string of the deliveries listing.
#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    limit: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries?limit=` → the latest deliveries, newest event first.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DeliveriesQuery>,
) -> Result<Json<Value>, AppError> {
    let limit = page_limit(query.limit, 100, 1000)?;
    find(&state, &id).await?;
    let deliveries = state
        .runtime
        .store()
        .deliveries(&id, i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(store_failed)?;
    Ok(Json(json!({ "deliveries": deliveries })))
}

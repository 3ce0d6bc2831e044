//! Webhook subscriptions (API.md "Webhooks"; SPEC R30), for admins: create, list, read,
//! delete, and each one's deliveries. The secret is never shown back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{AppError, ErrorBody};
use super::extract::{Body, QueryParams, page_limit, validate_id};
use crate::auth::Caller;
use crate::store::StoreError;
use crate::store::audit::AuditEntry;
use crate::store::webhooks::{Delivery, Webhook};
use crate::webhooks::{EVENT_TYPES, MAX_SUBSCRIPTIONS, target};

/// The shortest and longest secret accepted.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=256;
/// The most ids in a `channels` or `agents` filter.
const MAX_FILTER: usize = 1000;

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are posted: `http://` or `https://` (a host of `webhooks.allowed_hosts`
    /// when it lists any).
    #[schema(max_length = 2048)]
    url: String,
    /// The event types to receive (at least one).
    #[schema(min_items = 1, value_type = Vec<EventType>)]
    events: Vec<String>,
    /// Only events of these channels (left out: any).
    #[serde(default)]
    channels: Option<Vec<String>>,
    /// Only events concerning these agents (left out: any).
    #[serde(default)]
    agents: Option<Vec<String>>,
    /// The key of the `Openline-Signature` HMAC, 16 to 256 characters; never shown again.
    #[schema(min_length = 16, max_length = 256)]
    secret: String,
}

/// The event types a subscription may receive (for the document; the body is read as text so
/// that an unknown type gets its own message).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[allow(dead_code)]
enum EventType {
    #[serde(rename = "conversation.queued")]
    Queued,
    #[serde(rename = "conversation.offered")]
    Offered,
    #[serde(rename = "conversation.offer_withdrawn")]
    OfferWithdrawn,
    #[serde(rename = "conversation.accepted")]
    Accepted,
    #[serde(rename = "conversation.requeued")]
    Requeued,
    #[serde(rename = "conversation.closed")]
    Closed,
    #[serde(rename = "agent.availability_changed")]
    AvailabilityChanged,
    #[serde(rename = "channel.changed")]
    ChannelChanged,
    #[serde(rename = "agent.changed")]
    AgentChanged,
}

/// A subscription as the API shows it: everything but its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// Its id.
    id: String,
    /// Where events are posted.
    url: String,
    /// The event types it receives.
    events: Vec<String>,
    /// Only events of these channels (null: any).
    channels: Option<Vec<String>>,
    /// Only events concerning these agents (null: any).
    agents: Option<Vec<String>>,
    /// When it was created.
    #[schema(format = DateTime)]
    created_at: String,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    /// Every subscription, oldest first.
    webhooks: Vec<WebhookView>,
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    /// The latest deliveries, newest event first.
    deliveries: Vec<Delivery>,
}

fn view(hook: &Webhook) -> WebhookView {
    WebhookView {
        id: hook.id.clone(),
        url: hook.url.clone(),
        events: hook.events.clone(),
        channels: hook.channels.clone(),
        agents: hook.agents.clone(),
        created_at: shown_instant(&hook.created_at),
    }
}

/// A stored creation instant as the API shows instants: RFC 3339 in whole seconds (rows
/// written before carry microseconds).
fn shown_instant(stored: &str) -> String {
    openline_core::time::parse_rfc3339(stored).map_or_else(
        |_| stored.to_owned(),
        |at| super::dto::ts(chrono::SubsecRound::trunc_subsecs(at, 0)),
    )
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
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body(content = NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = WebhookView),
        (status = 409, description = "`conflict`: the most subscriptions exist already", body = ErrorBody),
    ),
)]
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
        created_at: super::dto::ts(chrono::SubsecRound::trunc_subsecs(now, 0)),
        cursor: 0,
    };
    let change = json!({
        "url": hook.url,
        "events": hook.events,
        "channels": hook.channels,
        "agents": hook.agents,
    });
    let entry = AuditEntry::new(
        now,
        &caller.actor(),
        "webhook.create",
        hook.id.clone(),
        change,
    );
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
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses((status = 200, description = "Every subscription", body = WebhookList)),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<WebhookList>, AppError> {
    let hooks = state
        .runtime
        .store()
        .webhooks()
        .await
        .map_err(store_failed)?;
    Ok(Json(WebhookList {
        webhooks: hooks.iter().map(view).collect(),
    }))
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
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookView),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, AppError> {
    Ok(Json(view(&find(&state, &id).await?)))
}

/// `DELETE /v1/webhooks/{id}` → 204: nothing more is delivered to it.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let now = state.runtime.clock().now();
    let entry = AuditEntry::new(
        now,
        &caller.actor(),
        "webhook.delete",
        id.clone(),
        json!({}),
    );
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// How many, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries?limit=` → the latest deliveries, newest event first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "webhook_deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id"), DeliveriesQuery),
    responses(
        (status = 200, description = "The latest deliveries", body = DeliveryList),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, AppError> {
    let limit = page_limit(query.limit, 100, 1000)?;
    find(&state, &id).await?;
    let deliveries = state
        .runtime
        .store()
        .deliveries(&id, i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(store_failed)?;
    Ok(Json(DeliveryList { deliveries }))
}

//! Operations (API.md "Operations", "Events"): health, readiness, metrics, the plugin list,
//! the SSE stream and the dashboard page.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::AppError;
use super::extract::QueryParams;
use crate::events::{self, Filter};

/// `GET /healthz` → 200 while serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz` → 200 when the store answers and writes are possible, else 503.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.runtime.is_failed() {
        return AppError::unavailable().into_response();
    }
    match state.runtime.store().ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            AppError::Unavailable("the store is not reachable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, AppError> {
    let text = state.runtime.render_metrics()?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /v1/plugins` → `{"sources": [...], "policies": [...]}` as registered, plus
/// `source_details`: each source's events, reason codes and group settings.
pub async fn plugins(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let listing = state.runtime.read(|engine| {
        let (sources, policies) = engine.plugin_names();
        let details: Vec<Value> = engine
            .plugins()
            .describe_sources()
            .into_iter()
            .map(|info| {
                let group_settings: Vec<Value> = info
                    .group_settings
                    .iter()
                    .map(|(key, summary)| json!({"key": key, "summary": summary}))
                    .collect();
                json!({"name": info.name, "events": info.events,
                    "reason_codes": info.reason_codes, "group_settings": group_settings})
            })
            .collect();
        json!({ "sources": sources, "policies": policies, "source_details": details })
    })?;
    Ok(Json(listing))
}

/// The query string of `GET /v1/events`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events concerning this agent.
    agent: Option<String>,
    /// Only events of this channel.
    channel: Option<String>,
    /// Resume after this event id (as `Last-Event-ID` does; the header wins).
    after: Option<String>,
}

/// An event id as a client sends it back (`Last-Event-ID`, `?after=`).
fn event_id(text: &str, from: &str) -> Result<i64, super::error::AppError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| {
            super::error::AppError::invalid(format!(
                "{from} must be the id of an event this server sent, got `{}`",
                text.chars().take(100).collect::<String>()
            ))
        })
}

/// `GET /v1/events?agent=&channel=&after=`: Server-Sent Events, each with its `id:`; with
/// `Last-Event-ID` or `?after=`, the retained events after that id first (SPEC R29).
/// An agent's credential gets its own agent's events only (SPEC R26). The stream ends when
/// its credential is revoked or expires; a credential holds at most
/// `server.max_streams_per_credential` streams (SPEC R35c).
pub async fn events(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    axum::Extension(presented): axum::Extension<Option<super::streams::Presented>>,
    headers: axum::http::HeaderMap,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<impl IntoResponse, super::error::AppError> {
    let mut filter = Filter {
        agent: query.agent,
        channel: query.channel,
    };
    if let Some(own) = caller.only_agent() {
        if filter
            .agent
            .as_deref()
            .is_some_and(|asked| asked != own.as_str())
        {
            return Err(super::error::AppError::Forbidden(format!(
                "`{}` may follow only its own agent's events",
                caller.name
            )));
        }
        filter.agent = Some(own.as_str().to_owned());
    }
    let last_event_id = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .map_err(|_| super::error::AppError::invalid("`Last-Event-ID` must be an event id"))
        })
        .transpose()?;
    let after = match (last_event_id, query.after.as_deref()) {
        (Some(header), _) if !header.trim().is_empty() => {
            Some(event_id(header, "`Last-Event-ID`")?)
        }
        (_, Some(after)) if !after.is_empty() => Some(event_id(after, "`after`")?),
        _ => None,
    };
    let runtime = &state.runtime;
    // Counted, and ended with its credential (SPEC R35c).
    let slot = state.gate.streams().open(
        presented.as_ref(),
        &caller.actor(),
        runtime.store(),
        presented.is_none() && caller.name == super::auth::LOCAL,
    )?;
    // Subscribed before anything is read from the store: nothing falls between the two.
    let stream = events::stream(
        runtime.events().subscribe(),
        filter,
        after,
        runtime.store().clone(),
        runtime.shutdown_signal(),
    );
    Ok(Sse::new(slot.hold(stream)).keep_alive(KeepAlive::default()))
}

/// The supervisor dashboard, one self-contained page.
pub static DASHBOARD: super::pages::Page = super::pages::Page::new(include_str!("dashboard.html"));

/// `GET /`: the supervisor dashboard, with the pages' protective headers (SPEC R35g).
pub async fn dashboard() -> Response {
    DASHBOARD.response()
}

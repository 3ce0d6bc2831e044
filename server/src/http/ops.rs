//! Operations (API.md "Operations", "Events"): health, readiness, metrics, the plugin list,
//! the SSE stream and the dashboard page.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
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

/// `GET /v1/events?agent=&channel=`: Server-Sent Events.
/// An agent's credential gets its own agent's events only (SPEC R26).
pub async fn events(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    QueryParams(mut filter): QueryParams<Filter>,
) -> Result<impl IntoResponse, super::error::AppError> {
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
    let runtime = &state.runtime;
    let stream = events::stream(
        runtime.events().subscribe(),
        filter,
        runtime.shutdown_signal(),
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /`: the supervisor dashboard, one self-contained page.
pub async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

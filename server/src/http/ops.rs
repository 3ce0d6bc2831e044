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

/// `GET /v1/plugins` → `{"sources": [...], "policies": [...]}` as registered.
pub async fn plugins(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let (sources, policies) = state.runtime.read(|engine| {
        let (sources, policies) = engine.plugin_names();
        (
            sources.into_iter().map(str::to_owned).collect::<Vec<_>>(),
            policies.into_iter().map(str::to_owned).collect::<Vec<_>>(),
        )
    })?;
    Ok(Json(json!({ "sources": sources, "policies": policies })))
}

/// `GET /v1/events?agent=&channel=`: Server-Sent Events.
pub async fn events(
    State(state): State<AppState>,
    QueryParams(filter): QueryParams<Filter>,
) -> impl IntoResponse {
    let runtime = &state.runtime;
    let stream = events::stream(
        runtime.events().subscribe(),
        filter,
        runtime.shutdown_signal(),
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /`: the supervisor dashboard, one self-contained page.
pub async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

//! The HTTP API of API.md. [`app`] is pure (state in, router out) so tests drive it with
//! `oneshot`. Every error, including unknown routes, wrong methods, malformed bodies and
//! panics, answers with the API's JSON error shape.

mod agents;
mod audit;
pub mod auth;
mod channels;
mod clock;
mod console;
mod conversation_list;
mod conversations;
mod cross_site;
pub mod dto;
pub mod error;
pub mod extract;
pub mod openapi;
mod ops;
mod overview;
mod pages;
mod query_check;
pub mod serve;
mod signals;
pub mod streams;
mod text_check;
mod tokens;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::runtime::Runtime;
use error::AppError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine in its shell.
    pub runtime: Arc<Runtime>,
    /// Who may call what (SPEC R25–R27).
    pub gate: Arc<auth::Gate>,
}

impl AppState {
    /// What `read` finds in the engine, as JSON; `missing()` (a 404) when it finds nothing.
    pub fn find<T>(
        &self,
        read: impl FnOnce(&openline_core::Engine) -> Option<T>,
        missing: impl FnOnce() -> AppError,
    ) -> Result<axum::Json<T>, AppError> {
        self.runtime.read(read)?.map(axum::Json).ok_or_else(missing)
    }

    /// Applies `command`, which creates or replaces a thing, and answers 201 or 200 with what
    /// `view` then shows of it (API.md: PUT of agents and channels, opening a conversation).
    pub async fn create_or_replace<T: serde::Serialize>(
        &self,
        origin: crate::runtime::Origin,
        command: openline_core::Command,
        view: impl FnOnce(&openline_core::Engine) -> T,
    ) -> Result<Response, AppError> {
        let (created, shown) = self
            .runtime
            .execute_as(
                origin,
                |_, _| Ok(command),
                |engine, applied| (applied.created, view(engine)),
            )
            .await?;
        Ok((created_status(created), axum::Json(shown)).into_response())
    }
}

/// The whole API over `state`.
pub fn app(state: AppState) -> Router {
    let cors = state.gate.cors();
    let v1 = Router::new()
        .route("/agents", get(agents::list))
        .route("/agents/{id}", put(agents::put).get(agents::get))
        .route("/agents/{id}/availability", get(agents::availability))
        .route("/agents/{id}/conversations", get(agents::conversations))
        .route("/availability", get(overview::availability))
        .route("/stats", get(overview::stats))
        .route(
            "/groups/{id}",
            put(agents::put_group).get(agents::get_group),
        )
        .route("/signals", post(signals::post))
        .route("/channels", get(channels::list))
        .route(
            "/channels/{id}",
            put(channels::put).patch(channels::patch).get(channels::get),
        )
        .route("/channels/{id}/queue", get(channels::queue))
        .route("/channels/{id}/conversations", post(conversations::open))
        .route("/conversations", get(conversation_list::list))
        .route("/conversations/{id}", get(conversations::get))
        .route("/conversations/{id}/messages", post(conversations::message))
        .route("/conversations/{id}/accept", post(conversations::accept))
        .route("/conversations/{id}/decline", post(conversations::decline))
        .route(
            "/conversations/{id}/transfer",
            post(conversations::transfer),
        )
        .route("/conversations/{id}/close", post(conversations::close))
        .route("/events", get(ops::events))
        .route("/clock", get(clock::get))
        .route("/clock/advance", post(clock::advance))
        .route("/plugins", get(ops::plugins))
        .route("/whoami", get(tokens::whoami))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{name}", axum::routing::delete(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/openapi.json", get(openapi::openapi_json));
    Router::new()
        .nest("/v1", v1)
        .route("/", get(ops::dashboard))
        .route("/agent", get(console::page))
        .route("/presence.js", get(console::presence))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // Inside the gate: an unauthenticated caller learns nothing of what a route takes.
        .route_layer(middleware::from_fn(query_check::refuse_unknown))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::gate))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Outermost: a preflight is answered before the gate asks for a token.
        .layer(tower::util::option_layer(cors))
        .with_state(state)
}

/// Whether a `Host` header (name, optional port) names the loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn not_found(request: Request) -> AppError {
    AppError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> AppError {
    AppError::MethodNotAllowed(format!(
        "method {} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::internal("a request handler panicked").into_response()
}

/// Request count and latency per matched route.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state.runtime.metrics().record_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// A body's optional `id` must repeat the path's.
fn same_id(path: &str, body: Option<&str>) -> Result<(), AppError> {
    match body {
        Some(id) if id != path => Err(AppError::invalid(format!(
            "`id` (`{id}`) does not match the path's id (`{path}`)"
        ))),
        _ => Ok(()),
    }
}

/// 201 when created, else 200.
fn created_status(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

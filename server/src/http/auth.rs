//! The one gate every API request passes (SPEC R25–R27, DESIGN.md "Security"): who is
//! calling ([`Caller`], from a bearer token or, in local mode, nobody), whether that caller
//! is within its rate, and whether its role may call this endpoint at all ([`decide`]).
//! Handlers get the caller as an extractor and check only the agent a request acts for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::streams::{Presented, StreamSlots};
use super::{AppState, is_loopback_host};
use crate::auth::jwt::{JwtVerifier, accepted_until, looks_like_jwt};
use crate::auth::{Caller, CredentialKind, Decision, Operation, decide};
use crate::config::{AuthMode, ConfigError, Settings};

/// How requests authenticate, from the configuration.
#[derive(Debug)]
pub struct Gate {
    mode: AuthMode,
    /// The server listens on loopback: without any token or key it serves unauthenticated
    /// callers (local mode), to loopback host names only.
    loopback_listen: bool,
    /// `/metrics` without a token.
    public_metrics: bool,
    limiter: RateLimiter,
    /// Origins whose pages may call the API (CORS); none by default.
    cors_origins: Vec<HeaderValue>,
    /// JWTs signed with the configured key are accepted as well (SPEC R25).
    jwt: Option<JwtVerifier>,
    /// Whether a token was ever created in the store, when last asked: [`TOKENS_UNKNOWN`],
    /// [`NO_TOKENS`] or [`SOME_TOKENS`] (final, SPEC R35e). While the store cannot be
    /// reached, no token can be created either, so the last answer stands (local mode keeps
    /// serving through a reconnect, SPEC R23c).
    tokens_known: AtomicU8,
    /// When the store last said no token was ever created.
    no_tokens_at: Mutex<Option<Instant>>,
    /// The open event streams of each credential (SPEC R35c).
    streams: std::sync::Arc<StreamSlots>,
}

/// The name of local mode's unauthenticated caller.
pub(crate) const LOCAL: &str = "local";

/// How long "the store holds no token" is trusted before asking again (local mode only: a
/// request with a token is always checked against the store).
const NO_TOKENS_FOR: std::time::Duration = std::time::Duration::from_secs(1);

const TOKENS_UNKNOWN: u8 = 0;
const NO_TOKENS: u8 = 1;
const SOME_TOKENS: u8 = 2;

impl Gate {
    /// The gate of `settings`; a JWT key that cannot be read is refused.
    pub fn new(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            mode: settings.auth.mode,
            loopback_listen: is_loopback_host(&settings.server.listen),
            public_metrics: settings.auth.public_metrics,
            limiter: RateLimiter::new(settings.auth.rate_limit_per_second),
            cors_origins: settings
                .server
                .cors_origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok())
                .collect(),
            jwt: JwtVerifier::from_settings(&settings.auth)?,
            tokens_known: AtomicU8::new(TOKENS_UNKNOWN),
            no_tokens_at: Mutex::new(None),
            streams: StreamSlots::new(settings.server.max_streams_per_credential),
        })
    }

    /// A gate that lets every caller do everything (`auth.mode = "none"`), for tests that
    /// drive the router directly.
    pub fn open() -> Self {
        Self {
            mode: AuthMode::None,
            loopback_listen: true,
            public_metrics: true,
            limiter: RateLimiter::new(u32::MAX),
            cors_origins: Vec::new(),
            jwt: None,
            tokens_known: AtomicU8::new(TOKENS_UNKNOWN),
            no_tokens_at: Mutex::new(None),
            streams: StreamSlots::new(usize::MAX),
        }
    }

    /// The open event streams of each credential.
    pub fn streams(&self) -> &std::sync::Arc<StreamSlots> {
        &self.streams
    }

    /// A token was just created through this server: local mode ends now, not within
    /// [`NO_TOKENS_FOR`].
    pub fn token_created(&self) {
        self.tokens_known.store(SOME_TOKENS, Ordering::SeqCst);
        if let Ok(mut at) = self.no_tokens_at.lock() {
            *at = None;
        }
    }

    /// The CORS layer for the listed origins (SPEC R27): a page of another origin gets no
    /// CORS headers, so the browser keeps it from reading answers or sending a request that
    /// needs a preflight (every authenticated one, every JSON body).
    pub fn cors(&self) -> Option<tower_http::cors::CorsLayer> {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        (!self.cors_origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.cors_origins.clone()))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("last-event-id"),
                ])
                .max_age(std::time::Duration::from_secs(600))
        })
    }
}

/// What kind of endpoint `route` (axum's matched path) is for `method`; `None` for the
/// public ones (health, readiness, the pages, the OpenAPI document).
pub fn operation(method: &Method, route: &str) -> Option<Operation> {
    use Operation as Op;
    let read = method == Method::GET || method == Method::HEAD;
    Some(match route {
        "/" | "/agent" | "/presence.js" | "/healthz" | "/readyz" | "/v1/openapi.json" => {
            return None;
        }
        "/v1/whoami" => Op::WhoAmI,
        "/v1/tokens"
        | "/v1/tokens/{name}"
        | "/v1/audit"
        | "/v1/webhooks"
        | "/v1/webhooks/{id}"
        | "/v1/webhooks/{id}/deliveries" => Op::Admin,
        "/v1/events" => Op::Events,
        "/v1/signals" => Op::Signals,
        "/v1/agents/{id}" | "/v1/agents/{id}/availability" | "/v1/agents/{id}/conversations"
            if read =>
        {
            Op::ReadAgent
        }
        "/v1/conversations" | "/v1/conversations/{id}" if read => Op::ReadConversations,
        // The dashboard's whole-team reads (SPEC R32): every agent at once, so not ReadAgent.
        "/v1/availability" | "/v1/stats" if read => Op::Read,
        "/v1/channels/{id}/conversations" => Op::Open,
        "/v1/conversations/{id}/messages" => Op::Message,
        "/v1/conversations/{id}/accept" | "/v1/conversations/{id}/decline" => Op::Answer,
        "/v1/conversations/{id}/transfer" | "/v1/conversations/{id}/close" => Op::TransferOrClose,
        "/v1/channels/{id}" if method == Method::PATCH => Op::PatchChannel,
        _ if read => Op::Read,
        _ => Op::Settings,
    })
}

/// The gate itself, a `route_layer` middleware (it needs the matched route).
pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match admit(&state, &mut parts).await {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(refusal) => refuse(refusal),
    }
}

/// The refusal's answer, with the headers its status calls for.
fn refuse(refusal: AppError) -> Response {
    let extra = match refusal {
        AppError::Unauthorized(_) => Some((header::WWW_AUTHENTICATE, "Bearer")),
        AppError::RateLimited(_) => Some((header::RETRY_AFTER, "1")),
        _ => None,
    };
    let mut response = refusal.into_response();
    if let Some((name, value)) = extra {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn admit(state: &AppState, request: &mut Parts) -> Result<(), AppError> {
    let route = request
        .extensions
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str)
        .to_owned();
    let gate = &state.gate;
    super::cross_site::check(&request.method, &request.headers, &gate.cors_origins)?;
    let Some(operation) = operation(&request.method, &route) else {
        return Ok(());
    };
    if route == "/metrics" && gate.public_metrics {
        return Ok(());
    }
    let (caller, presented) = authenticate(state, &request.headers).await?;
    // Per token (SPEC R28): the unauthenticated caller of local mode or `mode = "none"` has
    // none to limit (decided by how it came in, never by its name: a token may be named
    // `local`).
    // Keyed by the actor: a JWT's subject and a token of the same name have a bucket each.
    if presented.is_some() && !gate.limiter.admit(&caller.actor()) {
        return Err(AppError::RateLimited(format!(
            "more than {} requests per second for `{}`: slow down",
            gate.limiter.per_second,
            caller.actor()
        )));
    }
    match decide(caller.role, operation) {
        Decision::Allow => {}
        Decision::Deny => return Err(forbidden(&caller, &request.method, &route)),
        Decision::OwnAgent => {
            // Routes about one agent name it in the path; the others check the agent they act
            // for in the handler, with the caller's methods.
            if operation == Operation::ReadAgent && !path_agent_is_callers(&caller, request).await {
                return Err(AppError::Forbidden(format!(
                    "`{}` may read only its own agent",
                    caller.name
                )));
            }
        }
    }
    request.extensions.insert(caller);
    request.extensions.insert(presented);
    Ok(())
}

fn forbidden(caller: &Caller, method: &Method, route: &str) -> AppError {
    AppError::Forbidden(format!(
        "the {} role of `{}` may not {method} {route}",
        caller.role.as_str(),
        caller.name
    ))
}

async fn path_agent_is_callers(caller: &Caller, request: &mut Parts) -> bool {
    RawPathParams::from_request_parts(request, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "id")
                .map(|(_, agent)| caller.speaks_for(agent))
        })
        .unwrap_or(false)
}

/// Who is calling: the bearer credential's owner, with the credential (which has a rate to
/// keep and streams to count, SPEC R28, R35c); without one, in local mode, the local caller;
/// else 401.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Caller, Option<Presented>), AppError> {
    let gate = &state.gate;
    if gate.mode == AuthMode::None {
        return Ok((Caller::unauthenticated("anonymous"), None));
    }
    let presented = match bearer(headers)? {
        Some(credential) if looks_like_jwt(credential) => match &gate.jwt {
            Some(jwt) => jwt
                .verify(credential)
                .map(|caller| {
                    let until = accepted_until(credential).unwrap_or(std::time::UNIX_EPOCH);
                    let presented = Presented::jwt(&caller.name, until);
                    (caller, presented)
                })
                .map_err(|e| unauthorized(&e.to_string())),
            None => Err(unauthorized(
                "this server accepts no JWTs (no key is configured): use an API token",
            )),
        },
        Some(credential) => {
            let hash = crate::auth::token::hash_secret(credential);
            match state.runtime.store().token_for_hash(&hash).await {
                Ok(Some(token)) => Ok((
                    Caller {
                        name: token.name,
                        role: token.role,
                        agent: token.agent,
                        kind: CredentialKind::Token,
                    },
                    Presented::token(hash),
                )),
                Ok(None) => Err(unauthorized("the token is not valid (unknown or revoked)")),
                Err(error) => Err(store_failed(&error)),
            }
        }
        None if gate.loopback_listen && gate.jwt.is_none() => {
            if token_ever_created(state).await? {
                return Err(unauthorized(
                    "authenticate with `Authorization: Bearer <token>`",
                ));
            }
            check_loopback_host(headers)?;
            return Ok((Caller::unauthenticated(LOCAL), None));
        }
        None => Err(unauthorized(
            "authenticate with `Authorization: Bearer <token>`",
        )),
    };
    presented.map(|(caller, presented)| (caller, Some(presented)))
}

/// Whether a token was ever created in the store (SPEC R35e: then local mode is over for
/// good, even once every token is revoked). Asked at most once per [`NO_TOKENS_FOR`] while
/// the answer is no (the first token created ends local mode within that); once it is yes,
/// never again, since it cannot change back. Its last answer while the store cannot be
/// reached.
async fn token_ever_created(state: &AppState) -> Result<bool, AppError> {
    let gate = &state.gate;
    let known = &gate.tokens_known;
    if known.load(Ordering::SeqCst) == SOME_TOKENS {
        return Ok(true);
    }
    let recently_none = gate
        .no_tokens_at
        .lock()
        .ok()
        .and_then(|at| *at)
        .is_some_and(|at| at.elapsed() < NO_TOKENS_FOR);
    if recently_none && known.load(Ordering::SeqCst) == NO_TOKENS {
        return Ok(false);
    }
    match state.runtime.store().token_ever_created().await {
        Ok(true) => {
            gate.token_created();
            Ok(true)
        }
        Ok(false) => {
            known.store(NO_TOKENS, Ordering::SeqCst);
            if let Ok(mut at) = gate.no_tokens_at.lock() {
                *at = Some(Instant::now());
            }
            Ok(false)
        }
        Err(error) => match known.load(Ordering::SeqCst) {
            NO_TOKENS => Ok(false),
            _ => Err(store_failed(&error)),
        },
    }
}

/// The bearer credential, if the request has an `Authorization` header; a header of another
/// kind is a 401.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let credential = value
        .to_str()
        .ok()
        .and_then(|text| {
            let (scheme, rest) = text.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|credential| !credential.is_empty());
    credential
        .map(Some)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// SPEC R27: unauthenticated, the server answers only requests addressed to a loopback name;
/// a page on another site that made its own name resolve to 127.0.0.1 (DNS rebinding) gets
/// 403. A request without `Host` comes from no browser and passes.
fn check_loopback_host(headers: &HeaderMap) -> Result<(), AppError> {
    let host = headers
        .get(header::HOST)
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    match host {
        Some(host) if !is_loopback_host(host) => Err(AppError::Forbidden(format!(
            "host `{}` refused: without authentication this server answers only \
             loopback names (localhost, 127.0.0.1, [::1])",
            host.chars().take(100).collect::<String>()
        ))),
        _ => Ok(()),
    }
}

fn unauthorized(message: &str) -> AppError {
    AppError::Unauthorized(message.to_owned())
}

fn store_failed(error: &crate::store::StoreError) -> AppError {
    tracing::warn!(%error, "cannot check a token: the store failed");
    AppError::Unavailable("cannot check the token now: the store is unreachable; try again")
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    /// The caller the gate admitted; a route outside the gate has none (a bug: 500).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AppError::internal("a handler asked for the caller outside the gate"))
    }
}

/// Requests per second per caller name (SPEC R28), as a token bucket holding one second's
/// worth: a burst of `per_second` requests, then `per_second` a second.
#[derive(Debug)]
struct RateLimiter {
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Callers remembered at most; beyond, full buckets are forgotten (a caller not seen for a
/// second has a full bucket anyway), so JWT subjects cannot grow the map without bound.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `caller`'s bucket; false when it is empty.
    fn admit(&self, caller: &str) -> bool {
        self.admit_at(caller, Instant::now())
    }

    fn admit_at(&self, caller: &str, now: Instant) -> bool {
        let capacity = f64::from(self.per_second);
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(caller) {
            buckets.retain(|_, bucket| refill(*bucket, now, capacity) < capacity);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = refill(*bucket, now, capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refill(bucket: Bucket, now: Instant, capacity: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * capacity).min(capacity)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn r28_a_caller_gets_its_rate_and_no_more_and_others_are_not_slowed() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.admit_at("a", t0)));
        assert!(!limiter.admit_at("a", t0), "the fourth in the same instant");
        assert!(
            limiter.admit_at("b", t0),
            "another caller has its own bucket"
        );
        assert!(!limiter.admit_at("a", t0 + Duration::from_millis(300)));
        assert!(
            limiter.admit_at("a", t0 + Duration::from_millis(340)),
            "1/3 s refills one"
        );
        let later = t0 + Duration::from_secs(10);
        assert!(
            (0..3).all(|_| limiter.admit_at("a", later)),
            "full again, not more"
        );
        assert!(!limiter.admit_at("a", later));
    }

    #[test]
    fn r26_every_route_has_its_kind() {
        use Operation as Op;
        let cases = [
            (Method::GET, "/healthz", None),
            (Method::GET, "/", None),
            (Method::GET, "/agent", None),
            (Method::GET, "/presence.js", None),
            (Method::GET, "/v1/openapi.json", None),
            (Method::GET, "/metrics", Some(Op::Read)),
            (Method::GET, "/v1/agents", Some(Op::Read)),
            (Method::GET, "/v1/availability", Some(Op::Read)),
            (Method::GET, "/v1/stats", Some(Op::Read)),
            (Method::GET, "/v1/agents/{id}", Some(Op::ReadAgent)),
            (Method::PUT, "/v1/agents/{id}", Some(Op::Settings)),
            (
                Method::GET,
                "/v1/agents/{id}/conversations",
                Some(Op::ReadAgent),
            ),
            (Method::PUT, "/v1/groups/{id}", Some(Op::Settings)),
            (Method::POST, "/v1/signals", Some(Op::Signals)),
            (Method::PATCH, "/v1/channels/{id}", Some(Op::PatchChannel)),
            (Method::PUT, "/v1/channels/{id}", Some(Op::Settings)),
            (Method::GET, "/v1/channels/{id}/queue", Some(Op::Read)),
            (
                Method::POST,
                "/v1/channels/{id}/conversations",
                Some(Op::Open),
            ),
            (
                Method::GET,
                "/v1/conversations/{id}",
                Some(Op::ReadConversations),
            ),
            (
                Method::POST,
                "/v1/conversations/{id}/accept",
                Some(Op::Answer),
            ),
            (
                Method::POST,
                "/v1/conversations/{id}/close",
                Some(Op::TransferOrClose),
            ),
            (
                Method::POST,
                "/v1/conversations/{id}/messages",
                Some(Op::Message),
            ),
            (Method::GET, "/v1/events", Some(Op::Events)),
            (Method::POST, "/v1/clock/advance", Some(Op::Settings)),
            (Method::GET, "/v1/clock", Some(Op::Read)),
            (Method::POST, "/v1/tokens", Some(Op::Admin)),
            (Method::GET, "/v1/audit", Some(Op::Admin)),
            (Method::GET, "/v1/whoami", Some(Op::WhoAmI)),
        ];
        for (method, route, expected) in cases {
            assert_eq!(operation(&method, route), expected, "{method} {route}");
        }
    }
}

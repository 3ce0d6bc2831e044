//! Whole-team reads for the supervisor dashboard (SPEC R32), so that a page over 500 agents
//! loads with a handful of requests instead of one per agent: every agent's availability on
//! every channel, and each channel's counts over the last hour.
//! Reads like any other: supervisor, admin and integration roles (SPEC R26).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::dto::{AvailabilityView, ts};
use super::error::AppError;
use super::extract::QueryParams;
use crate::stats::{Counts, MINUTES, window_start};

/// `?agent=` of `GET /v1/availability`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Only this agent (none when it does not exist). A query parameter, unlike a path
    /// segment, reaches the server as it is even for the ids `.` and `..`, which browsers
    /// resolve away in paths.
    agent: Option<String>,
}

/// `GET /v1/availability[?agent=]` → `{"agents": [...]}`: for every agent, in creation order,
/// what `GET /v1/agents/{agent}/availability` answers.
#[utoipa::path(
    get,
    path = "/v1/availability",
    operation_id = "all_availability",
    tag = "agents",
    params(AvailabilityQuery),
    responses((status = 200, description = "Every agent's availability", body = AllAvailability)),
)]
pub async fn availability(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AvailabilityQuery>,
) -> Result<Json<AllAvailability>, AppError> {
    let only = query.agent.filter(|a| !a.is_empty());
    let agents: Vec<AvailabilityView> = state.runtime.read(|engine| {
        engine
            .agents()
            .filter(|(id, _)| only.as_deref().is_none_or(|only| only == id.as_str()))
            .filter_map(|(id, _)| {
                let channels = engine.explain(id)?;
                Some(AvailabilityView {
                    agent: id.to_string(),
                    channels: channels.iter().map(Into::into).collect(),
                })
            })
            .collect()
    })?;
    Ok(Json(AllAvailability { agents }))
}

/// The body of `GET /v1/availability`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllAvailability {
    /// One entry per agent.
    agents: Vec<AvailabilityView>,
}

/// One channel's counts in `GET /v1/stats`.
#[derive(Debug, Serialize, ToSchema)]
struct ChannelCounts {
    /// The channel.
    channel: String,
    /// Its counts over the window.
    #[serde(flatten)]
    counts: Counts,
}

/// The body of `GET /v1/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// The server's clock now.
    #[schema(format = DateTime)]
    now: String,
    /// The start of the counted window: the start of the minute an hour before `now`'s, or
    /// when counting started if later.
    #[schema(format = DateTime)]
    from: String,
    /// When counting started (the server's start): nothing before it is counted.
    #[schema(format = DateTime)]
    counting_since: String,
    /// The window's length.
    window_seconds: i64,
    /// Every channel, in creation order.
    channels: Vec<ChannelCounts>,
}

/// `GET /v1/stats`: every channel's counts over the last hour.
#[utoipa::path(
    get,
    path = "/v1/stats",
    operation_id = "stats",
    tag = "channels",
    responses((status = 200, description = "Each channel's counts over the last hour", body = StatsView)),
)]
pub async fn stats(State(state): State<AppState>) -> Result<Json<StatsView>, AppError> {
    let runtime = &state.runtime;
    // The read first: it processes the deadlines due now, whose events are then counted.
    let ids: Vec<openline_core::ChannelId> =
        runtime.read(|engine| engine.channels().map(|(id, _)| id.clone()).collect())?;
    let now = runtime.clock().now();
    let mut counts = runtime.stats().last_hour(now);
    let channels = ids
        .into_iter()
        .map(|id| ChannelCounts {
            counts: counts.remove(&id).unwrap_or_default(),
            channel: id.to_string(),
        })
        .collect();
    let started = runtime.stats().started();
    Ok(Json(StatsView {
        now: ts(now),
        from: ts(window_start(now).max(started)),
        counting_since: ts(started),
        window_seconds: MINUTES * 60,
        channels,
    }))
}

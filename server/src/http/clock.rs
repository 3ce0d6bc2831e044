//! Time (API.md "Time"; SPEC R18).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::dto::{AdvanceBody, ClockView, ts};
use super::error::{AppError, ErrorBody};
use super::extract::Body;
use crate::auth::Caller;
use crate::runtime::Origin;

/// `GET /v1/clock`.
#[utoipa::path(
    get,
    path = "/v1/clock",
    operation_id = "get_clock",
    tag = "clock",
    responses((status = 200, description = "The clock", body = ClockView)),
)]
pub async fn get(State(state): State<AppState>) -> Json<ClockView> {
    let clock = state.runtime.clock();
    Json(ClockView {
        now: ts(clock.now()),
        mode: clock.mode().as_str(),
    })
}

/// `POST /v1/clock/advance {"seconds": n}` → 200 once every deadline up to the new instant
/// was processed and the instant is durable; 409 in system mode; n ≥ 1.
#[utoipa::path(
    post,
    path = "/v1/clock/advance",
    operation_id = "advance_clock",
    tag = "clock",
    request_body(content = AdvanceBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The clock after every deadline up to it was processed",
            body = ClockView),
        (status = 409, description = "`conflict`: the clock is in `system` mode", body = ErrorBody),
    ),
)]
pub async fn advance(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<AdvanceBody>,
) -> Result<Json<ClockView>, AppError> {
    if body.seconds == 0 {
        return Err(AppError::invalid("`seconds` must be at least 1"));
    }
    let origin = Origin::caller(&caller.actor()).audited(
        "clock.advance",
        "",
        serde_json::json!({ "seconds": body.seconds }),
    );
    let now = state.runtime.advance_clock(body.seconds, origin).await?;
    Ok(Json(ClockView {
        now: ts(now),
        mode: state.runtime.clock().mode().as_str(),
    }))
}

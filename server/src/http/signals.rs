//! `POST /v1/signals` (API.md "Signals"): one signal object or an array of them, applied
//! all-or-nothing (SPEC R20). `at` defaults to the clock's now; every field besides `agent`,
//! `source`, `event` and `at` is the event's own and goes to the source.

use axum::Json;
use axum::extract::State;
use openline_core::{AgentId, Command, Signal, Timestamp};
use serde_json::{Map, Value};

use super::AppState;
use super::dto::{Accepted, SignalBatch};
use super::error::{AppError, ErrorBody};
use super::extract::{Body, parse_id};
use crate::auth::{Caller, Role};
use crate::runtime::Origin;

/// A signal as received, before the instant is known.
#[derive(Debug, Clone, PartialEq)]
struct Incoming {
    agent: AgentId,
    source: String,
    event: String,
    at: Option<Timestamp>,
    fields: Map<String, Value>,
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<String, String> {
    match map.remove(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(Value::String(_)) => Err(format!("`{key}` must not be empty")),
        Some(_) => Err(format!("`{key}` must be a string")),
        None => Err(format!("missing field `{key}`")),
    }
}

fn parse_one(value: Value) -> Result<Incoming, String> {
    let Value::Object(mut map) = value else {
        return Err("a signal must be a JSON object".into());
    };
    let agent = parse_id("agent", &take_string(&mut map, "agent")?)?;
    let source = take_string(&mut map, "source")?;
    let event = take_string(&mut map, "event")?;
    let at = match map.remove("at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            openline_core::time::parse_rfc3339(&text)
                .map_err(|e| format!("`at` must be an RFC 3339 timestamp (`{text}`: {e})"))?,
        ),
        Some(_) => return Err("`at` must be an RFC 3339 timestamp string".into()),
    };
    Ok(Incoming {
        agent,
        source,
        event,
        at,
        fields: map,
    })
}

/// Parses the body: an object, or an array of objects (errors name the index).
fn parse(body: Value) -> Result<Vec<Incoming>, AppError> {
    let items = match body {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(AppError::invalid(
                "expected a signal object or an array of signal objects",
            ));
        }
    };
    let batch = items.len() > 1;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            parse_one(item).map_err(|message| {
                AppError::invalid(if batch {
                    format!("signal [{index}]: {message}")
                } else {
                    message
                })
            })
        })
        .collect()
}

/// SPEC R35d: an agent's own credential reports for itself only the events its sources
/// declare it may ([`openline_core::AvailabilitySource::agent_may_report`]); the batch is
/// refused whole, naming the first other one. Unknown sources are left to the engine (400).
fn check_self_reports(state: &AppState, incoming: &[Incoming]) -> Result<(), AppError> {
    let refused = state.runtime.read(|engine| {
        incoming.iter().enumerate().find_map(|(index, signal)| {
            let plugins = engine.plugins();
            (plugins.agent_may_report(&signal.source, &signal.event) == Some(false))
                .then(|| (index, signal.source.clone(), signal.event.clone()))
        })
    })?;
    match refused {
        None => Ok(()),
        Some((index, source, event)) => Err(AppError::Forbidden(format!(
            "signal [{index}]: an agent may not report `{event}` of source `{source}` for \
             itself; it comes from an integration or an admin"
        ))),
    }
}

/// `POST /v1/signals` → `{"accepted": n}`.
#[utoipa::path(
    post,
    path = "/v1/signals",
    operation_id = "post_signals",
    tag = "signals",
    request_body(content = SignalBatch, content_type = "application/json"),
    responses(
        (status = 200, description = "Every signal was applied", body = Accepted),
        (status = 404, description = "`not_found`: an unknown agent", body = ErrorBody),
    ),
)]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Value>,
) -> Result<Json<Accepted>, AppError> {
    let incoming = parse(body)?;
    // SPEC R26: an agent's credential signals for that agent only; the batch is refused
    // whole, naming the first signal that speaks for another.
    if let Some(index) = incoming
        .iter()
        .position(|signal| !caller.speaks_for(signal.agent.as_str()))
    {
        return Err(AppError::Forbidden(format!(
            "signal [{index}]: `{}` may send signals only for its own agent",
            caller.name
        )));
    }
    if caller.role == Role::Agent {
        check_self_reports(&state, &incoming)?;
    }
    let count = incoming.len();
    if count == 0 {
        return Ok(Json(Accepted { accepted: 0 }));
    }
    let build = move |now: Timestamp, _: &openline_core::Engine| {
        let signals = incoming
            .into_iter()
            .map(|s| Signal {
                agent: s.agent,
                source: s.source,
                event: s.event,
                at: s.at.unwrap_or(now),
                fields: s.fields,
            })
            .collect();
        Ok(Command::Signals { signals })
    };
    state
        .runtime
        .execute_as(Origin::caller(&caller.actor()), build, |_, _| ())
        .await?;
    Ok(Json(Accepted { accepted: count }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn r20_batch_errors_name_the_index() {
        let body = json!([
            {"agent": "a", "source": "mobile", "event": "foreground"},
            {"agent": "a", "source": "mobile", "event": "background"},
            {"agent": "a", "event": "close"}
        ]);
        let err = parse(body).unwrap_err();
        assert_eq!(err.message(), "signal [2]: missing field `source`");
    }

    #[test]
    fn extra_fields_go_to_the_source_and_at_is_parsed() {
        let body = json!({"agent": "a", "source": "hr", "event": "leave", "id": "l1",
                          "from": "2026-01-01T00:00:00Z", "at": "2026-01-01T01:00:00+01:00"});
        let parsed = parse(body).unwrap();
        assert_eq!(parsed[0].fields.len(), 2);
        assert_eq!(
            parsed[0].at.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(parse(json!({"agent": "a", "source": "hr", "event": "x", "at": 5})).is_err());
        assert!(parse(json!("nope")).is_err());
    }
}

//! `GET /v1/audit` (API.md "Audit"; SPEC R28): the trail of settings changes, for admins,
//! oldest first, in pages.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::AppError;
use super::extract::{QueryParams, page_limit};

/// Entries per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The query string (read as text, so that a bad value gets its own message).
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /v1/audit?limit=&after=` → `{"entries": [{"id", "at", "by", "action", "target",
/// "change"}], "next"}`: entries after the id `after` (the previous page's `next`), oldest
/// first; `next` is null on the last page.
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Value>, AppError> {
    let limit = page_limit(query.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = match query.after.filter(|text| !text.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                AppError::invalid(format!(
                    "`after` must be the `next` of the previous page, got `{}`",
                    text.chars().take(100).collect::<String>()
                ))
            })?,
    };
    // One more than asked tells whether a next page exists.
    let wanted = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let mut entries = state
        .runtime
        .store()
        .audit_entries(after, wanted)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "reading the audit trail failed");
            AppError::Unavailable("the store cannot be reached now; try again")
        })?;
    let next = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|entry| entry.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "entries": entries, "next": next })))
}

//! `GET /v1/audit` (API.md "Audit"; SPEC R28): the trail of settings changes, for admins,
//! oldest first, in pages.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::AppError;
use super::extract::{QueryParams, page_limit};
use crate::store::audit::StoredAuditEntry;

/// Entries per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The query string (read as text, so that a bad value gets its own message).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
}

/// `GET /v1/audit` → one page of the trail, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    #[schema(value_type = Vec<AuditEntry>)]
    pub entries: Vec<StoredAuditEntry>,
    /// The next page's `after`, or null after the last one.
    pub next: Option<String>,
}

/// One settings change as `GET /v1/audit` shows it (what [`StoredAuditEntry`] writes).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Its position in the trail (1, 2, …).
    pub id: i64,
    /// When it was made.
    #[schema(format = DateTime)]
    pub at: String,
    /// Who made it: a token's name, `jwt:` and a JWT's subject, `local`, `anonymous`, `cli` or `config`.
    pub by: String,
    /// What was done, `thing.verb`: `agent.put`, `channel.patch`, `token.revoke`, ….
    pub action: String,
    /// What it was done to (empty for the clock).
    pub target: String,
    /// The change as asked.
    pub change: serde_json::Value,
}

/// `GET /v1/audit?limit=&after=` → `{"entries": [{"id", "at", "by", "action", "target",
/// "change"}], "next"}`: entries after the id `after` (the previous page's `next`), oldest
/// first; `next` is null on the last page.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "audit",
    tag = "auth",
    params(AuditQuery),
    responses((status = 200, description = "One page of the audit trail", body = AuditPage)),
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
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
    Ok(Json(AuditPage { entries, next }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The documented entry has the fields a stored one writes, no more, no fewer.
    #[test]
    fn r31_the_documented_entry_is_what_is_written() {
        let stored = StoredAuditEntry {
            id: 1,
            at: "2026-01-01T00:00:00Z".into(),
            by: "admin".into(),
            action: "agent.put".into(),
            target: "alice".into(),
            change: serde_json::json!({}),
        };
        let documented = AuditEntry {
            id: stored.id,
            at: stored.at.clone(),
            by: stored.by.clone(),
            action: stored.action.clone(),
            target: stored.target.clone(),
            change: stored.change.clone(),
        };
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::to_value(&documented).unwrap()
        );
    }
}

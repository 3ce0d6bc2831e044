//! The audit trail (SPEC R28): every accepted change to settings — agents, groups, channels,
//! tokens, webhooks, the clock — with who made it and when. An entry is written in the same
//! transaction as the change it records, so there is never a change without its entry nor an
//! entry for a change that did not happen. Ids come from the counter row of
//! `openline_audit_seq` (see migration 0004): they increase in commit order.

use openline_core::Timestamp;
use serde::Serialize;
use sqlx::Row as _;

use super::{Store, StoreError, format_at};

/// One settings change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When it was made (the server's clock).
    pub at: Timestamp,
    /// Who made it: a token's name, `jwt:<subject>` for a JWT, `local` (the unauthenticated
    /// local mode), `cli` (the `openline token` commands) or `config` (the config file's channels).
    pub by: String,
    /// What was done, `thing.verb`: `agent.put`, `channel.patch`, `token.revoke`, ….
    pub action: &'static str,
    /// What it was done to (an agent, channel, group or token name; empty for the clock).
    pub target: String,
    /// The change as asked: the request's body, or what the action needs to be understood.
    pub change: serde_json::Value,
}

impl AuditEntry {
    /// An entry made at `at` by `by`.
    pub fn new(
        at: Timestamp,
        by: &str,
        action: &'static str,
        target: impl Into<String>,
        change: serde_json::Value,
    ) -> Self {
        Self {
            at,
            by: by.to_owned(),
            action,
            target: target.into(),
            change,
        }
    }
}

/// An entry read back, with its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAuditEntry {
    /// Its position in the trail (1, 2, …; increasing, never reused).
    pub id: i64,
    /// When it was made, UTC RFC 3339.
    pub at: String,
    /// Who made it.
    pub by: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The change.
    pub change: serde_json::Value,
}

/// Appends `entry` inside `tx`.
pub(crate) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let id: i64 = sqlx::query(
        "UPDATE openline_audit_seq SET next = next + 1 WHERE id = 1 RETURNING next - 1 AS id",
    )
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    sqlx::query(
        "INSERT INTO openline_audit (id, at, by, action, target, change) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(format_at(entry.at))
    .bind(entry.by.clone())
    .bind(entry.action)
    .bind(entry.target.clone())
    .bind(entry.change.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// At most `limit` entries with ids above `after`, oldest first.
    pub async fn audit_entries(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredAuditEntry>, StoreError> {
        sqlx::query(
            "SELECT id, at, by, action, target, change FROM openline_audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let change: String = row.try_get("change")?;
            let change = serde_json::from_str(&change).map_err(|e| StoreError::CorruptRow {
                table: "openline_audit",
                key: id.to_string(),
                message: format!("`change` is not JSON: {e}"),
            })?;
            Ok(StoredAuditEntry {
                id,
                at: row.try_get("at")?,
                by: row.try_get("by")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                change,
            })
        })
        .collect()
    }
}

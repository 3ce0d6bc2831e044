//! API tokens in the store (SPEC R25): created, listed, revoked and looked up by secret. The
//! secret is never stored, only its hash ([`crate::auth::token`]); a revoked token's row is
//! deleted. Every change goes to the database directly and is signalled to every process on
//! the store ([`super::token_cache`]), so a token created or revoked
//! by another process (the CLI beside a running server) counts from the next call on.

use openline_core::Timestamp;
use openline_core::id::AgentId;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::audit::{self, AuditEntry};
use super::{Store, StoreError, format_at};
use crate::auth::token::{self, Role, TokenError, TokenInfo};

impl Store {
    /// Creates the token `name` with `role` (and `agent`, required for [`Role::Agent`] and
    /// refused for the others), created at `now` by `by` (audited, SPEC R28); it and its
    /// secret, which is not kept and cannot be shown again. A name already taken by a live
    /// token, a bad name or agent id: [`StoreError::Token`], and nothing is written.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        agent: Option<&str>,
        now: Timestamp,
        by: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        let agent = token::check(name, role, agent)?;
        // Shown in whole seconds like every instant of the API (the CLI's clock has more).
        let created_at = whole_seconds(now);
        let secret = token::new_secret().map_err(StoreError::Random)?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO openline_token (name, role, agent, hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(agent.as_ref().map(AgentId::as_str))
        .bind(token::hash_secret(&secret))
        .bind(format_at(created_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(TokenError::NameTaken(name.to_owned()).into());
        }
        let change = serde_json::json!({ "role": role.as_str(), "agent": agent.as_ref().map(AgentId::as_str) });
        audit::insert(
            &mut tx,
            &AuditEntry::new(now, by, "token.create", name, change),
        )
        .await?;
        self.notify_token_change(&mut tx).await?;
        tx.commit().await?;
        self.token_changed();
        let info = TokenInfo {
            name: name.to_owned(),
            role,
            agent,
            created_at,
        };
        Ok((info, secret))
    }

    /// Every live token, by name (never a secret or a hash).
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        sqlx::query("SELECT name, role, agent, created_at FROM openline_token ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_info)
            .collect()
    }

    /// Revokes the token `name` at `now` by `by` (audited, SPEC R28): its secret is refused
    /// from then on. False when there is no live token of that name (nothing is recorded).
    pub async fn revoke_token(
        &self,
        name: &str,
        now: Timestamp,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM openline_token WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        let entry = AuditEntry::new(now, by, "token.revoke", name, serde_json::json!({}));
        audit::insert(&mut tx, &entry).await?;
        self.notify_token_change(&mut tx).await?;
        tx.commit().await?;
        self.token_changed();
        Ok(true)
    }

    /// The live token whose secret is `secret`, if any.
    ///
    /// The lookup is by hash, through the index on it, and not in constant time: its timing
    /// could at most tell how a hash the caller chose the input of compares with stored
    /// hashes, and a matching hash prefix brings no one closer to a 256-bit secret, since
    /// SHA-256 cannot be steered towards a chosen output. No secret is ever compared.
    ///
    /// Found tokens are cached in memory ([`super::token_cache`]): a request costs no query
    /// while no token was created or revoked since.
    pub async fn token_for_secret(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.token_for_hash(&token::hash_secret(secret)).await
    }

    /// The live token whose secret hashes to `hash` ([`token::hash_secret`]), if any; cached
    /// as [`Store::token_for_secret`] says.
    pub async fn token_for_hash(&self, hash: &str) -> Result<Option<TokenInfo>, StoreError> {
        let hash = hash.to_owned();
        let (cached, stamp) = self.tokens.get(&hash);
        if cached.is_some() {
            return Ok(cached);
        }
        let found =
            sqlx::query("SELECT name, role, agent, created_at FROM openline_token WHERE hash = $1")
                .bind(hash.clone())
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(token_info)
                .transpose()?;
        if let Some(token) = &found {
            self.tokens.insert(hash, token.clone(), stamp);
        }
        Ok(found)
    }

    /// Tells PostgreSQL listeners, when `tx` commits, that tokens changed.
    async fn notify_token_change(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        if self.kind == super::StoreKind::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(super::token_cache::CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// After a committed change: this process forgets its cached tokens, the others learn of
    /// it through the marker (SQLite) or the notification (PostgreSQL).
    fn token_changed(&self) {
        if let Err(error) = self.tokens.signal_change() {
            tracing::warn!(%error, "cannot write the token-change marker beside the database: a running server may accept a revoked token for up to 10 s");
        }
    }

    /// Whether any live token exists (a networked server with none and no JWT key refuses to
    /// start, SPEC R27).
    pub async fn has_tokens(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT name FROM openline_token LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Whether a token was ever created in this store, live or since revoked (SPEC R35e:
    /// local mode exists only for a store that never had one). A revoked token leaves its
    /// `token.create` audit entry, and audit entries are never deleted, so the answer, once
    /// true, stays true across revocations and restarts, on either store.
    pub async fn token_ever_created(&self) -> Result<bool, StoreError> {
        if self.has_tokens().await? {
            return Ok(true);
        }
        Ok(
            sqlx::query("SELECT target FROM openline_audit WHERE action = $1 LIMIT 1")
                .bind("token.create")
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }
}

/// A token row read back.
fn token_info(row: &AnyRow) -> Result<TokenInfo, StoreError> {
    let name: String = row.try_get("name")?;
    let corrupt = |message: String| StoreError::CorruptRow {
        table: "openline_token",
        key: name.clone(),
        message,
    };
    let role = row
        .try_get::<String, _>("role")?
        .parse::<Role>()
        .map_err(|e| corrupt(e.to_string()))?;
    let agent = row
        .try_get::<Option<String>, _>("agent")?
        .map(|agent| AgentId::new(&agent).map_err(|e| corrupt(format!("agent `{agent}`: {e}"))))
        .transpose()?;
    let created_at: String = row.try_get("created_at")?;
    let created_at = openline_core::time::parse_rfc3339(&created_at)
        .map_err(|e| corrupt(format!("bad instant `{created_at}`: {e}")))?;
    Ok(TokenInfo {
        name,
        role,
        agent,
        created_at: whole_seconds(created_at),
    })
}

/// `at` without its fraction of a second: a token's creation instant as shown (also for
/// tokens created before it was stored that way).
fn whole_seconds(at: Timestamp) -> Timestamp {
    chrono::SubsecRound::trunc_subsecs(at, 0)
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;

//! Webhook subscriptions and their deliveries in the store (SPEC R30). A subscription's
//! `cursor` is the last event it is done with; its worker delivers what follows, in order.

use openline_core::Timestamp;
use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::archive::instant_text;
use super::audit::{self, AuditEntry};
use super::{Store, StoreError};

/// A subscription as kept (its secret included: signing needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// Only events of these channels (`None`: any).
    pub channels: Option<Vec<String>>,
    /// Only events concerning these agents (`None`: any).
    pub agents: Option<Vec<String>>,
    /// The HMAC key of its signatures.
    pub secret: String,
    /// When it was created (UTC RFC 3339).
    pub created_at: String,
    /// The last event id it is done with.
    pub cursor: i64,
}

/// How a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Tried, failed, to be tried again.
    Pending,
    /// A 2xx answered.
    Delivered,
    /// Given up after `webhooks.max_age`.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The event's id (a string, as events show it).
    pub event_id: String,
    /// Attempts made.
    pub attempts: i64,
    /// `pending`, `delivered` or `failed`.
    #[schema(pattern = "^(pending|delivered|failed)$")]
    pub status: String,
    /// The HTTP status of the last attempt, if one answered.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

/// What to record of one event's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// The event.
    pub event_id: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The last answer's HTTP status.
    pub last_status_code: Option<u16>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The next attempt (pending only).
    pub next_attempt_at: Option<Timestamp>,
}

fn list_text(list: Option<&[String]>) -> Option<String> {
    list.map(|items| serde_json::Value::from(items.to_vec()).to_string())
}

fn webhook(row: &AnyRow) -> Result<Webhook, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |message: String| StoreError::CorruptRow {
        table: "openline_webhook",
        key: id.clone(),
        message,
    };
    let list = |text: String| {
        serde_json::from_str::<Vec<String>>(&text)
            .map_err(|e| corrupt(format!("a list is not a JSON array of strings: {e}")))
    };
    let events = list(row.try_get("events")?)?;
    let channels = row
        .try_get::<Option<String>, _>("channels")?
        .map(list)
        .transpose()?;
    let agents = row
        .try_get::<Option<String>, _>("agents")?
        .map(list)
        .transpose()?;
    Ok(Webhook {
        url: row.try_get("url")?,
        events,
        channels,
        agents,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
        cursor: row.try_get("cursor")?,
        id,
    })
}

const COLUMNS: &str = "id, url, events, channels, agents, secret, created_at, cursor";

impl Store {
    /// Creates `hook` (its cursor: the newest event now, so it receives what happens from
    /// now on), recording `entry` in the audit trail in the same transaction. Refused when
    /// `max` subscriptions exist already: `Ok(None)`.
    pub async fn create_webhook(
        &self,
        hook: &Webhook,
        entry: &AuditEntry,
        max: i64,
    ) -> Result<Option<Webhook>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM openline_webhook")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if count >= max {
            return Ok(None);
        }
        let cursor = super::events::next_id(&mut tx).await? - 1;
        sqlx::query(
            "INSERT INTO openline_webhook (id, url, events, channels, agents, secret, created_at, cursor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hook.id.clone())
        .bind(hook.url.clone())
        .bind(serde_json::Value::from(hook.events.clone()).to_string())
        .bind(list_text(hook.channels.as_deref()))
        .bind(list_text(hook.agents.as_deref()))
        .bind(hook.secret.clone())
        .bind(hook.created_at.clone())
        .bind(cursor)
        .execute(&mut *tx)
        .await?;
        audit::insert(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(Some(Webhook {
            cursor,
            ..hook.clone()
        }))
    }

    /// Every subscription, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM openline_webhook ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(webhook)
        .collect()
    }

    /// Subscription `id`, if it exists.
    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM openline_webhook WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
    }

    /// Deletes subscription `id` and its deliveries, recording `entry`; false when there was
    /// none (nothing is recorded).
    pub async fn delete_webhook(&self, id: &str, entry: &AuditEntry) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM openline_webhook WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM openline_webhook_delivery WHERE webhook = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        audit::insert(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records `updates` of subscription `id`'s deliveries and moves its cursor to `cursor`,
    /// in one transaction (a deleted subscription: nothing changes).
    pub async fn record_deliveries(
        &self,
        id: &str,
        updates: &[DeliveryUpdate],
        cursor: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("UPDATE openline_webhook SET cursor = $1 WHERE id = $2")
            .bind(cursor)
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if exists == 0 {
            return Ok(());
        }
        for update in updates {
            sqlx::query(
                "INSERT INTO openline_webhook_delivery \
                 (webhook, event_id, attempts, status, last_status_code, last_error, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (webhook, event_id) DO UPDATE SET attempts = excluded.attempts, \
                 status = excluded.status, last_status_code = excluded.last_status_code, \
                 last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at",
            )
            .bind(id.to_owned())
            .bind(update.event_id)
            .bind(update.attempts)
            .bind(update.status.as_str())
            .bind(update.last_status_code.map(i64::from))
            .bind(update.last_error.as_deref().map(super::printable))
            .bind(update.next_attempt_at.map(instant_text))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` deliveries of subscription `id`, newest event first.
    pub async fn deliveries(&self, id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        sqlx::query(
            "SELECT event_id, attempts, status, last_status_code, last_error, next_attempt_at \
             FROM openline_webhook_delivery WHERE webhook = $1 ORDER BY event_id DESC LIMIT $2",
        )
        .bind(id.to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Delivery {
                event_id: row.try_get::<i64, _>("event_id")?.to_string(),
                attempts: row.try_get("attempts")?,
                status: row.try_get("status")?,
                last_status_code: row.try_get("last_status_code")?,
                last_error: row.try_get("last_error")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
            })
        })
        .collect()
    }
}

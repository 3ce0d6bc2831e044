//! Retained events (SPEC R29): every published event with its id, written by the
//! group-commit writer in the transaction of the commands that caused it, read back by SSE
//! subscribers that resume and by webhook deliveries, deleted after `retention.events`.

use std::sync::OnceLock;

use openline_core::Timestamp;
use sqlx::Row as _;

use super::archive::instant_text;
use super::{INSERT_CHUNKS, Store, StoreError};
use crate::events::Published;

/// One retained event, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its id.
    pub id: i64,
    /// When it happened (UTC RFC 3339, microseconds).
    pub at: String,
    /// Its type, e.g. `conversation.offered`.
    pub kind: String,
    /// The agent it concerns, if any.
    pub agent: Option<String>,
    /// Its channel (`""` for an event of no channel: `agent.changed`).
    pub channel: String,
    /// Its JSON, as sent (with its `id`).
    pub data: String,
}

/// Which retained events a reader wants: those of one agent and/or one channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter<'a> {
    /// Only events concerning this agent.
    pub agent: Option<&'a str>,
    /// Only events of this channel.
    pub channel: Option<&'a str>,
}

/// Where the retained events stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    /// The oldest retained event's id, if any is retained.
    pub oldest: Option<i64>,
    /// The id the next event will get.
    pub next: i64,
}

/// The id the next event gets, read inside `tx`.
pub(crate) async fn next_id(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query("SELECT next FROM openline_event_seq WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?
            .try_get("next")?,
    )
}

/// Writes `events` (numbered in order, the first one `events[0].id()`) inside `tx` and moves
/// the counter past them. With `retain` false only the counter moves.
pub(crate) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mut events: &[&Published],
    retain: bool,
) -> Result<(), StoreError> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    sqlx::query("UPDATE openline_event_seq SET next = $1 WHERE id = 1")
        .bind(last.id() + 1)
        .execute(&mut **tx)
        .await?;
    if !retain {
        return Ok(());
    }
    for (rows, sql) in insert_statements() {
        while events.len() >= *rows {
            let (chunk, rest) = events.split_at(*rows);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for published in chunk {
                // An event of no channel (`agent.changed`) is kept with `''`, which no
                // channel filter names.
                query = query
                    .bind(published.id())
                    .bind(instant_text(published.at()))
                    .bind(published.kind())
                    .bind(published.agent().map(str::to_owned))
                    .bind(published.channel().unwrap_or_default().to_owned())
                    .bind(published.data().to_owned());
            }
            query.execute(&mut **tx).await?;
            events = rest;
        }
    }
    Ok(())
}

fn insert_statements() -> &'static [(usize, String); 4] {
    static SQL: OnceLock<[(usize, String); 4]> = OnceLock::new();
    SQL.get_or_init(|| {
        INSERT_CHUNKS.map(|rows| {
            let values: Vec<String> = (0..rows)
                .map(|row| {
                    let n = row * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO openline_event (id, at, kind, agent, channel, data) VALUES {}",
                values.join(", ")
            );
            (rows, sql)
        })
    })
}

impl Store {
    /// The oldest retained event and the next id.
    pub async fn event_bounds(&self) -> Result<EventBounds, StoreError> {
        let oldest = sqlx::query("SELECT MIN(id) AS oldest FROM openline_event")
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>("oldest")?;
        let mut tx = self.pool.begin().await?;
        let next = next_id(&mut tx).await?;
        tx.commit().await?;
        Ok(EventBounds { oldest, next })
    }

    /// When the newest retained event happened, if any is retained.
    pub async fn newest_event_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let at = sqlx::query("SELECT at FROM openline_event ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get::<String, _>("at"))
            .transpose()?;
        at.map(|text| {
            openline_core::time::parse_rfc3339(&text).map_err(|e| StoreError::CorruptRow {
                table: "openline_event",
                key: "newest".into(),
                message: format!("bad instant `{text}`: {e}"),
            })
        })
        .transpose()
    }

    /// At most `limit` retained events after id `after` that pass `filter`, in id order.
    pub async fn events_after(
        &self,
        after: i64,
        filter: EventFilter<'_>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = String::from(
            "SELECT id, at, kind, agent, channel, data FROM openline_event WHERE id > $1",
        );
        let mut next = 2;
        if filter.agent.is_some() {
            sql.push_str(&format!(" AND agent = ${next}"));
            next += 1;
        }
        if filter.channel.is_some() {
            sql.push_str(&format!(" AND channel = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${next}"));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after);
        if let Some(agent) = filter.agent {
            query = query.bind(agent.to_owned());
        }
        if let Some(channel) = filter.channel {
            query = query.bind(channel.to_owned());
        }
        query
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(StoredEvent {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    agent: row.try_get("agent")?,
                    channel: row.try_get("channel")?,
                    data: row.try_get("data")?,
                })
            })
            .collect()
    }

    /// Deletes at most `batch` retained events that happened before `before`, oldest first;
    /// how many.
    /// The webhook deliveries of those events go with them.
    pub async fn purge_events(&self, before: Timestamp, batch: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM openline_event WHERE id IN \
             (SELECT id FROM openline_event WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(instant_text(before))
        .bind(batch)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM openline_webhook_delivery WHERE event_id < \
             (SELECT COALESCE(MIN(id), (SELECT next FROM openline_event_seq WHERE id = 1)) FROM openline_event)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

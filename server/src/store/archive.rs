//! The archive of closed conversations (SPEC R21b): a closed conversation leaves the engine's
//! memory `retention.closed_in_memory` after it closed, and is read from these two plain
//! tables until `retention.closed_conversations` after it closed (docs/store.md describes them
//! for deployers who report on them with SQL).
//!
//! - `openline_conversation`: one row per archived conversation;
//! - `openline_conversation_history`: its history entries, oldest first (`position` 0, 1, …).
//!
//! Instants are stored as UTC RFC 3339 text with exactly six fractional digits and `Z`
//! ([`instant_text`]), so that text order is time order on every database; finer digits are
//! dropped. Conversations are listed newest first by [`Position`] = (`queued_at`, `id`), ids
//! compared byte by byte (PostgreSQL: `COLLATE "C"`, whatever the database's collation), the
//! order the HTTP layer uses for the conversations still in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use chrono::SubsecRound as _;
use openline_core::{
    AgentId, Author, ChannelId, Conversation, ConversationId, ConversationState, HistoryEntry,
    HistoryEvent, ReasonCode, Timestamp,
};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{INSERT_CHUNKS, Store, StoreError, StoreKind};

/// An instant as the archive stores it: UTC RFC 3339 with exactly six fractional digits and
/// `Z` (e.g. `2026-12-02T07:00:00.000000Z`), so that text order is time order. Digits finer
/// than the microsecond are dropped.
pub fn instant_text(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `at` as the archive keeps it: truncated to the microsecond.
pub fn to_micros(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(6)
}

/// A conversation's place in the list order: newest first is descending
/// (`queued_at`, then `id` byte by byte). `queued_at` is truncated to the microsecond, as the
/// archive keeps it, so that a conversation has the same position in memory and in the store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// First arrival, truncated to the microsecond.
    pub queued_at: Timestamp,
    /// The conversation's id.
    pub id: String,
}

impl Position {
    /// The position of `conversation`.
    pub fn of(conversation: &Conversation) -> Self {
        Self {
            queued_at: to_micros(conversation.queued_at),
            id: conversation.id.to_string(),
        }
    }
}

/// What [`Store::list_archived`] returns: every filter that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only conversations of this channel.
    pub channel: Option<String>,
    /// Only conversations this agent held (the `agent` column).
    pub agent: Option<String>,
    /// Only conversations closed at or after this instant.
    pub closed_after: Option<Timestamp>,
    /// Only conversations closed strictly before this instant.
    pub closed_before: Option<Timestamp>,
    /// Only conversations strictly after this position in the newest-first order (the last
    /// one of the previous page).
    pub after: Option<Position>,
    /// At most this many conversations (0 or less: none).
    pub limit: i64,
}

/// The columns of `openline_conversation` (every one [`read_conversation`] reads).
macro_rules! columns {
    () => {
        "id, channel, customer, agent, last_message_from, queued_at, closed_at, history_omitted"
    };
}

/// The columns of `openline_conversation_history` [`read_entry`] reads.
macro_rules! history_columns {
    () => {
        "conversation, at, event, agent, reason, actor"
    };
}

/// Most ids in one `IN` list when reading the histories of a page (far below the bind
/// parameter limits of SQLite and PostgreSQL).
const HISTORY_READ_CHUNK: usize = 1000;

/// The name the API gives `event` (`serde` `snake_case`, see [`HistoryEvent`]); stored as is.
fn event_name(event: HistoryEvent) -> &'static str {
    match event {
        HistoryEvent::Queued => "queued",
        HistoryEvent::Offered => "offered",
        HistoryEvent::OfferWithdrawn => "offer_withdrawn",
        HistoryEvent::OfferExpired => "offer_expired",
        HistoryEvent::Declined => "declined",
        HistoryEvent::Accepted => "accepted",
        HistoryEvent::Requeued => "requeued",
        HistoryEvent::Transferred => "transferred",
        HistoryEvent::Closed => "closed",
    }
}

/// The name the API gives `author`.
fn author_name(author: Author) -> &'static str {
    match author {
        Author::Customer => "customer",
        Author::Agent => "agent",
    }
}

/// A failure to read back archived conversation `id` (SPEC R22: named, never skipped).
fn corrupt(id: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        seq: 0,
        message: format!("archived conversation `{id}`: {message}"),
    }
}

/// Refuses to archive `conversation` (a caller's bug): nothing is written.
fn not_archivable(conversation: &Conversation, why: &str) -> StoreError {
    StoreError::Database(sqlx::Error::InvalidArgument(format!(
        "conversation `{}` cannot be archived: {why}",
        conversation.id
    )))
}

/// A conversation as its row, checked and formatted.
struct ConversationRow<'a> {
    conversation: &'a Conversation,
    queued_at: String,
    closed_at: String,
    history_omitted: i64,
}

impl<'a> ConversationRow<'a> {
    fn of(conversation: &'a Conversation) -> Result<Self, StoreError> {
        if conversation.state != ConversationState::Closed {
            return Err(not_archivable(conversation, "it is not closed"));
        }
        let Some(closed_at) = conversation.closed_at else {
            return Err(not_archivable(conversation, "it has no `closed_at`"));
        };
        Ok(Self {
            conversation,
            queued_at: instant_text(conversation.queued_at),
            closed_at: instant_text(closed_at),
            history_omitted: i64::try_from(conversation.history_omitted).unwrap_or(i64::MAX),
        })
    }
}

/// A multi-row statement for each of [`INSERT_CHUNKS`]'s row counts: `head` followed by
/// `rows` groups of `columns` numbered placeholders, then `tail`.
fn chunked_sql(head: &str, columns: usize, tail: &str) -> [(usize, String); INSERT_CHUNKS.len()] {
    INSERT_CHUNKS.map(|rows| (rows, placeholders_sql(head, columns, rows, tail)))
}

/// `head ($1, …), ($k, …) tail` with `rows` groups of `columns` placeholders, numbered from 1.
fn placeholders_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::from(head);
    for row in 0..rows {
        sql.push_str(if row == 0 { " (" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// `head ($1, …, $n) tail`: an `IN` list of `n` placeholders.
fn in_list_sql(head: &str, n: usize, tail: &str) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!("{head} ({}){tail}", list.join(", "))
}

type Statements = [(usize, String); INSERT_CHUNKS.len()];

fn upsert_statements() -> &'static Statements {
    static SQL: OnceLock<Statements> = OnceLock::new();
    SQL.get_or_init(|| {
        chunked_sql(
            concat!(
                "INSERT INTO openline_conversation (",
                columns!(),
                ") VALUES"
            ),
            8,
            " ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, \
             customer = excluded.customer, agent = excluded.agent, \
             last_message_from = excluded.last_message_from, queued_at = excluded.queued_at, \
             closed_at = excluded.closed_at, history_omitted = excluded.history_omitted",
        )
    })
}

fn history_insert_statements() -> &'static Statements {
    static SQL: OnceLock<Statements> = OnceLock::new();
    SQL.get_or_init(|| {
        chunked_sql(
            "INSERT INTO openline_conversation_history \
             (conversation, position, at, event, agent, reason, actor) VALUES",
            7,
            "",
        )
    })
}

fn history_delete_statements() -> &'static Statements {
    static SQL: OnceLock<Statements> = OnceLock::new();
    SQL.get_or_init(|| {
        INSERT_CHUNKS.map(|rows| {
            (
                rows,
                in_list_sql(
                    "DELETE FROM openline_conversation_history WHERE conversation IN",
                    rows,
                    "",
                ),
            )
        })
    })
}

type AnyQuery = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// Runs `statements` over `items` in chunks (largest first), `bind` adding one item's values.
async fn execute_chunked<T>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    statements: &'static Statements,
    mut items: &[T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery,
) -> Result<(), StoreError> {
    for (rows, sql) in statements {
        while items.len() >= *rows {
            let (chunk, rest) = items.split_at(*rows);
            let query = chunk.iter().fold(sqlx::query(sql.as_str()), &bind);
            query.execute(&mut **tx).await?;
            items = rest;
        }
    }
    Ok(())
}

/// One history row to insert.
struct EntryRow<'a> {
    conversation: &'a str,
    position: i64,
    at: String,
    entry: &'a HistoryEntry,
}

/// Archives `conversations` inside the caller's transaction (the group-commit writer's): each
/// one's row is inserted or replaced, and its history rows replaced, so archiving the same
/// conversation again (e.g. after a restart) leaves one copy. Multi-row statements in chunks of
/// [`INSERT_CHUNKS`] rows. Only closed conversations can be archived: any other one (a
/// caller's bug) fails the whole call before anything is written. When `conversations` holds
/// an id twice, the last one wins.
pub(crate) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    conversations: &[Conversation],
) -> Result<(), StoreError> {
    let mut rows: Vec<ConversationRow<'_>> = Vec::with_capacity(conversations.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(conversations.len());
    for conversation in conversations {
        let row = ConversationRow::of(conversation)?;
        match index.get(conversation.id.as_str()) {
            Some(&at) => rows[at] = row,
            None => {
                index.insert(conversation.id.as_str(), rows.len());
                rows.push(row);
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    execute_chunked(tx, upsert_statements(), &rows, |query, row| {
        let c = row.conversation;
        query
            .bind(c.id.as_str().to_owned())
            .bind(c.channel.as_str().to_owned())
            .bind(super::printable(&c.customer))
            .bind(c.agent.as_deref().map(str::to_owned))
            .bind(c.last_message_from.map(author_name))
            .bind(row.queued_at.clone())
            .bind(row.closed_at.clone())
            .bind(row.history_omitted)
    })
    .await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.conversation.id.as_str()).collect();
    execute_chunked(tx, history_delete_statements(), &ids, |query, id| {
        query.bind((*id).to_owned())
    })
    .await?;
    let entries: Vec<EntryRow<'_>> = rows
        .iter()
        .flat_map(|row| {
            let c = row.conversation;
            c.history
                .iter()
                .zip(0i64..)
                .map(move |(entry, position)| EntryRow {
                    conversation: c.id.as_str(),
                    position,
                    at: instant_text(entry.at),
                    entry,
                })
        })
        .collect();
    execute_chunked(tx, history_insert_statements(), &entries, |query, row| {
        query
            .bind(row.conversation.to_owned())
            .bind(row.position)
            .bind(row.at.clone())
            .bind(event_name(row.entry.event))
            .bind(row.entry.agent.as_deref().map(str::to_owned))
            .bind(
                row.entry
                    .reason
                    .as_ref()
                    .map(|r| super::printable(r.as_str())),
            )
            .bind(row.entry.by.as_deref().map(super::printable))
    })
    .await
}

/// The instant in column `column` of archived conversation `id`.
fn read_instant(id: &str, column: &str, text: &str) -> Result<Timestamp, StoreError> {
    openline_core::time::parse_rfc3339(text)
        .map_err(|e| corrupt(id, format!("bad instant `{text}` in `{column}`: {e}")))
}

/// A conversation row (without its history) as the closed conversation it was.
fn read_conversation(row: &AnyRow) -> Result<Conversation, StoreError> {
    let id: String = row.try_get("id")?;
    let channel: String = row.try_get("channel")?;
    let agent: Option<String> = row.try_get("agent")?;
    let last_message_from: Option<String> = row.try_get("last_message_from")?;
    let queued_at: String = row.try_get("queued_at")?;
    let closed_at: String = row.try_get("closed_at")?;
    let history_omitted: i64 = row.try_get("history_omitted")?;
    let last_message_from = match last_message_from.as_deref() {
        None => None,
        Some("customer") => Some(Author::Customer),
        Some("agent") => Some(Author::Agent),
        Some(other) => {
            return Err(corrupt(
                &id,
                format!("unknown `last_message_from` `{other}` (customer or agent expected)"),
            ));
        }
    };
    Ok(Conversation {
        id: ConversationId::new(&id).map_err(|e| corrupt(&id, format!("the id {e}")))?,
        channel: ChannelId::new(&channel)
            .map_err(|e| corrupt(&id, format!("the channel `{channel}` {e}")))?,
        customer: row.try_get("customer")?,
        state: ConversationState::Closed,
        agent: agent
            .map(|a| AgentId::new(&a).map_err(|e| corrupt(&id, format!("the agent `{a}` {e}"))))
            .transpose()?,
        offered_to: Vec::new(),
        last_message_from,
        queued_at: read_instant(&id, "queued_at", &queued_at)?,
        history: VecDeque::new(),
        history_omitted: u64::try_from(history_omitted)
            .map_err(|_| corrupt(&id, format!("negative `history_omitted` {history_omitted}")))?,
        closed_at: Some(read_instant(&id, "closed_at", &closed_at)?),
    })
}

/// A history row as the entry it was, with the id of its conversation.
fn read_entry(row: &AnyRow) -> Result<(String, HistoryEntry), StoreError> {
    let id: String = row.try_get("conversation")?;
    let at: String = row.try_get("at")?;
    let event: String = row.try_get("event")?;
    let agent: Option<String> = row.try_get("agent")?;
    let reason: Option<String> = row.try_get("reason")?;
    let by: Option<String> = row.try_get("actor")?;
    let event: HistoryEvent = serde_json::from_value(serde_json::Value::String(event.clone()))
        .map_err(|_| corrupt(&id, format!("unknown history event `{event}`")))?;
    let entry = HistoryEntry {
        at: read_instant(&id, "history.at", &at)?,
        event,
        agent: agent
            .map(|a| {
                AgentId::new(&a).map_err(|e| corrupt(&id, format!("the history's agent `{a}` {e}")))
            })
            .transpose()?,
        reason: reason.map(ReasonCode::new),
        by,
    };
    Ok((id, entry))
}

/// Appends `value` to the bound `texts`; its placeholder.
fn param(texts: &mut Vec<String>, value: String) -> String {
    texts.push(value);
    format!("${}", texts.len())
}

impl Store {
    /// The id column as the list order compares it: byte by byte, the order of Rust strings
    /// (SQLite's default; PostgreSQL would otherwise use the database's collation).
    fn id_order(&self) -> &'static str {
        match self.kind {
            StoreKind::Sqlite => "id",
            StoreKind::Postgres => "id COLLATE \"C\"",
        }
    }

    /// Which of `closed` (closed conversations: id and when they closed) the archive holds,
    /// as the same closing instant under the same id; by id. A standby forgets those, as the
    /// active server did once it archived them (SPEC R21b, R23b).
    pub async fn archived_among(
        &self,
        closed: &[(&str, Timestamp)],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        const CHUNK: usize = 500;
        let mut found = std::collections::HashSet::new();
        for chunk in closed.chunks(CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT id, closed_at FROM openline_conversation WHERE id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, _) in chunk {
                query = query.bind((*id).to_owned());
            }
            let rows = query.fetch_all(&self.pool).await?;
            let wanted: HashMap<&str, String> = chunk
                .iter()
                .map(|(id, at)| (*id, instant_text(*at)))
                .collect();
            for row in &rows {
                let id: String = row.try_get("id")?;
                let closed_at: Option<String> = row.try_get("closed_at")?;
                if closed_at.is_some() && wanted.get(id.as_str()) == closed_at.as_ref() {
                    found.insert(id);
                }
            }
        }
        Ok(found)
    }

    /// Archived conversation `id` with its history, in order; `None` when it is not archived
    /// or closed before `horizon` (deleted, even if the purge has not removed it yet).
    pub async fn archived(
        &self,
        id: &str,
        horizon: Timestamp,
    ) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM openline_conversation WHERE id = $1 AND closed_at >= $2"
        ))
        .bind(id.to_owned())
        .bind(instant_text(horizon))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut conversation = read_conversation(&row)?;
        let entries = sqlx::query(concat!(
            "SELECT ",
            history_columns!(),
            " FROM openline_conversation_history WHERE conversation = $1 ORDER BY position"
        ))
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        for row in &entries {
            let (_, entry) = read_entry(row)?;
            conversation.history.push_back(entry);
        }
        Ok(Some(conversation))
    }

    /// The archived conversations `query` selects, newest first (`queued_at` descending, then
    /// `id` descending byte by byte), with their histories; none closed before `horizon`.
    ///
    /// One query for the page (an index seek on `queued_at`, or on `channel` / `agent` when
    /// filtered, then at most `limit` rows read in order) and one for its histories.
    pub async fn list_archived(
        &self,
        query: &ArchiveQuery,
        horizon: Timestamp,
    ) -> Result<Vec<Conversation>, StoreError> {
        if query.limit <= 0 {
            return Ok(Vec::new());
        }
        let id = self.id_order();
        let mut texts: Vec<String> = Vec::new();
        let lowest = match query.closed_after {
            Some(after) => after.max(horizon),
            None => horizon,
        };
        // Which index reads the page. Without `closed_after`: the one on `queued_at` (or
        // `channel` / `agent`), read newest first from the cursor (or from `closed_before`,
        // since a conversation is queued before it closes) until the page is full. With
        // `closed_after`: the one on `closed_at`, so that the cost is that of the window asked
        // for, never of everything older. PostgreSQL chooses with its statistics; SQLite is
        // told (`INDEXED BY`, and `+closed_at` keeps it off the `closed_at` index).
        let (table, closed_at) = match (self.kind, query.closed_after.is_some()) {
            (StoreKind::Sqlite, true) => (
                "openline_conversation INDEXED BY openline_conversation_closed_at",
                "closed_at",
            ),
            (StoreKind::Sqlite, false) => ("openline_conversation", "+closed_at"),
            (StoreKind::Postgres, _) => ("openline_conversation", "closed_at"),
        };
        let mut sql = format!(
            concat!("SELECT ", columns!(), " FROM {} WHERE {} >= {}"),
            table,
            closed_at,
            param(&mut texts, instant_text(lowest))
        );
        if let Some(channel) = &query.channel {
            sql.push_str(&format!(
                " AND channel = {}",
                param(&mut texts, channel.clone())
            ));
        }
        if let Some(agent) = &query.agent {
            sql.push_str(&format!(
                " AND agent = {}",
                param(&mut texts, agent.clone())
            ));
        }
        if let Some(before) = query.closed_before {
            // A conversation is queued before it closes: the bound on `queued_at` lets the
            // seek start there.
            let p = param(&mut texts, instant_text(before));
            sql.push_str(&format!(" AND {closed_at} < {p} AND queued_at < {p}"));
        }
        if let Some(after) = &query.after {
            let q = param(&mut texts, instant_text(after.queued_at));
            let i = param(&mut texts, after.id.clone());
            sql.push_str(&format!(
                " AND queued_at <= {q} AND (queued_at < {q} OR {id} < {i})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY queued_at DESC, {id} DESC LIMIT ${}",
            texts.len() + 1
        ));
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql));
        for text in texts {
            select = select.bind(text);
        }
        let rows = select.bind(query.limit).fetch_all(&self.pool).await?;
        let mut page = rows
            .iter()
            .map(read_conversation)
            .collect::<Result<Vec<_>, _>>()?;
        self.fill_histories(&mut page).await?;
        Ok(page)
    }

    /// Reads the histories of `page` (conversations read without theirs).
    async fn fill_histories(&self, page: &mut [Conversation]) -> Result<(), StoreError> {
        let at: HashMap<String, usize> = page
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.to_string(), i))
            .collect();
        for chunk in page
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
            .chunks(HISTORY_READ_CHUNK)
        {
            // A page's size varies: a one-off statement, not one cached per size.
            let sql = in_list_sql(
                concat!(
                    "SELECT ",
                    history_columns!(),
                    " FROM openline_conversation_history WHERE conversation IN"
                ),
                chunk.len(),
                " ORDER BY conversation, position",
            );
            let mut select = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                select = select.bind(id.clone());
            }
            for row in select.fetch_all(&self.pool).await? {
                let (id, entry) = read_entry(&row)?;
                if let Some(&i) = at.get(&id) {
                    page[i].history.push_back(entry);
                }
            }
        }
        Ok(())
    }

    /// Deletes up to `batch` archived conversations closed before `closed_before`, oldest
    /// first, with their histories, in one transaction; how many were deleted (fewer than
    /// `batch`: nothing older is left). Called periodically with the retention horizon
    /// (SPEC R21b).
    pub async fn purge_archive(
        &self,
        closed_before: Timestamp,
        batch: i64,
    ) -> Result<u64, StoreError> {
        if batch <= 0 {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "DELETE FROM openline_conversation WHERE id IN \
             (SELECT id FROM openline_conversation \
             WHERE closed_at < $1 ORDER BY closed_at LIMIT $2) RETURNING id",
        )
        .bind(instant_text(closed_before))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>("id"))
            .collect::<Result<Vec<_>, _>>()?;
        execute_chunked(&mut tx, history_delete_statements(), &ids, |query, id| {
            query.bind(id.clone())
        })
        .await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;

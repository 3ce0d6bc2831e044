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
        "conversation, at, event, agent, reason"
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
             (conversation, position, at, event, agent, reason) VALUES",
            6,
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
            .bind(c.customer.clone())
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
            .bind(row.entry.reason.as_ref().map(|r| r.as_str().to_owned()))
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
mod tests {
    //! On SQLite always; on PostgreSQL too when `OPENLINE_TEST_DATABASE_URL` is set (each test
    //! in a fresh database, the paging test in one with an ICU `en-US` collation, where text
    //! order is not byte order).
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write as _;

    use super::*;

    /// An instant `seconds` after 2026-01-01, with microseconds (what the archive keeps).
    fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_767_225_600 + seconds, 123_456_000).unwrap()
    }

    fn entry(
        at: Timestamp,
        event: HistoryEvent,
        agent: Option<&str>,
        reason: Option<&str>,
    ) -> HistoryEntry {
        HistoryEntry {
            at,
            event,
            agent: agent.map(|a| AgentId::new(a).unwrap()),
            reason: reason.map(ReasonCode::new),
        }
    }

    /// A conversation of `channel` queued at `at(queued)`, held by `agent`, closed at
    /// `at(closed)`, with a short history.
    fn closed(
        id: &str,
        channel: &str,
        queued: i64,
        closed: i64,
        agent: Option<&str>,
    ) -> Conversation {
        let mut history = VecDeque::new();
        history.push_back(entry(at(queued), HistoryEvent::Queued, None, None));
        if let Some(agent) = agent {
            history.push_back(entry(at(queued), HistoryEvent::Offered, Some(agent), None));
            history.push_back(entry(at(queued), HistoryEvent::Accepted, Some(agent), None));
        }
        history.push_back(entry(at(closed), HistoryEvent::Closed, agent, None));
        Conversation {
            id: ConversationId::new(id).unwrap(),
            channel: ChannelId::new(channel).unwrap(),
            customer: format!("customer of {id}"),
            state: ConversationState::Closed,
            agent: agent.map(|a| AgentId::new(a).unwrap()),
            offered_to: Vec::new(),
            last_message_from: agent.map(|_| Author::Agent),
            queued_at: at(queued),
            history,
            history_omitted: 0,
            closed_at: Some(at(closed)),
        }
    }

    /// A conversation whose history is full (every event, reasons, a source's own code) and
    /// whose older entries were dropped.
    fn long_lived(id: &str) -> Conversation {
        let mut c = closed(id, "web", 0, 500, Some("alice"));
        let events = [
            (HistoryEvent::Offered, Some("bob"), None),
            (
                HistoryEvent::OfferExpired,
                Some("bob"),
                Some("offer_expired"),
            ),
            (HistoryEvent::Offered, Some("alice"), None),
            (HistoryEvent::Declined, Some("alice"), Some("declined")),
            (
                HistoryEvent::OfferWithdrawn,
                Some("carol"),
                Some("in_meeting"),
            ),
            (HistoryEvent::Accepted, Some("alice"), None),
            (HistoryEvent::Requeued, Some("alice"), Some("offline")),
            (
                HistoryEvent::Transferred,
                Some("alice"),
                Some("transferred"),
            ),
            (HistoryEvent::Queued, None, None),
        ];
        c.history.clear();
        for i in 0..Conversation::MAX_HISTORY {
            let (event, agent, reason) = events[i % events.len()];
            c.history
                .push_back(entry(at(i as i64), event, agent, reason));
        }
        c.history_omitted = 1234;
        c.last_message_from = Some(Author::Customer);
        c
    }

    /// A store on a fresh database, removed by [`TestDb::finish`].
    enum TestDb {
        Sqlite(std::path::PathBuf),
        Postgres { admin: String, name: String },
    }

    impl TestDb {
        fn sqlite() -> Self {
            Self::Sqlite(
                std::env::temp_dir().join(format!("openline-archive-{}.db", uuid::Uuid::now_v7())),
            )
        }

        /// A fresh PostgreSQL database (`create` = options after `CREATE DATABASE name`), or
        /// `None` after saying on the real stderr that `test` is skipped: never a silent pass.
        async fn postgres(test: &str, create: &str) -> Option<Self> {
            let Ok(admin) = std::env::var("OPENLINE_TEST_DATABASE_URL") else {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the PostgreSQL part of {test}: OPENLINE_TEST_DATABASE_URL not set"
                );
                return None;
            };
            let name = format!("openline_a_{}", uuid::Uuid::now_v7().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name} {create}"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            Some(Self::Postgres { admin, name })
        }

        fn url(&self) -> String {
            match self {
                Self::Sqlite(path) => format!("sqlite://{}", path.display()),
                Self::Postgres { admin, name } => {
                    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
                    format!("{base}/{name}")
                }
            }
        }

        async fn store(&self) -> Store {
            Store::connect(&self.url()).await.unwrap()
        }

        async fn finish(self, store: Store) {
            store.close().await;
            match self {
                Self::Sqlite(path) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                    }
                }
                Self::Postgres { admin, name } => {
                    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                        .await
                        .unwrap();
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// Runs `scenario` on SQLite, then on PostgreSQL when configured (`create`: see
    /// [`TestDb::postgres`]).
    async fn on_both<F, Fut>(test: &str, create: &str, scenario: F)
    where
        F: Fn(Store) -> Fut,
        Fut: std::future::Future<Output = Store>,
    {
        let db = TestDb::sqlite();
        let store = scenario(db.store().await).await;
        db.finish(store).await;
        if let Some(db) = TestDb::postgres(test, create).await {
            assert_eq!(db.store().await.kind(), StoreKind::Postgres);
            let store = scenario(db.store().await).await;
            db.finish(store).await;
        }
    }

    async fn archive(store: &Store, conversations: &[Conversation]) {
        let mut tx = store.pool.begin().await.unwrap();
        insert(&mut tx, conversations).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }

    async fn rows(store: &Store) -> (i64, i64) {
        (
            count(store, "SELECT COUNT(*) FROM openline_conversation").await,
            count(store, "SELECT COUNT(*) FROM openline_conversation_history").await,
        )
    }

    fn ids(list: &[Conversation]) -> Vec<&str> {
        list.iter().map(|c| c.id.as_str()).collect()
    }

    fn query(limit: i64) -> ArchiveQuery {
        ArchiveQuery {
            limit,
            ..ArchiveQuery::default()
        }
    }

    const FOREVER: Timestamp = chrono::DateTime::<chrono::Utc>::MIN_UTC;

    #[test]
    fn r21b_event_and_author_names_are_the_apis() {
        use HistoryEvent::*;
        for event in [
            Queued,
            Offered,
            OfferWithdrawn,
            OfferExpired,
            Declined,
            Accepted,
            Requeued,
            Transferred,
            Closed,
        ] {
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                serde_json::json!(event_name(event))
            );
        }
        for author in [Author::Customer, Author::Agent] {
            assert_eq!(
                serde_json::to_value(author).unwrap(),
                serde_json::json!(author_name(author))
            );
        }
        assert_eq!(instant_text(at(0)), "2026-01-01T00:00:00.123456Z");
        let nanos = chrono::DateTime::from_timestamp(1_767_225_600, 999_999_999).unwrap();
        assert_eq!(instant_text(nanos), "2026-01-01T00:00:00.999999Z");
        assert_eq!(instant_text(to_micros(nanos)), instant_text(nanos));
    }

    #[tokio::test]
    async fn r21b_archived_conversations_read_back_whole() {
        on_both(
            "r21b_archived_conversations_read_back_whole",
            "",
            |store| async move {
                let full = long_lived("ünïcødé 💬 «id»");
                let bare = closed("b", "mail", 3, 4, None);
                archive(&store, &[full.clone(), bare.clone()]).await;
                assert_eq!(
                    store.archived(full.id.as_str(), FOREVER).await.unwrap(),
                    Some(full.clone())
                );
                assert_eq!(
                    store.archived("b", FOREVER).await.unwrap(),
                    Some(bare.clone())
                );
                assert_eq!(store.archived("nope", FOREVER).await.unwrap(), None);
                let listed = store.list_archived(&query(10), FOREVER).await.unwrap();
                assert_eq!(listed, [bare, full], "newest first, histories included");
                assert_eq!(rows(&store).await, (2, 200 + 2));
                store
            },
        )
        .await;
    }

    #[tokio::test]
    async fn r21b_archiving_again_replaces_the_conversation_and_its_history() {
        on_both("r21b_archiving_again_replaces", "", |store| async move {
            let first = long_lived("c1");
            archive(&store, &[first.clone(), closed("c2", "web", 1, 2, None)]).await;
            // A restart archives the same conversations again: one copy of each.
            archive(&store, std::slice::from_ref(&first)).await;
            assert_eq!(rows(&store).await, (2, 200 + 2));
            assert_eq!(store.archived("c1", FOREVER).await.unwrap(), Some(first));
            // Another version of it (e.g. re-archived after a history change) replaces it,
            // and an id twice in one call keeps the last.
            let shorter = closed("c1", "web", 0, 9, Some("bob"));
            let longer = closed("c1", "web", 0, 8, Some("carol"));
            archive(&store, &[longer, shorter.clone()]).await;
            assert_eq!(store.archived("c1", FOREVER).await.unwrap(), Some(shorter));
            assert_eq!(rows(&store).await, (2, 4 + 2));
            store
        })
        .await;
    }

    #[tokio::test]
    async fn r21b_only_closed_conversations_are_archived() {
        on_both(
            "r21b_only_closed_conversations_are_archived",
            "",
            |store| async move {
                let mut open = closed("open", "web", 1, 2, Some("alice"));
                open.state = ConversationState::Accepted;
                open.closed_at = None;
                let mut no_instant = closed("no-instant", "web", 1, 2, None);
                no_instant.closed_at = None;
                for bad in [open, no_instant] {
                    let id = bad.id.to_string();
                    let mut tx = store.pool.begin().await.unwrap();
                    let error = insert(&mut tx, &[closed("fine", "web", 1, 2, None), bad])
                        .await
                        .unwrap_err();
                    assert!(error.to_string().contains(&format!("`{id}`")), "{error}");
                    tx.commit().await.unwrap();
                    assert_eq!(rows(&store).await, (0, 0), "nothing written: {error}");
                }
                store
            },
        )
        .await;
    }

    #[tokio::test]
    async fn r21b_filters_select_channel_holder_and_closing_instants() {
        on_both("r21b_filters", "", |store| async move {
            archive(
                &store,
                &[
                    closed("w1", "web", 1, 10, Some("alice")),
                    closed("w2", "web", 2, 20, Some("bob")),
                    closed("w3", "web", 3, 30, None),
                    closed("m1", "mail", 4, 40, Some("alice")),
                    closed("m2", "mail", 5, 50, Some("bob")),
                ],
            )
            .await;
            let list = |q: ArchiveQuery| {
                let store = store.clone();
                async move {
                    let got = store.list_archived(&q, FOREVER).await.unwrap();
                    ids(&got).into_iter().map(str::to_owned).collect::<Vec<_>>()
                }
            };
            let all = query(100);
            assert_eq!(list(all.clone()).await, ["m2", "m1", "w3", "w2", "w1"]);
            let web = ArchiveQuery {
                channel: Some("web".into()),
                ..all.clone()
            };
            assert_eq!(list(web.clone()).await, ["w3", "w2", "w1"]);
            let alice = ArchiveQuery {
                agent: Some("alice".into()),
                ..all.clone()
            };
            assert_eq!(list(alice.clone()).await, ["m1", "w1"]);
            let alice_web = ArchiveQuery {
                channel: Some("web".into()),
                ..alice.clone()
            };
            assert_eq!(list(alice_web).await, ["w1"]);
            // closed_after is inclusive, closed_before exclusive: [after, before).
            let window = ArchiveQuery {
                closed_after: Some(at(20)),
                closed_before: Some(at(40)),
                ..all.clone()
            };
            assert_eq!(list(window).await, ["w3", "w2"]);
            let since = ArchiveQuery {
                closed_after: Some(at(40)),
                ..all.clone()
            };
            assert_eq!(list(since).await, ["m2", "m1"]);
            let until = ArchiveQuery {
                closed_before: Some(at(10)),
                ..all.clone()
            };
            assert!(list(until).await.is_empty());
            let nobody = ArchiveQuery {
                agent: Some("zoe".into()),
                ..all.clone()
            };
            assert!(list(nobody).await.is_empty());
            assert!(list(query(0)).await.is_empty());
            assert_eq!(list(query(2)).await, ["m2", "m1"]);
            // Pages of one through a window, and through a channel.
            for (filter, expected) in [
                (
                    ArchiveQuery {
                        closed_after: Some(at(20)),
                        ..query(1)
                    },
                    vec!["m2", "m1", "w3", "w2"],
                ),
                (
                    ArchiveQuery {
                        closed_before: Some(at(50)),
                        ..query(1)
                    },
                    vec!["m1", "w3", "w2", "w1"],
                ),
                (
                    ArchiveQuery {
                        channel: Some("mail".into()),
                        ..query(1)
                    },
                    vec!["m2", "m1"],
                ),
            ] {
                let mut q = filter;
                let mut seen = Vec::new();
                while let [last] = &store.list_archived(&q, FOREVER).await.unwrap()[..] {
                    seen.push(last.id.to_string());
                    q.after = Some(Position::of(last));
                }
                assert_eq!(seen, expected, "{q:?}");
            }
            store
        })
        .await;
    }

    #[tokio::test]
    async fn r21b_pages_follow_the_byte_order_of_ids_without_gaps_or_duplicates() {
        // On PostgreSQL in a database whose collation sorts `a` before `B` (byte order: `B`
        // first): the archive must still page in the order the server uses in memory.
        let create = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'";
        on_both(
            "r21b_pages_follow_the_byte_order",
            create,
            |store| async move {
                let names = [
                    "a", "B", "b", "A", "é", "e", "Z", "z", "10", "9", "a-b", "a_b", "ab", "über",
                    "💬", "Ω", "c c", "c", "C",
                ];
                let mut all = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    // Three instants only: most positions are decided by the id.
                    all.push(closed(name, "web", (i % 3) as i64, 100 + i as i64, None));
                }
                archive(&store, &all).await;
                let mut expected: Vec<Position> = all.iter().map(Position::of).collect();
                expected.sort();
                expected.reverse();
                let whole = store.list_archived(&query(100), FOREVER).await.unwrap();
                assert_eq!(
                    whole.iter().map(Position::of).collect::<Vec<_>>(),
                    expected,
                    "one page: newest first, ids byte by byte"
                );
                for limit in [1, 2, 5, 7] {
                    let mut seen = Vec::new();
                    let mut q = query(limit);
                    loop {
                        let page = store.list_archived(&q, FOREVER).await.unwrap();
                        assert!(page.len() as i64 <= limit);
                        seen.extend(page.iter().map(Position::of));
                        match page.last() {
                            Some(last) if page.len() as i64 == limit => {
                                q.after = Some(Position::of(last));
                            }
                            _ => break,
                        }
                    }
                    assert_eq!(seen, expected, "pages of {limit}");
                }
                store
            },
        )
        .await;
    }

    #[tokio::test]
    async fn r21b_conversations_closed_before_the_horizon_are_gone() {
        on_both("r21b_horizon", "", |store| async move {
            archive(
                &store,
                &[
                    closed("old", "web", 1, 10, None),
                    closed("new", "web", 2, 20, None),
                ],
            )
            .await;
            assert!(
                store.archived("old", at(10)).await.unwrap().is_some(),
                "closed at the horizon"
            );
            assert_eq!(store.archived("old", at(11)).await.unwrap(), None);
            assert!(store.archived("new", at(11)).await.unwrap().is_some());
            let listed = store.list_archived(&query(10), at(11)).await.unwrap();
            assert_eq!(ids(&listed), ["new"]);
            let since = ArchiveQuery {
                closed_after: Some(at(0)),
                ..query(10)
            };
            let listed = store.list_archived(&since, at(11)).await.unwrap();
            assert_eq!(
                ids(&listed),
                ["new"],
                "closed_after does not reach past the horizon"
            );
            assert_eq!(
                rows(&store).await.0,
                2,
                "hidden, not deleted: that is the purge's job"
            );
            store
        })
        .await;
    }

    #[tokio::test]
    async fn r21b_the_purge_deletes_in_batches_oldest_first() {
        on_both("r21b_purge", "", |store| async move {
            let all: Vec<Conversation> = (0..25)
                .map(|i| closed(&format!("c{i:02}"), "web", i, 100 + i, Some("alice")))
                .collect();
            archive(&store, &all).await;
            assert_eq!(rows(&store).await, (25, 25 * 4));
            let mut batches = Vec::new();
            loop {
                let deleted = store.purge_archive(at(120), 8).await.unwrap();
                batches.push(deleted);
                if deleted < 8 {
                    break;
                }
            }
            assert_eq!(batches, [8, 8, 4]);
            assert_eq!(
                rows(&store).await,
                (5, 5 * 4),
                "histories deleted with them"
            );
            let left = store.list_archived(&query(100), FOREVER).await.unwrap();
            assert_eq!(ids(&left), ["c24", "c23", "c22", "c21", "c20"]);
            assert_eq!(store.purge_archive(at(1000), 0).await.unwrap(), 0);
            assert_eq!(store.purge_archive(at(1000), 100).await.unwrap(), 5);
            assert_eq!(rows(&store).await, (0, 0));
            store
        })
        .await;
    }

    /// `result` is a [`StoreError::Corrupt`] naming `id` and `what`.
    fn assert_corrupt(result: Result<(), StoreError>, id: &str, what: &str) {
        match result {
            Err(StoreError::Corrupt { seq: 0, message }) => {
                assert!(message.contains(&format!("`{id}`")), "{message}");
                assert!(message.contains(what), "{message}");
            }
            other => panic!("{id}: not corrupt: {other:?}"),
        }
    }

    async fn unreadable_rows(store: Store) -> Store {
        let rows = [
            closed("bad-instant", "web", 1, 2, None),
            closed("bad-event", "web", 1, 2, None),
        ];
        archive(&store, &rows).await;
        for damage in [
            "UPDATE openline_conversation SET closed_at = 'yesterday' WHERE id = 'bad-instant'",
            "UPDATE openline_conversation_history SET event = 'teleported' \
             WHERE conversation = 'bad-event'",
        ] {
            sqlx::query(damage).execute(&store.pool).await.unwrap();
        }
        // `yesterday` sorts after every instant, so the horizon does not hide it.
        let read = store.archived("bad-instant", FOREVER).await;
        assert_corrupt(read.map(drop), "bad-instant", "yesterday");
        let read = store.archived("bad-event", FOREVER).await;
        assert_corrupt(read.map(drop), "bad-event", "teleported");
        let listed = store.list_archived(&query(10), FOREVER).await;
        assert_corrupt(listed.map(drop), "bad-instant", "yesterday");
        store
    }

    #[tokio::test]
    async fn r22_an_unreadable_archived_row_is_named_never_skipped() {
        on_both("r22_an_unreadable_archived_row", "", unreadable_rows).await;
    }
}

//! The durable command log (SPEC R19): every command the engine accepted, with the instant it
//! was applied at, in apply order; plus the manual clock's instant (SPEC R18). SQLite (WAL,
//! `synchronous=FULL`) or PostgreSQL, selected by the URL, through one code path (sqlx `Any`,
//! runtime queries, tables created if missing).

pub mod archive;
pub mod audit;
pub mod events;
pub mod file;
pub mod lock;
pub mod snapshot;
pub mod token_cache;
mod tokens;
pub mod webhooks;
pub mod writer;

use openline_core::{Command, Timestamp};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `sqlite://FILE` (created if missing).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl StoreKind {
    /// The kind of `url`, or why it is not supported.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(format!(
                "unsupported database URL `{url}`; use sqlite://FILE or postgres://USER@HOST/DB"
            ))
        }
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is not usable.
    #[error("{0}")]
    Url(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date (or the database was migrated by a newer
    /// openline than this one).
    #[error("cannot migrate the store's schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The writer's thread or its runtime could not be started.
    #[error("cannot start the store writer: {0}")]
    Thread(std::io::Error),
    /// A stored record cannot be read back.
    #[error("corrupt log record {seq}: {message}")]
    Corrupt {
        /// The record's sequence number.
        seq: i64,
        /// What is wrong.
        message: String,
    },
    /// Another server took the store: this one's writes are refused (SPEC R23a).
    #[error(
        "another server took the store (epoch {current}, this server's is {mine}): nothing more is written"
    )]
    Fenced {
        /// The epoch this server raised the store to.
        mine: i64,
        /// The store's epoch now, if it could be read.
        current: i64,
    },
    /// A token cannot be created as asked (SPEC R25): a bad name, role or agent, or a name
    /// taken ([`crate::auth::token::TokenError::NameTaken`]).
    #[error(transparent)]
    Token(#[from] crate::auth::token::TokenError),
    /// The operating system gave no random bytes for a token's secret.
    #[error("cannot draw a random token secret: {0}")]
    Random(getrandom::Error),
    /// A stored row other than a log record cannot be read back.
    #[error("corrupt row `{key}` of {table}: {message}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The SQLite file was deleted, moved or replaced under the server (SPEC R35f).
    #[error("{0}: nothing more is acknowledged")]
    FileGone(String),
    /// A stored record was read but this server cannot apply it (SPEC R22).
    #[error("log record {seq} cannot be replayed: {message}")]
    Unreplayable {
        /// The record's sequence number.
        seq: i64,
        /// Why.
        message: String,
    },
}

impl StoreError {
    /// Whether the failure is the connection's, not the data's: a dropped or refused
    /// connection, a database restarting, a serialization conflict. Such a write is retried
    /// (SPEC R23c); any other failure is final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => is_transient(error),
            _ => false,
        }
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), the server shutting down or not yet
            // accepting connections (57P01–57P03), the database not accepting connections
            // (55000, e.g. during maintenance), too many connections (53300), a
            // serialization failure or deadlock (40001, 40P01). SQLite: busy, locked.
            // Retrying a failure that turns out final only delays the stop by the timeout.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01"
                        | "57P02"
                        | "57P03"
                        | "55000"
                        | "53300"
                        | "40001"
                        | "40P01"
                        | "5"
                        | "6"
                        | "517"
                )
        }),
        _ => false,
    }
}

/// One accepted command as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Position in the log (1, 2, …).
    pub seq: i64,
    /// The instant it was applied at.
    pub at: Timestamp,
    /// The command.
    pub command: Command,
    /// Who it came from (SPEC R28), `None` for the router's own and for records logged
    /// before actors were.
    pub by: Option<String>,
}

/// A write the writer persists: an accepted command (already serialized) or the manual
/// clock's new instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Append to the command log.
    Command {
        /// The instant it was applied at.
        at: Timestamp,
        /// The command as JSON.
        json: String,
        /// Who it came from (SPEC R28), `None` for the router's own.
        by: Option<std::sync::Arc<str>>,
    },
    /// A settings change to the audit trail (SPEC R28), in the same transaction as the
    /// command or clock change it records.
    Audit(Box<audit::AuditEntry>),
    /// Replace the manual clock's instant.
    Clock(Timestamp),
    /// Closed conversations to the archive tables (SPEC R21b).
    Archive(Vec<openline_core::Conversation>),
}

/// The connected store.
#[derive(Debug, Clone)]
pub struct Store {
    /// Verified tokens (SPEC R25), shared by every clone.
    tokens: std::sync::Arc<token_cache::TokenCache>,
    pool: AnyPool,
    kind: StoreKind,
    /// The SQLite file this store opened (SPEC R35f); `None` for PostgreSQL or in memory.
    file: Option<std::sync::Arc<file::WatchedFile>>,
}

/// The store's schema, one numbered migration per release that changed it (never edited once
/// released; `server/migrations/`), applied by sqlx's migrator on connect.
const MIGRATIONS: [(i64, &str, &str); 7] = [
    (
        1,
        "command log",
        include_str!("../../migrations/0001_command_log.sql"),
    ),
    (
        2,
        "snapshots and archive",
        include_str!("../../migrations/0002_snapshots_and_archive.sql"),
    ),
    (3, "fence", include_str!("../../migrations/0003_fence.sql")),
    (
        4,
        "tokens and audit",
        include_str!("../../migrations/0004_tokens_and_audit.sql"),
    ),
    (
        5,
        "actors",
        include_str!("../../migrations/0005_actors.sql"),
    ),
    (
        6,
        "events",
        include_str!("../../migrations/0006_events.sql"),
    ),
    (
        7,
        "webhooks",
        include_str!("../../migrations/0007_webhooks.sql"),
    ),
];

/// How long taking a connection from the pool (connecting, if need be) may take.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The log-record format this binary writes and the newest it reads (SPEC R22): 1 = the
/// command as JSON, as first released.
pub const RECORD_FORMAT: i64 = 1;

fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr as _;
    sqlx::migrate::Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    *version,
                    std::borrow::Cow::Borrowed(*description),
                    sqlx::migrate::MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn format_at(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn parse_at(seq: i64, text: &str) -> Result<Timestamp, StoreError> {
    openline_core::time::parse_rfc3339(text).map_err(|e| StoreError::Corrupt {
        seq,
        message: format!("bad instant `{text}`: {e}"),
    })
}

impl Store {
    /// Connects to `url` and creates the tables if missing. A SQLite file is created when
    /// missing and opened in WAL mode with `synchronous=FULL`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        install_default_drivers();
        let kind = StoreKind::from_url(url).map_err(StoreError::Url)?;
        let (url, max) = match kind {
            StoreKind::Sqlite if url.contains("mode=") => (url.to_owned(), 4),
            StoreKind::Sqlite if url.contains('?') => (format!("{url}&mode=rwc"), 4),
            StoreKind::Sqlite => (format!("{url}?mode=rwc"), 4),
            StoreKind::Postgres => (url.to_owned(), 8),
        };
        let path = (kind == StoreKind::Sqlite)
            .then(|| lock::sqlite_path(&url).map(std::path::PathBuf::from))
            .flatten();
        if let Some(path) = path.as_ref().filter(|path| !path.exists()) {
            // Created before SQLite creates it, so that it is the owner's only (SPEC R35f);
            // SQLite gives its WAL and shared-memory files the same permissions.
            file::open_owner_only(path).map_err(|e| {
                StoreError::Url(format!(
                    "cannot create the store file `{}`: {e}",
                    path.display()
                ))
            })?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // A database that does not answer fails the attempt soon, so the writer's retries
            // (SPEC R23c) and the readiness probe see it, instead of each waiting 30 s.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == StoreKind::Sqlite {
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout=5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrator().run(&pool).await?;
        let tokens = std::sync::Arc::new(token_cache::TokenCache::new(&url));
        token_cache::register(&tokens);
        let file = match path {
            Some(path) => Some(std::sync::Arc::new(file::WatchedFile::of(&path).map_err(
                |e| {
                    StoreError::Url(format!(
                        "cannot open the store file `{}`: {e}",
                        path.display()
                    ))
                },
            )?)),
            None => None,
        };
        Ok(Self {
            tokens,
            pool,
            kind,
            file,
        })
    }

    /// Fails when the store's SQLite file was deleted, moved or replaced since the store
    /// opened it (SPEC R35f): what is committed from then on would be lost at the next
    /// start. One `stat`; nothing to do on PostgreSQL.
    pub fn check_file(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(file) => file.check().map_err(StoreError::FileGone),
            None => Ok(()),
        }
    }

    /// Which database this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Whether the database answers, and is still the file it was (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.check_file()?;
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The highest sequence number used, 0 for a new store: the last record logged, or the
    /// last one the latest snapshot covers when the log behind it was compacted away. (A
    /// new record numbered at or below a snapshot's would be skipped by every replay.)
    pub async fn last_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM openline_command_log")
            .fetch_one(&self.pool)
            .await?;
        let logged = row.try_get::<i64, _>("last")?;
        Ok(logged.max(self.snapshot_seq().await?.unwrap_or(0)))
    }

    /// Feeds every logged command after record `after`, in log order, to `each`.
    ///
    /// The log is read in pages of [`REPLAY_PAGE`] records, each page one row holding its
    /// records as `seq TAB format TAB at TAB actor TAB command` lines (a logged command is
    /// compact JSON, and an actor is written without control characters: no raw tab or
    /// newline in either; no actor is an empty field). A million rows one by one cost several seconds of driver overhead alone;
    /// a few hundred rows do not.
    pub async fn replay<E>(
        &self,
        after: i64,
        mut each: impl FnMut(LogRecord) -> Result<(), E>,
    ) -> Result<u64, StoreError>
    where
        E: std::fmt::Display,
    {
        let sql = match self.kind {
            StoreKind::Sqlite => {
                "SELECT group_concat(seq || char(9) || format || char(9) || at || char(9) || COALESCE(actor, '') || char(9) || command, char(10) ORDER BY seq) AS page \
                 FROM (SELECT seq, format, at, actor, command FROM openline_command_log WHERE seq > $1 ORDER BY seq LIMIT $2)"
            }
            StoreKind::Postgres => {
                "SELECT string_agg(seq::text || E'\\t' || format::text || E'\\t' || at || E'\\t' || COALESCE(actor, '') || E'\\t' || command, E'\\n' ORDER BY seq) AS page \
                 FROM (SELECT seq, format, at, actor, command FROM openline_command_log WHERE seq > $1 ORDER BY seq LIMIT $2) AS p"
            }
        };
        let mut last = after;
        let mut count = 0;
        loop {
            let row = sqlx::query(sql)
                .bind(last)
                .bind(REPLAY_PAGE)
                .fetch_one(&self.pool)
                .await?;
            let Some(page) = row.try_get::<Option<String>, _>("page")? else {
                return Ok(count);
            };
            for line in page.split('\n') {
                let record = parse_log_line(last, line)?;
                last = record.seq;
                let seq = record.seq;
                each(record).map_err(|e| StoreError::Unreplayable {
                    seq,
                    message: e.to_string(),
                })?;
                count += 1;
            }
        }
    }

    /// A remembered value about the log (e.g. the plugin settings it was written with).
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM openline_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    /// Remembers `value` under `key`.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO openline_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The manual clock's last persisted instant, if any.
    pub async fn manual_clock(&self) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query("SELECT now FROM openline_clock WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| parse_at(0, &row.try_get::<String, _>("now")?))
            .transpose()
    }

    /// Takes the store for this server (SPEC R23a): raises the store's epoch and returns it.
    /// Every later write of a server that raised it earlier is refused ([`Store::write`]);
    /// one in flight either commits before this or is refused. Call it after taking the
    /// store's lock and before reading the state.
    pub async fn claim(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE openline_fence SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let epoch = sqlx::query("SELECT epoch FROM openline_fence WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("epoch")?;
        tx.commit().await?;
        Ok(epoch)
    }

    /// Writes `records` in one transaction; commands get sequence numbers from `next_seq` on.
    /// Returns the next free sequence number. Nothing is written when it fails.
    ///
    /// Consecutive commands go in multi-row `INSERT`s (chunks of [`INSERT_CHUNKS`] rows), so a
    /// batch of n commands costs a handful of statements, not n round trips to the database.
    /// The transaction first proves that `epoch` is still the store's ([`Store::claim`]);
    /// if another server claimed the store since, nothing is written ([`StoreError::Fenced`]).
    ///
    /// `again`: the same records were written before and that attempt failed, perhaps after
    /// its commit reached the database (the connection dropped while committing). If their
    /// first command is in the log, that attempt committed and nothing is written twice. The
    /// other records are idempotent (the clock's instant, archived conversations).
    pub async fn write<'a>(
        &self,
        epoch: i64,
        next_seq: i64,
        records: impl IntoIterator<Item = &'a Record>,
        again: bool,
    ) -> Result<i64, StoreError> {
        self.write_with_events(epoch, next_seq, records, &[], false, again)
            .await
    }

    /// [`Store::write`] with the `events` the records caused (SPEC R29), numbered by the
    /// writer from the store's next event id on: the event counter moves past them and, with
    /// `retain_events`, they are kept in `openline_event`, all in the same transaction. A
    /// batch of events alone written `again` is skipped when the counter shows its first
    /// attempt committed.
    pub async fn write_with_events<'a>(
        &self,
        epoch: i64,
        next_seq: i64,
        records: impl IntoIterator<Item = &'a Record>,
        published: &[&crate::events::Published],
        retain_events: bool,
        again: bool,
    ) -> Result<i64, StoreError> {
        let records: Vec<&Record> = records.into_iter().collect();
        let mut seq = next_seq;
        let mut tx = self.pool.begin().await?;
        fence(&mut tx, epoch).await?;
        let commands = records
            .iter()
            .filter(|record| matches!(record, Record::Command { .. }))
            .count();
        let committed_before = if !again {
            false
        } else if commands > 0 {
            self.logged(&mut tx, next_seq).await?
        } else {
            match published.first() {
                Some(first) => events::next_id(&mut tx).await? > first.id(),
                None => false,
            }
        };
        if committed_before {
            tx.rollback().await?;
            return Ok(next_seq + i64::try_from(commands).unwrap_or(i64::MAX));
        }
        let mut run: Vec<(Timestamp, &str, Option<&str>)> = Vec::new();
        for record in records {
            match record {
                Record::Command { at, json, by } => run.push((*at, json.as_str(), by.as_deref())),
                Record::Audit(entry) => {
                    seq = insert_commands(&mut tx, seq, &run).await?;
                    run.clear();
                    audit::insert(&mut tx, entry).await?;
                }
                Record::Archive(conversations) => {
                    seq = insert_commands(&mut tx, seq, &run).await?;
                    run.clear();
                    archive::insert(&mut tx, conversations).await?;
                }
                Record::Clock(at) => {
                    seq = insert_commands(&mut tx, seq, &run).await?;
                    run.clear();
                    sqlx::query(
                        "INSERT INTO openline_clock (id, now) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET now = excluded.now",
                    )
                    .bind(format_at(*at))
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        seq = insert_commands(&mut tx, seq, &run).await?;
        events::insert(&mut tx, published, retain_events).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Whether record `seq` is in the log.
    async fn logged(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        seq: i64,
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT seq FROM openline_command_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&mut **tx)
                .await?
                .is_some(),
        )
    }

    /// Closes every connection (after the writer finished).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Proves inside `tx` that the store's epoch is still `epoch` (SPEC R23a). The row stays
/// locked to the end of `tx` (PostgreSQL), so a claim waits for this transaction, and this
/// transaction never commits after a claim.
pub(crate) async fn fence(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    epoch: i64,
) -> Result<(), StoreError> {
    let held = sqlx::query("UPDATE openline_fence SET epoch = epoch WHERE id = 1 AND epoch = $1")
        .bind(epoch)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if held == 1 {
        return Ok(());
    }
    let current = sqlx::query("SELECT epoch FROM openline_fence WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get::<i64, _>("epoch"))
        .transpose()?
        .unwrap_or(0);
    Err(StoreError::Fenced {
        mine: epoch,
        current,
    })
}

/// Records per page read on replay (see [`Store::replay`]).
pub const REPLAY_PAGE: i64 = 4096;

/// One replayed `seq TAB format TAB at TAB actor TAB command` line, which must come after
/// record `previous`.
fn parse_log_line(previous: i64, line: &str) -> Result<LogRecord, StoreError> {
    let corrupt = |seq, message: String| StoreError::Corrupt { seq, message };
    let mut fields = line.splitn(5, '\t');
    let (Some(seq), Some(format), Some(at), Some(actor), Some(json)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(corrupt(
            previous + 1,
            "a record without its five fields".into(),
        ));
    };
    let seq: i64 = seq
        .parse()
        .map_err(|_| corrupt(previous + 1, format!("bad sequence number `{seq}`")))?;
    if seq <= previous {
        return Err(corrupt(
            seq,
            format!("out of order after record {previous}"),
        ));
    }
    check_format(seq, "log record", format, RECORD_FORMAT)?;
    let at = parse_at(seq, at)?;
    let command = serde_json::from_str(json).map_err(|e| corrupt(seq, e.to_string()))?;
    let by = (!actor.is_empty()).then(|| actor.to_owned());
    Ok(LogRecord {
        seq,
        at,
        command,
        by,
    })
}

/// Refuses a record or snapshot (`what`, at `seq`) whose `format` this binary cannot read.
fn check_format(seq: i64, what: &str, format: &str, newest: i64) -> Result<(), StoreError> {
    match format.parse::<i64>() {
        Ok(known) if (1..=newest).contains(&known) => Ok(()),
        Ok(newer) if newer > newest => Err(StoreError::Unreplayable {
            seq,
            message: format!(
                "the {what} is in format {newer}, written by a newer openline; this binary reads formats up to {newest}: upgrade it"
            ),
        }),
        _ => Err(StoreError::Corrupt {
            seq,
            message: format!("bad {what} format `{format}`"),
        }),
    }
}

/// `actor` with every control character replaced by U+FFFD: the replay reads the log as
/// tab-separated lines (ids and JWT subjects are checked to have none; this keeps the log
/// readable whatever a caller's name). The archive writes free text through it too: a NUL
/// accepted before requests were checked for them (SPEC R35a) must not fail a PostgreSQL
/// commit, which refuses NUL in text.
pub(crate) fn printable(actor: &str) -> String {
    actor.replace(char::is_control, "\u{FFFD}")
}

/// Row counts of the multi-row `INSERT`s a run of commands is split into (largest first): a
/// few distinct statements, each prepared once and cached by the connection.
pub const INSERT_CHUNKS: [usize; 4] = [128, 32, 8, 1];

fn insert_sql(rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO openline_command_log (seq, at, command, actor, format) VALUES ");
    for row in 0..rows {
        let first = row * 4 + 1;
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, {RECORD_FORMAT})",
            first,
            first + 1,
            first + 2,
            first + 3
        ));
    }
    sql
}

fn insert_statements() -> &'static [(usize, String); 4] {
    static SQL: std::sync::OnceLock<[(usize, String); 4]> = std::sync::OnceLock::new();
    SQL.get_or_init(|| INSERT_CHUNKS.map(|rows| (rows, insert_sql(rows))))
}

/// Appends `commands` with sequence numbers from `seq` on; the next free sequence number.
async fn insert_commands(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mut seq: i64,
    mut commands: &[(Timestamp, &str, Option<&str>)],
) -> Result<i64, StoreError> {
    for (rows, sql) in insert_statements() {
        while commands.len() >= *rows {
            let (chunk, rest) = commands.split_at(*rows);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for (at, json, by) in chunk {
                query = query
                    .bind(seq)
                    .bind(format_at(*at))
                    .bind(*json)
                    .bind(by.map(printable));
                seq += 1;
            }
            query.execute(&mut **tx).await?;
            commands = rest;
        }
    }
    Ok(seq)
}

#[cfg(test)]
#[path = "tests.rs"]
pub(crate) mod tests;

//! Snapshots and log compaction (SPEC R21a): the latest snapshot holds the state after every
//! log record up to its `seq`; a start loads it and replays only the records after it.
//!
//! Crash safety comes from the order of the steps, each its own transaction: the snapshot row
//! is written (and older snapshots dropped) atomically, then the records it covers are
//! deleted in chunks. A crash before the first step leaves the previous snapshot and the whole
//! log; after it, the covered records left over are ignored by the replay and deleted by the
//! next compaction.

use sqlx::Row;

use super::{Store, StoreError, check_format, format_at};
use openline_core::Timestamp;

/// The snapshot format this binary writes and the newest it reads (SPEC R22), the
/// engine's [`openline_core::engine::SNAPSHOT_FORMAT`].
pub const SNAPSHOT_FORMAT: i64 = openline_core::engine::SNAPSHOT_FORMAT as i64;

/// Log records deleted per transaction when compacting: short enough not to hold the
/// writer back noticeably (SQLite has one writer at a time).
pub const COMPACT_CHUNK: i64 = 5_000;

/// A stored snapshot, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last log record it covers.
    pub seq: i64,
    /// The engine's state as JSON.
    pub state: String,
}

impl Store {
    /// The latest snapshot, if any; one in a format this binary cannot read is refused
    /// (SPEC R22).
    pub async fn latest_snapshot(&self) -> Result<Option<StoredSnapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, format, state FROM openline_snapshot ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq")?;
        let format: i64 = row.try_get("format")?;
        check_snapshot_format(seq, format)?;
        Ok(Some(StoredSnapshot {
            seq,
            state: row.try_get("state")?,
        }))
    }

    /// Stores `state`, the state after every record up to `seq`, as the latest snapshot and
    /// drops the older ones, in one transaction. A snapshot after the same record replaces
    /// the one there (archiving changes memory without logging a command).
    /// Refused, like every write, once another server claimed the store (SPEC R23a).
    pub async fn write_snapshot(
        &self,
        epoch: i64,
        seq: i64,
        taken_at: Timestamp,
        state: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        super::fence(&mut tx, epoch).await?;
        sqlx::query(
            "INSERT INTO openline_snapshot (seq, format, taken_at, state) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (seq) DO UPDATE SET format = excluded.format, taken_at = excluded.taken_at, state = excluded.state",
        )
        .bind(seq)
        .bind(SNAPSHOT_FORMAT)
        .bind(format_at(taken_at))
        .bind(state)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM openline_snapshot WHERE seq < $1")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the log records the latest snapshot covers, [`COMPACT_CHUNK`] per
    /// transaction; how many went.
    pub async fn compact(&self) -> Result<u64, StoreError> {
        let Some(covered) = self.snapshot_seq().await? else {
            return Ok(0);
        };
        let first = sqlx::query("SELECT MIN(seq) AS first FROM openline_command_log")
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>("first")?;
        let mut deleted = 0;
        let mut below = first.unwrap_or(covered + 1);
        while below <= covered {
            let upto = covered.min(below.saturating_add(COMPACT_CHUNK - 1));
            deleted += sqlx::query("DELETE FROM openline_command_log WHERE seq <= $1")
                .bind(upto)
                .execute(&self.pool)
                .await?
                .rows_affected();
            below = upto + 1;
        }
        Ok(deleted)
    }

    /// The last record the latest snapshot covers, if there is one.
    pub async fn snapshot_seq(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS seq FROM openline_snapshot")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("seq")?)
    }
}

fn check_snapshot_format(seq: i64, format: i64) -> Result<(), StoreError> {
    check_format(seq, "snapshot", &format.to_string(), SNAPSHOT_FORMAT)
}

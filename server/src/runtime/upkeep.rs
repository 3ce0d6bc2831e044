//! Upkeep that keeps a server bounded by what is live, not by history (SPEC R21): snapshots
//! with log compaction, closed conversations moved to the archive, the archive's retention.
//! One background task does all three; the manual clock's advance does the last two at once,
//! so tests see them at the instant they are due.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use openline_core::engine::{Plugins, Snapshot};
use openline_core::{Engine, Timestamp};

use super::{Runtime, RuntimeError};
use crate::store::{Record, Store, StoreError};

/// How often the background task looks at what is due.
const TICK: Duration = Duration::from_secs(1);
/// How often the archive's expired conversations are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Conversations archived or purged per transaction.
const BATCH: usize = 1000;

/// Failure injection for crash tests: with `OPENLINE_CRASH_AT=<point>` in its environment the
/// process aborts at that point of a snapshot (`snapshot:copied`, `snapshot:written`,
/// `snapshot:compacted`), dying there as a SIGKILL would. Read once per snapshot.
fn crash_point(point: &str) {
    if std::env::var("OPENLINE_CRASH_AT").is_ok_and(|at| at == point) {
        eprintln!("OPENLINE_CRASH_AT={point}: aborting here");
        std::process::abort();
    }
}

/// Loads the latest snapshot into an engine with `plugins` (a fresh engine without one),
/// with the last log record it covers (0 for none). A snapshot this binary cannot read stops
/// the start (SPEC R22).
pub(crate) async fn load_snapshot(
    store: &Store,
    plugins: Plugins,
) -> anyhow::Result<(Engine, i64)> {
    let Some(stored) = store.latest_snapshot().await? else {
        return Ok((
            Engine::new(plugins, chrono::DateTime::<chrono::Utc>::MIN_UTC),
            0,
        ));
    };
    let snapshot: Snapshot =
        serde_json::from_str(&stored.state).map_err(|e| StoreError::Corrupt {
            seq: stored.seq,
            message: format!("the snapshot cannot be read: {e}"),
        })?;
    let engine = Engine::restore(plugins, snapshot)
        .map_err(|error| StoreError::Unreplayable {
            seq: stored.seq,
            message: format!(
                "the snapshot cannot be loaded: {error} (does this binary lack a source or \
                 policy it names? Start with the binary that wrote it)"
            ),
        })
        .with_context(|| format!("snapshot after log record {}", stored.seq))?;
    Ok((engine, stored.seq))
}

/// What the last snapshot cost (metrics, logs, benches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The last log record it covers.
    pub seq: i64,
    /// Its size as JSON.
    pub bytes: usize,
    /// How long the engine was locked to copy the state: the pause requests see.
    pub pause: Duration,
    /// Turning the copy into JSON (no lock held).
    pub serialize: Duration,
    /// Writing it (no lock held; SQLite's writer waits meanwhile).
    pub write: Duration,
    /// Log records deleted behind it.
    pub compacted: u64,
}

/// The upkeep's own state.
#[derive(Debug)]
pub(crate) struct Upkeep {
    /// The last log record the latest snapshot covers.
    snapshot_seq: AtomicI64,
    /// One snapshot at a time.
    snapshotting: tokio::sync::Mutex<()>,
    /// One archiving at a time (it spans a commit).
    archiving: tokio::sync::Mutex<()>,
    /// Bumped when archived conversations left memory.
    pub(crate) archived_generation: AtomicU64,
    snapshots: AtomicU64,
    archived: AtomicU64,
    /// `archived` when the latest snapshot copied the state: what left memory since then
    /// is still in that snapshot, and a restart would load it.
    archived_at_snapshot: AtomicU64,
    last_snapshot: Mutex<Option<SnapshotReport>>,
}

impl Upkeep {
    pub(crate) fn new(snapshot_seq: i64) -> Self {
        Self {
            snapshot_seq: AtomicI64::new(snapshot_seq),
            snapshotting: tokio::sync::Mutex::new(()),
            archiving: tokio::sync::Mutex::new(()),
            archived_generation: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            archived: AtomicU64::new(0),
            archived_at_snapshot: AtomicU64::new(0),
            last_snapshot: Mutex::new(None),
        }
    }

    /// Prometheus lines for the upkeep's counters.
    pub(crate) fn render(&self, closed_in_memory: usize) -> String {
        let last = self
            .last_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_default();
        format!(
            "# HELP openline_snapshots_total Snapshots written.\n\
             # TYPE openline_snapshots_total counter\n\
             openline_snapshots_total {}\n\
             # HELP openline_snapshot_pause_seconds How long the last snapshot held the engine.\n\
             # TYPE openline_snapshot_pause_seconds gauge\n\
             openline_snapshot_pause_seconds {}\n\
             # HELP openline_snapshot_bytes Size of the last snapshot.\n\
             # TYPE openline_snapshot_bytes gauge\n\
             openline_snapshot_bytes {}\n\
             # HELP openline_archived_conversations_total Closed conversations moved from memory to the archive.\n\
             # TYPE openline_archived_conversations_total counter\n\
             openline_archived_conversations_total {}\n\
             # HELP openline_closed_conversations_in_memory Closed conversations not archived yet.\n\
             # TYPE openline_closed_conversations_in_memory gauge\n\
             openline_closed_conversations_in_memory {closed_in_memory}\n",
            self.snapshots.load(Ordering::SeqCst),
            last.pause.as_secs_f64(),
            last.bytes,
            self.archived.load(Ordering::SeqCst),
        )
    }
}

impl Runtime {
    /// Takes a snapshot of the whole state now and deletes the log behind it (SPEC R21a).
    /// The engine is locked only to copy its state; the copy is turned into JSON and written
    /// without the lock, once every command before it is durable.
    pub async fn snapshot(&self) -> Result<SnapshotReport, RuntimeError> {
        let _one = self.upkeep.snapshotting.lock().await;
        let (snapshot, taken_at, mark, pause, archived) = {
            let engine = self.engine()?;
            let started = Instant::now();
            let snapshot = engine.snapshot();
            let mark = self.writer.mark()?;
            // Archiving forgets under this lock too: the copy holds none counted so far.
            let archived = self.upkeep.archived.load(Ordering::SeqCst);
            (snapshot, engine.now(), mark, started.elapsed(), archived)
        };
        let started = Instant::now();
        let json = tokio::task::spawn_blocking(move || serde_json::to_string(&snapshot))
            .await
            .map_err(|e| RuntimeError::Internal(format!("snapshot task: {e}")))?
            .map_err(|e| RuntimeError::Internal(format!("snapshot to JSON: {e}")))?;
        let serialize = started.elapsed();
        // Resolves once every command queued before the copy is durable.
        let seq = mark.await.map_err(|_| RuntimeError::Unavailable)?;
        crash_point("snapshot:copied");
        let started = Instant::now();
        self.store
            .write_snapshot(self.epoch, seq, taken_at, &json)
            .await
            .map_err(store_failed)?;
        self.upkeep.snapshot_seq.store(seq, Ordering::SeqCst);
        self.upkeep
            .archived_at_snapshot
            .store(archived, Ordering::SeqCst);
        let write = started.elapsed();
        crash_point("snapshot:written");
        let compacted = self.store.compact().await.map_err(store_failed)?;
        crash_point("snapshot:compacted");
        let report = SnapshotReport {
            seq,
            bytes: json.len(),
            pause,
            serialize,
            write,
            compacted,
        };
        self.upkeep.snapshots.fetch_add(1, Ordering::SeqCst);
        *self
            .upkeep
            .last_snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report);
        tracing::info!(
            seq,
            bytes = report.bytes,
            pause_ms = pause.as_secs_f64() * 1e3,
            serialize_ms = serialize.as_secs_f64() * 1e3,
            write_ms = write.as_secs_f64() * 1e3,
            compacted,
            "snapshot written; the log behind it is deleted"
        );
        Ok(report)
    }

    /// Moves the conversations closed more than `retention.closed_in_memory` ago from memory
    /// to the archive tables (SPEC R21b): written first, forgotten once durable, so each is
    /// always readable from one place or the other. How many left memory.
    pub async fn archive_closed(&self) -> Result<usize, RuntimeError> {
        let _one = self.upkeep.archiving.lock().await;
        let keep = chrono::Duration::from_std(self.retention.closed_in_memory)
            .unwrap_or(chrono::Duration::MAX);
        let mut total = 0;
        loop {
            let (due, ack) = {
                let engine = self.engine()?;
                let cutoff = engine
                    .now()
                    .checked_sub_signed(keep)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
                let due = engine.closed_before(cutoff, BATCH);
                if due.is_empty() {
                    return Ok(total);
                }
                let ack = self
                    .writer
                    .submit(Some(Record::Archive(due.clone())), Vec::new())?;
                (due, ack)
            };
            if !matches!(ack.await, Ok(Ok(()))) {
                return Err(RuntimeError::Unavailable);
            }
            let ids: Vec<_> = due.iter().map(|c| c.id.clone()).collect();
            let gone = {
                let mut engine = self.engine()?;
                // Under the lock, before they go: a reader that missed them in memory then
                // sees the generation move and looks again (no duplicate open).
                self.upkeep
                    .archived_generation
                    .fetch_add(1, Ordering::SeqCst);
                engine.forget_closed(&ids)
            };
            self.upkeep
                .archived
                .fetch_add(gone as u64, Ordering::SeqCst);
            total += gone;
            if due.len() < BATCH {
                return Ok(total);
            }
        }
    }

    /// Deletes the archived conversations closed before the retention horizon (SPEC R21b);
    /// how many.
    pub async fn purge_archive(&self) -> Result<u64, RuntimeError> {
        let horizon: Timestamp = self.archive_horizon();
        in_batches(BATCH, |batch| self.store.purge_archive(horizon, batch)).await
    }

    /// Deletes the events older than `retention.events` (SPEC R29); how many.
    pub async fn purge_events(&self) -> Result<u64, RuntimeError> {
        // Kept for resuming subscribers, and for webhooks until they are given up.
        let keep = self.retention.events.max(self.webhooks.settings().max_age);
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let Some(horizon) = self.clock.now().checked_sub_signed(keep) else {
            return Ok(0);
        };
        in_batches(BATCH * 10, |batch| self.store.purge_events(horizon, batch)).await
    }

    /// Deletes what retention let go: archived conversations, then events. A failure is
    /// logged; the next call tries again.
    pub async fn purge_expired(&self) {
        if let Err(error) = self.purge_archive().await {
            tracing::warn!(%error, "purging the archive failed; will retry");
        }
        if let Err(error) = self.purge_events().await {
            tracing::warn!(%error, "purging old events failed; will retry");
        }
    }

    /// The last log record the latest snapshot covers.
    pub fn snapshot_seq(&self) -> i64 {
        self.upkeep.snapshot_seq.load(Ordering::SeqCst)
    }

    /// Whether the latest snapshot holds many conversations that have since left memory
    /// for the archive — at least [`ARCHIVED_SNAPSHOT_FLOOR`], and at least as many as
    /// memory holds now — so a restart would load more history than live state (SPEC R21:
    /// after a busy hour was archived, a restart took 6 s where the same live state takes
    /// 0.07 s, as nothing snapshotted once the archive emptied memory).
    fn snapshot_holds_archived(&self) -> Result<bool, RuntimeError> {
        let since = self
            .upkeep
            .archived
            .load(Ordering::SeqCst)
            .saturating_sub(self.upkeep.archived_at_snapshot.load(Ordering::SeqCst));
        if since < ARCHIVED_SNAPSHOT_FLOOR {
            return Ok(false);
        }
        let in_memory = self.engine()?.conversation_count();
        Ok(since >= u64::try_from(in_memory).unwrap_or(u64::MAX))
    }
}

/// Fewest conversations archived since the latest snapshot that make the next one due (see
/// [`Runtime::snapshot_holds_archived`]): a few hundred load in milliseconds.
const ARCHIVED_SNAPSHOT_FLOOR: u64 = 100;

/// Runs `delete` (at most `batch` rows per call, each its own transaction) until a call
/// deletes fewer; how many in all.
async fn in_batches<F>(batch: usize, mut delete: impl FnMut(i64) -> F) -> Result<u64, RuntimeError>
where
    F: std::future::Future<Output = Result<u64, StoreError>>,
{
    let size = i64::try_from(batch).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let deleted = delete(size).await.map_err(store_failed)?;
        total += deleted;
        if deleted < batch as u64 {
            return Ok(total);
        }
    }
}

fn store_failed(error: StoreError) -> RuntimeError {
    RuntimeError::Internal(format!("store: {error}"))
}

/// The background upkeep: archives what is due every second, snapshots once
/// `snapshot_records` commands were logged since the last one, `snapshot_interval` passed
/// with something logged, or the latest snapshot holds more archived conversations than
/// memory holds now; purges the archive every minute. A failure is logged and tried
/// again: the log stays complete meanwhile.
pub(crate) async fn run(
    runtime: Arc<Runtime>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    snapshot_records: u64,
    interval: Duration,
) {
    let mut last_snapshot = Instant::now();
    let mut last_purge: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if let Err(error) = runtime.archive_closed().await {
            tracing::warn!(%error, "archiving closed conversations failed; will retry");
        }
        let pending = runtime
            .writer
            .durable_seq()
            .saturating_sub(runtime.snapshot_seq());
        let pending = u64::try_from(pending).unwrap_or(0);
        let due = pending >= snapshot_records
            || (pending > 0 && last_snapshot.elapsed() >= interval)
            || runtime.snapshot_holds_archived().unwrap_or(false);
        if due {
            match runtime.snapshot().await {
                Ok(_) => last_snapshot = Instant::now(),
                Err(error) => tracing::warn!(%error, "snapshot failed; will retry"),
            }
        }
        if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            last_purge = Some(Instant::now());
            runtime.purge_expired().await;
        }
    }
}

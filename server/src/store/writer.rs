//! Group commit (DESIGN.md "Store"): one writer takes every queued job (up to a bounded
//! batch), writes their records in one transaction, commits, then publishes their events and
//! acknowledges them all, in queue order. A handler answers 2xx only after its ack (R19).
//!
//! The writer runs on its own thread, with its own single-threaded async runtime and its own
//! connections to the store: a commit is a few round trips to the database, and on the HTTP
//! runtime each of them waited behind every runnable request task when the server was busy
//! (measured: 1.2 ms per commit under load there, 0.6 ms on its own thread; benches/README).
//!
//! A commit that failed for the connection's sake (it dropped, the database restarts) is
//! retried with backoff, the same batch with the same sequence numbers, for up to the
//! reconnect timeout (SPEC R23c); meanwhile its jobs wait and [`Writer::is_reconnecting`]
//! says so. If a commit fails for good, memory is ahead of disk: the writer refuses
//! everything from then on and calls its failure hook (the server shuts down; a restart
//! replays the durable truth).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openline_core::Event;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Record, Store, StoreError};
use crate::events::{Outgoing, Published};

/// Most jobs written in one transaction.
pub const MAX_BATCH: usize = 512;

/// The job could not be made durable (the store failed, or the writer stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store could not make the write durable; the server is stopping")]
pub struct WriteFailed;

/// What a job's submitter awaits.
pub type Ack = oneshot::Receiver<Result<(), WriteFailed>>;

/// Called with the events of each committed job, numbered, in commit order.
pub type Publish = Arc<dyn Fn(&[Arc<Published>]) + Send + Sync>;

enum Job {
    Write {
        record: Option<Record>,
        /// Its audit entry ([`Record::Audit`]), written in the same transaction.
        audit: Option<Record>,
        events: Vec<Outgoing>,
        ack: Option<oneshot::Sender<Result<(), WriteFailed>>>,
    },
    /// Answers the sequence number of the last command queued before it, once that is
    /// durable (where a snapshot taken at this point of the queue stands in the log).
    Mark(oneshot::Sender<i64>),
    Stop,
}

/// The submitting side of the writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    failed: Arc<AtomicBool>,
    reconnecting: Arc<AtomicBool>,
    retries: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
    durable: Arc<AtomicI64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("failed", &self.is_failed())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer on its own thread, connected to the store at `url` by connections of
    /// its own, writing as the server that claimed the store at `epoch` (every commit is
    /// fenced, SPEC R23a); commands are numbered from `next_seq`. A commit failing for the
    /// connection's sake is retried for up to `reconnect_timeout`. `on_failure` runs once,
    /// after the first commit that failed for good. Returns once the writer is connected; the
    /// handle ends after [`Writer::stop`], when every queued job was written and the
    /// connections are closed. Events are numbered from the store's next event id and, with
    /// `retain_events`, kept in the store with the commands that caused them (SPEC R29).
    #[allow(clippy::too_many_arguments)]
    pub async fn spawn(
        url: &str,
        epoch: i64,
        next_seq: i64,
        reconnect_timeout: Duration,
        retain_events: bool,
        publish: Publish,
        on_failure: impl FnOnce() + Send + 'static,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let failed = Arc::new(AtomicBool::new(false));
        let reconnecting = Arc::new(AtomicBool::new(false));
        let retries = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicI64::new(next_seq - 1));
        let state = Shared {
            failed: failed.clone(),
            reconnecting: reconnecting.clone(),
            retries: retries.clone(),
            reconnect_timeout,
            epoch,
            retain_events,
            commits: commits.clone(),
            durable: durable.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Thread)?;
        let (connected, ready) = oneshot::channel();
        let url = url.to_owned();
        let task = tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                let connect = async {
                    let store = Store::connect(&url).await?;
                    let next_event = store.event_bounds().await?.next;
                    Ok::<_, StoreError>((store, next_event))
                };
                let (store, next_event) = match connect.await {
                    Ok(connected) => connected,
                    Err(error) => {
                        let _ = connected.send(Err(error));
                        return;
                    }
                };
                let _ = connected.send(Ok(()));
                let next = Next {
                    seq: next_seq,
                    event: next_event,
                };
                run(rx, &store, next, state, publish, on_failure).await;
                store.close().await;
            });
        });
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(StoreError::Thread(std::io::Error::other(
                    "the writer thread ended before it connected",
                )));
            }
        }
        let writer = Self {
            jobs,
            failed,
            reconnecting,
            retries,
            commits,
            durable,
        };
        Ok((writer, task))
    }

    /// Queues `record` (if any) and `events`; the returned ack resolves once they are durable
    /// (events are published just before). Synchronous, so it can be called under the
    /// engine's lock: queue order is apply order.
    pub fn submit(&self, record: Option<Record>, events: Vec<Event>) -> Result<Ack, WriteFailed> {
        self.submit_audited(record, None, outgoing(events))
    }

    /// [`Writer::submit`] with `audit` (a [`Record::Audit`] entry for the change `record`
    /// makes, SPEC R28) written in the same transaction, right after `record`, and with
    /// settings changes among the events.
    pub fn submit_audited(
        &self,
        record: Option<Record>,
        audit: Option<Record>,
        events: Vec<Outgoing>,
    ) -> Result<Ack, WriteFailed> {
        if self.is_failed() {
            return Err(WriteFailed);
        }
        let (ack, rx) = oneshot::channel();
        self.jobs
            .send(Job::Write {
                record,
                audit,
                events,
                ack: Some(ack),
            })
            .map_err(|_| WriteFailed)?;
        Ok(rx)
    }

    /// Queues events that need no write (deadlines processed by the timer), in order.
    pub fn publish(&self, events: Vec<Event>) {
        if !events.is_empty() {
            let _ = self.jobs.send(Job::Write {
                record: None,
                audit: None,
                events: outgoing(events),
                ack: None,
            });
        }
    }

    /// Queues a mark: it resolves to the sequence number of the last command queued before
    /// it, once that command is durable; it never resolves if the writer fails first.
    /// Synchronous, so it can be called under the engine's lock.
    pub fn mark(&self) -> Result<oneshot::Receiver<i64>, WriteFailed> {
        if self.is_failed() {
            return Err(WriteFailed);
        }
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Mark(tx)).map_err(|_| WriteFailed)?;
        Ok(rx)
    }

    /// Asks the writer to finish what is queued, then stop.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }

    /// True once a commit failed: nothing more can be made durable.
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// True while a commit is being retried after the database connection failed: what is
    /// queued waits, and new writes should not be taken on (SPEC R23c).
    pub fn is_reconnecting(&self) -> bool {
        self.reconnecting.load(Ordering::SeqCst)
    }

    /// Commit attempts retried after a failure of the connection, so far.
    pub fn commit_retries(&self) -> u64 {
        self.retries.load(Ordering::SeqCst)
    }

    /// The sequence number of the last durable command (0 for none).
    pub fn durable_seq(&self) -> i64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// Transactions committed so far (one per batch of jobs with records).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }
}

/// The engine's events as the writer takes them.
fn outgoing(events: Vec<Event>) -> Vec<Outgoing> {
    events.into_iter().map(Outgoing::Engine).collect()
}

struct Shared {
    failed: Arc<AtomicBool>,
    reconnecting: Arc<AtomicBool>,
    retries: Arc<AtomicU64>,
    reconnect_timeout: Duration,
    /// The epoch every commit proves (SPEC R23a).
    epoch: i64,
    /// Whether events are kept in the store (SPEC R29).
    retain_events: bool,
    commits: Arc<AtomicU64>,
    durable: Arc<AtomicI64>,
}

/// A job's records, in the order they are written.
fn records_of(job: &Job) -> impl Iterator<Item = &Record> {
    let (record, audit) = match job {
        Job::Write { record, audit, .. } => (record.as_ref(), audit.as_ref()),
        _ => (None, None),
    };
    record.into_iter().chain(audit)
}

/// First wait before retrying a commit; doubled after each failed attempt, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Writes `records` in one transaction, retrying while the failure is the connection's and
/// `shared.reconnect_timeout` has not passed since the first failure.
async fn commit(
    store: &Store,
    next_seq: i64,
    records: &[&Record],
    events: &[&Published],
    shared: &Shared,
) -> Result<i64, StoreError> {
    let mut again = false;
    let mut backoff = FIRST_BACKOFF;
    let mut first_failure: Option<Instant> = None;
    loop {
        match store
            .write_with_events(
                shared.epoch,
                next_seq,
                records.iter().copied(),
                events,
                shared.retain_events,
                again,
            )
            .await
        {
            Ok(next) => {
                // SPEC R35f: committed into a file no longer at its path is not durable; the
                // jobs are not acknowledged and the writer stops.
                store.check_file()?;
                if first_failure.is_some() {
                    shared.reconnecting.store(false, Ordering::SeqCst);
                    tracing::info!("the store answers again: writes resume");
                }
                return Ok(next);
            }
            Err(error) if error.is_transient() => {
                let since = *first_failure.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.reconnect_timeout {
                    tracing::error!(%error, timeout = ?shared.reconnect_timeout, "the store did not come back within the reconnect timeout");
                    shared.reconnecting.store(false, Ordering::SeqCst);
                    return Err(error);
                }
                if !shared.reconnecting.swap(true, Ordering::SeqCst) {
                    tracing::warn!(%error, "a commit failed for the connection's sake: reconnecting and retrying (requests wait or get 503)");
                }
                again = true;
                shared.retries.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                shared.reconnecting.store(false, Ordering::SeqCst);
                return Err(error);
            }
        }
    }
}

/// The next command sequence number and event id.
struct Next {
    seq: i64,
    event: i64,
}

/// Numbers the events of each job of `batch` from `next` on; per job, in batch order.
fn number_events(batch: &mut [Job], mut next: i64) -> Vec<Vec<Arc<Published>>> {
    batch
        .iter_mut()
        .map(|job| match job {
            Job::Write { events, .. } => std::mem::take(events)
                .into_iter()
                .map(|event| {
                    let published = Arc::new(Published::new(next, event));
                    next += 1;
                    published
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    store: &Store,
    mut next: Next,
    shared: Shared,
    publish: Publish,
    on_failure: impl FnOnce() + Send + 'static,
) {
    let mut on_failure = Some(on_failure);
    let mut batch = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(stop) = batch.iter().position(|job| matches!(job, Job::Stop)) {
            batch.truncate(stop); // later jobs are refused: their acks drop
            stopping = true;
        }
        let published = number_events(&mut batch, next.event);
        let events: Vec<&Published> = published.iter().flatten().map(|e| &**e).collect();
        let records: Vec<&Record> = batch.iter().flat_map(records_of).collect();
        let outcome = if shared.failed.load(Ordering::SeqCst) {
            Err(None)
        } else if !records.is_empty() || !events.is_empty() {
            let written = commit(store, next.seq, &records, &events, &shared)
                .await
                .map_err(Some);
            if written.is_ok() {
                shared.commits.fetch_add(1, Ordering::SeqCst);
            }
            written
        } else {
            Ok(next.seq)
        };
        let event_count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        drop(events);
        match outcome {
            Ok(next_seq) => {
                // Commands got numbers in queue order, from the batch's first one on.
                let mut numbered = next.seq;
                next.seq = next_seq;
                next.event += event_count;
                shared.durable.store(next_seq - 1, Ordering::SeqCst);
                for (job, events) in batch.drain(..).zip(published) {
                    match job {
                        Job::Write { record, ack, .. } => {
                            if matches!(record, Some(Record::Command { .. })) {
                                numbered += 1;
                            }
                            if !events.is_empty() {
                                publish(&events);
                            }
                            if let Some(ack) = ack {
                                let _ = ack.send(Ok(()));
                            }
                        }
                        Job::Mark(mark) => {
                            let _ = mark.send(numbered - 1);
                        }
                        Job::Stop => {}
                    }
                }
            }
            Err(error) => {
                if let Some(error) = error {
                    tracing::error!(%error, "commit failed: memory is ahead of the store; refusing writes and shutting down");
                }
                shared.failed.store(true, Ordering::SeqCst);
                if let Some(hook) = on_failure.take() {
                    hook();
                }
                for job in batch.drain(..) {
                    if let Job::Write { ack: Some(ack), .. } = job {
                        let _ = ack.send(Err(WriteFailed));
                    }
                }
            }
        }
    }
    tracing::debug!("writer stopped");
}

//! The shared engine and everything that keeps it honest: durability through the command log
//! (replayed on start, appended in apply order through the group-commit writer), the clock,
//! and the one timer that wakes the engine at its next deadline (SPEC R13, R18, R19).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openline_core::engine::Applied;
use openline_core::registry::Registry;
use openline_core::{Command, Engine, EngineError, Timestamp};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::changes::Watch;
use crate::clock::{Clock, ClockError};
use crate::config::{ClockMode, RetentionSettings, Settings};
use crate::events::{EventBus, Outgoing};
use crate::metrics::Metrics;
use crate::stats::Stats;
use crate::store::lock::{self, StoreLock};
use crate::store::writer::{Ack, WriteFailed, Writer};
use crate::store::{Record, Store};

mod follow;
mod origin;
mod upkeep;
pub use origin::Origin;
pub use upkeep::SnapshotReport;

/// Why the runtime did not carry out a request. Nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine refused the command; nothing changed.
    #[error(transparent)]
    Refused(#[from] EngineError),
    /// The clock refused the change (not manual, or out of range).
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// Writes cannot be made durable: the store failed and the server is stopping.
    #[error("the store cannot make writes durable; the server is stopping")]
    Unavailable,
    /// The store's connection dropped and the server is reconnecting (SPEC R23c): the
    /// request was not carried out; it can be sent again shortly.
    #[error("the store is unreachable; the server is reconnecting")]
    Reconnecting,
    /// A bug, logged by whoever answers; never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<WriteFailed> for RuntimeError {
    fn from(_: WriteFailed) -> Self {
        Self::Unavailable
    }
}

/// The engine inside its I/O shell, shared by every request and the timer.
pub struct Runtime {
    engine: Mutex<Engine>,
    clock: Clock,
    store: Store,
    writer: Writer,
    events: EventBus,
    metrics: Arc<Metrics>,
    /// The last hour's counts per channel (SPEC R32).
    stats: Arc<Stats>,
    wake: Notify,
    shutdown: Arc<watch::Sender<bool>>,
    retention: RetentionSettings,
    upkeep: upkeep::Upkeep,
    /// The epoch this server claimed the store at (SPEC R23a).
    epoch: i64,
    /// Set when the store's lock was lost: the server stops as for a fault.
    lost: std::sync::atomic::AtomicBool,
    /// Webhook deliveries (SPEC R30).
    webhooks: Arc<crate::webhooks::Webhooks>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("clock", &self.clock)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// A started runtime and its background tasks.
#[derive(Debug)]
pub struct Started {
    /// The shared runtime.
    pub runtime: Arc<Runtime>,
    writer_task: JoinHandle<()>,
    timer_task: Option<JoinHandle<()>>,
    upkeep_task: JoinHandle<()>,
    webhooks_task: JoinHandle<()>,
    /// Watches the store lock; owns it until [`Started::stop`] released it.
    lock_task: JoinHandle<()>,
}

impl Started {
    /// Stops the timer, lets the writer finish every queued write, closes the store.
    /// Returns false when a commit had failed or the store was lost (the process should exit
    /// non-zero).
    pub async fn stop(self) -> bool {
        self.runtime.request_shutdown();
        if let Some(timer) = self.timer_task {
            timer.abort();
            let _ = timer.await;
        }
        // It stops at the shutdown signal, between two steps (each step is crash-safe anyway).
        let _ = self.upkeep_task.await;
        let _ = self.webhooks_task.await;
        self.runtime.writer.stop();
        let _ = self.writer_task.await;
        self.runtime.store.close().await;
        tracing::debug!("store closed");
        // Only now may a standby take over: every write of this server is in the log.
        self.lock_task.abort();
        let _ = self.lock_task.await;
        !self.runtime.writer.is_failed()
            && !self.runtime.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Runtime {
    /// Connects the store, replays the command log into a fresh engine, processes the
    /// deadlines that fell due while the server was down, applies the config file's channels
    /// and starts the writer and (system clock) the timer.
    pub async fn start(settings: &Settings, registry: &Registry) -> anyhow::Result<Started> {
        let store = Store::connect(&settings.store.url).await?;
        let (lock, follower) = follow::wait_for_store(&store, settings, registry).await?;
        // From here on, a server that held the store before writes nothing more (R23a): what
        // it committed is all there is, and the standby reads the last of it.
        let epoch = store.claim().await?;
        let follower = match follower {
            Some(mut follower) => {
                follower.catch_up(&store, settings, registry).await?;
                follower
            }
            None => follow::Follower::load(&store, settings, registry).await?,
        };
        let (snapshot_seq, last_applied) = follower.position();
        let replayed = follower.replayed();
        let mut engine = follower.into_engine();
        // A manual clock resumes where it stood (SPEC R18, R19); a new one starts at the
        // current second (whole seconds read better) and is made durable below.
        let persisted_clock = store.manual_clock().await?;
        let clock = match settings.clock.mode {
            ClockMode::System => Clock::system(),
            ClockMode::Manual => {
                let start = persisted_clock
                    .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0));
                Clock::manual(start.max(engine.now()))
            }
        };
        // Deadlines that fell due while no server ran (or whose events a crash kept from the
        // store) are processed now; their events are published once the writer runs.
        let missed = engine.advance_to(clock.now().max(engine.now()));
        tracing::info!(snapshot_seq, replayed, mode = clock.mode().as_str(), now = %clock.now(), "state restored from the latest snapshot and the command log after it");
        warn_if_plugin_settings_changed(&store, settings, last_applied > 0).await?;

        let events = EventBus::default();
        let metrics = Arc::new(Metrics::default());
        let stats = Arc::new(Stats::new(clock.now()));
        let (shutdown, _) = watch::channel(false);
        let shutdown = Arc::new(shutdown);
        let webhooks = Arc::new(crate::webhooks::Webhooks::new(settings.webhooks.clone()));
        let publish = {
            let (events, metrics, webhooks, stats) = (
                events.clone(),
                metrics.clone(),
                webhooks.clone(),
                stats.clone(),
            );
            Arc::new(move |batch: &[Arc<crate::events::Published>]| {
                metrics.record_events(batch.iter().filter_map(|published| published.event()));
                metrics.record_other_events(
                    batch
                        .iter()
                        .filter(|published| published.event().is_none())
                        .map(|published| published.kind()),
                );
                stats.record(batch.iter().filter_map(|published| published.event()));
                events.publish(batch);
                if let Some(last) = batch.last() {
                    webhooks.committed(last.id());
                }
            })
        };
        let on_failure = {
            let shutdown = shutdown.clone();
            move || {
                shutdown.send_replace(true);
            }
        };
        let (writer, writer_task) = Writer::spawn(
            &settings.store.url,
            epoch,
            store.last_seq().await? + 1,
            settings.store.reconnect_timeout,
            true,
            publish,
            on_failure,
        )
        .await?;
        let runtime = Arc::new(Self {
            engine: Mutex::new(engine),
            clock,
            store,
            writer,
            events,
            metrics,
            stats,
            wake: Notify::new(),
            shutdown,
            retention: settings.retention,
            upkeep: upkeep::Upkeep::new(snapshot_seq),
            epoch,
            lost: std::sync::atomic::AtomicBool::new(false),
            webhooks,
        });
        if runtime.clock.mode() == ClockMode::Manual && persisted_clock.is_none() {
            // Else a restart would start the clock at that later wall-clock second, and every
            // presence timeout would jump forward with it.
            let ack = runtime
                .writer
                .submit(Some(Record::Clock(runtime.clock.now())), Vec::new())?;
            if !matches!(ack.await, Ok(Ok(()))) {
                anyhow::bail!("the manual clock's start could not be stored");
            }
        }
        runtime.publish_missed(missed).await?;
        runtime.apply_config_channels(settings, registry).await?;
        // What closed long enough ago (replayed from the log) leaves memory before serving.
        runtime.archive_closed().await?;
        let timer_task = (runtime.clock.mode() == ClockMode::System)
            .then(|| tokio::spawn(timer(runtime.clone())));
        let lock_task = tokio::spawn(keep_lock(lock, runtime.clone()));
        let upkeep_task = tokio::spawn(upkeep::run(
            runtime.clone(),
            runtime.shutdown_signal(),
            settings.store.snapshot_records,
            settings.store.snapshot_interval,
        ));
        let webhooks_task = tokio::spawn(crate::webhooks::supervise(runtime.clone()));
        Ok(Started {
            runtime,
            writer_task,
            timer_task,
            upkeep_task,
            webhooks_task,
            lock_task,
        })
    }

    /// Publishes (numbers and stores, SPEC R29) the events of the deadlines processed at
    /// start that are not in the store yet: those after the newest stored event. Events of
    /// one instant are committed together, so an instant already stored is complete.
    async fn publish_missed(&self, missed: Vec<openline_core::Event>) -> anyhow::Result<()> {
        let newest = self.store.newest_event_at().await?;
        let missed: Vec<_> = missed
            .into_iter()
            .filter(|event| {
                newest.is_none_or(|newest| crate::store::archive::to_micros(event.at()) > newest)
            })
            .collect();
        if missed.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = missed.len(),
            "publishing the events of deadlines that fell due while no server ran"
        );
        let ack = self.writer.submit(None, missed)?;
        if !matches!(ack.await, Ok(Ok(()))) {
            anyhow::bail!("the events of the deadlines processed at start could not be stored");
        }
        Ok(())
    }

    /// `[[channels]]` of the config file: the file wins for them (API.md "Channels").
    async fn apply_config_channels(
        &self,
        settings: &Settings,
        registry: &Registry,
    ) -> anyhow::Result<()> {
        for (id, body) in settings.channel_entries()? {
            if body.can_never_route(registry) {
                tracing::warn!(channel = %id, "check_availability is on but no source can ever say available, so it routes to nobody");
            }
            let wanted = body.to_settings();
            let unchanged = self.read(|engine| engine.channel(&id) == Some(&wanted))?;
            if !unchanged {
                let origin = Origin::config().audited(
                    "channel.put",
                    id.as_str(),
                    serde_json::to_value(body).unwrap_or_default(),
                );
                self.execute_as(origin, |_, _| Ok(body.to_command(id.clone())), |_, _| ())
                    .await
                    .map_err(|e| anyhow::anyhow!("channel `{id}` from the config file: {e}"))?;
            }
        }
        Ok(())
    }

    /// The engine, locked (the lock is the order of everything that happens).
    pub(crate) fn engine(&self) -> Result<MutexGuard<'_, Engine>, RuntimeError> {
        self.engine.lock().map_err(|_| {
            tracing::error!(
                "the engine panicked while locked; its state is not trusted any more: shutting down"
            );
            self.request_shutdown();
            RuntimeError::Unavailable
        })
    }

    /// The engine at the clock's now (deadlines due are processed first), for reading.
    pub fn read<R>(&self, read: impl FnOnce(&Engine) -> R) -> Result<R, RuntimeError> {
        let mut engine = self.engine()?;
        let now = self.clock.now().max(engine.now());
        self.writer.publish(engine.advance_to(now));
        Ok(read(&engine))
    }

    /// Applies the command `build` makes (given the instant and the engine, under the lock),
    /// renders the response with `render` right after, and returns it once the command is
    /// durable. A refused command changes nothing and is not logged. The router's own
    /// command: see [`Runtime::execute_as`] for a caller's.
    pub async fn execute<R>(
        &self,
        build: impl FnOnce(Timestamp, &Engine) -> Result<Command, EngineError>,
        render: impl FnOnce(&Engine, &Applied) -> R,
    ) -> Result<R, RuntimeError> {
        self.execute_as(Origin::router(), build, render).await
    }

    /// [`Runtime::execute`] on behalf of `origin` (SPEC R28): the history entries the command
    /// causes carry its caller, and its audit entry, if any, commits with the command.
    pub async fn execute_as<R>(
        &self,
        origin: Origin,
        build: impl FnOnce(Timestamp, &Engine) -> Result<Command, EngineError>,
        render: impl FnOnce(&Engine, &Applied) -> R,
    ) -> Result<R, RuntimeError> {
        let (ack, response): (Ack, R) = {
            let mut engine = self.engine()?;
            self.check_writable()?;
            let now = self.clock.now().max(engine.now());
            let due = engine.advance_to(now);
            let outcome = build(now, &engine)
                .map_err(RuntimeError::Refused)
                .and_then(|command| {
                    let json = serde_json::to_string(&command)
                        .map_err(|e| RuntimeError::Internal(e.to_string()))?;
                    let watch = Watch::before(&command, &engine);
                    let applied = engine.apply_by(command, now, origin.by())?;
                    Ok((json, applied, watch))
                });
            let (json, applied, watch) = match outcome {
                Ok(done) => done,
                Err(error) => {
                    self.writer.publish(due);
                    return Err(error);
                }
            };
            let response = render(&engine, &applied);
            // The settings change first, then what it caused (API.md third wave "Events").
            let changed = watch.and_then(|watch| watch.after(&engine, now));
            let events: Vec<Outgoing> = due
                .into_iter()
                .map(Outgoing::Engine)
                .chain(changed.map(Outgoing::from))
                .chain(applied.events.into_iter().map(Outgoing::Engine))
                .collect();
            let record = Record::Command {
                at: now,
                json,
                by: origin.by_shared(),
            };
            let ack = self
                .writer
                .submit_audited(Some(record), origin.audit_at(now), events)?;
            self.wake.notify_one();
            (ack, response)
        };
        match ack.await {
            Ok(Ok(())) => Ok(response),
            _ => Err(RuntimeError::Unavailable),
        }
    }

    /// Whether a write can be taken on now: not after a commit failed for good (503, the
    /// server stops), nor while the store is being reconnected (503, try again).
    fn check_writable(&self) -> Result<(), RuntimeError> {
        if self.writer.is_failed() {
            Err(RuntimeError::Unavailable)
        } else if self.writer.is_reconnecting() {
            Err(RuntimeError::Reconnecting)
        } else {
            Ok(())
        }
    }

    /// Moves the manual clock `seconds` forward for `origin` (audited, SPEC R28); returns
    /// once every deadline up to the new instant was processed and the instant is durable
    /// (SPEC R18). 409 in system mode.
    pub async fn advance_clock(
        &self,
        seconds: u64,
        origin: Origin,
    ) -> Result<Timestamp, RuntimeError> {
        let (ack, now) = {
            let mut engine = self.engine()?;
            self.check_writable()?;
            let to = self.clock.peek_advance(seconds)?.max(engine.now());
            self.clock.set(to)?;
            let events = engine.advance_to(to).into_iter().map(Outgoing::Engine);
            let audit = origin.audit_at(to);
            let ack =
                self.writer
                    .submit_audited(Some(Record::Clock(to)), audit, events.collect())?;
            (ack, to)
        };
        if !matches!(ack.await, Ok(Ok(()))) {
            return Err(RuntimeError::Unavailable);
        }
        // What time made due is done before the answer (SPEC R18, R21b).
        self.archive_closed().await?;
        self.purge_expired().await;
        Ok(now)
    }

    /// Processes every deadline due now (the timer's job).
    fn tick(&self) {
        if let Ok(mut engine) = self.engine() {
            let now = self.clock.now().max(engine.now());
            self.writer.publish(engine.advance_to(now));
        }
    }

    /// True once a commit failed: the server refuses writes and is stopping.
    pub fn is_failed(&self) -> bool {
        self.writer.is_failed()
    }

    /// How long what is over stays (SPEC R21b).
    pub fn retention(&self) -> &RetentionSettings {
        &self.retention
    }

    /// The instant before which a closed conversation is deleted: one closed earlier is gone,
    /// even before the purge removed its rows (SPEC R21b).
    pub fn archive_horizon(&self) -> Timestamp {
        let keep = chrono::Duration::from_std(self.retention.closed_conversations)
            .unwrap_or(chrono::Duration::MAX);
        self.clock
            .now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }

    /// Changes whenever closed conversations left memory after their archiving committed.
    /// A reader that missed a conversation in memory, then looked in the store, compares it
    /// before and after: unchanged means the conversation was in neither place.
    pub fn archived_generation(&self) -> u64 {
        self.upkeep
            .archived_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The store (for readiness).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The event fan-out (SSE).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Webhook subscriptions' deliveries (SPEC R30).
    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.webhooks
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The last hour's counts per channel (SPEC R32).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The Prometheus exposition: the metrics, gauges from the engine, store commits.
    pub fn render_metrics(&self) -> Result<String, RuntimeError> {
        let now = self.clock.now();
        let mut text = self.read(|engine| self.metrics.render(engine, now))?;
        text.push_str(&format!(
            "# HELP openline_store_commits_total Group-commit transactions.\n# TYPE openline_store_commits_total counter\nopenline_store_commits_total {}\n\
             # HELP openline_store_reconnecting Whether a commit is being retried after the database connection failed: 1 or 0.\n# TYPE openline_store_reconnecting gauge\nopenline_store_reconnecting {}\n\
             # HELP openline_store_commit_retries_total Commit attempts retried after the database connection failed.\n# TYPE openline_store_commit_retries_total counter\nopenline_store_commit_retries_total {}\n",
            self.writer.commits(),
            u8::from(self.writer.is_reconnecting()),
            self.writer.commit_retries()
        ));
        let closed = self.read(|engine| engine.closed_in_memory())?;
        text.push_str(&self.upkeep.render(closed));
        text.push_str(&self.webhooks.render_metrics());
        Ok(text)
    }

    /// Asks everything to stop (signal, fatal store failure).
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Turns true when the server should stop.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Replay rebuilds the past with today's `[plugins.*]` settings: if they changed since the
/// log was written, timeouts in the past may fall differently than what was served. Says so,
/// naming the plugins, and remembers today's settings.
async fn warn_if_plugin_settings_changed(
    store: &Store,
    settings: &Settings,
    has_history: bool,
) -> anyhow::Result<()> {
    const KEY: &str = "plugin_settings";
    const DECLARED: &str = "presence_sources.";
    // `[plugins.NAME]` under NAME (as logs written before config-defined sources have it),
    // each `[[presence_sources]]` entry under `presence_sources.NAME`.
    let mut current = settings.plugins.clone();
    for declared in &settings.presence_sources {
        current.insert(
            format!("{DECLARED}{}", declared.name),
            serde_json::to_value(declared)?,
        );
    }
    let current_text = serde_json::to_string(&current)?;
    let previous = store.meta(KEY).await?;
    if previous.as_deref() == Some(current_text.as_str()) {
        return Ok(());
    }
    if let Some(previous) = previous.filter(|_| has_history) {
        let previous: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&previous).unwrap_or_default();
        let changed: Vec<String> = previous
            .keys()
            .chain(current.keys())
            .filter(|name| previous.get(*name) != current.get(*name))
            .map(|name| match name.strip_prefix(DECLARED) {
                Some(source) => format!("[[presence_sources]] `{source}`"),
                None => format!("[plugins.{name}]"),
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        tracing::warn!(
            changed = %changed.join(", "),
            "plugin settings changed since the command log was written: the state was rebuilt with the new ones, so past timeouts may have fallen differently than what was served"
        );
    }
    store.set_meta(KEY, &current_text).await?;
    Ok(())
}

/// Holds the store lock and checks it every few seconds: a server that lost it (its
/// PostgreSQL session dropped) may have a successor already, so it stops at once.
async fn keep_lock(mut lock: StoreLock, runtime: Arc<Runtime>) {
    loop {
        tokio::time::sleep(lock::RETRY * 2).await;
        if !lock.is_held().await {
            tracing::error!("the store lock was lost (database session ended): shutting down");
            // A fault: the exit status says so, so that a service manager restarts it.
            runtime
                .lost
                .store(true, std::sync::atomic::Ordering::SeqCst);
            runtime.request_shutdown();
            // Keep what is left of the lock until the server stops.
            std::future::pending::<()>().await;
        }
    }
}

/// Sleeps until the engine's next deadline (woken early after each command, which may have
/// moved it earlier) and processes what is due. Nothing polls.
async fn timer(runtime: Arc<Runtime>) {
    let mut shutdown = runtime.shutdown_signal();
    loop {
        let next = match runtime.engine() {
            Ok(engine) => engine.next_deadline(),
            Err(_) => return,
        };
        let wait = next.map(|at| {
            (at - runtime.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        });
        if wait == Some(Duration::ZERO) {
            runtime.tick();
            continue;
        }
        let sleep = async {
            match wait {
                // +1 ms: tokio sleeps at millisecond granularity; never wake just before.
                Some(wait) => tokio::time::sleep(wait + Duration::from_millis(1)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => runtime.tick(),
            () = runtime.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

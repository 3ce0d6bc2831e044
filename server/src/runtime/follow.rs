//! The hot standby (SPEC R23b): while another server holds the store, a waiting server keeps
//! its own engine current by reading the log as it is committed, so that taking over is
//! reading the last few records, not replaying history.
//!
//! The standby reads only what is committed, so it is never ahead of the store. When the
//! active server writes a new snapshot the standby reloads from it: the log it covers is
//! deleted, and the snapshot no longer holds what was archived meanwhile, so the standby's
//! memory stays bounded like the active server's (SPEC R21).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use openline_core::registry::Registry;
use openline_core::{Engine, Timestamp};

use super::upkeep;
use crate::config::Settings;
use crate::store::Store;

/// How often a standby reads what was committed since it last looked.
pub(crate) const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// An engine rebuilt from the store, and where in the log it stands.
pub(crate) struct Follower {
    engine: Engine,
    /// The last log record applied.
    seq: i64,
    /// The snapshot it was loaded from (0: none).
    snapshot_seq: i64,
    /// Log records applied since that snapshot.
    replayed: u64,
}

impl Follower {
    /// Loads the latest snapshot and replays the log after it.
    pub(crate) async fn load(
        store: &Store,
        settings: &Settings,
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        let plugins = settings.build_plugins(registry)?;
        let (engine, snapshot_seq) = upkeep::load_snapshot(store, plugins)
            .await
            .context("cannot restore the state from the latest snapshot")?;
        let mut follower = Self {
            engine,
            seq: snapshot_seq,
            snapshot_seq,
            replayed: 0,
        };
        follower.replay_tail(store).await?;
        Ok(follower)
    }

    /// Applies what was committed since the last call; reloads from a snapshot newer than
    /// the one it stands on. Returns how many records it applied.
    pub(crate) async fn catch_up(
        &mut self,
        store: &Store,
        settings: &Settings,
        registry: &Registry,
    ) -> anyhow::Result<u64> {
        let latest = store.snapshot_seq().await?.unwrap_or(0);
        if latest > self.snapshot_seq {
            let started = Instant::now();
            *self = Self::load(store, settings, registry).await?;
            tracing::debug!(snapshot_seq = self.snapshot_seq, elapsed = ?started.elapsed(), "standby reloaded from a new snapshot");
            return Ok(0);
        }
        let applied = self.replay_tail(store).await?;
        self.forget_archived(store, settings).await?;
        Ok(applied)
    }

    /// Forgets the closed conversations the active server archived (it forgot them too, but
    /// that is not in the log): the standby's memory stays bounded between snapshots, and a
    /// takeover does not archive them again (SPEC R21b).
    async fn forget_archived(&mut self, store: &Store, settings: &Settings) -> anyhow::Result<()> {
        const BATCH: usize = 1000;
        let keep = chrono::Duration::from_std(settings.retention.closed_in_memory)
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = self
            .engine
            .now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        loop {
            let due = self.engine.closed_before(cutoff, BATCH);
            let closed: Vec<(&str, Timestamp)> = due
                .iter()
                .filter_map(|c| c.closed_at.map(|at| (c.id.as_str(), at)))
                .collect();
            let archived = store.archived_among(&closed).await?;
            let ids: Vec<_> = due
                .iter()
                .filter(|c| archived.contains(c.id.as_str()))
                .map(|c| c.id.clone())
                .collect();
            self.engine.forget_closed(&ids);
            // The oldest ones are not archived yet: the rest will not be either.
            if due.len() < BATCH || ids.len() < due.len() {
                return Ok(());
            }
        }
    }

    /// Every logged command was accepted once: one refused now means this binary lacks a
    /// source or policy it names, or its settings changed. Serving on without it would
    /// silently drop what it created (a channel and its conversations), so the start stops
    /// and names the record (SPEC R22).
    async fn replay_tail(&mut self, store: &Store) -> anyhow::Result<u64> {
        let (engine, seq) = (&mut self.engine, &mut self.seq);
        let replayed = store
            .replay(*seq, |record| {
                engine.advance_to(record.at);
                engine
                    .apply_by(record.command, record.at, record.by.as_deref())
                    .map(|_| *seq = record.seq)
                    .map_err(|error| {
                        format!(
                            "{error} (accepted at {} by the server that wrote it: does this binary lack a \
                             source or policy it names, or did [plugins.*] or [[presence_sources]] change? \
                             Start with the binary and configuration that wrote the log)",
                            record.at.to_rfc3339()
                        )
                    })
            })
            .await
            .context("cannot restore the state from the command log")?;
        self.replayed += replayed;
        Ok(replayed)
    }

    /// The snapshot it was loaded from (0: none) and the last record applied.
    pub(crate) fn position(&self) -> (i64, i64) {
        (self.snapshot_seq, self.seq)
    }

    /// How many log records it applied after its snapshot.
    pub(crate) fn replayed(&self) -> u64 {
        self.replayed
    }

    /// The engine, current up to [`Follower::position`].
    pub(crate) fn into_engine(self) -> Engine {
        self.engine
    }
}

/// Takes the store's lock; while another server holds it, follows the log (SPEC R23b).
/// Returns the lock and the follower, which is `None` when the lock was free at once (the
/// caller loads the state after claiming the store) or the standby could not follow (it
/// said why; the caller's own load then reports it properly).
pub(crate) async fn wait_for_store(
    store: &Store,
    settings: &Settings,
    registry: &Registry,
) -> anyhow::Result<(crate::store::lock::StoreLock, Option<Follower>)> {
    use crate::store::lock::StoreLock;
    let url = settings.store.url.clone();
    if let Some(lock) = StoreLock::try_acquire(&url).await? {
        return Ok((lock, None));
    }
    tracing::warn!(
        "another openline server holds this store; following its log as a hot standby until it stops"
    );
    let mut waiting = tokio::spawn(async move { StoreLock::acquire(&url, || {}).await });
    let mut follower = None;
    let mut reported = false;
    loop {
        tokio::select! {
            lock = &mut waiting => {
                let lock = lock.context("waiting for the store lock")??;
                return Ok((lock, follower));
            }
            () = tokio::time::sleep(FOLLOW_EVERY) => {
                let caught_up = match follower.as_mut() {
                    None => Follower::load(store, settings, registry).await.map(|f| {
                        follower = Some(f);
                    }),
                    Some(current) => current.catch_up(store, settings, registry).await.map(drop),
                };
                match caught_up {
                    Ok(()) if !reported => {
                        reported = true;
                        if let Some((snapshot_seq, seq)) = follower.as_ref().map(Follower::position) {
                            tracing::info!(snapshot_seq, seq, "standby following the log");
                        }
                    }
                    Ok(()) => {}
                    Err(error) => {
                        // Transient (the database restarting) or not (a record this binary
                        // cannot apply): start over at the next look; the takeover's own
                        // load stops the start if it persists.
                        tracing::warn!(error = format!("{error:#}"), "the standby cannot follow the log; trying again");
                        follower = None;
                        reported = false;
                        tokio::time::sleep(super::lock::RETRY).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use openline_core::Command;
    use serde_json::json;

    use super::*;
    use crate::config::ClockMode;
    use crate::runtime::Runtime;

    fn command(value: serde_json::Value) -> Command {
        serde_json::from_value(value).unwrap()
    }

    async fn run(runtime: &Runtime, value: serde_json::Value) {
        let command = command(value);
        runtime
            .execute(|_, _| Ok(command), |_, _| ())
            .await
            .unwrap();
    }

    fn state(engine: &Engine) -> serde_json::Value {
        serde_json::to_value(engine.snapshot()).unwrap()
    }

    /// SPEC R23b, R21: the standby forgets what the active server archived; the active
    /// server snapshots (deleting the log behind it) while the standby is not looking; the
    /// standby's next look reloads and ends in the active server's state.
    #[tokio::test]
    async fn r23b_follows_across_a_snapshot_that_deleted_unread_records() {
        let db = std::env::temp_dir().join(format!("openline-follow-{}.db", uuid::Uuid::now_v7()));
        let mut settings = Settings::default();
        settings.store.url = format!("sqlite://{}", db.display());
        settings.clock.mode = ClockMode::Manual;
        let registry = crate::registry().unwrap();
        let started = Runtime::start(&settings, &registry).await.unwrap();
        let active = started.runtime.clone();
        let store = Store::connect(&settings.store.url).await.unwrap();

        run(
            &active,
            json!({"command": "put_agent", "id": "a", "profile": {"name": "A"}}),
        )
        .await;
        let mut standby = Follower::load(&store, &settings, &registry).await.unwrap();
        assert_eq!(standby.position(), (0, 1), "no snapshot yet, one record");
        run(
            &active,
            json!({"command": "put_channel", "id": "web", "settings": {
            "name": "Web", "check_availability": false, "sources": [], "policy": "evenly",
            "queue": ["a"], "max_chats": null, "offer_timeout": {"secs": 120, "nanos": 0}}}),
        )
        .await;
        run(&active, json!({"command": "open_conversation", "channel": "web", "id": "old", "customer": "q", "with_message": true})).await;
        run(&active, json!({"command": "close", "conversation": "old"})).await;
        standby
            .catch_up(&store, &settings, &registry)
            .await
            .unwrap();
        assert_eq!(
            standby.engine.closed_in_memory(),
            1,
            "`old` closed, not archived yet"
        );
        active
            .advance_clock(2 * 3600, crate::runtime::Origin::router())
            .await
            .unwrap(); // `old` is archived, leaves memory
        // The clock's advance is not a log record: the next one is.
        run(
            &active,
            json!({"command": "put_agent", "id": "b", "profile": {"name": "B"}}),
        )
        .await;
        standby
            .catch_up(&store, &settings, &registry)
            .await
            .unwrap();
        assert_eq!(standby.position().0, 0, "no snapshot yet");
        assert_eq!(
            standby.engine.closed_in_memory(),
            0,
            "what the active server archived leaves the standby's memory too"
        );
        let report = active.snapshot().await.unwrap();
        assert!(
            report.compacted >= 4,
            "the log it covers is gone: {report:?}"
        );
        run(&active, json!({"command": "open_conversation", "channel": "web", "id": "new", "customer": "q", "with_message": true})).await;

        assert_eq!(
            standby
                .catch_up(&store, &settings, &registry)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            standby.position().0,
            report.seq,
            "reloaded from the new snapshot"
        );
        standby
            .catch_up(&store, &settings, &registry)
            .await
            .unwrap();
        let expected = active.read(state).unwrap();
        assert_eq!(state(&standby.engine), expected);
        assert_eq!(
            standby.engine.closed_in_memory(),
            0,
            "the archived conversation is not kept"
        );
        assert!(standby.engine.conversation("new").is_some());

        assert!(started.stop().await);
        store.close().await;
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
}

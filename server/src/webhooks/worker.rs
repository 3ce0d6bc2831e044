//! One subscription's delivery worker: the events after its cursor, in order, each posted
//! until a 2xx answers or it is older than `webhooks.max_age` (SPEC R30).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{sign, target};
use crate::runtime::Runtime;
use crate::store::events::StoredEvent;
use crate::store::webhooks::{DeliveryStatus, DeliveryUpdate, Webhook};

/// Events read per store query.
const PAGE: i64 = 256;
/// While deliveries succeed, their outcomes and the cursor are recorded once a second (or
/// every this many outcomes): on SQLite every write waits for the one write lock the store
/// writer needs too. A crash meanwhile only means those events are delivered again.
const FLUSH_EVERY: usize = 1024;
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// The first wait before a retry, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Whether `hook` wants `event`.
fn wants(hook: &Webhook, event: &StoredEvent) -> bool {
    hook.events.contains(&event.kind)
        && hook
            .channels
            .as_ref()
            .is_none_or(|channels| channels.contains(&event.channel))
        && hook.agents.as_ref().is_none_or(|agents| {
            event
                .agent
                .as_ref()
                .is_some_and(|agent| agents.contains(agent))
        })
}

/// The worker's position and what it has not recorded yet.
struct Progress {
    cursor: i64,
    recorded_cursor: i64,
    updates: Vec<DeliveryUpdate>,
    recorded_at: Instant,
}

impl Progress {
    /// Whether enough is unrecorded to record it now.
    fn due(&self) -> bool {
        self.updates.len() >= FLUSH_EVERY || self.recorded_at.elapsed() >= FLUSH_INTERVAL
    }

    /// Records the outcomes and the cursor; on failure they are kept for the next try (a
    /// crash meanwhile only means those events are delivered again: at least once).
    async fn flush(&mut self, runtime: &Runtime, id: &str) {
        if self.updates.is_empty() && self.cursor == self.recorded_cursor {
            return;
        }
        match runtime
            .store()
            .record_deliveries(id, &self.updates, self.cursor)
            .await
        {
            Ok(()) => {
                self.updates.clear();
                self.recorded_cursor = self.cursor;
                self.recorded_at = Instant::now();
            }
            Err(error) => {
                tracing::warn!(%error, webhook = id, "recording webhook deliveries failed; will retry");
            }
        }
    }
}

/// Delivers `hook`'s events until shutdown (or until the supervisor aborts it, when the
/// subscription is deleted).
pub(super) async fn run(runtime: Arc<Runtime>, hook: Webhook) {
    let hooks = runtime.webhooks();
    let mut newest = hooks.newest.subscribe();
    let mut shutdown = runtime.shutdown_signal();
    let mut progress = Progress {
        cursor: hook.cursor,
        recorded_cursor: hook.cursor,
        updates: Vec::new(),
        recorded_at: Instant::now(),
    };
    loop {
        let page = match runtime
            .store()
            .events_after(progress.cursor, Default::default(), PAGE)
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, webhook = %hook.id, "reading events for a webhook failed; will retry");
                Vec::new()
            }
        };
        if page.is_empty() {
            progress.flush(&runtime, &hook.id).await;
            hooks.set_state(&hook.id, Some((false, 0)));
            newest.borrow_and_update();
            tokio::select! {
                _ = newest.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        for event in page {
            if wants(&hook, &event) {
                let Some(update) =
                    deliver(&runtime, &hook, &event, &mut progress, &mut shutdown).await
                else {
                    progress.flush(&runtime, &hook.id).await;
                    return;
                };
                progress.updates.push(update);
            }
            progress.cursor = event.id;
            if progress.due() {
                progress.flush(&runtime, &hook.id).await;
            }
        }
    }
}

fn millis(age: Duration) -> u64 {
    u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
}

/// How old `event` is by the server's clock.
fn age(runtime: &Runtime, event: &StoredEvent) -> Duration {
    openline_core::time::parse_rfc3339(&event.at)
        .ok()
        .and_then(|at| (runtime.clock().now() - at).to_std().ok())
        .unwrap_or(Duration::ZERO)
}

/// Posts `event` until a 2xx answers (delivered) or it is older than `max_age` (failed);
/// its final outcome. Each failed attempt is recorded as pending at once, so that the
/// deliveries endpoint shows it. `None` at shutdown.
async fn deliver(
    runtime: &Runtime,
    hook: &Webhook,
    event: &StoredEvent,
    progress: &mut Progress,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<DeliveryUpdate> {
    let hooks = runtime.webhooks();
    let max_age = hooks.settings().max_age;
    let mut backoff = FIRST_BACKOFF;
    let mut update = DeliveryUpdate {
        event_id: event.id,
        attempts: 0,
        status: DeliveryStatus::Pending,
        last_status_code: None,
        last_error: None,
        next_attempt_at: None,
    };
    loop {
        let age = age(runtime, event);
        if age > max_age {
            update.status = DeliveryStatus::Failed;
            update.next_attempt_at = None;
            if update.last_error.is_none() && update.last_status_code.is_none() {
                update.last_error =
                    Some("older than webhooks.max_age before it could be sent".into());
            }
            hooks.metrics.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %hook.id, event = event.id, attempts = update.attempts, "webhook delivery given up after webhooks.max_age");
            return Some(update);
        }
        // How far behind the subscription is: the age of what it is delivering.
        hooks.set_state(&hook.id, Some((update.attempts > 0, millis(age))));
        update.attempts += 1;
        match attempt(runtime, hook, event).await {
            Ok(status) if (200..300).contains(&status) => {
                update.status = DeliveryStatus::Delivered;
                update.last_status_code = Some(status);
                update.last_error = None;
                update.next_attempt_at = None;
                hooks.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                return Some(update);
            }
            Ok(status) => {
                update.last_status_code = Some(status);
                update.last_error = Some(format!("the receiver answered {status}"));
            }
            Err(error) => {
                update.last_status_code = None;
                update.last_error = Some(error);
            }
        }
        hooks.metrics.retries.fetch_add(1, Ordering::Relaxed);
        hooks.set_state(&hook.id, Some((true, millis(age))));
        update.next_attempt_at = chrono::Duration::from_std(backoff)
            .ok()
            .and_then(|wait| runtime.clock().now().checked_add_signed(wait));
        progress.updates.push(update.clone());
        progress.flush(runtime, &hook.id).await;
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return None,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One POST of `event` to `hook`: the HTTP status, or why there was none.
async fn attempt(runtime: &Runtime, hook: &Webhook, event: &StoredEvent) -> Result<u16, String> {
    let hooks = runtime.webhooks();
    let url = target::check(&hook.url, &hooks.settings().allowed_hosts)?;
    let client = hooks
        .client
        .as_ref()
        .ok_or("no HTTP client could be built (see the server's log)")?;
    let sent_at = chrono::Utc::now().timestamp();
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Openline-Event-Id", event.id.to_string())
        .header(
            "Openline-Signature",
            sign::signature(&hook.secret, sent_at, &event.data),
        )
        .body(event.data.clone())
        .send()
        .await
        .map_err(|error| {
            if error.is_timeout() {
                format!("no answer within {} s", super::ATTEMPT_TIMEOUT.as_secs())
            } else if error.is_connect() {
                format!("cannot connect: {error}")
            } else {
                error.to_string()
            }
        })?;
    Ok(response.status().as_u16())
}

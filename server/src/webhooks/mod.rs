//! Webhook deliveries (SPEC R30). The outbox is the store's event table: events are written
//! there in the transaction of the commands that caused them, so whatever was acknowledged
//! is delivered, after a crash too. One worker per subscription reads the events after its
//! cursor, in order, posts each matching one, retries a failure with exponential backoff
//! (1 s doubling up to 10 min) until the event is older than `webhooks.max_age`, and records
//! every outcome. A slow or dead receiver holds up only its own subscription; routing never
//! waits for a delivery.

pub mod sign;
pub mod target;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::WebhookSettings;
use crate::runtime::Runtime;

/// How long one delivery attempt may take, connecting included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most subscriptions a server keeps (each has its own worker).
pub const MAX_SUBSCRIPTIONS: i64 = 100;
/// The event types a subscription may ask for.
pub const EVENT_TYPES: [&str; 9] = [
    "conversation.queued",
    "conversation.offered",
    "conversation.offer_withdrawn",
    "conversation.accepted",
    "conversation.requeued",
    "conversation.closed",
    "agent.availability_changed",
    "channel.changed",
    "agent.changed",
];

/// Shared by the HTTP handlers, the store writer's publish hook and the workers.
#[derive(Debug)]
pub struct Webhooks {
    settings: WebhookSettings,
    client: Option<reqwest::Client>,
    /// The newest committed event id: workers wake when it moves.
    newest: watch::Sender<i64>,
    /// Subscriptions were created or deleted: the supervisor looks again.
    changed: Notify,
    metrics: WebhookMetrics,
}

/// Delivery counters (Prometheus).
#[derive(Debug, Default)]
struct WebhookMetrics {
    delivered: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    /// Per subscription: whether it is retrying, and the age in ms of the event it is on.
    state: std::sync::Mutex<HashMap<String, (bool, u64)>>,
}

impl Webhooks {
    /// The deliveries' shared state. Without a usable HTTPS client (no system roots), https
    /// deliveries fail and say why.
    pub fn new(settings: WebhookSettings) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            // A receiver's redirect is its failure, never a reason to post elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("openline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| tracing::error!(%error, "cannot build the webhook HTTP client: deliveries will fail"))
            .ok();
        Self {
            settings,
            client,
            newest: watch::channel(0).0,
            changed: Notify::new(),
            metrics: WebhookMetrics::default(),
        }
    }

    /// The `[webhooks]` settings.
    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Events up to `id` are committed (the store writer's publish hook).
    pub fn committed(&self, id: i64) {
        self.newest.send_if_modified(|newest| {
            let moved = id > *newest;
            *newest = (*newest).max(id);
            moved
        });
    }

    /// A subscription was created or deleted.
    pub fn subscriptions_changed(&self) {
        self.changed.notify_one();
    }

    /// The Prometheus text of the delivery metrics.
    pub fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let (retrying, lag_ms) = m
            .state
            .lock()
            .map(|state| {
                state.values().fold((0, 0), |(retrying, lag), (r, age)| {
                    (retrying + u64::from(*r), lag.max(*age))
                })
            })
            .unwrap_or_default();
        format!(
            "# HELP openline_webhook_deliveries_total Webhook deliveries by outcome: delivered (a 2xx answered) or failed (given up after webhooks.max_age).\n\
             # TYPE openline_webhook_deliveries_total counter\n\
             openline_webhook_deliveries_total{{outcome=\"delivered\"}} {}\n\
             openline_webhook_deliveries_total{{outcome=\"failed\"}} {}\n\
             # HELP openline_webhook_retries_total Delivery attempts that failed and are retried.\n\
             # TYPE openline_webhook_retries_total counter\n\
             openline_webhook_retries_total {}\n\
             # HELP openline_webhook_retrying Subscriptions whose oldest undelivered event is being retried.\n\
             # TYPE openline_webhook_retrying gauge\n\
             openline_webhook_retrying {retrying}\n\
             # HELP openline_webhook_lag_seconds How far behind the furthest-behind subscription is: the age of the event it delivered last or is retrying (0 once every one is caught up).\n\
             # TYPE openline_webhook_lag_seconds gauge\n\
             openline_webhook_lag_seconds {:.3}\n",
            m.delivered.load(Ordering::Relaxed),
            m.failed.load(Ordering::Relaxed),
            m.retries.load(Ordering::Relaxed),
            lag_ms as f64 / 1000.0,
        )
    }

    fn set_state(&self, webhook: &str, state: Option<(bool, u64)>) {
        if let Ok(mut all) = self.metrics.state.lock() {
            match state {
                Some(state) => {
                    all.insert(webhook.to_owned(), state);
                }
                None => {
                    all.remove(webhook);
                }
            }
        }
    }
}

/// Keeps one worker per subscription until shutdown: looks at the subscriptions at start,
/// whenever one is created or deleted, and every minute.
pub(crate) async fn supervise(runtime: Arc<Runtime>) {
    let mut shutdown = runtime.shutdown_signal();
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        match runtime.store().webhooks().await {
            Ok(hooks) => {
                let live: std::collections::HashSet<&str> =
                    hooks.iter().map(|hook| hook.id.as_str()).collect();
                workers.retain(|id, task| {
                    let keep = live.contains(id.as_str()) && !task.is_finished();
                    if !keep {
                        task.abort();
                        runtime.webhooks().set_state(id, None);
                    }
                    keep
                });
                for hook in hooks {
                    if !workers.contains_key(&hook.id) {
                        let id = hook.id.clone();
                        workers.insert(id, tokio::spawn(worker::run(runtime.clone(), hook)));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading webhook subscriptions failed; will retry")
            }
        }
        tokio::select! {
            () = runtime.webhooks().changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => break,
        }
    }
    for task in workers.into_values() {
        task.abort();
    }
}

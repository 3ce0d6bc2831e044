//! `loadgen --webhook` (issue #13, SPEC R30): a local receiver and one subscription to every
//! event type, created after the fixture and before the phases; after the phases, the wait
//! until every event committed by then has arrived, and what the receiver saw.
//!
//! The receiver is a minimal hyper HTTP/1.1 server on its own thread (a single-threaded
//! runtime, so that its receive instants do not queue behind the load's workers) on a free
//! loopback port. It answers 200 to every request and records, per request, when it arrived
//! (wall clock and monotonic), the `Openline-Event-Id` header and the event's `at` from the
//! body. The **delivery lag** of an event is its receive wall time minus its `at`: the
//! server's system clock (`loadgen` runs the server with `clock.mode = system`, on the same
//! machine) at the instant the engine applied the command that caused it, so the lag includes
//! the group commit of that command, the worker reading the event back from the store and the
//! POST.
//!
//! Completion: in a fresh store events are numbered from 1, so the newest event id when the
//! load ends is the sum of `openline_events_total` then; a subscription delivers in id
//! order, so once the receiver has seen that id it has everything the load caused (events
//! after it, e.g. offer timeouts, are not waited for).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Method;
use hyper::body::Incoming;
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::client::Conn;
use super::stats::{percentile, round};

/// Every event type the server publishes.
use openline_server::webhooks::EVENT_TYPES;
/// Longest wait without a single new delivery before giving up on the backlog.
const STALL_LIMIT: Duration = Duration::from_secs(120);

/// One request the receiver answered.
#[derive(Debug, Clone, Copy)]
struct Received {
    /// When it arrived (monotonic).
    instant: Instant,
    /// When it arrived, µs since the Unix epoch.
    wall_us: i64,
    /// Its `Openline-Event-Id` (0 if missing or not a number).
    id: i64,
    /// The event's `at`, µs since the Unix epoch (`None` if the body had none).
    at_us: Option<i64>,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// The receiver and the subscription that posts to it.
#[derive(Debug)]
pub struct Hook {
    addr: SocketAddr,
    log: Log,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The newest event id when the subscription was created (it receives those after).
    events_before: i64,
    id: String,
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn unix_us(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Records one delivery and answers 200.
async fn receive(
    request: hyper::Request<Incoming>,
    log: Log,
) -> Result<hyper::Response<Empty<Bytes>>, std::convert::Infallible> {
    let instant = Instant::now();
    let wall_us = unix_us(SystemTime::now());
    let id = request
        .headers()
        .get("openline-event-id")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let at_us = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|event| {
            chrono::DateTime::parse_from_rfc3339(event["at"].as_str()?)
                .ok()
                .map(|at| at.timestamp_micros())
        });
    if let Ok(mut log) = log.lock() {
        log.push(Received {
            instant,
            wall_us,
            id,
            at_us,
        });
    }
    Ok(hyper::Response::new(Empty::new()))
}

/// Starts the receiver on its own thread; its address.
fn start_receiver(
    log: Log,
) -> anyhow::Result<(SocketAddr, oneshot::Sender<()>, std::thread::JoinHandle<()>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("webhook-receiver".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let accepted = tokio::select! {
                        accepted = listener.accept() => accepted,
                        _ = &mut stopped => return,
                    };
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let log = log.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| receive(request, log.clone()));
                        let _ = server_http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })?;
    Ok((addr, stop, thread))
}

/// The sum of the `/metrics` lines starting with `prefix` (0 when there is none).
async fn metric_sum(server: SocketAddr, prefix: &str) -> anyhow::Result<f64> {
    let reply = Conn::new(server)
        .send(Method::GET, "/metrics", None)
        .await?;
    anyhow::ensure!(reply.status == 200, "GET /metrics: HTTP {}", reply.status);
    Ok(String::from_utf8_lossy(&reply.body)
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum())
}

/// The newest event id of a server started on a fresh store: every event it committed.
async fn newest_event(server: SocketAddr) -> anyhow::Result<i64> {
    Ok(metric_sum(server, "openline_events_total{").await? as i64)
}

impl Hook {
    /// Starts the receiver and subscribes it to every event type on `server` (the fixture is
    /// set up and nothing else runs: no event is in flight).
    pub async fn subscribe(server: SocketAddr) -> anyhow::Result<Self> {
        let log: Log = Arc::default();
        let (addr, stop, thread) = start_receiver(log.clone())?;
        let events_before = newest_event(server).await?;
        let created = Conn::new(server)
            .ok(
                Method::POST,
                "/v1/webhooks",
                &json!({
                    "url": format!("http://{addr}/openline"),
                    "events": EVENT_TYPES,
                    "secret": "loadgen-webhook-secret",
                }),
            )
            .await?;
        let body: Value = serde_json::from_slice(&created.body)?;
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        println!("webhook {id}: posting to http://{addr}/openline after event {events_before}");
        Ok(Self {
            addr,
            log,
            stop: Some(stop),
            thread: Some(thread),
            events_before,
            id,
        })
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// After the phases (`load` = when the first started and the last ended): waits until
    /// every event committed by the end of the load has arrived, then the figures.
    pub async fn finish(&self, server: SocketAddr, load: (Instant, Instant)) -> Value {
        let (load_start, load_end) = load;
        let target = match newest_event(server).await {
            Ok(target) => target,
            Err(error) => return json!({"error": format!("reading /metrics: {error:#}")}),
        };
        let expected = target - self.events_before;
        let mut last_count = 0;
        let mut last_progress = Instant::now();
        let mut last_print = Instant::now();
        let mut stalled = false;
        loop {
            let (count, newest) = self
                .log
                .lock()
                .map(|log| (log.len(), log.iter().map(|r| r.id).max().unwrap_or(0)))
                .unwrap_or_default();
            if newest >= target {
                break;
            }
            if count != last_count {
                last_count = count;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > STALL_LIMIT {
                stalled = true;
                break;
            }
            if last_print.elapsed() > Duration::from_secs(10) {
                println!(
                    "webhook: {count} of {expected} events received, at id {newest} of {target}"
                );
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let done = Instant::now();
        let delivered = metric_sum(
            server,
            "openline_webhook_deliveries_total{outcome=\"delivered\"",
        )
        .await
        .ok();
        let retries = metric_sum(server, "openline_webhook_retries_total")
            .await
            .ok();
        let lag_gauge = metric_sum(server, "openline_webhook_lag_seconds")
            .await
            .ok();
        let received: Vec<Received> = self
            .received()
            .into_iter()
            .filter(|r| r.id <= target)
            .collect();
        let mut ids: Vec<i64> = received.iter().map(|r| r.id).collect();
        let out_of_order = ids.windows(2).filter(|w| w[1] <= w[0]).count();
        ids.sort_unstable();
        ids.dedup();
        let distinct = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let lags = |during: Option<bool>| {
            let mut lags: Vec<u32> = received
                .iter()
                .filter(|r| during.is_none_or(|d| (r.instant <= load_end) == d))
                .filter_map(|r| {
                    let lag = r.wall_us - r.at_us?;
                    Some(u32::try_from(lag.max(0)).unwrap_or(u32::MAX))
                })
                .collect();
            lags.sort_unstable();
            lags
        };
        let (all, during) = (lags(None), lags(Some(true)));
        let received_during = received.iter().filter(|r| r.instant <= load_end).count();
        let received_after = received.len() - received_during;
        let load_s = (load_end - load_start).as_secs_f64().max(1e-9);
        let last = received.iter().map(|r| r.instant).max().unwrap_or(load_end);
        let drain_s = last.saturating_duration_since(load_end).as_secs_f64();
        let first = received
            .iter()
            .map(|r| r.instant)
            .min()
            .unwrap_or(load_start);
        let busy_s = last
            .saturating_duration_since(first)
            .as_secs_f64()
            .max(1e-9);
        json!({
            "subscription": self.id,
            "receiver": self.addr.to_string(),
            "events_before": self.events_before,
            "newest_event_at_load_end": target,
            "events_expected": expected,
            "received": received.len(),
            "received_distinct": distinct,
            "missing": expected - distinct,
            "out_of_order_or_repeated": out_of_order,
            "stalled": stalled,
            "server_delivered_total": delivered,
            "server_retries_total": retries,
            "server_lag_gauge_s": lag_gauge,
            "load_s": round(load_s, 2),
            "received_during_load": received_during,
            "deliveries_per_sec_during_load": round(received_during as f64 / load_s, 0),
            "received_after_load": received_after,
            "drain_s": round(drain_s, 2),
            // Only meaningful when a backlog was left to drain.
            "deliveries_per_sec_after_load": (drain_s >= 0.5)
                .then(|| round(received_after as f64 / drain_s, 0)),
            "deliveries_per_sec_overall": round(received.len() as f64 / busy_s, 0),
            "events_per_sec_committed_during_load": round(expected as f64 / load_s, 0),
            "lag_p50_ms": percentile(&all, 0.50),
            "lag_p99_ms": percentile(&all, 0.99),
            "lag_max_ms": percentile(&all, 1.0),
            "lag_during_load_p50_ms": percentile(&during, 0.50),
            "lag_during_load_p99_ms": percentile(&during, 0.99),
            "wait_after_load_s": round((done - load_end).as_secs_f64(), 2),
        })
    }
}

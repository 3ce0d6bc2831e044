//! What the load generator asks of the server: the fixture (agents, one channel, presence)
//! and the workloads — (a) conversations routed, accepted, answered and closed, (b) batched
//! presence signals, (c) both at once — plus `/healthz` for the no-op ceiling.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};

use super::client::{Conn, json_body};
use super::stats::Tally;

/// The channel every workload routes on.
pub const CHANNEL: &str = "web";

/// Every `FLAP_EVERY`-th agent has only the messenger for presence, and its signal workers
/// close and reopen it: a real availability change that withdraws or requeues conversations.
const FLAP_EVERY: usize = 50;

/// The id of agent `index`.
pub fn agent(index: usize) -> String {
    format!("agent-{index:06}")
}

/// What a worker does in a loop until the phase's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `GET /healthz` (the no-op ceiling of the same HTTP stack).
    Noop,
    /// Open a conversation; accept it as the agent it was offered to; an agent message;
    /// close it.
    Conversation,
    /// `POST /v1/signals` with a batch of presence signals, back to back.
    Signals,
    /// Only `POST /v1/channels/{channel}/conversations`: a new conversation routed and offered
    /// (paced when `Load::conversation_rate` is set).
    Route,
    /// Like `Signals`, but paced (open loop) so the phase's signal workers together send
    /// `Load::signal_rate` signals per second; latency counts from the scheduled send instant
    /// (no coordinated omission).
    PacedSignals,
    /// The signal→requeue probe ([`super::probe`]), one cycle every 10 ms.
    Probe,
}

/// Parameters shared by every worker.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// Agents in the fixture.
    pub agents: usize,
    /// Signals per batch.
    pub batch: usize,
    /// Workers of the phase (to spread the agents between signal workers).
    pub workers: usize,
    /// Signals per second of all `PacedSignals` workers together.
    pub signal_rate: f64,
    /// How many `PacedSignals` workers the phase has.
    pub paced_workers: usize,
    /// Conversation life cycles (or, for `Route`, new conversations) per second of all
    /// `Conversation` / `Route` workers together (open loop, latency from the scheduled
    /// instant); `None` = each worker flat out.
    pub conversation_rate: Option<f64>,
    /// How many `Conversation` / `Route` workers the phase has.
    pub conversation_workers: usize,
}

/// Agents, the channel (all agents in its queue, availability checked against the presence
/// sources, policy `evenly`, no chat limit) and a messenger session for every agent. Bounded:
/// `agents` PUTs plus `agents / 500` signal batches, over `concurrency` connections.
pub async fn setup(addr: SocketAddr, agents: usize, concurrency: usize) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for worker in 0..concurrency.max(1) {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            for index in (worker..agents).step_by(concurrency.max(1)) {
                let id = agent(index);
                let body = json!({"name": id, "groups": ["support"]});
                conn.ok(Method::PUT, &format!("/v1/agents/{id}"), &body)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let mut conn = Conn::new(addr);
    let channel = json!({
        "name": "Website chat", "check_availability": true,
        "sources": ["hr", "messenger", "mobile", "browser"], "policy": "evenly",
        "queue": (0..agents).map(agent).collect::<Vec<_>>(), "max_chats": null,
        "offer_timeout_seconds": 120,
    });
    conn.ok(Method::PUT, &format!("/v1/channels/{CHANNEL}"), &channel)
        .await?;
    super::probe::setup(&mut conn).await?;
    for chunk in (0..agents).collect::<Vec<_>>().chunks(500) {
        let signals: Vec<Value> = chunk
            .iter()
            .map(|&i| json!({"agent": agent(i), "source": "messenger", "event": "open"}))
            .collect();
        conn.ok(Method::POST, "/v1/signals", &Value::Array(signals))
            .await?;
    }
    Ok(())
}

/// Runs `role` as worker number `worker` until `deadline`.
pub async fn worker(role: Role, worker: usize, load: Load, tag: &str, deadline: Instant) -> Tally {
    if role == Role::Probe {
        return super::probe::run(load, tag, deadline).await;
    }
    let mut conn = Conn::new(load.addr);
    let mut tally = Tally::default();
    let mut flaps = Flaps::new(worker, load);
    let mut round = 0usize;
    let period = Duration::from_secs_f64(
        (load.paced_workers.max(1) * load.batch) as f64 / load.signal_rate.max(1.0),
    );
    let conversation_period = load.conversation_rate.map(|rate| {
        Duration::from_secs_f64(load.conversation_workers.max(1) as f64 / rate.max(1e-3))
    });
    // Stagger the paced workers over one period.
    let stagger = worker as f64 / load.workers.max(1) as f64;
    let mut scheduled = Instant::now() + conversation_period.unwrap_or(period).mul_f64(stagger);
    while Instant::now() < deadline {
        round += 1;
        match role {
            Role::Route => {
                if let Some(conversation_period) = conversation_period {
                    if scheduled >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                    scheduled += conversation_period;
                }
                let id = format!("{tag}-{worker}-{round}");
                route(&mut conn, &mut tally, &id).await;
            }
            Role::PacedSignals => {
                if scheduled >= deadline {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let body = signal_batch(worker, round, load, &mut flaps);
                send_signals(&mut conn, &mut tally, &body, scheduled).await;
                scheduled += period;
            }
            Role::Noop => {
                conn.call(&mut tally, Method::GET, "/healthz", None, &[])
                    .await;
            }
            Role::Conversation => {
                if let Some(conversation_period) = conversation_period {
                    if scheduled >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                    scheduled += conversation_period;
                }
                let id = format!("{tag}-{worker}-{round}");
                conversation(&mut conn, &mut tally, &id).await;
            }
            Role::Probe => break,
            Role::Signals => {
                let body = signal_batch(worker, round, load, &mut flaps);
                send_signals(&mut conn, &mut tally, &body, Instant::now()).await;
            }
        }
    }
    tally
}

/// Posts a batch of signals; counts them and the batch's latency since `since` (its send or
/// its scheduled instant) once it is accepted.
async fn send_signals(conn: &mut Conn, tally: &mut Tally, batch: &Value, since: Instant) {
    let sent = conn
        .call(tally, Method::POST, "/v1/signals", json_body(batch), &[])
        .await;
    if sent.is_some() {
        tally.signals += batch.as_array().map_or(0, Vec::len) as u64;
        tally
            .signal_latencies_us
            .push(u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
}

/// Opens conversation `id` on `channel` with a customer message: `None` if the request
/// failed, else the agent it was offered to on arrival (if any).
pub async fn open_conversation(
    conn: &mut Conn,
    tally: &mut Tally,
    channel: &str,
    id: &str,
    text: &str,
) -> Option<Option<String>> {
    let body = json!({"id": id, "customer": format!("customer-{id}"), "text": text});
    let path = format!("/v1/channels/{channel}/conversations");
    let reply = conn
        .call(tally, Method::POST, &path, json_body(&body), &[])
        .await?;
    Some(
        serde_json::from_slice::<Value>(&reply.body)
            .ok()
            .and_then(|view| view["offered_to"][0].as_str().map(str::to_owned)),
    )
}

/// Opens conversation `id` on [`CHANNEL`] and counts it, and whether it was offered to an
/// agent on arrival (`offered_on_arrival`): `None` if the request failed, else the agent it
/// was offered to (if any).
async fn route(conn: &mut Conn, tally: &mut Tally, id: &str) -> Option<Option<String>> {
    let offered = open_conversation(conn, tally, CHANNEL, id, "Hello?").await?;
    tally.conversations += 1;
    if offered.is_some() {
        tally.offered += 1;
    }
    Some(offered)
}

/// One conversation's life: arrive (routed and offered), accept, an agent reply, close. A
/// 409 is expected when a concurrent availability change withdrew the offer.
async fn conversation(conn: &mut Conn, tally: &mut Tally, id: &str) {
    let Some(offered) = route(conn, tally, id).await else {
        return;
    };
    if let Some(agent) = offered {
        let accept = json!({"agent": agent});
        let accepted = conn
            .call(
                tally,
                Method::POST,
                &format!("/v1/conversations/{id}/accept"),
                json_body(&accept),
                &[409],
            )
            .await;
        if accepted.is_some() {
            let message = json!({"from": "agent", "agent": agent, "text": "How can I help?"});
            conn.call(
                tally,
                Method::POST,
                &format!("/v1/conversations/{id}/messages"),
                json_body(&message),
                &[409],
            )
            .await;
        }
    }
    conn.call(
        tally,
        Method::POST,
        &format!("/v1/conversations/{id}/close"),
        None,
        &[409],
    )
    .await;
}

/// The messenger-only agents a signal worker owns, and whether each is open now.
#[derive(Debug)]
struct Flaps {
    agents: Vec<(usize, bool)>,
    next: usize,
}

impl Flaps {
    fn new(worker: usize, load: Load) -> Self {
        let agents = (0..load.agents)
            .step_by(FLAP_EVERY)
            .filter(|i| (i / FLAP_EVERY) % load.workers.max(1) == worker)
            .map(|i| (i, true))
            .collect();
        Self { agents, next: 0 }
    }

    /// The next flap: an agent and its messenger event (close, or open again).
    fn next(&mut self) -> Option<Value> {
        let len = self.agents.len();
        let (index, open) = self.agents.get_mut(self.next % len.max(1))?;
        self.next += 1;
        *open = !*open;
        let event = if *open { "open" } else { "close" };
        Some(json!({"agent": agent(*index), "source": "messenger", "event": event}))
    }
}

/// A batch of `load.batch` signals: heartbeats and activity of the presence sources spread
/// over the agents, plus (1 in `FLAP_EVERY`) a messenger close/open of a flapping agent.
fn signal_batch(worker: usize, round: usize, load: Load, flaps: &mut Flaps) -> Value {
    let signals: Vec<Value> = (0..load.batch)
        .map(|k| {
            let n = (round * load.batch + k) * 7919 + worker * 104_729;
            let index = n % load.agents.max(1);
            let flapper = index.is_multiple_of(FLAP_EVERY);
            if (flapper || k.is_multiple_of(FLAP_EVERY))
                && let Some(flap) = flaps.next()
            {
                return flap;
            }
            filler_signal(n, load)
        })
        .collect();
    Value::Array(signals)
}

/// A presence signal that changes nobody's availability: a messenger heartbeat, browser
/// activity or mobile foreground of an agent who is not a flapping one, picked by `n`.
pub fn filler_signal(n: usize, load: Load) -> Value {
    let agents = load.agents.max(1);
    let mut index = n % agents;
    if index.is_multiple_of(FLAP_EVERY) {
        index = (index + 1) % agents;
    }
    let (source, event) = match n % 3 {
        0 => ("messenger", "heartbeat"),
        1 => ("browser", "activity"),
        _ => ("mobile", "foreground"),
    };
    json!({"agent": agent(index), "source": source, "event": event})
}

/// Runs `roles[i]` on worker `i` for `duration`; the merged tally and the elapsed time.
pub async fn phase(roles: &[Role], load: Load, tag: &str, duration: Duration) -> (Tally, Duration) {
    let started = Instant::now();
    let deadline = started + duration;
    let load = Load {
        workers: roles.len(),
        paced_workers: roles.iter().filter(|r| **r == Role::PacedSignals).count(),
        conversation_workers: roles
            .iter()
            .filter(|r| matches!(r, Role::Conversation | Role::Route))
            .count(),
        ..load
    };
    let tasks: Vec<_> = roles
        .iter()
        .enumerate()
        .map(|(i, &role)| {
            let tag = tag.to_owned();
            tokio::spawn(async move { worker(role, i, load, &tag, deadline).await })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok(tally) => total.merge(tally),
            Err(error) => total.error(format!("worker failed: {error}")),
        }
    }
    (total, started.elapsed())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A stand-in server: every request gets 201 with a conversation offered to an agent on
    /// every other arrival; how many it offered.
    async fn alternating_router() -> (SocketAddr, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answered = Arc::new(AtomicU64::new(0));
        let offered = Arc::new(AtomicU64::new(0));
        let counted = offered.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answered, offered) = (answered.clone(), offered.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_request| {
                        let nth = answered.fetch_add(1, Ordering::SeqCst);
                        let to = if nth % 2 == 0 {
                            offered.fetch_add(1, Ordering::SeqCst);
                            json!(["agent-000001"])
                        } else {
                            json!([])
                        };
                        let body = json!({"state": "queued", "offered_to": to}).to_string();
                        let response = hyper::Response::builder()
                            .status(201)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)));
                        async move { Ok::<_, Infallible>(response.unwrap()) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, counted)
    }

    /// The routing phase counts the conversations offered on arrival (it reported 0 always;
    /// issue #20 item 18, SPEC R13: routing happens on arrival).
    #[tokio::test]
    async fn r13_the_routing_phase_counts_conversations_offered_on_arrival() {
        let (addr, offered) = alternating_router().await;
        let load = Load {
            addr,
            agents: 2,
            batch: 1,
            workers: 1,
            signal_rate: 1.0,
            paced_workers: 0,
            conversation_rate: None,
            conversation_workers: 1,
        };
        let deadline = Instant::now() + Duration::from_millis(300);
        let tally = worker(Role::Route, 0, load, "t", deadline).await;
        assert_eq!(tally.errors, 0, "{:?}", tally.samples);
        assert!(tally.conversations >= 2, "{}", tally.conversations);
        assert_eq!(tally.offered, offered.load(Ordering::SeqCst));
        assert_eq!(tally.offered, tally.conversations.div_ceil(2));
    }
}

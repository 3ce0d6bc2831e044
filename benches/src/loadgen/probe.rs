//! The signal→requeue probe: measures, end to end over Server-Sent Events, the time from
//! sending a presence signal that makes an agent unavailable to receiving the
//! `conversation.requeued` event of the conversation that agent held (SPEC R14), while the
//! rest of the phase's load runs beside it.
//!
//! Its own channel `probe` (messenger presence, checked) and agents `probe-000…`: each cycle
//! opens a conversation there (the customer speaks last), accepts it as the agent it was
//! offered to, then sends a full batch of signals whose first one closes that agent's
//! messenger. The clock starts just before the batch is sent and stops when the requeue
//! arrives on the SSE stream. The conversation is then closed and the messenger reopened.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Method;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::client::{Conn, json_body};
use super::scenarios::{self, Load};
use super::stats::Tally;

/// The probe's channel.
pub const CHANNEL: &str = "probe";
/// Agents in the probe's channel (one is unavailable at a time, the others take the requeue).
pub const AGENTS: usize = 8;
/// One probe cycle starts every `PERIOD` (when the previous one has finished).
const PERIOD: Duration = Duration::from_millis(10);
/// Longest wait for the requeue before the cycle counts as an error.
const REQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// The id of probe agent `index`.
fn agent(index: usize) -> String {
    format!("probe-{index:03}")
}

/// The probe's agents and channel, every agent's messenger open.
pub async fn setup(conn: &mut Conn) -> anyhow::Result<()> {
    for index in 0..AGENTS {
        let id = agent(index);
        let body = json!({"name": id, "groups": ["support"]});
        conn.ok(Method::PUT, &format!("/v1/agents/{id}"), &body)
            .await?;
    }
    let channel = json!({
        "name": "Requeue probe", "check_availability": true, "sources": ["messenger"],
        "policy": "evenly", "queue": (0..AGENTS).map(agent).collect::<Vec<_>>(),
    });
    conn.ok(Method::PUT, &format!("/v1/channels/{CHANNEL}"), &channel)
        .await?;
    let opens: Vec<Value> = (0..AGENTS).map(|i| messenger(&agent(i), "open")).collect();
    conn.ok(Method::POST, "/v1/signals", &Value::Array(opens))
        .await?;
    Ok(())
}

fn messenger(agent: &str, event: &str) -> Value {
    json!({"agent": agent, "source": "messenger", "event": event})
}

/// Conversations whose requeue a cycle is waiting for, by id.
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>;

/// Subscribes to the probe channel's events; resolves each waiter when its conversation's
/// `conversation.requeued` arrives. Returns once the subscription is open.
async fn watch_requeues(addr: SocketAddr, waiters: Waiters) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::builder()
        .uri(format!("/v1/events?channel={CHANNEL}"))
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET /v1/events: {}",
        response.status()
    );
    let mut body = response.into_body();
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let received = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&data));
            while let Some(end) = buffer.find("\n\n") {
                let message: String = buffer.drain(..end + 2).collect();
                if let Some(id) = requeued_conversation(&message)
                    && let Ok(mut waiters) = waiters.lock()
                    && let Some(waiter) = waiters.remove(&id)
                {
                    let _ = waiter.send(received);
                }
            }
        }
    });
    Ok(())
}

/// The conversation id of a `conversation.requeued` SSE message.
fn requeued_conversation(message: &str) -> Option<String> {
    let mut is_requeue = false;
    let mut data = None;
    for line in message.lines() {
        if let Some(kind) = line.strip_prefix("event:") {
            is_requeue = kind.trim() == "conversation.requeued";
        } else if let Some(rest) = line.strip_prefix("data:") {
            data = Some(rest.trim());
        }
    }
    let value: Value = serde_json::from_str(data.filter(|_| is_requeue)?).ok()?;
    value["conversation"].as_str().map(str::to_owned)
}

/// Runs probe cycles until `deadline`; the signal→requeue latencies land in
/// `Tally::requeue_latencies_us`.
pub async fn run(load: Load, tag: &str, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let waiters: Waiters = Arc::default();
    if let Err(error) = watch_requeues(load.addr, waiters.clone()).await {
        tally.error(format!("probe: cannot subscribe to events: {error:#}"));
        return tally;
    }
    let mut conn = Conn::new(load.addr);
    let mut next = Instant::now();
    let mut round = 0usize;
    while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        next = (next + PERIOD).max(Instant::now());
        round += 1;
        cycle(
            &mut conn,
            &mut tally,
            &waiters,
            load,
            &format!("{tag}-probe-{round}"),
        )
        .await;
    }
    tally
}

/// One cycle: a held conversation, its holder's messenger closed in a full batch, the requeue
/// awaited on the event stream; then the conversation closed and the messenger reopened.
async fn cycle(conn: &mut Conn, tally: &mut Tally, waiters: &Waiters, load: Load, id: &str) {
    let Some(offered) =
        scenarios::open_conversation(conn, tally, CHANNEL, id, "Still there?").await
    else {
        return;
    };
    let Some(holder) = offered else {
        tally.error(format!(
            "probe conversation {id} was not offered on arrival"
        ));
        return;
    };
    let accept = json!({"agent": holder});
    let accept_path = format!("/v1/conversations/{id}/accept");
    if conn
        .call(tally, Method::POST, &accept_path, json_body(&accept), &[])
        .await
        .is_some()
    {
        let (sender, requeued) = oneshot::channel();
        if let Ok(mut waiters) = waiters.lock() {
            waiters.insert(id.to_owned(), sender);
        }
        let mut batch = vec![messenger(&holder, "close")];
        batch.extend((1..load.batch).map(|k| scenarios::filler_signal(k * 31 + id.len(), load)));
        let sent_at = Instant::now();
        if conn
            .call(
                tally,
                Method::POST,
                "/v1/signals",
                json_body(&Value::Array(batch)),
                &[],
            )
            .await
            .is_some()
        {
            tally.signals += load.batch as u64;
            match tokio::time::timeout(REQUEUE_TIMEOUT, requeued).await {
                Ok(Ok(at)) => tally.requeue_latencies_us.push(
                    u32::try_from(at.saturating_duration_since(sent_at).as_micros())
                        .unwrap_or(u32::MAX),
                ),
                _ => tally.error(format!(
                    "probe: no conversation.requeued for {id} within {REQUEUE_TIMEOUT:?}"
                )),
            }
        }
        if let Ok(mut waiters) = waiters.lock() {
            waiters.remove(id);
        }
    }
    conn.call(
        tally,
        Method::POST,
        &format!("/v1/conversations/{id}/close"),
        None,
        &[],
    )
    .await;
    let reopen = Value::Array(vec![messenger(&holder, "open")]);
    if conn
        .call(tally, Method::POST, "/v1/signals", json_body(&reopen), &[])
        .await
        .is_some()
    {
        tally.signals += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requeue_messages_name_their_conversation() {
        let requeue = "event: conversation.requeued\ndata: {\"type\":\"conversation.requeued\",\"conversation\":\"c-1\"}\n\n";
        assert_eq!(requeued_conversation(requeue).as_deref(), Some("c-1"));
        let offered = "event: conversation.offered\ndata: {\"conversation\":\"c-1\"}\n\n";
        assert_eq!(requeued_conversation(offered), None);
        assert_eq!(requeued_conversation(": keep-alive\n\n"), None);
    }
}

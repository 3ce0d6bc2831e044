//! The store's ceiling: the server's own group-commit writer driven in-process (same store
//! code, same durability settings — SQLite WAL + `synchronous=FULL`, or PostgreSQL), with
//! `concurrency` submitters each appending a record the size of a logged command and awaiting
//! its durable ack, for a bounded time. No HTTP, no engine: what the store alone can do.
//! With `--ceiling-events N` each record comes with N engine events (alternately a
//! `conversation.queued` and a `conversation.offered`, what a routed conversation publishes):
//! the writer numbers them, serializes them and writes them in the same transaction (SPEC
//! R29), or with `--ceiling-events-unstored` only numbers and serializes them and moves the
//! counter (the rows are not written): what stored events cost the commit path alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openline_core::{Command, Event};
use openline_server::store::writer::{Publish, Writer};
use openline_server::store::{Record, Store};
use serde_json::{Value, json};

use super::stats::{Tally, percentile, round};

/// A logged `OpenConversation` as the conversation workload produces it (the same size).
pub fn sample_record() -> anyhow::Result<String> {
    let command = Command::OpenConversation {
        channel: crate::id("web"),
        id: crate::id("c-12-34567"),
        customer: "customer-c-12-34567".into(),
        with_message: true,
    };
    Ok(serde_json::to_string(&command)?)
}

/// The `count` events submitted with record `n` (see the module's doc).
fn sample_events(n: usize, count: usize) -> Vec<Event> {
    let at = chrono::Utc::now();
    let conversation: openline_core::ConversationId = crate::id(&format!("c-{n:08}"));
    let channel: openline_core::ChannelId = crate::id("web");
    (0..count)
        .map(|k| {
            if k % 2 == 0 {
                Event::Queued {
                    at,
                    conversation: conversation.clone(),
                    channel: channel.clone(),
                }
            } else {
                Event::Offered {
                    at,
                    conversation: conversation.clone(),
                    channel: channel.clone(),
                    agent: crate::id(&format!("agent-{:06}", n % 1000)),
                }
            }
        })
        .collect()
}

/// Appends records (each with `events` events, stored when `store_events`) through the writer
/// for `duration` with `concurrency` submitters.
pub async fn store_ceiling(
    url: &str,
    concurrency: usize,
    duration: Duration,
    events: usize,
    store_events: bool,
) -> anyhow::Result<Value> {
    let json = sample_record()?;
    let store = Store::connect(url).await?;
    let publish: Publish = Arc::new(|_| {});
    let epoch = store.claim().await?;
    let (writer, task) = Writer::spawn(
        url,
        epoch,
        store.last_seq().await? + 1,
        std::time::Duration::from_secs(30),
        store_events,
        publish,
        || {},
    )
    .await?;
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|submitter| {
            let (writer, json) = (writer.clone(), json.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = submitter;
                while Instant::now() < deadline {
                    n += concurrency.max(1);
                    let at = chrono::Utc::now();
                    let begun = Instant::now();
                    let record = Record::Command {
                        at,
                        json: json.clone(),
                        by: None,
                    };
                    let acked = match writer.submit(Some(record), sample_events(n, events)) {
                        Ok(ack) => matches!(ack.await, Ok(Ok(()))),
                        Err(_) => false,
                    };
                    tally.record(begun.elapsed());
                    if !acked {
                        tally.error("write failed".into());
                        break;
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let commits = writer.commits();
    writer.stop();
    let _ = task.await;
    store.close().await;
    let records = total.latencies_us.len() - total.errors as usize;
    total.latencies_us.sort_unstable();
    Ok(json!({
        "seconds": round(elapsed, 2),
        "record_bytes": json.len(),
        "events_per_record": events,
        "events_stored": events > 0 && store_events,
        "records": records,
        "records_per_sec": round(records as f64 / elapsed, 0),
        "commits": commits,
        "commits_per_sec": round(commits as f64 / elapsed, 0),
        "records_per_commit": round(records as f64 / commits.max(1) as f64, 1),
        "p50_ms": percentile(&total.latencies_us, 0.5),
        "p99_ms": percentile(&total.latencies_us, 0.99),
        "errors": total.errors,
    }))
}

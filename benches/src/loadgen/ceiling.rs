//! The store's ceiling: the server's own group-commit writer driven in-process (same store
//! code, same durability settings — SQLite WAL + `synchronous=FULL`, or PostgreSQL), with
//! `concurrency` submitters each appending a record the size of a logged command and awaiting
//! its durable ack, for a bounded time. No HTTP, no engine: what the store alone can do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openline_core::Command;
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

/// Appends records through the writer for `duration` with `concurrency` submitters.
pub async fn store_ceiling(
    url: &str,
    concurrency: usize,
    duration: Duration,
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
        true,
        publish,
        || {},
    )
    .await?;
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (writer, json) = (writer.clone(), json.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let at = chrono::Utc::now();
                    let begun = Instant::now();
                    let record = Record::Command {
                        at,
                        json: json.clone(),
                        by: None,
                    };
                    let acked = match writer.submit(Some(record), Vec::new()) {
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

//! Latencies and counters of one phase, and their summary (throughput, p50/p99/p99.9).

use std::time::Duration;

use serde_json::{Value, json};

/// What one worker (or a whole phase, merged) counted.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Request latencies in microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed requests (transport errors, timeouts, unexpected statuses).
    pub errors: u64,
    /// Expected refusals (409 after a concurrent availability change).
    pub conflicts: u64,
    /// Conversations opened (and routed).
    pub conversations: u64,
    /// Conversations that were offered to an agent on arrival.
    pub offered: u64,
    /// Presence signals accepted.
    pub signals: u64,
    /// Signal batches accepted, with their latencies in microseconds.
    pub signal_latencies_us: Vec<u32>,
    /// Signal→requeue latencies of the probe (signal batch sent → `conversation.requeued`
    /// received over SSE), in microseconds.
    pub requeue_latencies_us: Vec<u32>,
    /// The first few error messages.
    pub samples: Vec<String>,
}

impl Tally {
    /// Records one request's latency.
    pub fn record(&mut self, elapsed: Duration) {
        self.latencies_us
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    /// Counts an error, keeping its message if it is among the first few.
    pub fn error(&mut self, message: String) {
        self.errors += 1;
        if self.samples.len() < 5 {
            self.samples.push(message);
        }
    }

    /// Adds `other` into this one.
    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.signal_latencies_us.extend(other.signal_latencies_us);
        self.requeue_latencies_us.extend(other.requeue_latencies_us);
        self.errors += other.errors;
        self.conflicts += other.conflicts;
        self.conversations += other.conversations;
        self.offered += other.offered;
        self.signals += other.signals;
        for sample in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(sample);
            }
        }
    }

    /// The phase's figures over `elapsed`.
    pub fn summary(mut self, elapsed: Duration) -> Value {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        self.latencies_us.sort_unstable();
        self.signal_latencies_us.sort_unstable();
        self.requeue_latencies_us.sort_unstable();
        let all = &self.latencies_us;
        let signal = &self.signal_latencies_us;
        let requeue = &self.requeue_latencies_us;
        json!({
            "seconds": round(seconds, 2),
            "requests": all.len(),
            "requests_per_sec": round(all.len() as f64 / seconds, 0),
            "conversations": self.conversations,
            "conversations_per_sec": round(self.conversations as f64 / seconds, 0),
            "offered_on_arrival": self.offered,
            "signals": self.signals,
            "signals_per_sec": round(self.signals as f64 / seconds, 0),
            "p50_ms": percentile(all, 0.50),
            "p99_ms": percentile(all, 0.99),
            "p999_ms": percentile(all, 0.999),
            "max_ms": percentile(all, 1.0),
            "signal_batch_p50_ms": percentile(signal, 0.50),
            "signal_batch_p99_ms": percentile(signal, 0.99),
            "signal_batch_p999_ms": percentile(signal, 0.999),
            "requeues_measured": requeue.len(),
            "requeue_p50_ms": percentile(requeue, 0.50),
            "requeue_p99_ms": percentile(requeue, 0.99),
            "requeue_max_ms": percentile(requeue, 1.0),
            "errors": self.errors,
            "conflicts": self.conflicts,
            "error_samples": self.samples,
        })
    }
}

/// The `q` quantile of sorted microsecond latencies, in milliseconds (null when empty).
pub fn percentile(sorted: &[u32], q: f64) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    json!(round(f64::from(sorted[index]) / 1000.0, 3))
}

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

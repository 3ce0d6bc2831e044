//! Prometheus metrics in the text exposition format, written by hand (no global recorder):
//! counters fed by committed engine events and by the HTTP layer, gauges computed from the
//! engine at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use openline_core::{ConversationState, Engine, Event, Timestamp};

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Counters {
    events: BTreeMap<&'static str, u64>,
    withdrawals: BTreeMap<String, u64>,
    requeues: BTreeMap<String, u64>,
    availability: BTreeMap<bool, u64>,
    /// HTTP requests by route, then method.
    routes: BTreeMap<String, BTreeMap<String, RouteStats>>,
}

/// Requests of one route and method.
#[derive(Debug, Default)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

impl Counters {
    /// Every (route, method) with its requests.
    fn route_stats(&self) -> impl Iterator<Item = (&str, &str, &RouteStats)> {
        self.routes.iter().flat_map(|(route, methods)| {
            methods
                .iter()
                .map(move |(method, stats)| (route.as_str(), method.as_str(), stats))
        })
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts committed engine events.
    pub fn record_events(&self, events: &[Event]) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            *c.events.entry(event.kind()).or_default() += 1;
            match event {
                Event::OfferWithdrawn { reason, .. } => {
                    let reason = reason.as_ref().map_or("none", |r| r.as_str()).to_owned();
                    *c.withdrawals.entry(reason).or_default() += 1;
                }
                Event::Requeued { reason, .. } => {
                    *c.requeues.entry(reason.as_str().to_owned()).or_default() += 1
                }
                Event::AvailabilityChanged { available, .. } => {
                    *c.availability.entry(*available).or_default() += 1
                }
                _ => {}
            }
        }
    }

    /// Counts one HTTP request of `route` (the matched path pattern) and its latency.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up by reference: only a route's first request allocates its keys.
        if !c.routes.contains_key(route) {
            c.routes.insert(route.to_owned(), BTreeMap::new());
        }
        let Some(methods) = c.routes.get_mut(route) else {
            return;
        };
        if !methods.contains_key(method) {
            methods.insert(method.to_owned(), RouteStats::default());
        }
        let Some(stats) = methods.get_mut(method) else {
            return;
        };
        *stats.statuses.entry(status).or_default() += 1;
        let histogram = &mut stats.latency;
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The exposition text: counters, then gauges computed from `engine` at `now`.
    pub fn render(&self, engine: &Engine, now: Timestamp) -> String {
        let mut out = String::new();
        self.render_counters(&mut out);
        render_gauges(&mut out, engine, now);
        out
    }

    fn render_counters(&self, out: &mut String) {
        let c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(
            out,
            "# HELP openline_events_total Engine events committed, by type.\n# TYPE openline_events_total counter"
        );
        for (kind, n) in &c.events {
            let _ = writeln!(out, "openline_events_total{{type=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP openline_offer_withdrawals_total Offers taken back, by reason code (SPEC R14).\n# TYPE openline_offer_withdrawals_total counter"
        );
        for (reason, n) in &c.withdrawals {
            let _ = writeln!(
                out,
                "openline_offer_withdrawals_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP openline_requeues_total Held conversations put back in the queue, by reason code.\n# TYPE openline_requeues_total counter"
        );
        for (reason, n) in &c.requeues {
            let _ = writeln!(
                out,
                "openline_requeues_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP openline_availability_changes_total Agent availability flips per channel.\n# TYPE openline_availability_changes_total counter"
        );
        for (available, n) in &c.availability {
            let _ = writeln!(
                out,
                "openline_availability_changes_total{{available=\"{available}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP openline_http_requests_total HTTP requests by route and status.\n# TYPE openline_http_requests_total counter"
        );
        for (route, method, stats) in c.route_stats() {
            for (status, n) in &stats.statuses {
                let _ = writeln!(
                    out,
                    "openline_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP openline_http_request_duration_seconds HTTP request latency.\n# TYPE openline_http_request_duration_seconds histogram"
        );
        for (route, method, stats) in c.route_stats() {
            let h = &stats.latency;
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "openline_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "openline_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "openline_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "openline_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }
}

fn render_gauges(out: &mut String, engine: &Engine, now: Timestamp) {
    let _ = writeln!(
        out,
        "# HELP openline_conversations Conversations by state.\n# TYPE openline_conversations gauge"
    );
    let states = [
        ConversationState::Queued,
        ConversationState::Offered,
        ConversationState::Accepted,
        ConversationState::Closed,
    ];
    for state in states {
        let name = serde_json::to_value(state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "openline_conversations{{state=\"{name}\"}} {}",
            engine.conversations_in(state)
        );
    }
    let _ = writeln!(
        out,
        "# HELP openline_agents Agents created.\n# TYPE openline_agents gauge\nopenline_agents {}",
        engine.agents().count()
    );
    let _ = writeln!(
        out,
        "# HELP openline_queue_length Conversations waiting per channel.\n# TYPE openline_queue_length gauge"
    );
    let mut oldest = Vec::new();
    for (id, _) in engine.channels() {
        let Some(mut waiting) = engine.queue(id) else {
            continue;
        };
        let length = waiting.len();
        let wait = waiting.next().map_or(0.0, |c| {
            (now - c.queued_at).num_milliseconds().max(0) as f64 / 1000.0
        });
        oldest.push((id.clone(), wait));
        let _ = writeln!(
            out,
            "openline_queue_length{{channel=\"{}\"}} {length}",
            escape(id)
        );
    }
    let _ = writeln!(
        out,
        "# HELP openline_queue_oldest_wait_seconds Wait of the oldest waiting conversation per channel.\n# TYPE openline_queue_oldest_wait_seconds gauge"
    );
    for (id, wait) in oldest {
        let _ = writeln!(
            out,
            "openline_queue_oldest_wait_seconds{{channel=\"{}\"}} {wait}",
            escape(&id)
        );
    }
}

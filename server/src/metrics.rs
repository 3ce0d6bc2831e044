//! Prometheus metrics in the text exposition format (version 0.0.4), encoded by the
//! `prometheus-client` crate (no global recorder): counters fed by committed engine events and
//! by the HTTP layer, gauges computed from the engine at scrape time.
//!
//! The counters live in sorted maps behind one lock and are handed to the encoder by a
//! [`Collector`], so series come out in a stable order and every family keeps its `HELP` and
//! `TYPE` lines before its first sample.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openline_core::{ChannelId, ConversationState, Engine, Event, Timestamp};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, prometheus_text,
};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

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
#[derive(Debug)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

impl Default for RouteStats {
    fn default() -> Self {
        Self {
            statuses: BTreeMap::new(),
            latency: Histogram::new(BUCKETS),
        }
    }
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

/// Adds one to `key`'s count; only a key's first count allocates.
pub(crate) fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Shared with the [`Recorded`] collector of each scrape.
    counters: Arc<Mutex<Counters>>,
}

impl Metrics {
    /// Counts committed engine events.
    pub fn record_events<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            *c.events.entry(event.kind()).or_default() += 1;
            match event {
                Event::OfferWithdrawn { reason, .. } => {
                    let reason = reason.as_ref().map_or("none", |r| r.as_str());
                    bump(&mut c.withdrawals, reason);
                }
                Event::Requeued { reason, .. } => bump(&mut c.requeues, reason.as_str()),
                Event::AvailabilityChanged { available, .. } => {
                    *c.availability.entry(*available).or_default() += 1
                }
                _ => {}
            }
        }
    }

    /// Counts committed events that are not the engine's (`channel.changed`,
    /// `agent.changed`), by type, so that the counter's sum is every event numbered.
    pub fn record_other_events(&self, kinds: impl IntoIterator<Item = &'static str>) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        for kind in kinds {
            *c.events.entry(kind).or_default() += 1;
        }
    }

    /// Counts one HTTP request of `route` (the matched path pattern) and its latency.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up by reference: only a route's first request allocates its keys (and its
        // histogram); later ones bump the counters they find in place.
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
        stats.latency.observe(elapsed.as_secs_f64());
    }

    /// The exposition text: counters, then gauges computed from `engine` at `now`.
    pub fn render(&self, engine: &Engine, now: Timestamp) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Recorded(Arc::clone(&self.counters))));
        registry.register_collector(Box::new(EngineGauges::read(engine, now)));
        let mut out = String::new();
        // Writing to a `String` cannot fail, nor can the collectors.
        if let Err(error) = prometheus_text::encode(&mut out, &registry) {
            tracing::error!(%error, "encoding the metrics failed");
        }
        out
    }
}

/// Encodes one family: its `HELP` and `TYPE` lines, then one sample (or, for a histogram,
/// one set of series) per label set, in the given order.
fn family<S: EncodeLabelSet, M: EncodeMetric + TypedMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (S, M)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The counters and the latency histogram, as recorded so far.
#[derive(Debug)]
struct Recorded(Arc<Mutex<Counters>>);

impl Collector for Recorded {
    // Counter names go without `_total`: the encoder appends it.
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let c = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        family(
            &mut encoder,
            "openline_events",
            "Events committed, by type (as the event stream numbers them: routing, availability and settings changes).",
            c.events
                .iter()
                .map(|(kind, n)| ([("type", *kind)], ConstCounter::new(*n))),
        )?;
        family(
            &mut encoder,
            "openline_offer_withdrawals",
            "Offers taken back, by reason code.",
            c.withdrawals
                .iter()
                .map(|(reason, n)| ([("reason", reason.as_str())], ConstCounter::new(*n))),
        )?;
        family(
            &mut encoder,
            "openline_requeues",
            "Held conversations put back in the queue, by reason code.",
            c.requeues
                .iter()
                .map(|(reason, n)| ([("reason", reason.as_str())], ConstCounter::new(*n))),
        )?;
        family(
            &mut encoder,
            "openline_availability_changes",
            "Agent availability flips per channel.",
            c.availability
                .iter()
                .map(|(available, n)| ([("available", *available)], ConstCounter::new(*n))),
        )?;
        family(
            &mut encoder,
            "openline_http_requests",
            "HTTP requests by route and status.",
            c.route_stats().flat_map(|(route, method, stats)| {
                stats.statuses.iter().map(move |(status, n)| {
                    (
                        (
                            [("method", method), ("route", route)],
                            [("status", *status)],
                        ),
                        ConstCounter::new(*n),
                    )
                })
            }),
        )?;
        family(
            &mut encoder,
            "openline_http_request_duration_seconds",
            "HTTP request latency.",
            c.route_stats().map(|(route, method, stats)| {
                (
                    [("method", method), ("route", route)],
                    stats.latency.clone(),
                )
            }),
        )
    }
}

/// The gauges, read from the engine when a scrape starts.
#[derive(Debug)]
struct EngineGauges {
    /// Conversations by state (its API name).
    conversations: Vec<(String, usize)>,
    agents: usize,
    /// Per channel: waiting conversations and the oldest one's wait in seconds.
    queues: Vec<(ChannelId, usize, f64)>,
}

impl EngineGauges {
    fn read(engine: &Engine, now: Timestamp) -> Self {
        let states = [
            ConversationState::Queued,
            ConversationState::Offered,
            ConversationState::Accepted,
            ConversationState::Closed,
        ];
        let conversations = states
            .into_iter()
            .map(|state| {
                let name = serde_json::to_value(state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (name, engine.conversations_in(state))
            })
            .collect();
        let mut queues = Vec::new();
        for (id, _) in engine.channels() {
            let Some(mut waiting) = engine.queue(id) else {
                continue;
            };
            let length = waiting.len();
            let wait = waiting.next().map_or(0.0, |c| {
                (now - c.queued_at).num_milliseconds().max(0) as f64 / 1000.0
            });
            queues.push((id.clone(), length, wait));
        }
        Self {
            conversations,
            agents: engine.agents().count(),
            queues,
        }
    }
}

impl Collector for EngineGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        family(
            &mut encoder,
            "openline_conversations",
            "Conversations by state.",
            self.conversations
                .iter()
                .map(|(state, n)| ([("state", state.as_str())], ConstGauge::new(*n))),
        )?;
        let agents = ConstGauge::new(self.agents);
        agents.encode(encoder.encode_descriptor(
            "openline_agents",
            "Agents created.",
            None,
            agents.metric_type(),
        )?)?;
        family(
            &mut encoder,
            "openline_queue_length",
            "Conversations waiting per channel.",
            self.queues
                .iter()
                .map(|(id, length, _)| ([("channel", &**id)], ConstGauge::new(*length))),
        )?;
        family(
            &mut encoder,
            "openline_queue_oldest_wait_seconds",
            "Wait of the oldest waiting conversation per channel.",
            self.queues
                .iter()
                .map(|(id, _, wait)| ([("channel", &**id)], ConstGauge::new(*wait))),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use openline_core::engine::Plugins;
    use openline_core::{AgentProfile, ChannelSettings, Command, Engine, Timestamp};

    use super::Metrics;

    fn t(seconds: i64) -> Timestamp {
        openline_core::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
            + chrono::Duration::seconds(seconds)
    }

    /// One agent `a` on channel `web`, where `c1` is offered to `a`, declined, and offered
    /// again; `c2` waits on `phone`, which has nobody in its queue. Every committed event is
    /// recorded.
    fn world(metrics: &Metrics) -> Engine {
        let plugins = Plugins::new().with_builtin_policies().unwrap();
        let mut engine = Engine::new(plugins, t(0));
        let web = ChannelSettings {
            name: "Web".into(),
            check_availability: false,
            sources: Vec::new(),
            policy: "strict_order".into(),
            queue: vec!["a".try_into().unwrap()],
            max_chats: None,
            offer_timeout: ChannelSettings::DEFAULT_OFFER_TIMEOUT,
        };
        let commands = [
            Command::PutAgent {
                id: "a".try_into().unwrap(),
                profile: AgentProfile {
                    name: "A".into(),
                    groups: Vec::new(),
                    timezone: None,
                },
            },
            Command::PutChannel {
                id: "web".try_into().unwrap(),
                settings: web.clone(),
            },
            Command::OpenConversation {
                channel: "web".try_into().unwrap(),
                id: "c1".try_into().unwrap(),
                customer: "x".into(),
                with_message: true,
            },
            Command::Decline {
                conversation: "c1".try_into().unwrap(),
                agent: "a".try_into().unwrap(),
            },
            Command::PutChannel {
                id: "phone".try_into().unwrap(),
                settings: ChannelSettings {
                    name: "Phone".into(),
                    queue: Vec::new(),
                    ..web
                },
            },
            Command::OpenConversation {
                channel: "phone".try_into().unwrap(),
                id: "c2".try_into().unwrap(),
                customer: "y".into(),
                with_message: true,
            },
        ];
        for command in commands {
            let applied = engine.apply(command, t(0)).unwrap();
            metrics.record_events(&applied.events);
        }
        engine
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let metrics = Metrics::default();
        let engine = world(&metrics);
        metrics.record_request("PUT", "/v1/agents/{id}", 201, Duration::from_millis(3));
        metrics.record_request("PUT", "/v1/agents/{id}", 400, Duration::from_secs(2));
        metrics.record_request("GET", "/metrics", 200, Duration::from_micros(250));
        let text = metrics.render(&engine, t(90));
        let expected = r#"# HELP openline_events_total Events committed, by type (as the event stream numbers them: routing, availability and settings changes).
# TYPE openline_events_total counter
openline_events_total{type="conversation.offer_withdrawn"} 1
openline_events_total{type="conversation.offered"} 2
openline_events_total{type="conversation.queued"} 2
# HELP openline_offer_withdrawals_total Offers taken back, by reason code.
# TYPE openline_offer_withdrawals_total counter
openline_offer_withdrawals_total{reason="declined"} 1
# HELP openline_requeues_total Held conversations put back in the queue, by reason code.
# TYPE openline_requeues_total counter
# HELP openline_availability_changes_total Agent availability flips per channel.
# TYPE openline_availability_changes_total counter
# HELP openline_http_requests_total HTTP requests by route and status.
# TYPE openline_http_requests_total counter
openline_http_requests_total{method="GET",route="/metrics",status="200"} 1
openline_http_requests_total{method="PUT",route="/v1/agents/{id}",status="201"} 1
openline_http_requests_total{method="PUT",route="/v1/agents/{id}",status="400"} 1
# HELP openline_http_request_duration_seconds HTTP request latency.
# TYPE openline_http_request_duration_seconds histogram
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.001"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.005"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.01"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.025"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.05"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.1"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.25"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="0.5"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="1"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="2.5"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="5"} 1
openline_http_request_duration_seconds_bucket{method="GET",route="/metrics",le="+Inf"} 1
openline_http_request_duration_seconds_sum{method="GET",route="/metrics"} 0.00025
openline_http_request_duration_seconds_count{method="GET",route="/metrics"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.001"} 0
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.005"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.01"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.025"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.05"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.1"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.25"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="0.5"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="1"} 1
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="2.5"} 2
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="5"} 2
openline_http_request_duration_seconds_bucket{method="PUT",route="/v1/agents/{id}",le="+Inf"} 2
openline_http_request_duration_seconds_sum{method="PUT",route="/v1/agents/{id}"} 2.003
openline_http_request_duration_seconds_count{method="PUT",route="/v1/agents/{id}"} 2
# HELP openline_conversations Conversations by state.
# TYPE openline_conversations gauge
openline_conversations{state="queued"} 1
openline_conversations{state="offered"} 1
openline_conversations{state="accepted"} 0
openline_conversations{state="closed"} 0
# HELP openline_agents Agents created.
# TYPE openline_agents gauge
openline_agents 1
# HELP openline_queue_length Conversations waiting per channel.
# TYPE openline_queue_length gauge
openline_queue_length{channel="web"} 0
openline_queue_length{channel="phone"} 1
# HELP openline_queue_oldest_wait_seconds Wait of the oldest waiting conversation per channel.
# TYPE openline_queue_oldest_wait_seconds gauge
openline_queue_oldest_wait_seconds{channel="web"} 0.0
openline_queue_oldest_wait_seconds{channel="phone"} 90.0
"#;
        assert_eq!(lines(&text), lines(expected), "got:\n{text}");
    }

    #[test]
    fn escapes_label_values() {
        let metrics = Metrics::default();
        let engine = Engine::new(Plugins::new(), t(0));
        metrics.record_request("GET", "/a\"b\\c\nd", 404, Duration::ZERO);
        let text = metrics.render(&engine, t(0));
        let line =
            r#"openline_http_requests_total{method="GET",route="/a\"b\\c\nd",status="404"} 1"#;
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }

    #[test]
    fn counts_accumulate_across_requests_and_scrapes() {
        let metrics = Metrics::default();
        let engine = Engine::new(Plugins::new(), t(0));
        for _ in 0..3 {
            metrics.record_request("POST", "/v1/x", 201, Duration::from_millis(20));
        }
        let first = metrics.render(&engine, t(0));
        metrics.record_request("POST", "/v1/x", 201, Duration::from_millis(70));
        let second = metrics.render(&engine, t(0));
        for (text, n, below_50ms) in [(&first, 3, 3), (&second, 4, 3)] {
            for line in [
                format!(
                    "openline_http_requests_total{{method=\"POST\",route=\"/v1/x\",status=\"201\"}} {n}"
                ),
                format!(
                    "openline_http_request_duration_seconds_bucket{{method=\"POST\",route=\"/v1/x\",le=\"0.05\"}} {below_50ms}"
                ),
                format!(
                    "openline_http_request_duration_seconds_count{{method=\"POST\",route=\"/v1/x\"}} {n}"
                ),
            ] {
                assert!(
                    text.lines().any(|l| l == line),
                    "missing `{line}` in:\n{text}"
                );
            }
        }
    }
}

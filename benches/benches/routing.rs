//! Routing throughput of the pure engine (no I/O): a new conversation routed on a channel of
//! 1k/10k/100k agents, and an agent re-evaluated after a signal. See benches/README.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use openline_benches::{CHANNEL, agent_id, at_millis, engine_with_agents};
use openline_core::engine::Command;
use openline_core::test_util::signal;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// One routing decision per iteration: a conversation arrives and is offered to the policy's
/// pick; it is then closed so capacity (max_chats 1) stays steady.
fn route_new_conversation(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_new_conversation");
    group.throughput(Throughput::Elements(1));
    for policy in ["longest_idle", "evenly"] {
        for size in SIZES {
            let mut engine = engine_with_agents(size, policy).unwrap();
            let mut n: i64 = 0;
            group.bench_function(BenchmarkId::new(policy, size), |b| {
                b.iter(|| {
                    n += 1;
                    let now = at_millis(n);
                    let id: openline_core::ConversationId = format!("c{n}").try_into().unwrap();
                    let open = Command::OpenConversation {
                        channel: CHANNEL.try_into().unwrap(),
                        id: id.clone(),
                        customer: "customer".into(),
                        with_message: true,
                    };
                    let routed = engine.apply(open, now).unwrap();
                    black_box(&routed);
                    engine
                        .apply(Command::Close { conversation: id }, now)
                        .unwrap();
                });
            });
        }
    }
    group.finish();
}

/// An agent goes offline and online again: two signals, each re-evaluating the agent's
/// verdict and its eligibility in the channel.
fn reevaluate_after_signal(c: &mut Criterion) {
    let mut group = c.benchmark_group("reevaluate_after_signal");
    group.throughput(Throughput::Elements(2));
    for size in SIZES {
        let mut engine = engine_with_agents(size, "longest_idle").unwrap();
        let agent = agent_id(size / 2);
        let mut n: i64 = 0;
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                n += 1;
                let now = at_millis(n);
                for event in ["offline", "online"] {
                    let s = signal(&agent, "app", event, now, serde_json::Value::Null);
                    black_box(
                        engine
                            .apply(Command::Signals { signals: vec![s] }, now)
                            .unwrap(),
                    );
                }
            });
        });
    }
    group.finish();
}

/// One routing decision per iteration and nothing else around it: the offered agent declines
/// and the policy picks the next eligible agent for the same conversation (SPEC R12). With
/// `longest_idle` the agents who just had it rank last, so this is the steady-state cost of a
/// decision on a queue of that size.
fn route_after_decline(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_after_decline");
    group.throughput(Throughput::Elements(1));
    for size in SIZES {
        let mut engine = engine_with_agents(size, "longest_idle").unwrap();
        let open = Command::OpenConversation {
            channel: CHANNEL.try_into().unwrap(),
            id: "c".try_into().unwrap(),
            customer: "customer".into(),
            with_message: true,
        };
        let mut offered_to = offeree(&engine.apply(open, at_millis(0)).unwrap().events).unwrap();
        let mut n: i64 = 0;
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                n += 1;
                let decline = Command::Decline {
                    conversation: "c".try_into().unwrap(),
                    agent: offered_to.clone(),
                };
                let applied = engine.apply(decline, at_millis(n)).unwrap();
                offered_to = offeree(black_box(&applied.events)).unwrap();
            });
        });
    }
    group.finish();
}

/// The agent the last `Offered` event names.
fn offeree(events: &[openline_core::Event]) -> Option<openline_core::AgentId> {
    events.iter().rev().find_map(|e| match e {
        openline_core::Event::Offered { agent, .. } => Some(agent.clone()),
        _ => None,
    })
}

criterion_group!(
    benches,
    route_new_conversation,
    reevaluate_after_signal,
    route_after_decline
);
criterion_main!(benches);

//! The engine's other hot paths, on the real bundled sources: verdict combination (R3), each
//! source's ingest + verdict, deadline processing with 100k pending deadlines, and replay of
//! the command log (the restart path). See benches/README.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use openline_benches::agent_id;
use openline_benches::real::{HEARTBEAT_TIMEOUT_MS, at, engine_from, log, plugins, setup_commands};
use openline_core::model::GroupDirectory;
use openline_core::test_util::{context, signal};
use openline_core::{Command, Engine, Verdict, combine};

/// Five verdicts (one per bundled source) combined by precedence.
fn verdict_combination(c: &mut Criterion) {
    let mut group = c.benchmark_group("verdict_combination");
    group.throughput(Throughput::Elements(1));
    let sets = [
        (
            "online",
            vec![
                Verdict::abstain("hr"),
                Verdict::abstain("timesheet"),
                Verdict::online("messenger"),
                Verdict::offline("mobile"),
                Verdict::abstain("browser"),
            ],
        ),
        (
            "blocked",
            vec![
                Verdict::block(
                    openline_core::ReasonCode::from_static("on_leave"),
                    "on leave",
                ),
                Verdict::grant("clocked in"),
                Verdict::online("messenger"),
                Verdict::offline("mobile"),
                Verdict::abstain("browser"),
            ],
        ),
    ];
    for (name, verdicts) in &sets {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(combine(black_box(verdicts))))
        });
    }
    group.finish();
}

/// One signal ingested by a source, then its verdict for that agent (what the engine does per
/// signal and source), for each bundled source with a typical event.
fn source_ingest_verdict(c: &mut Criterion) {
    let mut group = c.benchmark_group("source_ingest_verdict");
    group.throughput(Throughput::Elements(1));
    let registry = openline_server::registry().unwrap();
    let events = [
        ("hr", "rehired"),
        ("timesheet", "clock_in"),
        ("messenger", "heartbeat"),
        ("mobile", "foreground"),
        ("browser", "activity"),
    ];
    let groups = vec!["support".to_owned()];
    let directory = GroupDirectory::new();
    for (name, event) in events {
        let descriptor = registry.sources().find(|s| s.name == name).unwrap();
        let mut source = (descriptor.build)(&serde_json::Value::Null).unwrap();
        // 10k agents known to the source, so its per-agent lookups are realistic.
        let ids: Vec<String> = (0..10_000).map(agent_id).collect();
        for id in &ids {
            let ctx = context(id, &groups, &directory);
            let s = signal(id, name, event, at(0), serde_json::Value::Null);
            source.ingest(&ctx, &s).unwrap();
        }
        let mut n: i64 = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let id = &ids[(n as usize * 7919) % ids.len()];
                let ctx = context(id, &groups, &directory);
                let s = signal(id, name, event, at(n), serde_json::Value::Null);
                source.check(&ctx, &s).unwrap();
                source.ingest(&ctx, &s).unwrap();
                black_box(source.verdict(&ctx, at(n)))
            });
        });
    }
    group.finish();
}

/// 100k agents, each with a pending messenger timeout. Per iteration the earliest deadline
/// falls due (the agent goes offline and leaves the channel's eligible set), then the agent's
/// heartbeat re-arms it behind the others: 100k deadlines stay pending.
fn deadlines_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("deadline_processing");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let agents = 100_000;
    let mut engine = engine_from(&setup_commands(agents, "longest_idle")).unwrap();
    assert!(engine.pending_deadlines() >= agents);
    let mut n: i64 = 0;
    group.bench_function(BenchmarkId::new("pending", agents), |b| {
        b.iter(|| {
            // Agent k's deadline is at HEARTBEAT_TIMEOUT_MS + k ms (+ 120 s per lap).
            let lap = n / agents as i64;
            let k = n % agents as i64;
            let due = at(HEARTBEAT_TIMEOUT_MS * (lap + 1) + k);
            n += 1;
            let events = engine.advance_to(due);
            let id = agent_id(k as usize);
            let beat = signal(&id, "messenger", "open", due, serde_json::Value::Null);
            black_box(events);
            black_box(
                engine
                    .apply(
                        Command::Signals {
                            signals: vec![beat],
                        },
                        due,
                    )
                    .unwrap(),
            );
        });
    });
    group.finish();
}

/// Rebuilding the engine from 100k logged records (JSON parse + apply at each instant), as a
/// restart does.
fn replay_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    let records = 100_000;
    let log = log(1_000, records).unwrap();
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function(BenchmarkId::new("records", records), |b| {
        b.iter(|| {
            let mut engine = Engine::new(plugins().unwrap(), at(0));
            for (now, json) in &log {
                let command: Command = serde_json::from_str(json).unwrap();
                engine.advance_to(*now);
                engine.apply(command, *now).unwrap();
            }
            black_box(engine.conversation_count())
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    verdict_combination,
    source_ingest_verdict,
    deadlines_100k,
    replay_100k
);
criterion_main!(benches);

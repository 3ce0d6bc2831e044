//! SPEC R21c: adding one future leave to an agent that already holds N of them costs the same
//! for N = 1, 1 000 and 100 000 — the `hr` source through `AvailabilitySource::ingest`, as the
//! engine calls it for a single signal — and so does the agent's verdict; with gaps between
//! the leaves, and with each leave touching the next (one contiguous span of N leaves, which
//! a verdict once walked whole: issue #20). See benches/README.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use openline_core::model::GroupDirectory;
use openline_core::source::{AvailabilitySource, Signal};
use openline_core::test_util::{context, signal, t};
use openline_core::typed::TypedSource;
use openline_hr::HrSource;
use serde_json::json;

/// Seconds between the starts of two consecutive leaves; each lasts half of it, or all of it
/// when the leaves touch.
const STEP: i64 = 10;

/// The two shapes of an agent's leaves.
const SHAPES: [(&str, bool); 2] = [("gaps", false), ("touching", true)];

/// How many leaves alice holds in each benchmark.
const SIZES: [i64; 3] = [1, 1_000, 100_000];

/// The `leave` signal sent at `t(at)` for leave number `k`, over
/// `[STEP·(k+1), STEP·(k+1) + STEP/2)`, or `+ STEP` when `touching`.
fn leave(k: i64, at: i64, touching: bool) -> Signal {
    let from = STEP * (k + 1);
    let length = if touching { STEP } else { STEP / 2 };
    let fields = json!({
        "id": format!("leave-{k}"),
        "from": t(from).to_rfc3339(),
        "to": t(from + length).to_rfc3339(),
    });
    signal("alice", openline_hr::NAME, "leave", t(at), fields)
}

/// An `hr` source in which alice holds `n` future leaves (numbers `0..n`), sent at `t(0)`.
fn with_leaves(n: i64, touching: bool) -> TypedSource<HrSource> {
    let directory = GroupDirectory::new();
    let ctx = context("alice", &[], &directory);
    let mut source = TypedSource::new(openline_hr::NAME, HrSource);
    for k in 0..n {
        source.ingest(&ctx, &leave(k, 0, touching)).unwrap();
    }
    source
}

/// One `leave` ingested for an agent holding `n` future leaves. Iteration `i` (from 1) is sent
/// at the end of leave `i - 1`, which it forgets, and adds leave `n + i - 1`: the agent holds
/// `n` leaves throughout. Building the signal is not timed.
fn add_leave(c: &mut Criterion) {
    let mut group = c.benchmark_group("hr_add_leave");
    group.throughput(Throughput::Elements(1));
    let directory = GroupDirectory::new();
    let ctx = context("alice", &[], &directory);
    for (shape, touching) in SHAPES {
        for n in SIZES {
            let mut source = with_leaves(n, touching);
            let mut i = 0;
            group.bench_function(BenchmarkId::new(shape, n), |b| {
                b.iter_batched(
                    || {
                        i += 1;
                        leave(n + i - 1, STEP * i + STEP / 2, touching)
                    },
                    |s| source.ingest(&ctx, black_box(&s)).unwrap(),
                    BatchSize::SmallInput,
                );
            });
            let held = source.state("alice").unwrap().leave_count();
            // Touching leaves end only when the next starts: one more is still held.
            let expected = if touching { n + 1 } else { n };
            assert!(
                (n..=expected).contains(&(held as i64)),
                "the agent holds {n} leaves throughout, not {held}"
            );
        }
    }
    group.finish();
}

/// The verdict of an agent holding `n` leaves, inside the first one.
fn verdict(c: &mut Criterion) {
    let mut group = c.benchmark_group("hr_verdict");
    group.throughput(Throughput::Elements(1));
    let directory = GroupDirectory::new();
    let ctx = context("alice", &[], &directory);
    for (shape, touching) in SHAPES {
        for n in SIZES {
            let source = with_leaves(n, touching);
            group.bench_function(BenchmarkId::new(shape, n), |b| {
                b.iter(|| black_box(source.verdict(&ctx, black_box(t(STEP)))));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, add_leave, verdict);
criterion_main!(benches);

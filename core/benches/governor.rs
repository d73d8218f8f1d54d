//! The bare governor transition over the trace that `bench/erlang/governor.erl` runs through an
//! Erlang gen_statem; `bench/governor-vs-erlang.sh` puts the two side by side. Run:
//! `cargo bench -p autonomic-core --bench governor -- --noplot`. Figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use autonomic_core::Thresholds;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/governor_trace.rs"]
mod governor_trace;

/// Events per iteration: the Erlang driver's default.
const EVENTS: u64 = 1_000_000;

fn governor_step(c: &mut Criterion) {
    let th = Thresholds::DEFAULT;
    let trace = governor_trace::trace(EVENTS);
    // The Erlang driver prints the same checksum for the same trace.
    println!(
        "rust mode=step events={EVENTS} checksum={}",
        governor_trace::run(&th, &trace)
    );
    let mut group = c.benchmark_group("governor");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("step", |b| {
        b.iter(|| black_box(governor_trace::run(&th, black_box(&trace))))
    });
    group.finish();
}

criterion_group!(benches, governor_step);
criterion_main!(benches);

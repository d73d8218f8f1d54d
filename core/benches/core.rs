//! Core benchmarks (criterion). Run: `cargo bench -p autonomic-core`.
//! Figures and the machine they were measured on are in BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::hint::black_box;

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::governor::step;
use autonomic_core::ledger::{Ledger, Span, arena_bytes_for};
use autonomic_core::receipt::verify_records;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Cause, Event, GovernorEvent, GovernorState, MetricKind, RawSignal, SignalResult, Thresholds,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

/// A deterministic xorshift stream, so every run sees the same events.
fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn governor_transition(c: &mut Criterion) {
    let th = Thresholds::DEFAULT;
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let events: Vec<(GovernorState, u8, GovernorEvent)> = (0..4096)
        .map(|_| {
            let r = xorshift(&mut seed);
            let state = GovernorState::ALL[(r % 5) as usize];
            let ev = match (r >> 8) % 10 {
                0 => GovernorEvent::ActionSucceeded,
                1 => GovernorEvent::ActionFailed,
                2 => GovernorEvent::Reset,
                _ => GovernorEvent::Signal(((r >> 16) % 101) as u8),
            };
            (state, ((r >> 32) % 3) as u8, ev)
        })
        .collect();
    let mut i = 0;
    c.bench_function("governor_transition", |b| {
        b.iter(|| {
            let (s, k, e) = events[i & 4095];
            i += 1;
            black_box(step(&th, black_box(s), black_box(k), black_box(e)))
        })
    });
}

/// 64 tenants and 8 192 dedup ids (the old default engine's): the loop's 100 signals/s of
/// stamped time keep about 6 500 ids retained, so the table holds the whole retention.
fn signal_path(c: &mut Criterion) {
    let caps = Capacities {
        dedup_ids: 8192,
        ..Capacities::default()
    };
    signal_path_over(c, "signal_path", &caps, 64);
}

/// The same loop with the default capacities (650 000 dedup ids): the same ~6 500 retained ids
/// spread over a 12 MiB index, so most lookups miss the cache.
fn signal_path_default_caps(c: &mut Criterion) {
    signal_path_over(c, "signal_path_default_caps", &Capacities::default(), 64);
}

fn signal_path_100k_tenants(c: &mut Criterion) {
    signal_path_over(
        c,
        "signal_path_100k_tenants",
        &Capacities::with_tenants(100_000),
        100_000,
    );
}

/// validate + entitlement + dedup (lookup and insert) + governor, no receipt, over `tenants`
/// active tenants in an engine of `caps`, the signals spread over all of them in turn: the
/// values stay below warn, so the governor does not change and nothing is appended.
fn signal_path_over(c: &mut Criterion, name: &str, caps: &Capacities, tenants: usize) {
    let mut mem = OwnedStorage::new(caps);
    let mut engine = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    let ids: Vec<String> = (0..tenants).map(|t| format!("tenant-{t:06}")).collect();
    common::activate_all(&mut engine, &ids);
    let mut i: u64 = 0;
    // The tenant of each signal, in turn: a counter, not `i % tenants` (a 64-bit division
    // costs more than some of the steps measured).
    let mut next_tenant = 0;
    // Each signal is stamped at its own arrival (`ts_ms == now_ms`), inside the 60 s age
    // bound (docs/signals.md#timestamps), so the loop measures accepted, governed signals;
    // the counts below prove it (a refusal — InvalidTimestamp, say — or a duplicate would be
    // a much shorter path).
    let (mut governed, mut other) = (0u64, 0u64);
    c.bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            let ts_ms = 1_000_000 + i * 10;
            next_tenant = if next_tenant + 1 == tenants {
                0
            } else {
                next_tenant + 1
            };
            let raw = RawSignal {
                tenant: &ids[next_tenant],
                metric: "cpu",
                value: (i % 70) as f64 + 0.25,
                ts_ms,
            };
            // Borrowed, not moved: the bench measures the engine, not copies of its result.
            let result = black_box(engine.handle_signal(ts_ms, black_box(&raw)));
            match &result {
                Ok(SignalResult::Governed(_)) => governed += 1,
                _ => other += 1,
            }
        })
    });
    // A name filtered out on the command line runs no iteration: nothing to check.
    if governed + other == 0 {
        return;
    }
    assert_eq!(
        other,
        0,
        "{name}: {other} of {} signals were refused or duplicates, not governed",
        governed + other
    );
}

/// The storage of a ledger ring of 1024 receipts: its arena and its spans.
fn ring_storage() -> (Vec<u8>, Vec<Span>) {
    (vec![0; arena_bytes_for(1024)], vec![Span::default(); 1024])
}

fn governor_event() -> Event {
    Event::Governor {
        cause: Cause::Signal {
            metric: MetricKind::Cpu,
            value_pct: 78,
            ts_ms: 1_764_000_000_000,
        },
        from: GovernorState::Stable,
        to: GovernorState::Warn,
        consecutive_high: 1,
    }
}

fn receipt_append(c: &mut Criterion) {
    let (mut arena, mut spans) = ring_storage();
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let event = governor_event();
    let mut ts = 1_764_000_000_000u64;
    c.bench_function("receipt_append", |b| {
        b.iter(|| {
            ts += 1;
            let seq = ring.append(ts, "acme-corp", black_box(&event)).unwrap();
            black_box(ring.poll_record());
            seq
        })
    });
}

fn verify_1000(c: &mut Criterion) {
    let (mut arena, mut spans) = ring_storage();
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let event = governor_event();
    for i in 0..1000u64 {
        ring.append(1_764_000_000_000 + i, "acme-corp", &event)
            .unwrap();
        ring.poll_record();
    }
    let records: Vec<Vec<u8>> = ring.records().map(|(_, r)| r.to_vec()).collect();
    let bodies: Vec<&[u8]> = records.iter().map(|r| &r[..r.len() - 32]).collect();
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let mut group = c.benchmark_group("verify_1000");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("ledger_verify", |b| b.iter(|| ring.verify().unwrap()));
    group.bench_function("raw_sha256_same_bytes", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(Sha256::digest(black_box(body)));
            }
        })
    });
    group.bench_function("verify_records_from_vecs", |b| {
        b.iter_batched(
            || (),
            |()| verify_records(0, [0; 32], records.iter().map(Vec::as_slice)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    eprintln!(
        "verify_1000: {} records, {} hashed bytes, {:.1} B/record",
        records.len(),
        bytes,
        bytes as f64 / 1000.0
    );
}

criterion_group!(
    benches,
    governor_transition,
    signal_path,
    signal_path_default_caps,
    signal_path_100k_tenants,
    receipt_append,
    verify_1000
);
criterion_main!(benches);

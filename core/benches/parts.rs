//! The signal path's parts, each alone (criterion), beside `signal_path` in `core.rs`: how
//! much of a signal's cost is the SHA-256 of its id (which the contract fixes), validation and
//! the deduplicator. Run: `cargo bench -p autonomic-core --bench parts`; figures in
//! BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use autonomic_core::dedup::{Dedup, Lookup};
use autonomic_core::monitor::{Signal, signal_id, window_of};
use autonomic_core::storage::index_slots_for;
use autonomic_core::{MetricKind, RawSignal};
use criterion::{Criterion, criterion_group, criterion_main};

/// The tenant ids of `signal_path`: 13 bytes, so an id's preimage is one SHA-256 block.
fn tenant_ids() -> Vec<String> {
    (0..64).map(|t| format!("tenant-{t:06}")).collect()
}

/// One SHA-256 compression of one padded 64-byte block, alone: the least a signal id costs.
fn sha256_block(c: &mut Criterion) {
    let mut i: u64 = 0;
    c.bench_function("part_sha256_block", |b| {
        b.iter(|| {
            i += 1;
            let mut block = [0u8; 64];
            block[..8].copy_from_slice(&i.to_le_bytes());
            block[25] = 0x80;
            block[56..].copy_from_slice(&(25u64 * 8).to_be_bytes());
            let mut state = [0u32; 8];
            sha2::compress256(&mut state, &[block.into()]);
            black_box(state)
        })
    });
}

/// `monitor::signal_id`: the preimage, its padding and that compression.
fn id(c: &mut Criterion) {
    let ids = tenant_ids();
    let mut i: u64 = 0;
    c.bench_function("part_signal_id", |b| {
        b.iter(|| {
            i += 1;
            let tenant = &ids[(i & 63) as usize];
            black_box(signal_id(black_box(tenant), MetricKind::Cpu, i, 50))
        })
    });
}

/// `Signal::parse`: the four checks and the normalization.
fn parse(c: &mut Criterion) {
    let ids = tenant_ids();
    let mut i: u64 = 0;
    c.bench_function("part_parse", |b| {
        b.iter(|| {
            i += 1;
            let ts_ms = 1_000_000 + i * 10;
            let raw = RawSignal {
                tenant: &ids[(i & 63) as usize],
                metric: "cpu",
                value: (i & 63) as f64 + 0.25,
                ts_ms,
            };
            black_box(Signal::parse(black_box(&raw), ts_ms)).unwrap();
        })
    });
}

/// The deduplicator's lookup and fill (the engine's path) for each signal of `signal_path` (8 192 ids, one
/// signal every 10 ms of stamped time, its values, so every id is new and each insert also
/// expires the oldest id); the ids are computed beforehand, so this is the deduplicator alone.
fn dedup(c: &mut Criterion) {
    const IDS: usize = 8192;
    const STREAM: u64 = 1 << 20;
    let ids = tenant_ids();
    let ts = |k: u64| 1_000_000 + k * 10;
    let stream: Vec<[u8; 32]> = (0..STREAM)
        .map(|k| {
            signal_id(
                &ids[(k & 63) as usize],
                MetricKind::Cpu,
                window_of(ts(k)),
                (k % 70) as u8,
            )
        })
        .collect();
    let slots = index_slots_for(IDS);
    let (mut index, mut arrivals, mut windows) =
        (vec![0u64; slots], vec![0u64; IDS], vec![0u32; IDS]);
    let mut d = Dedup::new(&mut index, &mut arrivals, &mut windows).unwrap();
    let mut k: u64 = 0;
    c.bench_function("part_dedup", |b| {
        b.iter(|| {
            let (now_ms, id) = (ts(k), &stream[(k % STREAM) as usize]);
            let window = window_of(now_ms);
            let Lookup::New(vacancy) = d.lookup(black_box(id), window, now_ms) else {
                panic!("signal {k}: every id of the stream is new");
            };
            k += 1;
            black_box(d.fill(vacancy))
        })
    });
}

criterion_group!(benches, sha256_block, id, parse, dedup);
criterion_main!(benches);

//! The deduplicator's benchmark (criterion). Build only: `cargo bench -p autonomic-core
//! --bench dedup --no-run`; figures belong in BENCHMARKS.md with the machine they came from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use autonomic_core::MetricKind;
use autonomic_core::dedup::Dedup;
use autonomic_core::monitor::signal_id;
use autonomic_core::storage::index_slots_for;
use criterion::{Criterion, criterion_group, criterion_main};

/// The table's capacity in ids.
const IDS: usize = 600_000;
/// Distinct ids cycled through: more than `IDS`, so each one inserted is new.
const STREAM: usize = 1 << 20;

fn insert_and_contains(c: &mut Criterion) {
    // A full table at one window: every insert evicts the oldest id, every lookup hits an id
    // inserted IDS / 2 steps earlier. Ids are real signal ids (SHA-256).
    let ids: Vec<[u8; 32]> = (0..STREAM as u64)
        .map(|i| signal_id("bench", MetricKind::Cpu, i, 50))
        .collect();
    let slots = index_slots_for(IDS);
    let (mut fingerprints, mut windows) = (vec![0u64; slots], vec![0u32; IDS]);
    let mut arrivals = vec![0u64; IDS];
    let mut dedup = Dedup::new(&mut fingerprints, &mut arrivals, &mut windows).unwrap();
    let (window, now_ms) = (1_000, 5_000_000);
    for id in &ids[..IDS] {
        dedup.insert(id, window, now_ms);
    }
    let mut next = IDS;
    c.bench_function("dedup_insert_contains_600k", |b| {
        b.iter(|| {
            let new = dedup.insert(black_box(&ids[next % STREAM]), window, now_ms);
            let seen = dedup.contains(black_box(&ids[(next - IDS / 2) % STREAM]), window, now_ms);
            next += 1;
            black_box((new, seen))
        })
    });
}

criterion_group!(benches, insert_and_contains);
criterion_main!(benches);

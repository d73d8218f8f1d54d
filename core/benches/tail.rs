//! The signal path's tail latency: every call timed alone, then its percentiles. Run:
//! `cargo bench -p autonomic-core --bench tail` (a plain `main`, not criterion: criterion
//! reports means of many calls, which hide one slow call in thousands).
//!
//! An engine with the default capacities (650 000 dedup ids, the retention at 10 000
//! signals/s) takes signals stamped at 10 000 a second of their own time, over 1 000
//! tenants, values below warn (nothing appended), for 200 s of stamped time: every 5 s a dedup window
//! leaves the retention, 50 000 ids with it. It prints the percentiles of all calls after the
//! first 60 s (when the retention is full), their mean, the slowest call, and the first call
//! of each window. Each call's time includes two `Instant::now()` (~40 ns here).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use autonomic_core::RawSignal;
use autonomic_core::engine::{Engine, EngineConfig, SignalResult};
use autonomic_core::limits::DEDUP_WINDOW_MS;
use autonomic_core::storage::{Capacities, OwnedStorage};

/// Signals per second of stamped time.
const RATE_PER_S: u64 = 10_000;
/// Stamped seconds in all, and those before measuring starts (the retention filling up).
const SECONDS: u64 = 200;
const WARM_UP_S: u64 = 60;
/// Tenants × 70 values (0..70, below warn) = 70 000 distinct ids per window, more than the
/// 50 000 signals of one: every signal is new.
const TENANTS: usize = 1000;

fn main() {
    let caps = Capacities::default();
    let mut mem = OwnedStorage::new(&caps);
    let mut engine = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    let ids: Vec<String> = (0..TENANTS).map(|t| format!("tenant-{t:06}")).collect();
    common::activate_all(&mut engine, &ids);
    let signals = SECONDS * RATE_PER_S;
    let warm_up = WARM_UP_S * RATE_PER_S;
    let mut nanos: Vec<u64> = Vec::with_capacity((signals - warm_up) as usize);
    let (mut governed, mut other) = (0u64, 0u64);
    let mut slowest = (0u64, 0u64);
    // The first signal of each 5 s window: the one that used to remove the whole window
    // that left the retention.
    let mut firsts: Vec<u64> = Vec::new();
    for i in 0..signals {
        // 10 000 a second: one stamped millisecond every 10 signals, from t = 1 000 s.
        let ts_ms = 1_000_000 + i / (RATE_PER_S / 1000);
        let raw = RawSignal {
            tenant: &ids[i as usize % TENANTS],
            metric: "cpu",
            value: ((i / TENANTS as u64) % 70) as f64 + 0.25,
            ts_ms,
        };
        let started = Instant::now();
        let result = black_box(engine.handle_signal(ts_ms, black_box(&raw)));
        let took = started.elapsed().as_nanos() as u64;
        match &result {
            Ok(SignalResult::Governed(_)) => governed += 1,
            _ => other += 1,
        }
        if i >= warm_up {
            if ts_ms.is_multiple_of(DEDUP_WINDOW_MS) && i % (RATE_PER_S / 1000) == 0 {
                firsts.push(took);
            }
            nanos.push(took);
            if took > slowest.0 {
                slowest = (took, ts_ms);
            }
        }
    }
    // Every signal is new (see TENANTS), so each must be governed: a duplicate or a refusal would be a shorter path.
    assert_eq!(
        other,
        0,
        "{other} of {} signals not governed",
        governed + other
    );
    let mean = nanos.iter().sum::<u64>() / nanos.len() as u64;
    nanos.sort_unstable();
    firsts.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize];
    println!(
        "signal_tail: {} signals timed one by one ({} s of stamped time at {} signals/s, \
         after {} s): mean {} ns, p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns (at ts_ms {}, \
         {} ms into its 5 s window); first signal of each window ({} windows): median {} ns, \
         max {} ns; {} dedup evictions",
        nanos.len(),
        SECONDS - WARM_UP_S,
        RATE_PER_S,
        WARM_UP_S,
        mean,
        at(0.5),
        at(0.99),
        at(0.999),
        at(0.9999),
        slowest.0,
        slowest.1,
        slowest.1 % DEDUP_WINDOW_MS,
        firsts.len(),
        firsts[firsts.len() / 2],
        firsts[firsts.len() - 1],
        engine.stats().dedup_evictions(),
    );
}

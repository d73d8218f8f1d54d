//! `docs/signals.md`: validation order and boundaries, normalization, and the deduplicator.

use crate::common;

use autonomic_core::dedup::Dedup;
use autonomic_core::monitor::{normalize, signal_id};
use autonomic_core::{MetricKind, RawSignal, Signal, SignalError as E};

fn parse(
    tenant: &str,
    metric: &str,
    value: f64,
    ts_ms: u64,
    now_ms: u64,
) -> Result<Signal<'static>, E> {
    // Leak-free: the test strings are 'static or built per call; only the result matters.
    let raw = RawSignal {
        tenant,
        metric,
        value,
        ts_ms,
    };
    Signal::parse(&raw, now_ms).map(|s| Signal { tenant: "", ..s })
}

#[test]
fn tenant_id_boundaries() {
    // Proves 256 bytes pass and 257 fail, empty fails, and bytes outside 0x21..=0x7E fail.
    let t256 = "a".repeat(256);
    let t257 = "a".repeat(257);
    assert!(parse(&t256, "cpu", 1.0, 0, 0).is_ok());
    assert_eq!(parse(&t257, "cpu", 1.0, 0, 0), Err(E::InvalidTenantId));
    assert_eq!(parse("", "cpu", 1.0, 0, 0), Err(E::InvalidTenantId));
    for bad in ["a b", "a\tb", "é", "a\u{7f}", "a\0"] {
        assert_eq!(
            parse(bad, "cpu", 1.0, 0, 0),
            Err(E::InvalidTenantId),
            "{bad:?}"
        );
    }
    assert!(
        parse("!~", "cpu", 1.0, 0, 0).is_ok(),
        "0x21 and 0x7E are visible"
    );
}

#[test]
fn metric_names_are_case_insensitive_and_bounded() {
    // Proves the seven names parse in any ASCII case and anything else fails.
    for (name, kind) in [
        ("cpu", MetricKind::Cpu),
        ("MEMORY", MetricKind::Memory),
        ("Latency", MetricKind::Latency),
        ("error_RATE", MetricKind::ErrorRate),
        ("disk", MetricKind::Disk),
        ("Network", MetricKind::Network),
        ("connections", MetricKind::Connections),
    ] {
        assert_eq!(parse("t", name, 1.0, 0, 0).map(|s| s.metric), Ok(kind));
    }
    for bad in ["", "cpu ", "gpu", "errorrate", &"c".repeat(129)] {
        assert_eq!(
            parse("t", bad, 1.0, 0, 0),
            Err(E::InvalidMetricName),
            "{bad:?}"
        );
    }
}

#[test]
fn value_boundaries() {
    // Proves 0.0 and 100.0 pass; 100.0001, -0.0001, NaN and infinities fail.
    assert_eq!(parse("t", "cpu", 100.0, 0, 0).map(|s| s.value_pct), Ok(100));
    assert_eq!(parse("t", "cpu", 0.0, 0, 0).map(|s| s.value_pct), Ok(0));
    for bad in [
        100.0001,
        -0.0001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(
            parse("t", "cpu", bad, 0, 0),
            Err(E::ValueOutOfBounds),
            "{bad}"
        );
    }
}

#[test]
fn timestamp_boundaries() {
    // Proves 3 600 000 ms ahead passes and 3 600 001 fails; 60 000 ms behind passes and
    // 60 001 fails (older than the dedup retention is refused); both saturate.
    let now = 10_000_000;
    assert!(parse("t", "cpu", 1.0, now + 3_600_000, now).is_ok());
    assert_eq!(
        parse("t", "cpu", 1.0, now + 3_600_001, now),
        Err(E::InvalidTimestamp)
    );
    assert!(parse("t", "cpu", 1.0, now - 60_000, now).is_ok());
    assert_eq!(
        parse("t", "cpu", 1.0, now - 60_001, now),
        Err(E::InvalidTimestamp)
    );
    assert_eq!(parse("t", "cpu", 1.0, 0, now), Err(E::InvalidTimestamp));
    assert!(
        parse("t", "cpu", 1.0, 0, 60_000).is_ok(),
        "no underflow near 0"
    );
    assert!(parse("t", "cpu", 1.0, 0, 0).is_ok());
    assert!(
        parse("t", "cpu", 1.0, u64::MAX, u64::MAX - 5).is_ok(),
        "no overflow near u64::MAX"
    );
    assert_eq!(
        autonomic_core::limits::TIMESTAMP_BEHIND_MAX_MS,
        autonomic_core::limits::DEDUP_RETAIN_WINDOWS * autonomic_core::limits::DEDUP_WINDOW_MS,
        "one rule, one place: the age bound is the dedup retention"
    );
}

#[test]
fn every_accepted_signal_is_retained_while_its_redelivery_is_accepted() {
    // Proves the boundary between the age bound and the dedup retention, exhaustively over
    // every ms of two windows of ts and every arrival at the exact edges: whenever a signal
    // is accepted at `now` and its redelivery is accepted at a later `now2`, the dedup still
    // retains its window at `now2` (so the redelivery is a duplicate); the first `now2` at
    // which it would no longer be retained already refuses the redelivery.
    let (mut fingerprints, mut arrivals, mut windows) = ([0; 8], [0; 4], [0; 4]);
    let d = Dedup::new(&mut fingerprints, &mut arrivals, &mut windows).unwrap();
    let base = 1_000_000;
    for ts in base..base + 10_000 {
        let window = ts / 5000;
        // Accepted at its oldest allowed arrival and at its own time.
        for now in [ts, ts + 60_000] {
            assert!(parse("t", "cpu", 1.0, ts, now).is_ok(), "ts {ts} at {now}");
        }
        assert!(parse("t", "cpu", 1.0, ts, ts + 60_001).is_err());
        // The last arrival that accepts it, and every one before, still retains it.
        let last = ts + 60_000;
        for now2 in [ts, last - 1, last] {
            assert!(d.retains(window, now2), "ts {ts}: window dropped at {now2}");
        }
        // The first arrival after which the window expires refuses the signal.
        let expiry = (window + 13) * 5000;
        assert!(!d.retains(window, expiry) && d.retains(window, expiry - 1));
        assert_eq!(
            parse("t", "cpu", 1.0, ts, expiry),
            Err(E::InvalidTimestamp),
            "ts {ts}: accepted at {expiry} although its window expired"
        );
    }
}

#[test]
fn errors_come_in_spec_order() {
    // Proves that with every field bad, the first error in the documented order wins, one
    // field at a time.
    let far = u64::MAX;
    assert_eq!(parse("", "gpu", 500.0, far, 0), Err(E::InvalidTenantId));
    assert_eq!(parse("t", "gpu", 500.0, far, 0), Err(E::InvalidMetricName));
    assert_eq!(parse("t", "cpu", 500.0, far, 0), Err(E::ValueOutOfBounds));
    assert_eq!(parse("t", "cpu", 50.0, far, 0), Err(E::InvalidTimestamp));
}

#[test]
fn normalization_rounds_half_up() {
    // Proves 74.5 → 75 and 74.49 → 74, with the other half-way points and extremes.
    assert_eq!(normalize(74.5), Ok(75));
    assert_eq!(normalize(74.49), Ok(74));
    assert_eq!(normalize(74.4999999), Ok(74));
    assert_eq!(normalize(0.5), Ok(1));
    assert_eq!(
        normalize(0.49999999999999994),
        Ok(0),
        "the largest double below 0.5"
    );
    assert_eq!(normalize(99.5), Ok(100));
    assert_eq!(normalize(-0.0), Ok(0));
    let mut last = 0;
    for i in 0..=10_000 {
        let v = normalize(f64::from(i) / 100.0).unwrap();
        assert!(v >= last, "monotone at {i}");
        last = v;
    }
}

#[test]
fn dedup_id_binds_tenant_and_metric() {
    // Proves the id changes with tenant and metric kind, not only with value and window.
    let base = signal_id("acme", MetricKind::Cpu, 1, 50);
    assert_ne!(base, signal_id("acmf", MetricKind::Cpu, 1, 50));
    assert_ne!(base, signal_id("acme", MetricKind::Memory, 1, 50));
    assert_ne!(base, signal_id("acme", MetricKind::Cpu, 2, 50));
    assert_ne!(base, signal_id("acme", MetricKind::Cpu, 1, 51));
}

#[test]
fn the_dedup_window_rule_is_one_rule() {
    // Proves window_of and window_retained are what signals, the deduplicator and receipts
    // use: a signal's window is its id's, and every signal Signal::parse accepts is retained.
    use autonomic_core::limits::{DEDUP_RETAIN_WINDOWS, TIMESTAMP_BEHIND_MAX_MS};
    use autonomic_core::monitor::{window_of, window_retained};
    assert_eq!((window_of(4_999), window_of(5_000)), (0, 1));
    let now = 1_000_000;
    let oldest = now - TIMESTAMP_BEHIND_MAX_MS;
    let raw = RawSignal {
        tenant: "t",
        metric: "cpu",
        value: 50.0,
        ts_ms: oldest,
    };
    let signal = Signal::parse(&raw, now).unwrap();
    assert_eq!(signal.window(), window_of(oldest));
    assert!(window_retained(signal.window(), now));
    let last = window_of(now) - DEDUP_RETAIN_WINDOWS;
    assert!(window_retained(last, now) && !window_retained(last - 1, now));
    let (mut fingerprints, mut arrivals, mut windows) = ([0; 8], [0; 4], [0; 4]);
    let d = Dedup::new(&mut fingerprints, &mut arrivals, &mut windows).unwrap();
    assert!(d.retains(last, now) && !d.retains(last - 1, now));
    let cause = autonomic_core::Cause::Signal {
        metric: MetricKind::Cpu,
        value_pct: 50,
        ts_ms: oldest,
    };
    assert_eq!(cause.signal_id("t"), Some(signal.id()));
}

/// The id's bytes, as `docs/signals.md#the-signal-id` writes them, hashed by the sha2 crate's
/// own hasher: the reference the engine's padded one-call form must equal.
fn reference_id(tenant: &str, metric: MetricKind, window: u64, value_pct: u8) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut preimage = Vec::new();
    preimage.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    preimage.extend_from_slice(tenant.as_bytes());
    preimage.push(metric as u8);
    preimage.extend_from_slice(&window.to_le_bytes());
    preimage.push(value_pct);
    Sha256::digest(&preimage).into()
}

#[test]
fn the_signal_id_is_sha256_of_the_documented_bytes_for_every_tenant_length() {
    // Every length from 1 to 256 crosses the one-, two-, ... five-block boundaries of the
    // padded preimage (12 + len bytes, 9 of padding at least).
    for len in 1..=256usize {
        let tenant: String = (0..len)
            .map(|i| char::from(b'!' + (i % 94) as u8))
            .collect();
        for (metric, window, value) in [
            (MetricKind::Cpu, 0, 0),
            (MetricKind::Connections, u64::MAX, 100),
            (MetricKind::Latency, 346_000_000 + len as u64, 73),
        ] {
            assert_eq!(
                signal_id(&tenant, metric, window, value),
                reference_id(&tenant, metric, window, value),
                "tenant of {len} bytes, {metric:?}, window {window}, value {value}"
            );
        }
    }
}

#[test]
fn is_duplicate_answers_for_a_signal_as_handle_signal_would() {
    // Proves the getter agrees with the signal path: a governed signal's id is a duplicate in
    // its window until the window leaves the retention; another value's id is not.
    let mut e = common::active("acme");
    let ts = 1_000;
    let id = |value| {
        autonomic_core::monitor::signal_id(
            "acme",
            autonomic_core::MetricKind::Cpu,
            ts / 5_000,
            value,
        )
    };
    let window = autonomic_core::monitor::window_of(ts);
    assert!(!e.is_duplicate(&id(10), window, ts));
    e.handle_signal(ts, &common::raw("acme", 10.0, ts)).unwrap();
    assert!(e.is_duplicate(&id(10), window, ts));
    assert!(!e.is_duplicate(&id(11), window, ts));
    assert!(
        !e.is_duplicate(&id(10), window, ts + 120_000),
        "out of the retention"
    );
}

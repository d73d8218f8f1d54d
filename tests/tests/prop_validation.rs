//! Validation properties (`docs/signals.md`): every raw signal is either accepted with a
//! value in 0..=100 or rejected with exactly the first error in the documented order
//! (InvalidTenantId, then
//! InvalidMetricName, then ValueOutOfBounds, then InvalidTimestamp); normalization is round
//! half up and monotone.
//!
//! `PROPTEST_CASES` raises the number of cases (default 1024 here: each case is cheap).

use autonomic_core::monitor::normalize;
use autonomic_core::{RawSignal, Signal};
use autonomic_tests::model::signal as model;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1024),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_validation.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn tenant() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[!-~]{1,12}",
        1 => "[!-~]{250,260}",
        1 => Just(String::new()),
        1 => "[a-z]{0,4}[ \t\u{7f}\u{e9}\u{1F600}][a-z]{0,4}",
        1 => any::<String>(),
    ]
}

fn metric() -> impl Strategy<Value = String> {
    let known = prop::sample::select(model::METRICS.to_vec()).prop_flat_map(|m| {
        // Random ASCII case of a known name.
        prop::collection::vec(any::<bool>(), m.len()).prop_map(move |upper| {
            m.chars()
                .zip(upper)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect::<String>()
        })
    });
    prop_oneof![
        4 => known,
        1 => "[a-z_]{0,12}",
        1 => "c[pP][uU]\u{0}?",
        1 => "[a-z]{129,140}",
        1 => any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..=100.0f64,
        2 => (0u8..=100).prop_map(|v| f64::from(v) + 0.5),
        2 => (0u8..=100).prop_map(f64::from),
        1 => prop::sample::select(vec![-0.0, -1e-300, 100.0 + 1e-13, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, 0.49999999999999994, 99.49999999999999]),
        1 => any::<f64>(),
    ]
}

fn now_and_ts() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        (0u64..1u64 << 50, 0u64..7_200_000).prop_map(|(now, d)| (now, now + d)),
        (0u64..1u64 << 50, 0u64..1u64 << 50)
            .prop_map(|(now, back)| (now, now.saturating_sub(back))),
        (any::<u64>(), any::<u64>()),
        (u64::MAX - 10..=u64::MAX, any::<u64>()),
        // Around the 60 s age bound, and near 0 where it saturates.
        (0u64..1u64 << 50, 59_990u64..=60_010)
            .prop_map(|(now, back)| (now, now.saturating_sub(back))),
        (0u64..70_000, 0u64..10),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Proves `Signal::parse` accepts exactly what `docs/signals.md` accepts, normalized as
    /// it says, and otherwise names the first failing check in the documented order.
    #[test]
    fn parse_is_spec_order(tenant in tenant(), metric in metric(), value in value(), (now, ts) in now_and_ts()) {
        let raw = RawSignal { tenant: &tenant, metric: &metric, value, ts_ms: ts };
        let got = Signal::parse(&raw, now);
        let want = model::validate(&tenant, &metric, value, ts, now);
        match (&got, &want) {
            (Ok(s), Ok((m, v))) => {
                prop_assert!(s.value_pct <= 100);
                prop_assert_eq!((s.metric.as_str(), s.value_pct, s.ts_ms, s.tenant), (*m, *v, ts, tenant.as_str()));
            }
            (Err(e), Err(m)) => prop_assert_eq!(e.name(), *m),
            _ => prop_assert!(false, "{:?} at now {}: core {:?}, model {:?}", raw, now, got, want),
        }
    }

    /// Proves normalization is round half up (f64::round on non-negatives) and rejects
    /// exactly what lies outside 0.0..=100.0.
    #[test]
    fn normalize_is_round_half_up(value in value()) {
        prop_assert_eq!(normalize(value).ok(), model::normalize(value), "{:?}", value);
    }

    /// Proves normalization is monotone: a <= b implies normalize(a) <= normalize(b).
    #[test]
    fn normalize_is_monotone(a in 0.0..=100.0f64, b in 0.0..=100.0f64) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(normalize(lo).unwrap() <= normalize(hi).unwrap(), "{} -> {:?}, {} -> {:?}", lo, normalize(lo), hi, normalize(hi));
    }
}

#[test]
fn normalization_edges() {
    // Proves the examples of docs/signals.md#normalization and the neighbours of every .5 boundary.
    assert_eq!(normalize(74.5), Ok(75));
    assert_eq!(normalize(74.49), Ok(74));
    for v in 0u8..100 {
        let half = f64::from(v) + 0.5;
        assert_eq!(normalize(half), Ok(v + 1), "{half}");
        let below = f64::from_bits(half.to_bits() - 1);
        assert_eq!(normalize(below), Ok(v), "{below}");
        assert_eq!(normalize(f64::from(v)), Ok(v));
    }
    assert_eq!(normalize(100.0), Ok(100));
    assert!(normalize(f64::from_bits(100.0f64.to_bits() + 1)).is_err());
    assert!(normalize(-f64::MIN_POSITIVE).is_err());
}

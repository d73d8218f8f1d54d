//! Property tests of the `rate` resource: the core's token bucket against the reference model
//! (`tests/src/model/rate.rs`), alone and through the engine's `admit`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::entitlement::{AdmitError, Bucket, RateLimit, RateLimits};
use autonomic_core::limits::{RATE_BURST_MAX, RATE_PER_S_MAX};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, ActionKind, EntitlementCommand, Resource};
use autonomic_tests::model::rate::{MRate, RateModel};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_rate.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Any limit within the bounds, the extremes often.
fn limit() -> impl Strategy<Value = RateLimit> {
    let rate = prop_oneof![
        Just(1),
        Just(RATE_PER_S_MAX),
        1..=RATE_PER_S_MAX,
        1u32..=200
    ];
    let burst = prop_oneof![Just(1), Just(RATE_BURST_MAX), 1..=RATE_BURST_MAX, 1u32..=50];
    (rate, burst).prop_map(|(r, b)| RateLimit::new(r, b).unwrap())
}

/// A time step: small, large, backwards or to the end of time.
#[derive(Debug, Clone, Copy)]
enum Step {
    Forward(u64),
    Back(u64),
    End,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u64..300).prop_map(Step::Forward),
        2 => any::<u64>().prop_map(Step::Forward),
        2 => any::<u64>().prop_map(Step::Back),
        1 => Just(Step::End),
    ]
}

fn advance(now: u64, step: Step) -> u64 {
    match step {
        Step::Forward(ms) => now.saturating_add(ms),
        Step::Back(ms) => now.saturating_sub(ms),
        Step::End => u64::MAX,
    }
}

/// The core's answer in the model's terms.
fn as_model(result: Result<u16, AdmitError>) -> MRate {
    match result {
        Ok(left) => MRate::Admitted(u128::from(left)),
        Err(AdmitError::RateLimited { retry_after_ms, .. }) => {
            MRate::Limited(u128::from(retry_after_ms))
        }
        Err(AdmitError::ExceedsBurst { .. }) => MRate::ExceedsBurst,
        Err(e) => panic!("unexpected refusal {e:?}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_bucket_agrees_with_the_model_and_never_exceeds_the_burst(
        limit in limit(),
        start in any::<u64>(),
        ops in prop::collection::vec((step(), 0u8..=100, any::<u16>()), 1..40),
    ) {
        // Proves every answer (tokens left, refill time, refusal) equals the u128 model's
        // for any limit, times up to u64::MAX (also backwards) and Throttle percents, so
        // nothing overflows, and tokens left never pass the burst.
        let mut bucket = Bucket::full(start);
        let mut model = RateModel::new(limit.rate_per_s, limit.burst, start);
        let mut now = start;
        for (step, percent, amount) in ops {
            now = advance(now, step);
            let amount = amount % u16::try_from(limit.burst + 1).unwrap_or(u16::MAX) + 1;
            let got = as_model(bucket.take(limit, percent, now, amount));
            prop_assert_eq!(got, model.admit(percent, now, amount), "at {} ms", now);
            prop_assert!(u128::from(bucket.tokens(limit)) <= u128::from(limit.burst));
            prop_assert_eq!(u128::from(bucket.tokens(limit)), model.tokens());
            prop_assert_eq!(bucket.at_ms(), model.at_ms, "time never moves back");
        }
    }

    #[test]
    fn refill_is_exact_over_any_split_of_time(
        limit in limit(),
        start in any::<u64>(),
        taken in any::<u16>(),
        splits in prop::collection::vec(0u64..100_000, 0..20),
        percent in 0u8..=100,
        amount in any::<u16>(),
    ) {
        // Proves refilling through any intermediate times (admissions in between that take
        // nothing are the same refills) ends where one big step ends: same answer, same state.
        let taken = taken % u16::try_from(limit.burst).unwrap_or(u16::MAX) + 1;
        let mut split = Bucket::full(start);
        split.take(limit, percent, start, taken).unwrap();
        let mut whole = split;
        let mut now = start;
        for ms in splits {
            now = now.saturating_add(ms);
            split.refill(limit, percent, now);
        }
        let amount = amount % u16::try_from(limit.burst).unwrap_or(u16::MAX) + 1;
        prop_assert_eq!(
            split.take(limit, percent, now, amount),
            whole.take(limit, percent, now, amount)
        );
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn throttle_scales_the_refill_rate_by_its_percent(
        rate in 1u32..=10_000,
        percent in 1u8..=100,
        tokens in 1u16..=100,
    ) {
        // Proves `tokens` come back after exactly ceil(tokens × 100 000 / (rate × p)) ms under
        // Throttle(p) (while that is at least 1 token a second), and not a ms earlier.
        let limit = RateLimit::new(rate, u32::from(tokens)).unwrap();
        prop_assume!(u64::from(rate) * u64::from(percent) >= 100);
        let mut b = Bucket::full(0);
        b.take(limit, percent, 0, tokens).unwrap();
        let units = u64::from(tokens) * 100_000;
        let wait = units.div_ceil(u64::from(rate) * u64::from(percent));
        let Err(AdmitError::RateLimited { retry_after_ms, .. }) = b.take(limit, percent, 0, tokens)
        else {
            panic!("the bucket is empty");
        };
        prop_assert_eq!(retry_after_ms, wait);
        let mut early = b;
        prop_assert!(early.take(limit, percent, wait - 1, tokens).is_err());
        prop_assert_eq!(b.take(limit, percent, wait, tokens), Ok(0));
    }

    #[test]
    fn the_engines_admit_agrees_with_the_model(
        sku in prop::sample::select(vec!["starter", "pro", "enterprise"]),
        limit in limit(),
        ops in prop::collection::vec((step(), 0u8..8, 0u8..=100, any::<u16>()), 1..60),
    ) {
        // Proves Engine::admit of `rate` answers as the model does for random sequences of
        // admissions, clock steps, throttles and resets, with the SKU's limit from the config.
        let rates = RateLimits { starter: limit, pro: limit, enterprise: limit };
        let config = EngineConfig { rates, ..EngineConfig::default() };
        let mut mem = OwnedStorage::new(&Capacities::with_tenants(4));
        let mut e = Engine::new(config, mem.storage()).unwrap();
        let activate = EntitlementCommand::Activate { sku, expires_at_ms: None };
        e.handle_entitlement(0, "t", activate).unwrap();
        let mut model = RateModel::new(limit.rate_per_s, limit.burst, 0);
        let mut now = 0;
        for (step, op, percent, amount) in ops {
            // u64::MAX is "never" for expiry: at that instant every entitlement has expired.
            now = advance(now, step).min(u64::MAX - 1);
            match op {
                0 => {
                    let _ = e.handle_action(now, "t", Action::throttle(percent).unwrap());
                }
                1 => {
                    e.handle_reset(now, "t").unwrap();
                }
                _ => {
                    let enforced = e.tenant(now, "t").unwrap().enforced;
                    let percent = match enforced {
                        Some(x) if x.kind == ActionKind::Throttle => x.percent,
                        _ => 100,
                    };
                    let amount = amount % 8 + 1;
                    let got = as_model(e.admit(now, "t", Resource::Rate, u32::from(amount)));
                    prop_assert_eq!(got, model.admit(percent, now, amount), "at {} ms", now);
                }
            }
            while e.poll_record().is_some() {}
            while e.poll_action().is_some() {}
        }
    }
}

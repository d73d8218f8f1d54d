//! The `rate` resource: each tenant's token bucket through the engine's `admit` and `release`,
//! and the bucket's arithmetic at its bounds.

use crate::common;

use autonomic_core::engine::{EngineConfig, EngineConfigError};
use autonomic_core::entitlement::{
    AdmitError, Bucket, RateLimit, RateLimitError, RateLimits, UNITS_PER_TOKEN,
};
use autonomic_core::limits::{RATE_BURST_MAX, RATE_PER_S_MAX};
use autonomic_core::{Action, ActionKind, EntitlementCommand, Resource, Sku};
use common::{SmallEngine, engine, engine_with};

/// An engine with `tenant` active on `sku` since 0.
fn on(sku: &str, config: EngineConfig) -> SmallEngine {
    let mut e = engine_with(&common::SMALL, config).unwrap();
    let activate = EntitlementCommand::Activate {
        sku,
        expires_at_ms: None,
    };
    e.handle_entitlement(0, "t", activate).unwrap();
    e
}

fn starter() -> SmallEngine {
    on("starter", EngineConfig::default())
}

/// An admission of `amount` tokens for `t` at `now_ms`.
fn take(e: &mut SmallEngine, now_ms: u64, amount: u32) -> Result<u16, AdmitError> {
    e.admit(now_ms, "t", Resource::Rate, amount)
}

/// Admissions of a fresh starter tenant, `(now_ms, amount, answer)`, in order.
fn steps(steps: &[(u64, u32, Result<u16, AdmitError>)]) {
    let mut e = starter();
    for (now_ms, amount, want) in steps {
        assert_eq!(take(&mut e, *now_ms, *amount), *want, "at {now_ms} ms");
    }
}

fn limited(retry_after_ms: u64, requested: u16) -> Result<u16, AdmitError> {
    Err(AdmitError::RateLimited {
        requested,
        retry_after_ms,
    })
}

#[test]
fn a_new_bucket_is_full_and_empties_at_the_burst() {
    // Proves a starter tenant (10/s, burst 20) gets 20 admissions at one instant, each answered
    // with the whole tokens left, then RateLimited with the time until one token is back.
    let mut e = starter();
    for left in (0..20).rev() {
        assert_eq!(take(&mut e, 1_000, 1), Ok(left));
    }
    assert_eq!(take(&mut e, 1_000, 1), limited(100, 1));
    assert_eq!(
        take(&mut e, 1_000, 1).unwrap_err().to_string(),
        "rate: 1 requested, not in the bucket yet; retry in 100 ms"
    );
    assert_eq!(take(&mut e, 1_000, 5), limited(500, 5));
}

#[test]
fn the_bucket_refills_at_the_rate_up_to_the_burst_and_no_further() {
    // Proves 10/s gives one token per 100 ms, exactly at the stated retry time, and a long
    // wait fills the bucket to the burst only.
    steps(&[
        (0, 20, Ok(0)),
        (99, 1, limited(1, 1)),
        (100, 1, Ok(0)),
        (150, 1, limited(50, 1)),
        (1_000_000, 1, Ok(19)),
        (1_000_000, 20, limited(100, 20)),
    ]);
}

#[test]
fn time_going_backwards_refills_nothing_and_keeps_the_buckets_time() {
    // Proves an earlier now_ms neither refills nor moves the bucket's time back: the refill
    // resumes from the latest time seen.
    steps(&[
        (10_000, 20, Ok(0)),
        (5_000, 1, limited(100, 1)),
        (10_050, 1, limited(50, 1)),
        (10_100, 1, Ok(0)),
    ]);
}

#[test]
fn more_than_the_burst_is_never_admitted_and_release_has_nothing_to_give_back() {
    // Proves an amount above the burst is ExceedsBurst (not a wait), a release of rate is
    // NothingToRelease, and neither takes a token.
    let mut e = starter();
    assert_eq!(
        take(&mut e, 0, 21),
        Err(AdmitError::ExceedsBurst {
            requested: 21,
            burst: 20
        })
    );
    assert_eq!(
        e.release("t", Resource::Rate, 1),
        Err(AdmitError::NothingToRelease)
    );
    assert_eq!(take(&mut e, 0, 0), Err(AdmitError::InvalidAmount));
    assert_eq!(take(&mut e, 0, 20), Ok(0));
}

#[test]
fn entitlement_state_is_checked_as_for_other_resources() {
    // Proves a missing, paused or expired tenant is refused before its bucket is touched.
    let mut e = starter();
    assert_eq!(
        e.admit(0, "nobody", Resource::Rate, 1),
        Err(AdmitError::TenantNotFound)
    );
    e.handle_entitlement(1, "t", EntitlementCommand::Pause)
        .unwrap();
    assert_eq!(take(&mut e, 2, 1), Err(AdmitError::EntitlementNotActive));
    let mut e = engine();
    let expiring = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: Some(10),
    };
    e.handle_entitlement(0, "t", expiring).unwrap();
    assert_eq!(take(&mut e, 10, 1), Err(AdmitError::EntitlementExpired));
}

#[test]
fn throttle_scales_the_refill_pause_refuses_shed_spreads() {
    // Proves Throttle(50) halves the refill (a token per 200 ms at 10/s), Throttle(0) still
    // refills 1 token a second, Pause refuses every admission and Shed(50) every other one.
    let mut e = starter();
    e.handle_action(0, "t", Action::throttle(50).unwrap())
        .unwrap();
    assert_eq!(take(&mut e, 0, 20), Ok(0));
    assert_eq!(take(&mut e, 0, 1), limited(200, 1));
    assert_eq!(take(&mut e, 200, 1), Ok(0));

    let mut e = starter();
    e.handle_action(0, "t", Action::throttle(0).unwrap())
        .unwrap();
    assert_eq!(take(&mut e, 0, 20), Ok(0));
    assert_eq!(take(&mut e, 0, 1), limited(1_000, 1));

    let mut e = starter();
    e.handle_action(0, "t", Action::Pause).unwrap();
    assert_eq!(
        take(&mut e, 0, 1),
        Err(AdmitError::RefusedByAction(ActionKind::Pause))
    );

    let mut e = on("enterprise", EngineConfig::default());
    e.handle_action(0, "t", Action::shed(50).unwrap()).unwrap();
    let admitted: Vec<bool> = (0..100).map(|_| take(&mut e, 0, 1).is_ok()).collect();
    assert_eq!(admitted.iter().filter(|ok| **ok).count(), 50);
    assert!(admitted.windows(2).all(|w| w[0] != w[1]), "evenly spread");
}

#[test]
fn shed_shares_its_spread_counter_with_the_quota_resources() {
    // Proves one Shed cycle runs over rate and quota admissions alike: alternating resources
    // under Shed(50) still alternate refusals.
    let mut e = on("enterprise", EngineConfig::default());
    e.handle_action(0, "t", Action::shed(50).unwrap()).unwrap();
    let admitted: Vec<bool> = (0..10)
        .map(|i| {
            let resource = if i % 2 == 0 {
                Resource::Rate
            } else {
                Resource::Requests
            };
            e.admit(0, "t", resource, 1).is_ok()
        })
        .collect();
    assert_eq!(
        admitted,
        [
            true, false, true, false, true, false, true, false, true, false
        ]
    );
}

#[test]
fn the_per_sku_limits_come_from_the_config_and_are_validated() {
    // Proves EngineConfig::rates sets each SKU's bucket, and a limit out of bounds is refused
    // when the engine is built, naming the SKU.
    let mut rates = RateLimits::DEFAULT;
    rates.pro = RateLimit::new(1, 3).unwrap();
    let config = EngineConfig {
        rates,
        ..EngineConfig::default()
    };
    let mut e = on("pro", config);
    assert_eq!(take(&mut e, 0, 3), Ok(0));
    assert_eq!(take(&mut e, 0, 1), limited(1_000, 1));

    rates.enterprise = RateLimit {
        rate_per_s: 0,
        burst: 1,
    };
    let bad = EngineConfig {
        rates,
        ..EngineConfig::default()
    };
    let err = engine_with(&common::SMALL, bad).unwrap_err();
    assert_eq!(
        err,
        EngineConfigError::RateLimit {
            sku: Sku::Enterprise,
            error: RateLimitError::RatePerS(0)
        }
        .into()
    );
    assert_eq!(
        err.to_string(),
        "enterprise rate limit: rate_per_s must be within 1..=1000000, got 0"
    );
    assert_eq!(
        RateLimit::new(1, RATE_BURST_MAX + 1),
        Err(RateLimitError::Burst(RATE_BURST_MAX + 1))
    );
    assert_eq!(
        RateLimit::new(RATE_PER_S_MAX + 1, 1),
        Err(RateLimitError::RatePerS(RATE_PER_S_MAX + 1))
    );
}

#[test]
fn a_plan_change_keeps_what_was_taken() {
    // Proves the bucket counts what is missing: starter emptied, then pro (burst 200) has
    // 180 left; back on starter, it is empty and refills at starter's rate.
    let mut e = starter();
    assert_eq!(take(&mut e, 0, 20), Ok(0));
    let pro = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    e.handle_entitlement(0, "t", pro).unwrap();
    assert_eq!(take(&mut e, 0, 1), Ok(179));
    let starter = EntitlementCommand::Activate {
        sku: "starter",
        expires_at_ms: None,
    };
    e.handle_entitlement(0, "t", starter).unwrap();
    assert_eq!(take(&mut e, 0, 1), limited(200, 1));
}

#[test]
fn the_usage_view_is_unchanged_by_rate() {
    // Proves rate tokens are not units in use: the tenant's usage stays the four quotas.
    let mut e = starter();
    take(&mut e, 0, 5).unwrap();
    assert_eq!(e.tenant(0, "t").unwrap().usage, [0; 4]);
    assert_eq!(Resource::parse("rate"), Ok(Resource::Rate));
    assert_eq!(Resource::Rate.as_str(), "rate");
}

#[test]
fn extreme_times_and_limits_neither_overflow_nor_lose_exactness() {
    // Proves refills at u64::MAX ms and the largest limits stay exact and capped: the
    // bucket's arithmetic never overflows.
    let max = RateLimit::new(RATE_PER_S_MAX, RATE_BURST_MAX).unwrap();
    let mut b = Bucket::full(0);
    assert_eq!(b.take(max, 100, 0, u16::MAX), Ok(0));
    assert_eq!(b.take(max, 100, u64::MAX, u16::MAX), Ok(0));
    assert_eq!(b.at_ms(), u64::MAX);
    assert_eq!(
        b.take(max, 100, u64::MAX, 1),
        Err(AdmitError::RateLimited {
            requested: 1,
            retry_after_ms: 1
        })
    );
    let min = RateLimit::new(1, RATE_BURST_MAX).unwrap();
    let mut b = Bucket::full(u64::MAX - 1);
    assert_eq!(b.take(min, 0, u64::MAX - 1, u16::MAX), Ok(0));
    // Throttle(0) refills 1 token a second at the least: 65 535 tokens take 65 535 s.
    assert_eq!(
        b.take(min, 0, u64::MAX, u16::MAX),
        Err(AdmitError::RateLimited {
            requested: u16::MAX,
            retry_after_ms: 65_535_000 - 1
        })
    );
    assert_eq!(UNITS_PER_TOKEN, 100_000);
}

#[test]
fn a_percent_above_100_refills_as_100() {
    // Proves `Bucket`'s percent is capped at 100 (no Throttle): a bucket emptied and then
    // refilled for 1 ms at 101, 150 or 255 % holds what one at 100 % holds, and is refused
    // the same retry-after.
    let limit = RateLimit::new(1_000, 2_000).unwrap();
    let after = |percent: u8| {
        let mut b = Bucket::full(0);
        b.take(limit, percent, 0, 2_000).unwrap();
        (b.take(limit, percent, 1, 1), b.take(limit, percent, 1, 5))
    };
    assert_eq!(after(100), (Ok(0), limited(5, 5)));
    for percent in [101, 150, u8::MAX] {
        assert_eq!(after(percent), after(100), "{percent} %");
    }
}

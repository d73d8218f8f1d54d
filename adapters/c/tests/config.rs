//! The engine's configuration through the C ABI, called as a C caller would: the default
//! configuration, invalid ones refused whole with their status, a config change as one
//! `ConfigApplied` receipt that governs from the next input.

mod common;

use std::ptr::{null, null_mut};

use autonomic_c::*;
use autonomic_core::breaker::BreakerConfig;
use autonomic_core::engine::{EngineConfig, EngineConfigError, ModeError, ReloadError};
use autonomic_core::entitlement::RateLimitError;
use autonomic_core::governor::PercentError;
use autonomic_core::{ActionKind, Event, Sku};
use common::{Block, NOW_MS, caps, running};

const HASH: [u8; 32] = [7; 32];

/// `autonomic_engine_config`: what the engine runs now.
fn engine_config(block: &Block) -> AutonomicConfig {
    let mut config = default_config();
    config.warn = 0;
    assert_eq!(unsafe { autonomic_engine_config(block.e, &mut config) }, 0);
    config
}

fn default_config() -> AutonomicConfig {
    let mut config = std::mem::MaybeUninit::<AutonomicConfig>::uninit();
    assert_eq!(unsafe { autonomic_config_default(config.as_mut_ptr()) }, 0);
    unsafe { config.assume_init() }
}

#[test]
fn the_default_config_is_the_cores_and_governs_as_the_plain_init() {
    let config = default_config();
    assert_eq!(config, AutonomicConfig::from(&EngineConfig::default()));
    assert_eq!(
        (
            config.warn,
            config.recover,
            config.intervene,
            config.refuse,
            config.sustain
        ),
        (75, 70, 90, 95, 3)
    );
    assert_eq!(config.action_timeout_ms, [30_000; 4]);
    assert_eq!(config.breaker_failures, [0; 4]);
    assert_eq!(config.rate_per_s, [10, 100, 1_000]);
    assert_eq!(config.rate_burst, [20, 200, 2_000]);
    assert_eq!(config.intervene_throttle_pct, [50; 3]);
    assert_eq!(config.grace_ms, 0);
    assert_eq!(EngineConfig::try_from(&config), Ok(EngineConfig::default()));

    let caps = caps(4);
    let run = |config: Option<&AutonomicConfig>| {
        let mut block = Block::new(&caps);
        assert_eq!(block.init(&caps, config), 0);
        block.activate("acme");
        for (i, value) in [45.0, 78.0, 78.0, 92.0, 97.0].into_iter().enumerate() {
            assert_eq!(block.signal("acme", value, NOW_MS + i as u64 * 5_000).0, 0);
        }
        assert_eq!(engine_config(&block), default_config());
        let receipts: Vec<Vec<u8>> = block.drain().into_iter().map(|(_, b)| b).collect();
        (receipts, block.actions())
    };
    let (plain, configured) = (run(None), run(Some(&config)));
    assert!(plain.0.len() >= 4 && !plain.1.is_empty());
    assert_eq!(plain, configured);
}

/// A change that makes the default configuration invalid.
type Break = fn(&mut AutonomicConfig);

/// Each way a configuration can be invalid, by the status it is refused with.
fn invalid_configs() -> Vec<(AutonomicConfig, AutonomicStatus)> {
    use AutonomicStatus as S;
    let thresholds: [Break; 4] = [
        |c| c.warn = c.intervene,
        |c| c.recover = c.warn + 1,
        |c| c.sustain = 0,
        |c| c.refuse = 101,
    ];
    let timeouts: [Break; 2] = [
        |c| c.action_timeout_ms[2] = 0,
        |c| c.action_timeout_ms[0] = 3_600_001,
    ];
    let breakers: [Break; 2] = [
        |c| c.breaker_failures[0] = 1_001,
        |c| c.breaker_cooldown_ms[3] = 0,
    ];
    let rates: [Break; 2] = [|c| c.rate_per_s[1] = 0, |c| c.rate_burst[2] = 70_000];
    let percents: [Break; 2] = [
        |c| c.refuse_shed_pct[0] = 0,
        |c| c.degrade_throttle_pct[1] = 101,
    ];
    let timings: [Break; 1] = [|c| c.grace_ms = 86_400_001];
    let groups: [(&[Break], S); 6] = [
        (&thresholds, S::InvalidThresholds),
        (&timeouts, S::InvalidActionTimeout),
        (&breakers, S::InvalidBreaker),
        (&rates, S::InvalidRateLimit),
        (&percents, S::InvalidActionPercent),
        (&timings, S::InvalidTiming),
    ];
    let mut out = Vec::new();
    for (changes, status) in groups {
        for change in changes {
            let mut config = default_config();
            change(&mut config);
            out.push((config, status));
        }
    }
    out
}

#[test]
fn an_invalid_config_builds_no_engine_and_changes_no_engine() {
    let caps = caps(4);
    let live = running(&["acme"]);
    for (config, status) in invalid_configs() {
        let what = format!("{config:?}");
        let mut block = Block::new(&caps);
        assert_eq!(block.init(&caps, Some(&config)), status.code(), "{what}");
        assert!(block.e.is_null(), "{what}: an engine was built");
        let mut seq = 42;
        let refused = unsafe { autonomic_config(live.e, NOW_MS, &config, HASH.as_ptr(), &mut seq) };
        assert_eq!(refused, status.code(), "{what}");
        assert_eq!(seq, 42, "{what}");
        assert!(live.drain().is_empty(), "{what}: a receipt was appended");
        assert_eq!(engine_config(&live), default_config(), "{what}");
    }
    let mut on = default_config();
    on.breaker_failures[1] = 3;
    let tiny = AutonomicCapacities {
        receipts: 4,
        ..caps
    };
    let mut block = Block::new(&tiny);
    assert_eq!(
        block.init(&tiny, Some(&on)),
        AutonomicStatus::BreakerRingTooSmall.code()
    );
    assert!(block.e.is_null());
    let mut block = Block::new(&caps);
    assert_eq!(
        block.init(&caps, Some(&on)),
        0,
        "16 receipts hold a breaker's chain"
    );
    assert_eq!(engine_config(&block), on);
}

#[test]
fn every_config_reload_and_mode_error_has_its_status() {
    use AutonomicStatus as S;
    let breaker = BreakerConfig::DEFAULT;
    let config_errors = [
        (
            EngineConfigError::ActionTimeout {
                kind: ActionKind::Pause,
                timeout_ms: 0,
            },
            S::InvalidActionTimeout,
        ),
        (
            EngineConfigError::Breaker {
                kind: ActionKind::Shed,
                breaker,
            },
            S::InvalidBreaker,
        ),
        (
            EngineConfigError::BreakerRingTooSmall { receipts: 4 },
            S::BreakerRingTooSmall,
        ),
        (
            EngineConfigError::RateLimit {
                sku: Sku::Pro,
                error: RateLimitError::Burst(0),
            },
            S::InvalidRateLimit,
        ),
        (
            EngineConfigError::ActionPercent {
                sku: Sku::Starter,
                error: PercentError {
                    key: "refuse_shed_pct",
                    got: 0,
                },
            },
            S::InvalidActionPercent,
        ),
        (
            EngineConfigError::Timing {
                key: "grace_ms",
                value_ms: u64::MAX,
            },
            S::InvalidTiming,
        ),
    ];
    for (error, status) in config_errors {
        assert_eq!(AutonomicStatus::from(error), status);
        assert_eq!(AutonomicStatus::from(ReloadError::Invalid(error)), status);
    }
    assert_eq!(AutonomicStatus::from(ReloadError::Busy), S::Busy);
    assert_eq!(AutonomicStatus::from(ModeError::Busy), S::Busy);
    assert_eq!(
        AutonomicStatus::from(ModeError::TenantNotFound),
        S::TenantNotFound
    );
}

#[test]
fn a_config_change_is_one_config_applied_receipt_and_governs_from_the_next_input() {
    let block = running(&["acme"]);
    let mut lower = default_config();
    (lower.warn, lower.recover) = (50, 40);
    let mut seq = 0;
    let status = unsafe { autonomic_config(block.e, NOW_MS, &lower, HASH.as_ptr(), &mut seq) };
    assert_eq!(status, 0);
    let receipts = block.drain();
    assert_eq!(receipts.len(), 1);
    let (receipt, _) = &receipts[0];
    assert_eq!(receipt.seq, seq);
    assert_eq!(receipt.event, Event::ConfigApplied { hash: HASH });
    assert_eq!(engine_config(&block), lower);
    let (status, t) = block.signal("acme", 60.0, NOW_MS);
    assert_eq!(status, 0);
    assert_eq!(
        t.to,
        AutonomicGovernorState::Warn as u32,
        "60 >= the new warn 50"
    );
}

#[test]
fn a_config_change_with_a_full_ring_is_refused_and_changes_nothing() {
    let caps = caps(16);
    let mut block = Block::new(&caps);
    assert_eq!(block.init(&caps, None), 0);
    for i in 0..16 {
        block.activate(&format!("t{i}"));
    }
    let (mut seq, busy) = (7, AutonomicStatus::Busy.code());
    let status =
        unsafe { autonomic_config(block.e, NOW_MS, &default_config(), HASH.as_ptr(), &mut seq) };
    assert_eq!(status, busy);
    assert_eq!(
        block.mode("t0", AutonomicMode::Shadow as u32, &mut seq),
        busy
    );
    let mut breaker = default_config();
    breaker.breaker_failures[0] = 3;
    let status = unsafe { autonomic_config(block.e, NOW_MS, &breaker, HASH.as_ptr(), &mut seq) };
    assert_eq!(
        status, busy,
        "a ring of 16 can hold a breaker's chain: full, not too small"
    );
    assert_eq!(seq, 7);
    let receipts = block.drain();
    assert_eq!(receipts.len(), 16);
    assert!(
        receipts
            .iter()
            .all(|(r, _)| matches!(r.event, Event::Entitlement { .. }))
    );
    let status = unsafe { autonomic_config(block.e, NOW_MS, &breaker, HASH.as_ptr(), &mut seq) };
    assert_eq!(status, 0, "drained, the ring holds a breaker's chain");
    assert_eq!(engine_config(&block), breaker);
}

#[test]
fn bad_config_arguments_are_refused_and_change_nothing() {
    use AutonomicStatus as S;
    let block = running(&[]);
    let mut seq = 5;
    let config = default_config();
    let raw = [0u64; 64];
    let misaligned = unsafe { raw.as_ptr().cast::<u8>().add(1).cast::<AutonomicConfig>() };
    let e = block.e;
    let refused = [
        (
            unsafe { autonomic_config(e, NOW_MS, null(), HASH.as_ptr(), &mut seq) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_config(e, NOW_MS, &config, null(), &mut seq) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_config(null_mut(), NOW_MS, &config, HASH.as_ptr(), &mut seq) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_config(e, NOW_MS, misaligned, HASH.as_ptr(), &mut seq) },
            S::Misaligned,
        ),
        (
            unsafe { autonomic_config_default(null_mut()) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_engine_config(e, null_mut()) },
            S::NullPointer,
        ),
    ];
    for (got, want) in refused {
        assert_eq!(got, want.code(), "{}", want.name().to_str().unwrap());
    }
    assert_eq!(seq, 5);
    assert!(block.drain().is_empty());
    let caps = caps(4);
    let mut other = Block::new(&caps);
    let size = other.layout.size();
    let status =
        unsafe { autonomic_engine_init_config(other.mem, size, &caps, null(), &mut other.e) };
    assert_eq!(status, S::NullPointer.code());
    assert!(other.e.is_null());
}

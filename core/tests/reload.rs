//! Hot reload: `handle_config` applies a configuration whole and records a `ConfigApplied`
//! system receipt (tenant ""), refuses a bad one changing nothing, and restore rebuilds the
//! applied hash.

use crate::common;

use autonomic_core::breaker::BreakerConfig;
use autonomic_core::engine::{AppliedConfig, EngineConfig, EngineConfigError, ReloadError};
use autonomic_core::limits::{BREAKER_RECEIPTS_PER_INPUT_MAX, RECEIPTS_PER_INPUT_MAX};
use autonomic_core::receipt::{ChainErrorKind, SYSTEM_TENANT};
use autonomic_core::{
    ActionKind, Cause, ChainVerifier, EntitlementCommand, Event, GovernorState, Receipt,
    SignalResult, Thresholds,
};
use common::{active, drain_records, fill_ring_below, raw};

const HASH_A: [u8; 32] = [0xAA; 32];
const HASH_B: [u8; 32] = [0xBB; 32];

/// Thresholds under which a reading of 80 intervenes (the defaults only warn at 80).
fn low_thresholds() -> EngineConfig {
    EngineConfig {
        thresholds: Thresholds::new(60, 50, 78, 95, 3).unwrap(),
        ..EngineConfig::default()
    }
}

fn governed_to(result: SignalResult) -> GovernorState {
    match result {
        SignalResult::Governed(t) => t.to,
        SignalResult::Duplicate => panic!("duplicate"),
    }
}

#[test]
fn handle_config_records_a_system_receipt_and_later_signals_run_under_the_new_config() {
    // Proves: the receipt is ConfigApplied with the hash and the empty tenant, the getters
    // show it, and a reading that only warned before now intervenes.
    let mut e = active("acme");
    assert_eq!(e.applied_config(), None);
    assert_eq!(e.config_hash(), None);
    let seq = e.handle_config(1_000, low_thresholds(), HASH_A).unwrap();
    assert_eq!(e.config(), &low_thresholds());
    assert_eq!(e.config_hash(), Some(HASH_A));
    assert_eq!(
        e.applied_config(),
        Some(AppliedConfig { seq, hash: HASH_A })
    );
    let receipt = e.ledger().by_seq(seq).unwrap();
    assert_eq!(receipt.tenant.as_str(), SYSTEM_TENANT);
    assert_eq!(receipt.event, Event::ConfigApplied { hash: HASH_A });
    let to = governed_to(e.handle_signal(5_000, &raw("acme", 80.0, 5_000)).unwrap());
    assert_eq!(to, GovernorState::Intervene);
    assert_eq!(
        e.stats().receipts(),
        1 + 1 + 1 + 1,
        "activation, config, transition, dispatch"
    );
}

#[test]
fn a_refused_config_changes_nothing() {
    // Proves: an action timeout out of range and a breaker on a ring too small for it are
    // refused as Engine::new refuses them: no receipt, the old config and hash stay.
    let mut e = active("acme");
    e.handle_config(1_000, EngineConfig::default(), HASH_A)
        .unwrap();
    let before = e.ledger().next_seq();
    let mut bad = low_thresholds();
    bad.action_timeout_ms[ActionKind::Pause.index()] = 0;
    assert_eq!(
        e.handle_config(2_000, bad, HASH_B),
        Err(ReloadError::Invalid(EngineConfigError::ActionTimeout {
            kind: ActionKind::Pause,
            timeout_ms: 0
        }))
    );
    assert_eq!(
        ReloadError::Invalid(EngineConfigError::BreakerRingTooSmall { receipts: 1 }).name(),
        "ConfigInvalid"
    );
    assert_eq!(e.ledger().next_seq(), before, "no receipt");
    assert_eq!(e.config(), &EngineConfig::default());
    assert_eq!(e.config_hash(), Some(HASH_A));
    let to = governed_to(e.handle_signal(5_000, &raw("acme", 80.0, 5_000)).unwrap());
    assert_eq!(to, GovernorState::Warn, "the old thresholds still decide");
}

#[test]
fn a_config_is_busy_while_the_ledger_ring_is_full_and_applies_after_a_drain() {
    // Proves the Busy half: with the ring full of unpolled receipts nothing is appended and
    // nothing swapped; after draining the same config applies.
    let mut e = active("acme");
    let ts_ms = 1_000;
    // Bounded, so that a broken engine fails here instead of looping.
    let filled = (0..10_000).any(|_| {
        e.handle_entitlement(ts_ms, "acme", EntitlementCommand::Pause)
            .is_err()
            || e.handle_entitlement(ts_ms, "acme", EntitlementCommand::Resume)
                .is_err()
    });
    assert!(filled, "the ring fills within 10 000 commands");
    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_config(ts_ms, low_thresholds(), HASH_A),
        Err(ReloadError::Busy)
    );
    assert_eq!(e.ledger().next_seq(), before);
    assert_eq!(e.config(), &EngineConfig::default());
    assert_eq!(e.config_hash(), None);
    drain_records(&mut e);
    assert_eq!(e.handle_config(ts_ms, low_thresholds(), HASH_A), Ok(before));
}

#[test]
fn restore_equals_live_across_config_applied_receipts() {
    // Proves: the applied hash and seq are the fold of the receipts (the last one wins), the
    // chain verifies with system receipts in it, and tenants are unchanged by them.
    let mut live = active("acme");
    live.handle_signal(5_000, &raw("acme", 80.0, 5_000))
        .unwrap();
    live.handle_config(6_000, low_thresholds(), HASH_A).unwrap();
    live.handle_signal(10_000, &raw("acme", 85.0, 10_000))
        .unwrap();
    let last = live
        .handle_config(11_000, EngineConfig::default(), HASH_B)
        .unwrap();
    let records = drain_records(&mut live);
    let mut verifier = ChainVerifier::new();
    for r in &records {
        verifier.push(r).unwrap();
    }
    let mut rebuilt = common::engine();
    for r in &records {
        rebuilt.restore(r).unwrap();
    }
    assert_eq!(rebuilt.applied_config(), live.applied_config());
    assert_eq!(rebuilt.config_hash(), Some(HASH_B));
    assert_eq!(rebuilt.applied_config().map(|a| a.seq), Some(last));
    assert_eq!(rebuilt.ledger().head_hash(), live.ledger().head_hash());
    let strip = |v: autonomic_core::TenantView<'_>| (v.state, v.consecutive_high, v.enforced);
    let a: Vec<_> = live.tenants(20_000).map(strip).collect();
    let b: Vec<_> = rebuilt.tenants(20_000).map(strip).collect();
    assert_eq!(a, b);
    assert_eq!(live.in_flight(), rebuilt.in_flight());
    // The dedup memory is rebuilt across the system receipts too.
    assert!(matches!(
        rebuilt.handle_signal(20_000, &raw("acme", 85.0, 10_000)),
        Ok(SignalResult::Duplicate)
    ));
}

/// A sealed record of `event` for `tenant` at seq 0.
fn sealed(tenant: &str, event: Event) -> Vec<u8> {
    let mut receipt = Receipt {
        seq: 0,
        ts_ms: 1,
        tenant: tenant.try_into().unwrap(),
        event,
        prev_hash: [0; 32],
        hash: [0; 32],
    };
    let mut buf = [0u8; 512];
    receipt.seal_into(&mut buf).unwrap().to_vec()
}

#[test]
fn only_a_system_receipt_has_the_empty_tenant() {
    // Proves decoding refuses a ConfigApplied naming a tenant and a tenant's event with the
    // empty tenant, and restore takes a system receipt with no tenant known.
    let named = sealed("acme", Event::ConfigApplied { hash: HASH_A });
    assert_eq!(Receipt::decode(&named), Err(ChainErrorKind::Malformed));
    let governor = Event::Governor {
        cause: Cause::Reset,
        from: GovernorState::Warn,
        to: GovernorState::Stable,
        consecutive_high: 0,
    };
    let nameless = sealed(SYSTEM_TENANT, governor);
    assert_eq!(Receipt::decode(&nameless), Err(ChainErrorKind::Malformed));
    let system = sealed(SYSTEM_TENANT, Event::ConfigApplied { hash: HASH_A });
    let mut e = common::engine();
    e.restore(&system).unwrap();
    assert_eq!(e.config_hash(), Some(HASH_A));
    assert_eq!(e.tenant_count(), 0);
}

#[test]
fn a_breaker_config_applies_while_unpolled_receipts_fill_most_of_the_ring() {
    // Proves the ring-size rule for breakers is about the ring's size, not its fill: with
    // more unpolled receipts than leave room for a breaker's longest chain, but room for the
    // config's own receipt, a config turning a breaker on applies (it is neither refused as
    // a ring too small nor Busy).
    let mut e = active("acme");
    let chain = RECEIPTS_PER_INPUT_MAX + BREAKER_RECEIPTS_PER_INPUT_MAX;
    fill_ring_below(&mut e, "acme", chain);
    assert!(e.ledger().can_append(1));
    let mut config = EngineConfig::default();
    config.breakers[ActionKind::Pause.index()] = BreakerConfig {
        failures: 3,
        cooldown_ms: 1_000,
    };
    let seq = e.ledger().next_seq();
    assert_eq!(e.handle_config(1_000, config, HASH_A), Ok(seq));
    assert_eq!(e.config(), &config);
}

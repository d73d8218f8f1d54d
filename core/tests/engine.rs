//! Actions (`docs/actions.md`) through the engine: one action in flight, supersede, manual
//! requests, timeouts, outcomes, rollback, and Busy leaving nothing half-applied.

use crate::common;

use autonomic_core::engine::{CommandError, Engine, EngineConfig, IngestError};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Action, ActionCommand, ActionOutcome, EntitlementCommand, Event, GovernorState as S,
    SignalResult, Undo,
};
use common::{LARGE, SMALL, active, drain_records, events, raw};

fn actions(e: &mut Engine<'_>) -> Vec<ActionCommand> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

#[test]
fn governor_action_supersedes_the_one_in_flight() {
    // Proves a new governor action cancels the in-flight one and records it as superseded.
    let mut e = active("t");
    let manual = e
        .handle_action(1, "t", Action::rollback("r1").unwrap())
        .unwrap();
    drain_records(&mut e);
    actions(&mut e);
    let SignalResult::Governed(t) = e.handle_signal(2, &raw("t", 95.0, 2)).unwrap() else {
        panic!()
    };
    let cmds = actions(&mut e);
    assert!(matches!(&cmds[0], ActionCommand::Cancel { receipt, .. } if *receipt == manual));
    assert!(matches!(&cmds[1], ActionCommand::Run { receipt, .. } if Some(*receipt) == t.receipt));
    let ev = events(&drain_records(&mut e));
    assert!(ev.contains(&Event::ActionCompleted {
        receipt: manual,
        outcome: ActionOutcome::Superseded,
        undo: Undo::new(),
    }));
    assert_eq!(e.in_flight().len(), 1);
    assert_eq!(Some(e.in_flight()[0].receipt), t.receipt);
}

#[test]
fn manual_request_while_executing_is_refused() {
    // Proves AlreadyExecuting for a manual action while one is in flight, changing nothing.
    let mut e = active("t");
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    drain_records(&mut e);
    assert_eq!(
        e.handle_action(2, "t", Action::throttle(10).unwrap()),
        Err(CommandError::AlreadyExecuting(first))
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(
        e.handle_action(2, "nobody", Action::Pause),
        Err(CommandError::TenantNotFound)
    );
}

#[test]
fn failure_in_intervene_degrades_and_pauses() {
    // Proves Intervene + ActionFailed → Degrade with a Pause dispatched.
    let mut e = active("t");
    e.handle_signal(1, &raw("t", 91.0, 1)).unwrap();
    let receipt = e.in_flight()[0].receipt;
    let t = e.handle_outcome(2, "t", Some(receipt), false, &[]).unwrap();
    assert_eq!(
        (t.from, t.to, t.dispatched()),
        (S::Intervene, S::Degrade, Some(Action::Pause))
    );
    let ev = events(&drain_records(&mut e));
    assert!(ev.contains(&Event::ActionCompleted {
        receipt,
        outcome: ActionOutcome::Failed,
        undo: Undo::new(),
    }));
}

#[test]
fn timeout_is_a_failure_and_cancels() {
    // Proves an action past its deadline is cancelled, recorded as ExecutionTimeout, and the
    // governor treats it as ActionFailed; poll_timeout names the deadline.
    let mut e = active("t");
    e.handle_signal(1_000, &raw("t", 91.0, 1_000)).unwrap();
    let receipt = e.in_flight()[0].receipt;
    assert_eq!(e.poll_timeout(), Some(31_000));
    actions(&mut e);
    assert_eq!(e.handle_timeout(30_999), 0, "not yet due");
    assert_eq!(e.handle_timeout(31_000), 1);
    let cmds = actions(&mut e);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, ActionCommand::Cancel { receipt: r, .. } if *r == receipt))
    );
    assert!(cmds.iter().any(|c| matches!(
        c,
        ActionCommand::Run {
            action: Action::Pause,
            ..
        }
    )));
    assert_eq!(e.tenant(31_000, "t").unwrap().state, S::Degrade);
    let ev = events(&drain_records(&mut e));
    assert!(ev.contains(&Event::ActionCompleted {
        receipt,
        outcome: ActionOutcome::TimedOut,
        undo: Undo::new(),
    }));
}

#[test]
fn configured_timeouts_are_per_kind_and_validated() {
    // Proves action_timeout_ms is read per kind, and out-of-range values are refused.
    let mut config = EngineConfig {
        action_timeout_ms: [100, 200, 300, 400],
        ..EngineConfig::default()
    };
    let mut e = common::engine_with(&common::SMALL, config).unwrap();
    e.handle_entitlement(
        0,
        "t",
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    )
    .unwrap();
    e.handle_action(10, "t", Action::Pause).unwrap();
    assert_eq!(e.poll_timeout(), Some(210));
    config.action_timeout_ms[2] = 0;
    assert!(common::engine_with(&common::SMALL, config).is_err());
    config.action_timeout_ms[2] = 3_600_001;
    assert!(common::engine_with(&common::SMALL, config).is_err());
}

#[test]
fn outcomes_quote_the_action_in_flight() {
    // Proves a receipt that is not in flight is StaleOutcome and changes nothing; without a
    // receipt, an outcome with nothing in flight still reaches the governor.
    let mut e = active("t");
    e.handle_signal(1, &raw("t", 91.0, 1)).unwrap();
    drain_records(&mut e);
    assert_eq!(
        e.handle_outcome(2, "t", Some(999), true, &[]),
        Err(CommandError::StaleOutcome(999))
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.tenant(2, "t").unwrap().state, S::Intervene);
    let t = e.handle_outcome(3, "t", None, true, &[]).unwrap();
    assert_eq!((t.from, t.to), (S::Intervene, S::Warn));
    let t = e.handle_outcome(4, "t", None, false, &[]).unwrap();
    assert_eq!(
        (t.from, t.to, t.action),
        (S::Warn, S::Warn, None),
        "outcome outside Intervene"
    );
    assert_eq!(
        e.handle_outcome(4, "nobody", None, true, &[]),
        Err(CommandError::TenantNotFound)
    );
}

#[test]
fn rollback_by_receipt_id() {
    // Proves rollback of a completed action: unknown → ReceiptNotFound, twice → AlreadyExecuting,
    // success clears the enforced action and the receipt; failure allows a retry.
    let mut e = active("t");
    let r = e.handle_action(1, "t", Action::Pause).unwrap();
    assert_eq!(
        e.handle_rollback(2, r),
        Err(CommandError::ReceiptNotFound(r)),
        "still in flight"
    );
    e.handle_outcome(2, "t", Some(r), true, &[]).unwrap();
    actions(&mut e);
    assert_eq!(
        e.handle_rollback(3, 4242),
        Err(CommandError::ReceiptNotFound(4242))
    );
    e.handle_rollback(3, r).unwrap();
    assert!(
        matches!(actions(&mut e).as_slice(), [ActionCommand::Rollback { receipt, action: Action::Pause, .. }] if *receipt == r)
    );
    assert_eq!(
        e.handle_rollback(4, r),
        Err(CommandError::AlreadyExecuting(r))
    );
    e.handle_rollback_outcome(5, r, false).unwrap();
    e.handle_rollback(6, r).unwrap();
    assert!(e.tenant(6, "t").unwrap().enforced.is_some());
    e.handle_rollback_outcome(7, r, true).unwrap();
    assert!(
        e.tenant(7, "t").unwrap().enforced.is_none(),
        "undone: admissions no longer paused"
    );
    assert_eq!(
        e.handle_rollback(8, r),
        Err(CommandError::ReceiptNotFound(r))
    );
    assert_eq!(
        e.handle_rollback_outcome(8, r, true),
        Err(CommandError::ReceiptNotFound(r))
    );
}

#[test]
fn reset_works_whatever_the_entitlement_state() {
    // Proves Reset is accepted for a paused tenant and returns its governor to Stable.
    let mut e = active("t");
    e.handle_signal(1, &raw("t", 80.0, 1)).unwrap();
    e.handle_entitlement(2, "t", EntitlementCommand::Pause)
        .unwrap();
    let t = e.handle_reset(3, "t").unwrap();
    assert_eq!((t.from, t.to), (S::Warn, S::Stable));
    assert_eq!(
        e.handle_reset(3, "nobody"),
        Err(CommandError::TenantNotFound)
    );
}

#[test]
fn busy_refuses_whole_inputs_and_changes_nothing() {
    // Proves that when the ring is full of unpersisted receipts, a signal is refused with Busy,
    // leaving state, dedup memory and the ledger untouched; after draining it is accepted.
    const TINY: Capacities = Capacities {
        tenant_id_bytes: 4 * 256,
        dedup_ids: 64,
        receipts: 8,
        ..Capacities::with_tenants(4)
    };
    let mut mem = OwnedStorage::new(&TINY);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    e.handle_entitlement(
        0,
        "t",
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    )
    .unwrap();
    let mut ts = 0;
    let mut busy = None;
    for i in 0..20 {
        ts += 5_000;
        let v = if i % 2 == 0 { 80.0 } else { 10.0 };
        match e.handle_signal(ts, &raw("t", v, ts)) {
            Ok(_) => {}
            Err(err) => {
                busy = Some((err, v));
                break;
            }
        }
    }
    let (err, v) = busy.expect("the tiny ring fills up");
    assert_eq!(err, IngestError::Busy);
    let before = (
        e.tenant(ts, "t").unwrap().state,
        e.ledger().next_seq(),
        e.dedup_len(),
    );
    assert_eq!(
        e.handle_signal(ts, &raw("t", v, ts)),
        Err(IngestError::Busy),
        "still busy, still nothing"
    );
    assert_eq!(
        (
            e.tenant(ts, "t").unwrap().state,
            e.ledger().next_seq(),
            e.dedup_len()
        ),
        before
    );
    drain_records(&mut e);
    assert!(
        matches!(
            e.handle_signal(ts, &raw("t", v, ts)),
            Ok(SignalResult::Governed(_))
        ),
        "not remembered as a duplicate"
    );
}

#[test]
fn duplicates_are_reported_not_governed() {
    // Proves a redelivered signal is Duplicate and leaves no receipt.
    let mut e = active("t");
    e.handle_signal(5_000, &raw("t", 80.0, 5_000)).unwrap();
    drain_records(&mut e);
    assert_eq!(
        e.handle_signal(6_000, &raw("t", 80.0, 5_100)),
        Ok(SignalResult::Duplicate)
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.tenant(6_000, "t").unwrap().consecutive_high, 1);
}

#[test]
fn time_in_state_counts_from_the_last_state_change() {
    // Proves time_in_state_ms is measured from the transition that entered the state.
    let mut e = active("t");
    e.handle_signal(1_000, &raw("t", 80.0, 1_000)).unwrap();
    e.handle_signal(7_000, &raw("t", 81.0, 7_000)).unwrap();
    let v = e.tenant(9_500, "t").unwrap();
    assert_eq!(
        (v.state, v.consecutive_high, v.time_in_state_ms),
        (S::Warn, 2, 8_500)
    );
    assert_eq!(
        e.tenant(500, "t").unwrap().time_in_state_ms,
        0,
        "a clock that went back reads 0"
    );
}

#[test]
fn tenant_table_full_is_a_typed_error() {
    // Proves activation beyond capacity is TenantTableFull and adds nothing.
    let two = Capacities { tenants: 2, ..FOUR };
    let mut mem = OwnedStorage::new(&two);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b"] {
        e.handle_entitlement(
            0,
            t,
            EntitlementCommand::Activate {
                sku: "pro",
                expires_at_ms: None,
            },
        )
        .unwrap();
    }
    let err = e.handle_entitlement(
        0,
        "c",
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    );
    assert_eq!(
        err,
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
    assert_eq!(e.tenant_count(), 2);
    assert_eq!(e.ledger().next_seq(), 2);
}

/// Four tenants, 64 receipts.
const FOUR: Capacities = Capacities {
    tenant_id_bytes: 4 * 256,
    dedup_ids: 64,
    receipts: 64,
    ..Capacities::with_tenants(4)
};

fn cmd(e: &mut Engine<'_>, now: u64, t: &str, c: EntitlementCommand<'_>) {
    e.handle_entitlement(now, t, c).unwrap();
}

const ACTIVATE_PRO: EntitlementCommand<'static> = EntitlementCommand::Activate {
    sku: "pro",
    expires_at_ms: None,
};

/// Rebuilds a four-tenant engine from `records` and compares it with `live` (views in slot
/// order, in-flight actions, rollbackable receipts, head).
fn assert_four_restores_equal(live: &Engine<'_>, records: &[Vec<u8>], now: u64) {
    let mut mem = OwnedStorage::new(&FOUR);
    let mut rebuilt = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for r in records {
        rebuilt.restore(r).unwrap();
    }
    let strip = |v: autonomic_core::TenantView<'_>| {
        let flight = v.in_flight.map(|f| (f.receipt, f.action.clone()));
        (
            v.tenant.to_string(),
            v.entitlement,
            v.sku,
            v.state,
            flight,
            v.enforced,
        )
    };
    let a: Vec<_> = live.tenants(now).map(strip).collect();
    let b: Vec<_> = rebuilt.tenants(now).map(strip).collect();
    assert_eq!(a, b, "live == restored, slot for slot");
    assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    assert_eq!(live.in_flight(), rebuilt.in_flight());
    assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
}

#[test]
fn a_full_table_reuses_the_slot_of_the_tenant_terminated_longest_ago() {
    // Proves that with the table full, a new tenant takes the slot of the Terminated tenant
    // revoked first (by receipt order, not slot order), that a Terminated tenant keeps its
    // lifecycle rule (activate -> InvalidStateTransition) until then, that the slot is reused in
    // place (the other tenants keep theirs, and their actions in flight), and that a rebuilt
    // engine equals the live one.
    let mut mem = OwnedStorage::new(&FOUR);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b", "c", "d"] {
        cmd(&mut e, 0, t, ACTIVATE_PRO);
    }
    let d_action = e.handle_action(1, "d", Action::Pause).unwrap();
    cmd(&mut e, 2, "b", EntitlementCommand::Revoke);
    cmd(&mut e, 3, "a", EntitlementCommand::Revoke);
    assert!(matches!(
        e.handle_entitlement(4, "b", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::InvalidStateTransition { .. })
    ));
    cmd(&mut e, 5, "x", ACTIVATE_PRO);
    assert!(
        e.tenant(5, "b").is_none(),
        "b was terminated first: its slot went"
    );
    assert_eq!(
        e.tenant(5, "a").unwrap().entitlement,
        autonomic_core::EntitlementState::Terminated
    );
    // x took b's slot in place; d kept its own: its in-flight pause still resolves.
    assert_eq!(
        e.tenant(5, "d").unwrap().in_flight.unwrap().receipt,
        d_action
    );
    e.handle_outcome(6, "d", Some(d_action), true, &[]).unwrap();
    assert_eq!(e.rollbackable().collect::<Vec<_>>(), vec![d_action]);
    cmd(&mut e, 7, "y", ACTIVATE_PRO);
    assert!(e.tenant(7, "a").is_none());
    let names: Vec<_> = e.tenants(7).map(|v| v.tenant.to_string()).collect();
    assert_eq!(names.len(), 4);
    for t in ["c", "d", "x", "y"] {
        assert!(names.contains(&t.to_string()), "{names:?}");
    }
    assert_eq!(
        names,
        ["y", "x", "c", "d"],
        "victims' slots reused in place"
    );
    // The rollback bookkeeping still names d's slot.
    e.handle_rollback(8, d_action).unwrap();
    let records = drain_records(&mut e);
    assert_four_restores_equal(&e, &records, 9);
    // A returning id is a new tenant (its Terminated past was forgotten with its slot).
    assert_eq!(
        e.handle_entitlement(10, "b", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
}

#[test]
fn a_terminated_tenant_with_pending_work_keeps_its_slot() {
    // Proves a Terminated tenant with an action in flight, or with a completed action still
    // remembered for rollback, is not reused: the table answers TenantTableFull, changes
    // nothing, and frees the slot once the bookkeeping is gone.
    let mut mem = OwnedStorage::new(&FOUR);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b", "c", "d"] {
        cmd(&mut e, 0, t, ACTIVATE_PRO);
    }
    let r = e.handle_action(1, "a", Action::Pause).unwrap();
    cmd(&mut e, 2, "a", EntitlementCommand::Revoke);
    let seq = e.ledger().next_seq();
    assert_eq!(
        e.handle_entitlement(3, "x", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull)
    );
    assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
    e.handle_outcome(4, "a", Some(r), true, &[]).unwrap();
    assert_eq!(
        e.handle_entitlement(5, "x", ACTIVATE_PRO),
        Err(autonomic_core::entitlement::EntitlementError::TenantTableFull),
        "its completed action is still rollbackable"
    );
    e.handle_rollback(6, r).unwrap();
    e.handle_rollback_outcome(7, r, true).unwrap();
    cmd(&mut e, 8, "x", ACTIVATE_PRO);
    assert!(e.tenant(8, "a").is_none());
    let records = drain_records(&mut e);
    assert_four_restores_equal(&e, &records, 9);
}

// ----- stale signals (docs/signals.md#timestamps) --------------------------------------------

#[test]
fn a_redelivery_is_a_duplicate_or_refused_never_governed_twice() {
    // Proves, through the engine and at the exact boundaries (first and last ms of a window,
    // first arrival at the oldest accepted instant), that a redelivery at every later instant
    // up to ts + 60 000 is Duplicate and from ts + 60 001 on is InvalidTimestamp.
    for ts in [100_000, 104_999, 105_000] {
        for first in [ts, ts + 30_000, ts + 60_000] {
            let mut e = active("t");
            let got = e.handle_signal(first, &raw("t", 80.0, ts));
            assert!(
                matches!(got, Ok(SignalResult::Governed(_))),
                "{ts} at {first}"
            );
            for now in [first, ts + 59_999, ts + 60_000] {
                assert_eq!(
                    e.handle_signal(now.max(first), &raw("t", 80.0, ts)),
                    Ok(SignalResult::Duplicate),
                    "ts {ts} first {first} again at {now}"
                );
            }
            for now in [ts + 60_001, ts + 65_000, ts + 600_000] {
                assert_eq!(
                    e.handle_signal(now, &raw("t", 80.0, ts)),
                    Err(IngestError::Invalid(
                        autonomic_core::SignalError::InvalidTimestamp
                    )),
                    "ts {ts} first {first} again at {now}"
                );
            }
            assert_eq!(
                e.tenant(0, "t").unwrap().consecutive_high,
                1,
                "governed once"
            );
        }
    }
}

#[test]
fn a_stale_signal_changes_nothing() {
    // Proves a signal 10 minutes old is InvalidTimestamp and leaves state, dedup and ledger alone.
    let mut e = active("t");
    drain_records(&mut e);
    let now = 1_000_000;
    assert_eq!(
        e.handle_signal(now, &raw("t", 99.0, now - 600_000)),
        Err(IngestError::Invalid(
            autonomic_core::SignalError::InvalidTimestamp
        ))
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.dedup_len(), 0);
    assert_eq!(e.tenant(now, "t").unwrap().state, S::Stable);
}

// ----- enforcement follows outcomes -----------------------------------------------------------

use autonomic_core::entitlement::AdmitError;
use autonomic_core::{ActionKind, Resource};

/// The views that must survive a restart, plus the rollback bookkeeping and head.
fn assert_restores_equal(
    live: &mut Engine<'_>,
    caps: &Capacities,
    records: &mut Vec<Vec<u8>>,
    now: u64,
) {
    records.extend(drain_records(live));
    let mut mem = OwnedStorage::new(caps);
    let mut rebuilt = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for r in records.iter() {
        rebuilt.restore(r).unwrap();
    }
    let strip = |v: autonomic_core::TenantView<'_>| {
        (
            v.tenant.to_string(),
            v.entitlement,
            v.state,
            v.consecutive_high,
            v.entered_at_ms,
            v.in_flight.cloned(),
            v.enforced,
        )
    };
    let a: Vec<_> = live.tenants(now).map(strip).collect();
    let b: Vec<_> = rebuilt.tenants(now).map(strip).collect();
    assert_eq!(a, b, "live == restored");
    assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
}

#[test]
fn a_failed_manual_pause_is_not_enforced() {
    // Proves a Pause whose outcome is failure no longer refuses admission (RefusedByAction),
    // and a restored engine agrees.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e.handle_action(1, "t", Action::Pause).unwrap();
        assert_eq!(
            e.admit(2, "t", Resource::Requests, 1),
            Err(AdmitError::RefusedByAction(ActionKind::Pause)),
            "in flight: enforced"
        );
        e.handle_outcome(3, "t", Some(r), false, &[]).unwrap();
        assert_eq!(e.tenant(3, "t").unwrap().enforced, None);
        assert_eq!(e.admit(4, "t", Resource::Requests, 1), Ok(1));
        assert_restores_equal(&mut e, &caps, &mut records, 5);
    }
}

#[test]
fn a_timed_out_throttle_gives_back_the_skus_limits() {
    // Proves a manual Throttle(10) that times out (Stable, so the governor does not react)
    // stops lowering the limits: pro's 8 cores are admitted again.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        e.handle_action(1, "t", Action::throttle(10).unwrap())
            .unwrap();
        assert!(matches!(
            e.admit(2, "t", Resource::Cpu, 2),
            Err(AdmitError::QuotaExceeded { limit: 1, .. })
        ));
        assert_eq!(e.handle_timeout(1 + 30_000), 1);
        assert_eq!(e.tenant(30_001, "t").unwrap().enforced, None);
        assert_eq!(e.admit(30_002, "t", Resource::Cpu, 8), Ok(8));
        assert_restores_equal(&mut e, &caps, &mut records, 30_003);
    }
}

#[test]
fn a_superseded_action_is_not_enforced_but_its_successor_is() {
    // Proves Superseded clears the old action's enforcement and the new dispatch takes over.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let manual = e.handle_action(1, "t", Action::Pause).unwrap();
        let SignalResult::Governed(t) = e.handle_signal(2, &raw("t", 95.0, 2)).unwrap() else {
            panic!("governed");
        };
        let enforced = e.tenant(2, "t").unwrap().enforced.unwrap();
        assert_ne!(enforced.receipt, manual);
        assert_eq!(
            (Some(enforced.receipt), enforced.kind),
            (t.receipt, ActionKind::Throttle)
        );
        assert_restores_equal(&mut e, &caps, &mut records, 3);
    }
}

#[test]
fn a_reset_ends_enforcement_by_a_receipt() {
    // Proves a reset of a Stable tenant with an enforced manual Pause (succeeded, or still in
    // flight) writes a governor receipt (cause Reset, Stable → Stable, c 0) and allows
    // admission again; a reset with nothing to end writes nothing; restore agrees.
    for (succeed, caps) in [(true, SMALL), (false, SMALL), (true, LARGE), (false, LARGE)] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e.handle_action(1, "t", Action::Pause).unwrap();
        if succeed {
            e.handle_outcome(2, "t", Some(r), true, &[]).unwrap();
        }
        assert!(e.admit(3, "t", Resource::Requests, 1).is_err());
        records.extend(drain_records(&mut e));
        let t = e.handle_reset(4, "t").unwrap();
        assert_eq!(
            (t.from, t.to, t.consecutive_high),
            (S::Stable, S::Stable, 0)
        );
        let written = drain_records(&mut e);
        assert_eq!(
            events(&written),
            vec![Event::Governor {
                cause: autonomic_core::Cause::Reset,
                from: S::Stable,
                to: S::Stable,
                consecutive_high: 0,
            }]
        );
        records.extend(written);
        assert_eq!(e.admit(5, "t", Resource::Requests, 1), Ok(1));
        e.handle_reset(6, "t").unwrap();
        assert!(
            drain_records(&mut e).is_empty(),
            "nothing enforced: no receipt"
        );
        if !succeed {
            // The pause completes after the reset: still not enforced.
            e.handle_outcome(7, "t", Some(r), true, &[]).unwrap();
            assert_eq!(e.tenant(7, "t").unwrap().enforced, None);
        }
        assert_restores_equal(&mut e, &caps, &mut records, 8);
    }
}

// ----- undo tokens --------------------------------------------------------------------------

#[test]
fn an_undo_token_rides_the_ledger_to_the_rollback() {
    // Proves the undo of a successful outcome is kept in its completion receipt and handed
    // back with the rollback, also by an engine restored from the receipts (a restart).
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e
            .handle_action(1, "t", Action::throttle(30).unwrap())
            .unwrap();
        let undo = [7u8; autonomic_core::limits::UNDO_BYTES_MAX];
        e.handle_outcome(2, "t", Some(r), true, &undo).unwrap();
        let written = drain_records(&mut e);
        assert!(events(&written).contains(&Event::ActionCompleted {
            receipt: r,
            outcome: ActionOutcome::Succeeded,
            undo: Undo::from_slice(&undo).unwrap(),
        }));
        records.extend(written);
        actions(&mut e);
        let mut rebuilt_mem = OwnedStorage::new(&caps);
        let mut rebuilt = Engine::new(EngineConfig::default(), rebuilt_mem.storage()).unwrap();
        for rec in &records {
            rebuilt.restore(rec).unwrap();
        }
        for engine in [&mut e, &mut rebuilt] {
            engine.handle_rollback(3, r).unwrap();
            let got = actions(engine);
            assert!(
                matches!(got.as_slice(), [ActionCommand::Rollback { receipt, undo: u, .. }] if *receipt == r && u.as_slice() == undo),
                "{got:?}"
            );
        }
    }
}

#[test]
fn an_oversized_undo_is_refused_and_a_failed_ones_is_dropped() {
    // Proves an undo of UNDO_BYTES_MAX + 1 bytes is UndoTooLarge and changes nothing, and an
    // undo reported with a failure is recorded empty.
    let mut e = active("t");
    drain_records(&mut e);
    let r = e.handle_action(1, "t", Action::Pause).unwrap();
    drain_records(&mut e);
    let big = [1u8; autonomic_core::limits::UNDO_BYTES_MAX + 1];
    assert_eq!(
        e.handle_outcome(2, "t", Some(r), true, &big),
        Err(CommandError::UndoTooLarge(big.len()))
    );
    assert_eq!(CommandError::UndoTooLarge(65).name(), "UndoTooLarge");
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.in_flight().len(), 1, "still in flight");
    e.handle_outcome(3, "t", Some(r), false, &[9, 9]).unwrap();
    assert_eq!(
        events(&drain_records(&mut e)),
        vec![Event::ActionCompleted {
            receipt: r,
            outcome: ActionOutcome::Failed,
            undo: Undo::new(),
        }]
    );
}

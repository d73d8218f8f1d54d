//! Actions (`docs/actions.md`) through the engine: one action in flight, supersede, manual
//! requests, timeouts, outcomes, rollback, and Busy leaving nothing half-applied.

use crate::common;

use autonomic_core::engine::{CommandError, Engine, EngineConfig, IngestError};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Action, ActionCommand, ActionOutcome, EntitlementCommand, Event, GovernorState as S,
    SignalResult, Undo,
};
use common::{actions, active, drain_records, events, raw};

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

//! SPEC §5 through the engine: one action in flight, supersede, manual requests, timeouts,
//! outcomes, rollback, and Busy leaving nothing half-applied.

mod common;

use autonomic_core::engine::{CommandError, Engine, EngineConfig, IngestError};
use autonomic_core::{
    Action, ActionCommand, ActionOutcome, EntitlementCommand, Event, GovernorState as S, Receipt,
    SignalResult,
};
use common::{active, drain_records, raw};

fn events(records: &[Vec<u8>]) -> Vec<Event> {
    records
        .iter()
        .map(|r| Receipt::decode(r).unwrap().event)
        .collect()
}

fn actions<const T: usize, const N: usize, const B: usize, const I: usize, const SL: usize>(
    e: &mut Engine<T, N, B, I, SL>,
) -> Vec<ActionCommand> {
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
        outcome: ActionOutcome::Superseded
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
    let t = e.handle_outcome(2, "t", Some(receipt), false).unwrap();
    assert_eq!(
        (t.from, t.to, t.action),
        (S::Intervene, S::Degrade, Some(Action::Pause))
    );
    let ev = events(&drain_records(&mut e));
    assert!(ev.contains(&Event::ActionCompleted {
        receipt,
        outcome: ActionOutcome::Failed
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
        outcome: ActionOutcome::TimedOut
    }));
}

#[test]
fn configured_timeouts_are_per_kind_and_validated() {
    // Proves action_timeout_ms is read per kind, and out-of-range values are refused.
    let mut config = EngineConfig {
        action_timeout_ms: [100, 200, 300, 400],
        ..EngineConfig::default()
    };
    let mut e = common::SmallEngine::new(config).unwrap();
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
    assert!(common::SmallEngine::new(config).is_err());
    config.action_timeout_ms[2] = 3_600_001;
    assert!(common::SmallEngine::new(config).is_err());
}

#[test]
fn outcomes_quote_the_action_in_flight() {
    // Proves a receipt that is not in flight is StaleOutcome and changes nothing; without a
    // receipt, an outcome with nothing in flight still reaches the governor.
    let mut e = active("t");
    e.handle_signal(1, &raw("t", 91.0, 1)).unwrap();
    drain_records(&mut e);
    assert_eq!(
        e.handle_outcome(2, "t", Some(999), true),
        Err(CommandError::StaleOutcome(999))
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.tenant(2, "t").unwrap().state, S::Intervene);
    let t = e.handle_outcome(3, "t", None, true).unwrap();
    assert_eq!((t.from, t.to), (S::Intervene, S::Warn));
    let t = e.handle_outcome(4, "t", None, false).unwrap();
    assert_eq!(
        (t.from, t.to, t.action),
        (S::Warn, S::Warn, None),
        "outcome outside Intervene"
    );
    assert_eq!(
        e.handle_outcome(4, "nobody", None, true),
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
    e.handle_outcome(2, "t", Some(r), true).unwrap();
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
    type Tiny = Engine<4, 8, 4096, 64, 128>;
    let mut e = Tiny::new(EngineConfig::default()).unwrap();
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
    type Two = Engine<2, 16, 4096, 64, 128>;
    let mut e = Two::new(EngineConfig::default()).unwrap();
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

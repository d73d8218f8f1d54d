//! The action rules a user meets: a decoded receipt's action is re-checked, the revision rule,
//! and a manual action refused with `Busy` when any one of its resources is full.

use crate::common;

use autonomic_core::engine::{ActionCommand, CommandError};
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::receipt::{ChainErrorKind, GENESIS_HASH};
use autonomic_core::{Action, ChainVerifier, EntitlementCommand, Event, Receipt};
use common::{SmallEngine, active, drain_records, events, raw};

/// A well-hashed seq-0 receipt dispatching `action`, as a ledger file would hold it.
fn sealed_dispatch(action: Action) -> Vec<u8> {
    let mut r = Receipt {
        seq: 0,
        ts_ms: 1,
        tenant: "acme".try_into().unwrap(),
        event: Event::ActionDispatched {
            action,
            deadline_ms: 30_001,
            manual: true,
        },
        prev_hash: GENESIS_HASH,
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    r.seal_into(&mut buf).unwrap().to_vec()
}

/// Tenants `t0`..`t15` active; the first `n` each ran a manual throttle that succeeded and
/// asked for its rollback, with their `2 * n` commands left in the queue (records drained).
fn queued_runs_and_rollbacks(n: usize) -> SmallEngine {
    let mut e = common::engine();
    for i in 0..16 {
        let activate = EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        };
        e.handle_entitlement(0, &format!("t{i}"), activate).unwrap();
    }
    for i in 0..n {
        let t = format!("t{i}");
        let receipt = e.handle_action(1, &t, Action::THROTTLE_50).unwrap();
        e.handle_outcome(2, &t, Some(receipt), true, &[]).unwrap();
        e.handle_rollback(3, receipt).unwrap();
        drain_records(&mut e);
    }
    e
}

#[test]
fn a_well_hashed_receipt_with_an_invalid_action_is_malformed_and_verify_says_where() {
    // Proves decoding re-checks the action (percent <= 100, revision rule) even when the
    // hash is right: such a record is refused as malformed, at its position.
    let bad = [
        Action::Throttle { percent: 150 },
        Action::Shed { percent: 101 },
        Action::Rollback {
            revision: "a b".try_into().unwrap(),
        },
        Action::Rollback {
            revision: "".try_into().unwrap(),
        },
    ];
    for action in bad {
        let record = sealed_dispatch(action.clone());
        assert_eq!(
            Receipt::decode(&record),
            Err(ChainErrorKind::Malformed),
            "{action:?}"
        );
        let err = ChainVerifier::new().push(&record).unwrap_err();
        assert_eq!(err.position, 0, "{action:?}");
        assert_eq!(err.kind, ChainErrorKind::Malformed, "{action:?}");
        let mut e = common::engine();
        assert!(e.restore(&record).is_err(), "{action:?} restored");
    }
    let good = sealed_dispatch(Action::Throttle { percent: 100 });
    assert!(Receipt::decode(&good).is_ok());
    let good = sealed_dispatch(Action::rollback("r-1").unwrap());
    assert!(Receipt::decode(&good).is_ok());
}

#[test]
fn a_revision_is_one_to_128_visible_ascii_bytes_and_is_carried_as_given() {
    // Proves the core's revision rule: empty, a space, a control byte or non-ASCII are
    // refused; a visible one is kept byte for byte and handed to the rollback command.
    for bad in ["", " ", "a b", "r\n", "r\u{7f}", "é", &"r".repeat(129)] {
        assert!(Action::rollback(bad).is_err(), "{bad:?} accepted");
    }
    for good in ["r", "v1.2.3", &"r".repeat(128), "!~"] {
        let action = Action::rollback(good).unwrap();
        assert_eq!(action.revision(), Some(good));
        assert!(action.validate().is_ok());
    }
    assert_eq!(Action::THROTTLE_50.revision(), None);

    let mut e = active("acme");
    let receipt = e
        .handle_action(10, "acme", Action::rollback("v1.2.3").unwrap())
        .unwrap();
    drain_records(&mut e);
    match e.poll_action() {
        Some(ActionCommand::Run { action, .. }) => {
            assert_eq!(action.revision(), Some("v1.2.3"));
        }
        other => panic!("expected a run, got {other:?}"),
    }
    e.handle_outcome(11, "acme", Some(receipt), true, &[])
        .unwrap();
}

#[test]
fn a_percent_is_0_to_100_for_throttle_and_shed() {
    // Proves the percent rule at its edges: 0 and 100 are actions, 101 and above are refused.
    for percent in [0, 1, 99, 100] {
        assert_eq!(Action::throttle(percent), Ok(Action::Throttle { percent }));
        assert_eq!(Action::shed(percent), Ok(Action::Shed { percent }));
    }
    for percent in [101, 150, 255] {
        assert!(Action::throttle(percent).is_err(), "throttle {percent}");
        assert!(Action::shed(percent).is_err(), "shed {percent}");
    }
}

#[test]
fn a_manual_action_is_busy_while_the_ledger_ring_is_full_and_changes_nothing() {
    // Proves the ledger-room half of handle_action's Busy: with the ring full of unpolled
    // receipts (and room everywhere else) the action is refused, nothing is queued, and
    // after a drain the same request is accepted.
    let mut e = active("acme");
    let mut ts_ms = 0;
    // Bounded, so that a broken engine fails here instead of looping.
    let filled = (0..10_000).any(|_| {
        ts_ms += 5_000;
        let value = if (ts_ms / 5_000) % 2 == 0 { 78.0 } else { 50.0 };
        e.handle_signal(ts_ms, &raw("acme", value, ts_ms)).is_err()
    });
    assert!(filled, "the ring fills within 10 000 signals");
    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_action(ts_ms, "acme", Action::THROTTLE_50),
        Err(CommandError::Busy)
    );
    assert_eq!(e.ledger().next_seq(), before, "nothing appended");
    assert!(e.poll_action().is_none(), "nothing queued");
    assert!(e.in_flight().is_empty(), "nothing in flight");
    drain_records(&mut e);
    assert!(e.handle_action(ts_ms, "acme", Action::THROTTLE_50).is_ok());
}

#[test]
fn a_manual_action_is_busy_while_the_action_queue_is_full_and_changes_nothing() {
    // Proves the queue-room half of handle_action's Busy: 16 runs and 16 rollback requests
    // left unpolled fill the 32-command queue; a manual action on a tenant with nothing in
    // flight is then refused, and accepted once the adapter polls its commands.
    let mut e = queued_runs_and_rollbacks(16);
    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_action(4, "t0", Action::Pause),
        Err(CommandError::Busy)
    );
    assert_eq!(e.ledger().next_seq(), before, "nothing appended");
    assert!(e.in_flight().is_empty(), "nothing in flight");
    let mut polled = 0;
    while e.poll_action().is_some() {
        polled += 1;
    }
    assert_eq!(polled, 32, "16 runs and 16 rollbacks were queued");
    assert!(e.handle_action(4, "t0", Action::Pause).is_ok());
}

#[test]
fn a_timeout_completes_only_while_the_queue_has_room_for_its_cancel_and_next_action() {
    // Proves handle_timeout's queue-room rule: an expiring governor throttle needs two
    // commands (the cancel, and the Pause its failure orders). With 30 of 32 queued it
    // completes (→ Degrade, Pause dispatched); with 32 queued the next expiry waits, changing
    // nothing, until the adapter polls the queue.
    // 14 runs and 14 rollback requests: 28 queued.
    let mut e = queued_runs_and_rollbacks(14);
    // t15's governor orders Throttle(50) (29 queued); t14's manual Pause, later (30 queued).
    e.handle_signal(10, &raw("t15", 95.0, 10)).unwrap();
    let manual = e.handle_action(20_000, "t14", Action::Pause).unwrap();
    drain_records(&mut e);

    assert_eq!(
        e.handle_timeout(30_010),
        1,
        "room for two: the throttle times out"
    );
    let t15 = e.tenant(30_010, "t15").unwrap();
    assert_eq!(t15.state, autonomic_core::GovernorState::Degrade);
    drain_records(&mut e);

    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_timeout(50_010),
        0,
        "a full queue: the expiry waits"
    );
    assert!(e.poll_action().is_some());
    assert_eq!(
        e.handle_timeout(50_010),
        0,
        "31 queued: still no room for two"
    );
    assert_eq!(e.ledger().next_seq(), before, "nothing appended");
    assert!(
        e.in_flight().iter().any(|f| f.receipt == manual),
        "still in flight"
    );
    let mut polled = 1;
    while e.poll_action().is_some() {
        polled += 1;
    }
    assert_eq!(polled, 32);
    assert!(e.handle_timeout(50_010) >= 1, "after the poll it times out");
    assert!(!e.in_flight().iter().any(|f| f.receipt == manual));
}

#[test]
fn a_rollback_is_busy_while_the_action_queue_is_full_and_changes_nothing() {
    // Proves the queue-room half of handle_rollback's Busy, with room in the ring: 15 runs and
    // 15 rollback requests, then t15's succeeded throttle and a pause of t15 left unpolled,
    // fill the 32-command queue; rolling back t15's throttle is refused, and accepted once the
    // adapter polls its commands.
    let mut e = queued_runs_and_rollbacks(15);
    let throttle = e.handle_action(1, "t15", Action::THROTTLE_50).unwrap();
    e.handle_outcome(2, "t15", Some(throttle), true, &[])
        .unwrap();
    e.handle_action(3, "t15", Action::Pause).unwrap();
    drain_records(&mut e);
    assert!(e.ledger().can_append(1), "room in the ring");
    let before = e.ledger().next_seq();
    assert_eq!(e.handle_rollback(4, throttle), Err(CommandError::Busy));
    assert_eq!(e.ledger().next_seq(), before, "nothing appended");
    let mut polled = 0;
    while e.poll_action().is_some() {
        polled += 1;
    }
    assert_eq!(polled, 32, "the queue was full");
    assert!(e.handle_rollback(4, throttle).is_ok());
}

/// Readings of 80, 81 and 82 for `tenant` at `now_ms`: Warn, Warn, then Degrade with a
/// Throttle (the last one's result is returned).
fn to_degrade(
    e: &mut SmallEngine,
    tenant: &str,
    now_ms: u64,
) -> Result<autonomic_core::SignalResult, autonomic_core::engine::IngestError> {
    e.handle_signal(now_ms, &raw(tenant, 80.0, now_ms)).unwrap();
    e.handle_signal(now_ms, &raw(tenant, 81.0, now_ms)).unwrap();
    e.handle_signal(now_ms, &raw(tenant, 82.0, now_ms))
}

#[test]
fn a_dispatch_that_supersedes_needs_queue_room_for_the_cancel_and_the_run() {
    // Proves the room a signal's dispatch checks while its tenant has an action in flight:
    // two commands (the superseded action's cancel and the new run). With room for one the
    // signal is Busy and changes nothing; once the adapter polls, it supersedes.
    let mut e = queued_runs_and_rollbacks(15);
    let pause = e.handle_action(1, "t15", Action::Pause).unwrap();
    drain_records(&mut e);
    let busy = Err(autonomic_core::engine::IngestError::Busy);
    assert_eq!(
        to_degrade(&mut e, "t15", 10),
        busy,
        "31 of 32 commands queued"
    );
    let t15 = e.tenant(10, "t15").unwrap();
    assert_eq!(t15.in_flight.map(|f| f.receipt), Some(pause));
    assert!(e.poll_action().is_some());
    let degrade = e.handle_signal(10, &raw("t15", 82.0, 10)).unwrap();
    let autonomic_core::SignalResult::Governed(step) = degrade else {
        panic!("governed: {degrade:?}")
    };
    assert!(step.action.is_some(), "{step:?}");
    assert!(
        events(&drain_records(&mut e)).contains(&Event::ActionCompleted {
            receipt: pause,
            outcome: autonomic_core::ActionOutcome::Superseded,
            undo: Default::default(),
        })
    );
}

#[test]
fn a_dispatch_needs_a_free_in_flight_entry_unless_it_frees_its_own() {
    // Proves the in-flight half of a signal's room: with every entry taken (2 of 2), a tenant
    // with nothing in flight cannot dispatch (Busy, nothing changes), while a tenant whose
    // action is in flight can, since superseding frees its entry.
    let caps = autonomic_core::storage::Capacities {
        in_flight: 2,
        ..common::SMALL
    };
    let mut e = common::engine_with(&caps, Default::default()).unwrap();
    for t in ["a", "b", "c"] {
        common::activate(&mut e, t);
    }
    e.handle_action(1, "a", Action::Pause).unwrap();
    e.handle_action(1, "b", Action::Pause).unwrap();
    drain_records(&mut e);
    let busy = Err(autonomic_core::engine::IngestError::Busy);
    assert_eq!(to_degrade(&mut e, "c", 10), busy);
    assert_eq!(e.in_flight().len(), 2);
    let superseding = to_degrade(&mut e, "a", 10).unwrap();
    assert!(
        matches!(superseding, autonomic_core::SignalResult::Governed(t) if t.action.is_some()),
        "{superseding:?}"
    );
    assert_eq!(e.in_flight().len(), 2);
}

#[test]
fn a_rollback_outcome_is_taken_only_for_a_rollback_requested() {
    // Proves handle_rollback_outcome finds the rollback by its receipt: with t0's rollback
    // pending and t1's action completed but never rolled back, an outcome for t1's receipt is
    // ReceiptNotFound and changes nothing; t0's is taken once.
    let mut e = queued_runs_and_rollbacks(1);
    while e.poll_action().is_some() {}
    let t0 = e.pending_rollbacks().next().expect("t0's rollback");
    let t1 = e.handle_action(1, "t1", Action::THROTTLE_50).unwrap();
    e.handle_outcome(2, "t1", Some(t1), true, &[]).unwrap();
    drain_records(&mut e);
    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_rollback_outcome(5, t1, true),
        Err(CommandError::ReceiptNotFound(t1))
    );
    assert_eq!(e.ledger().next_seq(), before);
    assert_eq!(e.handle_rollback_outcome(5, t0, true), Ok(()));
    assert_eq!(
        e.handle_rollback_outcome(5, t0, true),
        Err(CommandError::ReceiptNotFound(t0)),
        "taken once"
    );
}

#[test]
fn a_shadow_tenant_s_action_needs_no_queue_room() {
    // Proves a shadow tenant's ordered action is recorded, not queued: with the command queue
    // full (32 of 32), its escalation is governed and its Throttle is a shadow receipt.
    let mut e = queued_runs_and_rollbacks(16);
    e.handle_mode(1, "t0", autonomic_core::engine::Mode::Shadow)
        .unwrap();
    let degrade = to_degrade(&mut e, "t0", 10).unwrap();
    let autonomic_core::SignalResult::Governed(step) = degrade else {
        panic!("governed: {degrade:?}")
    };
    assert!(step.shadow && step.action.is_some(), "{step:?}");
}

#[test]
fn a_dispatch_that_supersedes_needs_ring_room_for_the_superseded_completion() {
    // Proves the receipts a superseding dispatch checks: its governor receipt, the superseded
    // action's completion and its own dispatch. With room for two, it is Busy.
    let mut e = queued_runs_and_rollbacks(0);
    e.handle_action(1, "t0", Action::Pause).unwrap();
    e.handle_signal(10, &raw("t0", 80.0, 10)).unwrap();
    e.handle_signal(10, &raw("t0", 81.0, 10)).unwrap();
    common::fill_ring_below(&mut e, "t1", 3);
    assert!(e.ledger().can_append(2));
    assert_eq!(
        e.handle_signal(10, &raw("t0", 82.0, 10)),
        Err(autonomic_core::engine::IngestError::Busy)
    );
    drain_records(&mut e);
    assert!(e.handle_signal(10, &raw("t0", 82.0, 10)).is_ok());
}

//! Room in the engine's bounded books, as a driver meets it: timeouts when the action queue
//! is nearly full (how many time out, what `poll_timeout` says, and that draining lets the
//! rest time out), and a manual action refused `Busy` because the in-flight table is full.
//! (The ledger-ring and action-queue halves of `Busy` are in `action_rules.rs`.)

use crate::common;

use autonomic_core::engine::{ActionCommand, CommandError};
use autonomic_core::limits::{ACTION_QUEUE_MAX, ACTION_TIMEOUT_MS_DEFAULT};
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, EngineConfig, GovernorState};
use common::{SMALL, SmallEngine, activate, drain_records};

/// When the manual actions of the timeout test are dispatched.
const DISPATCH_MS: u64 = 1_000;
/// Their deadline (the default timeout).
const DUE_MS: u64 = DISPATCH_MS + ACTION_TIMEOUT_MS_DEFAULT;

/// 16 tenants `t0`..`t15` active. `t0`..`t9` each have a manual Throttle in flight, due at
/// [`DUE_MS`]; `t10`..`t15` each ran one that succeeded and asked for its rollback. Records
/// drained, commands not: 10 runs + 6 × (run, rollback) = 22 queued.
fn ten_due_and_22_queued() -> SmallEngine {
    let mut e = common::engine();
    for i in 0..16 {
        activate(&mut e, &format!("t{i}"));
    }
    for i in 0..16 {
        let t = format!("t{i}");
        let receipt = e
            .handle_action(DISPATCH_MS, &t, Action::THROTTLE_50)
            .unwrap();
        if i >= 10 {
            e.handle_outcome(DISPATCH_MS, &t, Some(receipt), true, &[])
                .unwrap();
            e.handle_rollback(DISPATCH_MS, receipt).unwrap();
        }
    }
    drain_records(&mut e);
    e
}

/// Polls every queued command; returns how many Cancels and how many in all.
fn drain_commands(e: &mut SmallEngine) -> (usize, usize) {
    let (mut cancels, mut all) = (0, 0);
    while let Some(command) = e.poll_action() {
        all += 1;
        cancels += usize::from(matches!(command, ActionCommand::Cancel { .. }));
    }
    (cancels, all)
}

#[test]
fn timeouts_stop_while_the_queue_lacks_room_for_two_and_resume_after_a_drain() {
    // Proves handle_timeout's queue-room rule: each timeout needs room for two commands (its
    // cancel, and an action its failure may order). From 22 queued, 9 of the 10 due actions
    // time out (22 -> 31 queued); the tenth waits with nothing changed, and `poll_timeout`
    // still names its past deadline. After the driver polls the queue, it times out.
    let mut e = ten_due_and_22_queued();
    assert_eq!(e.in_flight().len(), 10);
    assert_eq!(e.poll_timeout(), Some(DUE_MS));
    assert_eq!(e.handle_timeout(DUE_MS - 1), 0, "nothing is due yet");

    let before = e.ledger().next_seq();
    assert_eq!(e.handle_timeout(DUE_MS), 9, "room for 9 of the 10");
    assert_eq!(
        e.ledger().next_seq(),
        before + 9,
        "one completion each (the governors stay Stable)"
    );
    assert_eq!(e.in_flight().len(), 1);
    let waiting = e.in_flight()[0].receipt;
    assert_eq!(
        e.poll_timeout(),
        Some(DUE_MS),
        "the waiting deadline stays in the past"
    );
    drain_records(&mut e);
    assert_eq!(e.handle_timeout(DUE_MS + 5), 0, "31 queued: still no room");
    assert!(e.poll_record().is_none(), "nothing appended while waiting");

    let (cancels, all) = drain_commands(&mut e);
    assert_eq!(
        (cancels, all),
        (9, ACTION_QUEUE_MAX - 1),
        "22 queued + 9 cancels"
    );
    assert_eq!(e.handle_timeout(DUE_MS + 5), 1, "after the drain, the rest");
    assert!(e.in_flight().is_empty());
    assert_eq!(e.poll_timeout(), None);
    match e.poll_action() {
        Some(ActionCommand::Cancel { receipt, tenant }) => {
            assert_eq!((receipt, tenant.as_str()), (waiting, "t9"));
        }
        other => panic!("expected the last cancel, got {other:?}"),
    }
    for i in 0..10 {
        let t = e.tenant(DUE_MS + 5, &format!("t{i}")).unwrap();
        assert!(t.in_flight.is_none() && t.enforced.is_none(), "t{i}");
        assert_eq!(t.state, GovernorState::Stable, "t{i}");
    }
}

/// Three active tenants in an engine whose in-flight table holds two actions.
fn two_in_flight_at_most() -> SmallEngine {
    let caps = Capacities {
        in_flight: 2,
        ..SMALL
    };
    let mut e = common::engine_with(&caps, EngineConfig::default()).unwrap();
    for t in ["a", "b", "c"] {
        activate(&mut e, t);
    }
    e
}

#[test]
fn a_manual_action_is_busy_while_the_in_flight_table_is_full_and_changes_nothing() {
    // Proves the in-flight half of handle_action's Busy: with both in-flight entries taken
    // (and room in the ring and the queue) a third tenant's action is refused `Busy`, not
    // `AlreadyExecuting`, with nothing appended or queued; once one completes it is accepted.
    let mut e = two_in_flight_at_most();
    let a = e.handle_action(10, "a", Action::Pause).unwrap();
    drain_records(&mut e);
    drain_commands(&mut e);
    e.handle_action(11, "b", Action::Pause)
        .expect("one of two taken: room for the second");
    drain_records(&mut e);
    drain_commands(&mut e);

    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_action(12, "c", Action::Pause),
        Err(CommandError::Busy)
    );
    assert_eq!(e.ledger().next_seq(), before, "nothing appended");
    assert!(e.poll_action().is_none(), "nothing queued");
    assert!(e.tenant(12, "c").unwrap().in_flight.is_none());
    assert_eq!(e.in_flight().len(), 2);
    assert_eq!(
        e.handle_action(12, "a", Action::Pause),
        Err(CommandError::AlreadyExecuting(a)),
        "a tenant with its own action in flight is told so first"
    );

    e.handle_outcome(13, "a", Some(a), true, &[]).unwrap();
    let c = e.handle_action(14, "c", Action::Pause).unwrap();
    assert_eq!(
        e.tenant(14, "c").unwrap().in_flight.map(|f| f.receipt),
        Some(c)
    );
}

#[test]
fn a_signal_whose_action_would_not_fit_the_full_action_queue_is_busy() {
    // Proves: with the action queue full of commands the driver has not taken, a signal whose
    // step dispatches an action is refused `Busy` and changes nothing; once the queue is
    // drained the same signal is governed and dispatches.
    let tenants = ACTION_QUEUE_MAX + 1;
    let caps = Capacities {
        tenants,
        tenant_id_bytes: 32 * tenants,
        in_flight: 64,
        receipts: 256,
        ..SMALL
    };
    let mut e = common::engine_with(&caps, EngineConfig::default()).unwrap();
    let ids: Vec<String> = (0..tenants).map(|i| format!("t{i}")).collect();
    for id in &ids {
        activate(&mut e, id);
    }
    for (i, id) in ids.iter().take(ACTION_QUEUE_MAX).enumerate() {
        let ts = 1_000 + i as u64;
        e.handle_signal(ts, &common::raw(id, 95.0, ts)).unwrap();
        drain_records(&mut e);
    }
    let last = &ids[ACTION_QUEUE_MAX];
    let ts = 2_000;
    let refused = e.handle_signal(ts, &common::raw(last, 95.0, ts));
    assert_eq!(refused, Err(autonomic_core::engine::IngestError::Busy));
    assert_eq!(e.tenant(ts, last).unwrap().state, GovernorState::Stable);
    let mut taken = 0;
    while e.poll_action().is_some() {
        taken += 1;
    }
    assert_eq!(taken, ACTION_QUEUE_MAX);
    let governed = e.handle_signal(ts, &common::raw(last, 95.0, ts)).unwrap();
    assert!(
        matches!(governed, autonomic_core::SignalResult::Governed(t) if t.to == GovernorState::Intervene)
    );
    assert!(matches!(e.poll_action(), Some(ActionCommand::Run { .. })));
}

//! The governor's timer table and its neighbours' bounds (`docs/governor.md#timing`): a full
//! table refuses a step that needs one more timer with `Busy`, keeps one spare for a refused
//! dispatch's warning when breakers are on, and a warning waits for room in a full in-flight
//! table.

use crate::common;
use crate::timing_support;

use autonomic_core::engine::{EngineConfig, IngestError};
use autonomic_core::entitlement::EntitlementError;
use autonomic_core::governor::GovernorTiming;
use autonomic_core::limits::ACTION_QUEUE_MAX;
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, EntitlementCommand, GovernorState};
use common::{activate, drain_records, engine_with, raw};
use timing_support::*;

#[test]
fn a_full_timer_table_refuses_a_step_that_needs_one_more_with_busy() {
    let mut e = timed_in(
        &ROOMY,
        GovernorTiming {
            refuse_max_ms: 60_000,
            ..GovernorTiming::OFF
        },
    );
    let ids = fill_timers(&mut e);
    assert_eq!(
        e.poll_timeout(),
        Some(T0 + 3000 + 60_000),
        "the Refuse timers"
    );
    let last = &ids[TIMERS];
    // Steps that start no timer go on: a tenant's way to Degrade, a signal in Refuse.
    for v in [80.0, 81.0, 82.0] {
        signal(&mut e, last, v, T0 + 10_000 + v as u64);
    }
    assert_eq!(
        signal(&mut e, &ids[1], 50.0, T0 + 10_100),
        GovernorState::Refuse
    );
    let seq = e.ledger().next_seq();
    let refused = e.handle_signal(T0 + 20_000, &raw(last, 96.0, T0 + 20_000));
    assert_eq!(refused, Err(IngestError::Busy));
    assert_eq!(e.ledger().next_seq(), seq, "nothing written");
    assert_eq!(state(&e, last), GovernorState::Degrade);
    // One tenant leaving Refuse frees an entry: the same signal is taken.
    e.handle_reset(T0 + 20_001, &ids[0]).unwrap();
    let taken = e.handle_signal(T0 + 20_002, &raw(last, 96.0, T0 + 20_002));
    assert!(taken.is_ok());
    assert_eq!(state(&e, last), GovernorState::Refuse);
}

#[test]
fn a_full_timer_table_refuses_a_step_whose_order_would_be_warned_with_busy() {
    // Proves a warned order needs a timer entry of its own (breakers off, so no spare is kept
    // for them): with every entry held by other tenants' warnings, the step into Refuse
    // (a Shed, warned under grace) is Busy and changes nothing; with one freed it is taken.
    let mut e = timed_in(&ROOMY, grace());
    let ids = fill_timers(&mut e);
    let last = &ids[TIMERS];
    for v in [80.0, 81.0, 82.0] {
        signal(&mut e, last, v, T0 + 10_000 + v as u64); // Degrade, Throttle(25) dispatched
    }
    drain_records(&mut e);
    runs(&mut e);
    let seq = e.ledger().next_seq();
    let refused = e.handle_signal(T0 + 10_100, &raw(last, 96.0, T0 + 10_100));
    assert_eq!(refused, Err(IngestError::Busy));
    assert_eq!(e.ledger().next_seq(), seq, "nothing written");
    assert_eq!(
        (state(&e, last), e.warning(last)),
        (GovernorState::Degrade, None)
    );
    e.handle_reset(T0 + 10_101, &ids[0]).unwrap(); // its warning is cancelled: one entry free
    assert!(
        e.handle_signal(T0 + 10_102, &raw(last, 96.0, T0 + 10_102))
            .is_ok()
    );
    assert!(e.warning(last).is_some());
}

/// [`common::SMALL`] with room for one action in flight.
const ONE_IN_FLIGHT: Capacities = Capacities {
    in_flight: 1,
    ..common::SMALL
};

#[test]
fn a_warning_waits_for_room_in_a_full_in_flight_table() {
    // Proves a due warning of a tenant with nothing in flight waits while the in-flight
    // table is full (poll_timeout does not offer it), and fires once a completion frees it.
    let mut e = timed_in(&ONE_IN_FLIGHT, grace());
    activate(&mut e, "u");
    signal(&mut e, "t", 95.0, T0); // Throttle in flight: the table is full
    e.handle_outcome(T0 + 1, "t", None, false, b"").unwrap(); // Degrade, Pause warned
    signal(&mut e, "u", 95.0, T0 + 2); // u's Throttle fills the table again
    let u_deadline = T0 + 2 + 30_000;
    assert_eq!(
        e.poll_timeout(),
        Some(u_deadline),
        "the warning is not offered"
    );
    e.handle_timeout(T0 + 6_000);
    assert!(e.warning("t").is_some());
    runs(&mut e);
    e.handle_outcome(T0 + 6_001, "u", None, true, b"").unwrap();
    assert_eq!(
        e.poll_timeout(),
        Some(T0 + 1 + 5_000),
        "due now that there is room"
    );
    e.handle_timeout(T0 + 6_002);
    assert_eq!(runs(&mut e), vec![Action::Pause]);
    assert_eq!(e.warning("t"), None);
}

#[test]
fn with_breakers_and_grace_a_dispatch_keeps_one_timer_free() {
    // Proves the spare timer a circuit-refused dispatch may need (its Pause is then warned):
    // with the table full, a step that dispatches is Busy while breakers and grace are both
    // on, and taken when breakers are off.
    let timing = GovernorTiming {
        grace_ms: 60_000,
        ..GovernorTiming::OFF
    };
    for breakers in [false, true] {
        let mut config = EngineConfig {
            timing,
            ..EngineConfig::default()
        };
        if breakers {
            config.breakers[0].failures = 1;
        }
        let mut e = engine_with(&ROOMY, config).unwrap();
        let ids = fill_timers(&mut e);
        let got = e.handle_signal(T0 + 4000, &raw(&ids[TIMERS], 95.0, T0 + 4000));
        assert_eq!(got.is_err(), breakers, "breakers {breakers}: {got:?}");
        // A manual action needs the spare too.
        let manual = e.handle_action(T0 + 4001, &ids[0], Action::Pause);
        assert_eq!(manual.is_err(), breakers, "breakers {breakers}: {manual:?}");
    }
}

#[test]
fn with_breakers_but_no_grace_a_dispatch_keeps_no_timer_free() {
    // Proves the spare is for a warning only: with breakers on and grace off (the timers are
    // Refuse timers here), a refused dispatch's Pause is dispatched, not warned, so a step
    // that dispatches is taken with the table full.
    let timing = GovernorTiming {
        refuse_max_ms: 60_000,
        ..GovernorTiming::OFF
    };
    let mut config = EngineConfig {
        timing,
        ..EngineConfig::default()
    };
    config.breakers[0].failures = 1;
    let mut e = engine_with(&ROOMY, config).unwrap();
    let ids = fill_timers(&mut e);
    let got = e.handle_signal(T0 + 4000, &raw(&ids[TIMERS], 95.0, T0 + 4000));
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(runs(&mut e), vec![Action::Throttle { percent: 50 }]);
    let manual = e.handle_action(T0 + 4001, &ids[0], Action::Pause);
    assert!(manual.is_ok(), "{manual:?}");
}

#[test]
fn one_free_timer_is_enough_for_a_warning_while_refuse_max_is_off() {
    // Proves entering Refuse needs a Refuse timer only while `refuse_max_ms` is on: with
    // grace alone and one entry free, the Shed's warning takes it.
    let mut e = timed_in(&ROOMY, grace());
    let ids = fill_timers(&mut e);
    e.handle_reset(T0 + 4000, &ids[0]).unwrap();
    assert_eq!(e.timers_len().0, TIMERS - 1);
    into_refuse(&mut e, &ids[TIMERS], T0 + 10_000);
    assert!(e.warning(&ids[TIMERS]).is_some());
}

#[test]
fn a_warning_supersedes_its_own_tenants_action_in_a_full_in_flight_table() {
    // Proves the deadline's dispatch needs no free in-flight entry when the tenant's own
    // action is in flight: it supersedes it.
    let mut e = timed_in(&ONE_IN_FLIGHT, grace());
    signal(&mut e, "t", 95.0, T0);
    e.handle_outcome(T0 + 1, "t", None, false, b"").unwrap(); // Degrade, Pause warned
    e.handle_action(T0 + 2, "t", Action::Throttle { percent: 10 })
        .unwrap(); // the table is full, with t's own action
    runs(&mut e);
    e.handle_timeout(T0 + 1 + 5_000);
    assert_eq!(runs(&mut e), vec![Action::Pause]);
    assert_eq!(e.warning("t"), None);
}

#[test]
fn a_revoked_tenant_holding_a_timer_keeps_its_slot_until_the_timer_ends() {
    // Proves a full tenant table does not reuse the slot of a Terminated tenant whose warning
    // is pending (it would fire for the newcomer); once it ends (cancelled at the deadline:
    // the tenant is not Active), the slot is reused.
    let caps = Capacities {
        tenant_id_bytes: 2 * 16,
        ..Capacities::with_tenants(2)
    };
    let mut e = timed_in(&caps, grace());
    activate(&mut e, "u");
    into_refuse(&mut e, "t", T0);
    e.handle_outcome(T0 + 3500, "t", None, false, b"").unwrap(); // the Throttle ends
    e.handle_entitlement(T0 + 4000, "t", EntitlementCommand::Revoke)
        .unwrap();
    let full = e.handle_entitlement(T0 + 4001, "v", EntitlementCommand::Provision { sku: "pro" });
    assert_eq!(full, Err(EntitlementError::TenantTableFull));
    e.handle_timeout(T0 + 3000 + 5_000);
    assert_eq!(e.warning("t"), None);
    let reused = e.handle_entitlement(T0 + 8001, "v", EntitlementCommand::Provision { sku: "pro" });
    assert!(reused.is_ok(), "{reused:?}");
}

#[test]
fn a_warning_counts_its_receipt_when_the_ring_is_nearly_full() {
    // Proves a warned step's room check counts the warning: with one receipt of room left
    // (63 of 64 not yet polled), the step into Refuse (governor receipt and warning) is Busy
    // and changes nothing.
    let mut e = timed(grace());
    for v in [80.0, 81.0, 82.0] {
        signal(&mut e, "t", v, T0 + v as u64); // Warn, Warn, Degrade with Throttle(25)
    }
    for i in 0..29 {
        e.handle_entitlement(T0 + 100 + i, "t", EntitlementCommand::Pause)
            .unwrap();
        e.handle_entitlement(T0 + 100 + i, "t", EntitlementCommand::Resume)
            .unwrap();
    }
    e.handle_outcome(T0 + 200, "t", None, true, b"").unwrap();
    assert_eq!(
        e.ledger().next_seq(),
        1 + 63,
        "63 receipts wait to be polled"
    );
    let busy = e.handle_signal(T0 + 300, &raw("t", 96.0, T0 + 300));
    assert_eq!(busy, Err(IngestError::Busy));
    assert_eq!(e.warning("t"), None);
    drain_records(&mut e);
    assert!(e.handle_signal(T0 + 301, &raw("t", 96.0, T0 + 301)).is_ok());
    assert!(e.warning("t").is_some());
}

#[test]
fn a_warning_waits_at_its_deadline_until_the_ring_has_room_for_what_a_circuit_may_add() {
    // Proves a due warning is not dispatched while the ring lacks room for the dispatch, the
    // superseded action's completion and the receipts a circuit breaker may add (breakers
    // on): with 3 receipts free it waits (warning kept, nothing run); after a drain it runs.
    let mut config = EngineConfig {
        timing: grace(),
        ..EngineConfig::default()
    };
    config.breakers[2].failures = 5; // Shed's breaker on: 4 more receipts per input
    let mut e = engine_with(&common::SMALL, config).unwrap();
    activate(&mut e, "t");
    into_refuse(&mut e, "t", T0); // the Throttle(25) is in flight, the Shed warned
    let deadline_ms = e.warning("t").unwrap().deadline_ms;
    drain_records(&mut e);
    runs(&mut e);
    let free = 3;
    let pairs = (64 - free) / 2;
    for i in 0..pairs {
        let at = T0 + 5_000 + i as u64;
        e.handle_entitlement(at, "t", EntitlementCommand::Pause)
            .unwrap();
        e.handle_entitlement(at, "t", EntitlementCommand::Resume)
            .unwrap();
    }
    e.handle_timeout(deadline_ms);
    assert!(e.warning("t").is_some(), "dispatched without room");
    assert_eq!(runs(&mut e), vec![]);
    drain_records(&mut e);
    e.handle_timeout(deadline_ms + 1);
    assert_eq!(e.warning("t"), None);
    assert_eq!(runs(&mut e), vec![Action::Shed { percent: 50 }]);
}

#[test]
fn a_warning_s_deadline_for_a_tenant_now_in_shadow_mode_records_a_shadow_action() {
    // Proves the shadow branch at a deadline: the warned Shed of a tenant put in shadow mode
    // since is a ShadowAction receipt; nothing runs, and the warning is over.
    let (mut e, _) = warned();
    let deadline = e.warning("t").unwrap().deadline_ms;
    e.handle_mode(deadline - 1, "t", autonomic_core::engine::Mode::Shadow)
        .unwrap();
    drain_records(&mut e);
    e.handle_timeout(deadline);
    assert!(runs(&mut e).is_empty(), "nothing runs");
    let shed = Action::Shed { percent: 50 };
    let evs = common::events(&drain_records(&mut e));
    assert!(
        evs.contains(&autonomic_core::Event::ShadowAction { action: shed }),
        "{evs:?}"
    );
    assert_eq!(e.warning("t"), None);
}

#[test]
fn a_warning_s_deadline_waits_for_ring_room_for_the_supersede_and_the_dispatch() {
    // Proves the receipts a deadline's dispatch needs while the tenant's Throttle is in flight:
    // the superseded completion and the dispatch. With room for one, nothing is appended and
    // the warning waits; after a drain it fires.
    let (mut e, receipt) = warned();
    let deadline = e.warning("t").unwrap().deadline_ms;
    activate(&mut e, "u");
    common::fill_ring_below(&mut e, "u", 2);
    assert!(e.ledger().can_append(1));
    let seq = e.ledger().next_seq();
    e.handle_timeout(deadline);
    assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
    assert_eq!(e.warning("t").map(|w| w.receipt), Some(receipt));
    drain_records(&mut e);
    e.handle_timeout(deadline);
    assert_eq!(runs(&mut e), vec![Action::Shed { percent: 50 }]);
    assert_eq!(e.warning("t"), None);
}

/// Queues `n` commands without polling them: a manual Throttle for each of `u0`.., then,
/// from the second half on, its success and a rollback (a second command). Records drained.
fn queue_commands(e: &mut autonomic_core::engine::Engine<'_>, n: usize, at: u64) {
    let mut queued = 0;
    for i in 0.. {
        if queued == n {
            break;
        }
        let u = format!("u{i}");
        activate(e, &u);
        let receipt = e.handle_action(at, &u, Action::THROTTLE_50).unwrap();
        queued += 1;
        if queued < n {
            e.handle_outcome(at, &u, Some(receipt), true, b"").unwrap();
            e.handle_rollback(at, receipt).unwrap();
            queued += 1;
        }
        drain_records(e);
    }
}

#[test]
fn a_warning_s_deadline_waits_for_room_in_the_action_queue() {
    // Proves the commands a deadline's dispatch needs: with the tenant's Throttle in flight,
    // its Cancel and the Shed's Run (2); with nothing in flight, the Run (1). With exactly
    // that many free it fires; with one fewer the warning waits, nothing is appended, and it
    // fires once the driver has polled the queue.
    let caps = Capacities {
        tenant_id_bytes: 32 * 16,
        ..Capacities::with_tenants(32)
    };
    for throttle_in_flight in [true, false] {
        for short in [false, true] {
            let what = format!("in flight {throttle_in_flight}, one short {short}");
            let mut e = timed_in(&caps, grace());
            into_refuse(&mut e, "t", T0); // the Throttle(25) in flight, the Shed warned
            let (receipt, deadline) = e.warning("t").map(|w| (w.receipt, w.deadline_ms)).unwrap();
            drain_records(&mut e);
            runs(&mut e);
            if !throttle_in_flight {
                e.handle_outcome(T0 + 3_500, "t", None, true, b"").unwrap();
            }
            let needed = 1 + usize::from(throttle_in_flight);
            queue_commands(
                &mut e,
                ACTION_QUEUE_MAX - needed + usize::from(short),
                T0 + 4_000,
            );
            let seq = e.ledger().next_seq();
            e.handle_timeout(deadline);
            if short {
                assert_eq!(e.ledger().next_seq(), seq, "{what}: nothing appended");
                assert_eq!(e.warning("t").map(|w| w.receipt), Some(receipt), "{what}");
                runs(&mut e);
                e.handle_timeout(deadline);
            }
            let shed = Action::Shed { percent: 50 };
            assert_eq!(runs(&mut e).last(), Some(&shed), "{what}");
            assert_eq!(e.warning("t"), None, "{what}");
        }
    }
}

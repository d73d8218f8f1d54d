//! The governor's timing (`docs/governor.md#timing`): dwell, cool-down, bounded Refuse, grace
//! before Pause and Shed, the timer table's bound, and restore of the timers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use autonomic_core::engine::{
    ActionCommand, Engine, EngineConfig, EngineConfigError, IngestError, SignalResult,
};
use autonomic_core::governor::{GovernorTiming, Order};
use autonomic_core::limits::TIMERS_MAX;
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, Cause, EntitlementCommand, Event, GovernorState};
use common::{activate, drain_records, engine_with, events, raw};

fn timed(timing: GovernorTiming) -> Engine<'static> {
    timed_in(&common::SMALL, timing)
}

fn timed_in(caps: &Capacities, timing: GovernorTiming) -> Engine<'static> {
    let config = EngineConfig {
        timing,
        ..EngineConfig::default()
    };
    let mut e = engine_with(caps, config).unwrap();
    activate(&mut e, "t");
    drain_records(&mut e);
    e
}

/// Sends `value` for `tenant` at `now` (stamped `now`); the transition's end state.
fn signal(e: &mut Engine<'_>, tenant: &str, value: f64, now: u64) -> GovernorState {
    match e.handle_signal(now, &raw(tenant, value, now)).unwrap() {
        SignalResult::Governed(t) => t.to,
        SignalResult::Duplicate => panic!("duplicate"),
    }
}

fn state(e: &Engine<'_>, tenant: &str) -> GovernorState {
    e.tenant(0, tenant).unwrap().state
}

/// Warn, c 2, then Degrade (Throttle 25), then Refuse (Shed 50), one second apart from `t0`.
fn into_refuse(e: &mut Engine<'_>, tenant: &str, t0: u64) {
    for (i, v) in [80.0, 81.0, 82.0, 96.0].into_iter().enumerate() {
        signal(e, tenant, v, t0 + 1000 * i as u64);
    }
    assert_eq!(state(e, tenant), GovernorState::Refuse);
}

/// The actions of the run commands handed out since the last call.
fn runs(e: &mut Engine<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(command) = e.poll_action() {
        if let ActionCommand::Run { action, .. } = command {
            out.push(action);
        }
    }
    out
}

/// A grace engine with "t" in Refuse, its Shed warned: the warning's receipt id (records
/// and commands drained).
fn warned() -> (Engine<'static>, u64) {
    let mut e = timed(grace());
    into_refuse(&mut e, "t", T0);
    let receipt = e.warning("t").unwrap().receipt;
    drain_records(&mut e);
    runs(&mut e);
    (e, receipt)
}

const T0: u64 = 1_000_000;

#[test]
fn min_dwell_holds_a_de_escalation_until_it_has_passed() {
    let mut e = timed(GovernorTiming {
        min_dwell_ms: 10_000,
        ..GovernorTiming::OFF
    });
    assert_eq!(signal(&mut e, "t", 95.0, T0), GovernorState::Intervene);
    drain_records(&mut e);
    // 9 999 ms in Intervene: a low reading leaves the state as is and writes nothing.
    assert_eq!(
        signal(&mut e, "t", 10.0, T0 + 9_999),
        GovernorState::Intervene
    );
    assert!(drain_records(&mut e).is_empty());
    // An action success would de-escalate too: held as well (its completion is recorded).
    let done = e.handle_outcome(T0 + 9_999, "t", None, true, b"").unwrap();
    assert_eq!(done.to, GovernorState::Intervene);
    // At 10 000 ms it steps down.
    assert_eq!(signal(&mut e, "t", 11.0, T0 + 10_000), GovernorState::Warn);
    // A reset is never held.
    signal(&mut e, "t", 95.0, T0 + 10_001);
    let reset = e.handle_reset(T0 + 10_002, "t").unwrap();
    assert_eq!(reset.to, GovernorState::Stable);
}

#[test]
fn cooldown_holds_a_second_order_and_the_state_with_it() {
    let mut e = timed(GovernorTiming {
        cooldown_ms: 30_000,
        ..GovernorTiming::OFF
    });
    signal(&mut e, "t", 95.0, T0); // Throttle(50)
    assert_eq!(runs(&mut e).len(), 1);
    assert_eq!(signal(&mut e, "t", 10.0, T0 + 1000), GovernorState::Warn);
    drain_records(&mut e);
    // Within the cool-down the re-escalation is not taken: no receipt, no action, still Warn.
    assert_eq!(signal(&mut e, "t", 95.0, T0 + 29_999), GovernorState::Warn);
    assert!(drain_records(&mut e).is_empty());
    assert!(runs(&mut e).is_empty());
    // After it, the next reading that calls for it takes it.
    assert_eq!(
        signal(&mut e, "t", 95.0, T0 + 30_000),
        GovernorState::Intervene
    );
    assert_eq!(runs(&mut e), vec![Action::Throttle { percent: 50 }]);
}

#[test]
fn refuse_steps_down_to_degrade_after_refuse_max_ms() {
    let mut e = timed(GovernorTiming {
        refuse_max_ms: 60_000,
        ..GovernorTiming::OFF
    });
    into_refuse(&mut e, "t", T0);
    let entered = e.tenant(0, "t").unwrap().entered_at_ms;
    drain_records(&mut e);
    runs(&mut e);
    assert!(e.poll_timeout().unwrap() <= entered + 60_000);
    e.handle_outcome(T0 + 4000, "t", None, true, b"").unwrap(); // the Shed ran
    assert_eq!(e.poll_timeout(), Some(entered + 60_000));
    e.handle_timeout(entered + 59_999);
    assert_eq!(state(&e, "t"), GovernorState::Refuse);
    e.handle_timeout(entered + 60_000);
    assert_eq!(state(&e, "t"), GovernorState::Degrade);
    let last = events(&drain_records(&mut e)).pop().unwrap();
    assert_eq!(
        last,
        Event::Governor {
            cause: Cause::RefuseExpired,
            from: GovernorState::Refuse,
            to: GovernorState::Degrade,
            consecutive_high: 0,
        }
    );
    assert_eq!(e.poll_timeout(), None);
    assert_eq!(e.timers_len().0, 0);
}

fn grace() -> GovernorTiming {
    GovernorTiming {
        grace_ms: 5_000,
        ..GovernorTiming::OFF
    }
}

#[test]
fn grace_warns_then_dispatches_the_shed_at_the_deadline() {
    let mut e = timed(grace());
    into_refuse(&mut e, "t", T0);
    let now = T0 + 3000;
    let evs = events(&drain_records(&mut e));
    let shed = Action::Shed { percent: 50 };
    let warning = Event::Warning {
        action: shed.clone(),
        deadline_ms: now + 5_000,
    };
    assert_eq!(evs.last(), Some(&warning));
    assert_eq!(runs(&mut e), vec![Action::Throttle { percent: 25 }]);
    let pending = e.warning("t").unwrap();
    assert_eq!(
        (pending.order, pending.deadline_ms),
        (Order::Shed(50), now + 5_000)
    );
    e.handle_timeout(now + 4_999);
    assert!(runs(&mut e).is_empty());
    e.handle_timeout(now + 5_000);
    assert_eq!(runs(&mut e), vec![shed.clone()]);
    let evs = events(&drain_records(&mut e));
    assert!(evs.iter().any(|ev| matches!(ev,
        Event::ActionDispatched { action, manual: false, .. } if *action == shed)));
    assert_eq!(e.warning("t"), None);
    assert_eq!(state(&e, "t"), GovernorState::Refuse);
}

#[test]
fn a_signal_below_recover_cancels_the_warning() {
    let (mut e, receipt) = warned();
    // 70 is not below recover: the warning stays; 69 is.
    signal(&mut e, "t", 70.0, T0 + 4000);
    assert!(e.warning("t").is_some());
    assert_eq!(signal(&mut e, "t", 69.0, T0 + 4001), GovernorState::Refuse);
    assert_eq!(
        events(&drain_records(&mut e)),
        vec![Event::WarningCancelled { receipt }]
    );
    assert_eq!(
        e.poll_timeout(),
        Some(T0 + 2000 + 30_000),
        "only the throttle's deadline"
    );
    e.handle_timeout(T0 + 100_000);
    assert!(runs(&mut e).is_empty(), "the Shed never runs");
}

#[test]
fn a_reset_a_refuse_expiry_and_a_pause_of_the_tenant_cancel_the_warning() {
    // Reset: the state changes, so the warning goes.
    let (mut e, receipt) = warned();
    e.handle_reset(T0 + 4000, "t").unwrap();
    let evs = events(&drain_records(&mut e));
    assert_eq!(evs[1], Event::WarningCancelled { receipt });
    assert_eq!(e.timers_len().0, 0);
    // Refuse expiring first (refuse_max_ms < grace_ms): it cancels the Shed's warning.
    let mut e = timed(GovernorTiming {
        refuse_max_ms: 1_000,
        grace_ms: 5_000,
        ..GovernorTiming::OFF
    });
    into_refuse(&mut e, "t", T0);
    drain_records(&mut e);
    e.handle_timeout(T0 + 3000 + 5_000);
    let evs = events(&drain_records(&mut e));
    assert!(matches!(
        evs[0],
        Event::Governor {
            cause: Cause::RefuseExpired,
            ..
        }
    ));
    assert!(matches!(evs[1], Event::WarningCancelled { .. }));
    assert_eq!(evs.len(), 2);
    // A tenant paused before the deadline: cancelled at the deadline, not dispatched.
    let mut e = timed(grace());
    into_refuse(&mut e, "t", T0);
    e.handle_entitlement(T0 + 4000, "t", EntitlementCommand::Pause)
        .unwrap();
    drain_records(&mut e);
    runs(&mut e);
    e.handle_timeout(T0 + 8000);
    assert!(matches!(
        events(&drain_records(&mut e))[..],
        [Event::WarningCancelled { .. }]
    ));
    assert!(runs(&mut e).is_empty());
}

#[test]
fn a_full_timer_table_refuses_a_step_that_needs_one_more_with_busy() {
    let caps = Capacities {
        tenant_id_bytes: 256 * 16,
        receipts: 1024,
        ..Capacities::with_tenants(256)
    };
    let mut e = timed_in(
        &caps,
        GovernorTiming {
            refuse_max_ms: 60_000,
            ..GovernorTiming::OFF
        },
    );
    let ids: Vec<String> = (0..=TIMERS_MAX).map(|i| format!("t{i}")).collect();
    for id in &ids {
        activate(&mut e, id);
    }
    for id in &ids[..TIMERS_MAX] {
        into_refuse(&mut e, id, T0);
        e.handle_outcome(T0 + 3000, id, None, true, b"").unwrap();
        drain_records(&mut e);
        runs(&mut e);
    }
    assert_eq!(e.timers_len(), (TIMERS_MAX, TIMERS_MAX));
    let last = &ids[TIMERS_MAX];
    for v in [80.0, 81.0, 82.0] {
        signal(&mut e, last, v, T0 + 10_000 + v as u64);
    }
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
fn restore_rebuilds_refuse_timers_and_pending_warnings() {
    let timing = GovernorTiming {
        min_dwell_ms: 2_000,
        cooldown_ms: 500,
        refuse_max_ms: 60_000,
        grace_ms: 5_000,
    };
    let mut e = timed(timing);
    let mut records = Vec::new();
    activate(&mut e, "u");
    into_refuse(&mut e, "t", T0);
    signal(&mut e, "u", 95.0, T0);
    e.handle_outcome(T0 + 600, "u", None, false, b"").unwrap(); // Degrade, a Pause warned
    records.extend(drain_records(&mut e));
    let rebuilt = |records: &[Vec<u8>]| {
        let config = EngineConfig {
            timing,
            ..EngineConfig::default()
        };
        let mut r = engine_with(&common::SMALL, config).unwrap();
        activate(&mut r, "t");
        drain_records(&mut r);
        for rec in records {
            r.restore(rec).unwrap();
        }
        r
    };
    // Rebuild from everything after the activation of "t" (the helper activated it).
    let mut restored = rebuilt(&records);
    let view = |e: &Engine<'_>| {
        let tenants: Vec<_> = ["t", "u"]
            .iter()
            .map(|t| (e.tenant(0, t).unwrap(), e.warning(t)))
            .map(|(v, w)| (v.state, v.entered_at_ms, w))
            .collect();
        (tenants, e.poll_timeout(), e.timers_len())
    };
    assert_eq!(view(&restored), view(&e));
    assert!(e.warning("u").is_some() && e.warning("t").is_some());
    // Both go on alike: the warnings fire, then Refuse expires.
    for engine in [&mut e, &mut restored] {
        engine.handle_timeout(T0 + 10_000);
        engine.handle_timeout(T0 + 3000 + 60_000);
    }
    assert_eq!(view(&restored), view(&e));
    assert_eq!(restored.ledger().head_hash(), e.ledger().head_hash());
    assert_eq!(state(&e, "t"), GovernorState::Degrade);
}

#[test]
fn a_timing_above_one_day_is_refused() {
    let config = EngineConfig {
        timing: GovernorTiming {
            grace_ms: 86_400_001,
            ..GovernorTiming::OFF
        },
        ..EngineConfig::default()
    };
    let err = engine_with(&common::SMALL, config).unwrap_err();
    assert_eq!(
        err,
        EngineConfigError::Timing {
            key: "grace_ms",
            value_ms: 86_400_001
        }
        .into()
    );
}

#[test]
fn a_second_escalation_replaces_the_warning_and_a_manual_action_leaves_it_alone() {
    let mut e = timed(grace());
    signal(&mut e, "t", 95.0, T0); // Intervene, Throttle(50)
    e.handle_outcome(T0 + 100, "t", None, false, b"").unwrap(); // Degrade, Pause warned
    let pause = e.warning("t").unwrap();
    assert_eq!(pause.order, Order::Pause);
    drain_records(&mut e);
    // Degrade -> Refuse: the Pause's warning is cancelled, the Shed warned afresh.
    signal(&mut e, "t", 96.0, T0 + 200);
    let evs = events(&drain_records(&mut e));
    assert!(matches!(
        evs[0],
        Event::Governor {
            to: GovernorState::Refuse,
            ..
        }
    ));
    assert_eq!(
        evs[1],
        Event::WarningCancelled {
            receipt: pause.receipt
        }
    );
    let shed = Action::Shed { percent: 50 };
    assert_eq!(
        evs[2],
        Event::Warning {
            action: shed.clone(),
            deadline_ms: T0 + 200 + 5_000
        }
    );
    // A manual action runs and leaves the warning pending; the deadline's Shed supersedes it.
    runs(&mut e);
    let manual = e.handle_action(T0 + 300, "t", Action::Pause).unwrap();
    assert!(e.warning("t").is_some());
    e.handle_timeout(T0 + 5_200);
    let evs = events(&drain_records(&mut e));
    assert!(evs.iter().any(|ev| matches!(ev,
        Event::ActionCompleted { receipt, outcome: autonomic_core::ActionOutcome::Superseded, .. }
            if *receipt == manual)));
    assert_eq!(runs(&mut e), vec![Action::Pause, shed]);
    assert_eq!(e.warning("t"), None);
}

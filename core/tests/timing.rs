//! The governor's timing (`docs/governor.md#timing`): dwell, cool-down, bounded Refuse, grace
//! before Pause and Shed, and restore of the timers (the table's bounds: `timing_room.rs`).

use crate::common;
use crate::timing_support;

use autonomic_core::engine::{Engine, EngineConfig, EngineConfigError, RestoreError};
use autonomic_core::governor::{GovernorTiming, Order};
use autonomic_core::{Action, Cause, EntitlementCommand, Event, GovernorState};
use common::{activate, drain_records, engine_with, events};
use timing_support::*;

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
    // Proves the bound: one day is accepted for each key, a millisecond more refused.
    let day = 86_400_000;
    let every = GovernorTiming {
        min_dwell_ms: day,
        cooldown_ms: day,
        refuse_max_ms: day,
        grace_ms: day,
    };
    let config = EngineConfig {
        timing: every,
        ..EngineConfig::default()
    };
    assert!(engine_with(&common::SMALL, config).is_ok());
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

#[test]
fn restore_refuses_warning_receipts_that_do_not_follow() {
    // Proves restore's check of the warning receipts: a cancellation must name the pending
    // warning, a tenant has one warning at most, and only a Pause or a Shed is warned.
    let config = EngineConfig {
        timing: grace(),
        ..EngineConfig::default()
    };
    let mut live = engine_with(&common::SMALL, config).unwrap();
    activate(&mut live, "t");
    into_refuse(&mut live, "t", T0);
    let pending = live.warning("t").unwrap().receipt;
    let records = drain_records(&mut live);
    let last = records.last().unwrap().clone();
    let restored = |extra: Option<&[u8]>| {
        let mut e = engine_with(&common::SMALL, config).unwrap();
        for r in &records {
            e.restore(r).unwrap();
        }
        let result = extra.map(|r| e.restore(r));
        (e, result)
    };
    let next = records.len() as u64;
    let pause = Event::Warning {
        action: Action::Pause,
        deadline_ms: T0 + 9_000,
    };
    for bad in [
        Event::WarningCancelled {
            receipt: pending + 100,
        },
        pause.clone(),
    ] {
        let record = next_record(&last, bad.clone());
        let (_, result) = restored(Some(&record));
        assert_eq!(
            result,
            Some(Err(RestoreError::Inconsistent(next))),
            "{bad:?}"
        );
    }
    let cancelled = next_record(&last, Event::WarningCancelled { receipt: pending });
    let (mut e, result) = restored(Some(&cancelled));
    assert_eq!(result, Some(Ok(())));
    assert_eq!(e.warning("t"), None);
    let throttle = Event::Warning {
        action: Action::Throttle { percent: 5 },
        deadline_ms: 1,
    };
    let refused = e.restore(&next_record(&cancelled, throttle));
    assert_eq!(refused, Err(RestoreError::Inconsistent(next + 1)));
    assert_eq!(e.restore(&next_record(&cancelled, pause)), Ok(()));
    assert_eq!(e.warning("t").map(|w| w.order), Some(Order::Pause));
}

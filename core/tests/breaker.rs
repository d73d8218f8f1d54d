//! Circuit breakers per action kind (`docs/actions.md#circuit-breakers`) through the engine:
//! opening after consecutive failures, refusing at once while open, the half-open trial, the
//! governor's reaction to a refusal, and restore rebuilding every circuit.

use crate::common;

use autonomic_core::breaker::{BreakerConfig, CircuitState};
use autonomic_core::engine::{Engine, EngineConfig, EngineConfigError, IngestError};
use autonomic_core::limits::{
    BREAKER_COOLDOWN_MS_MAX, BREAKER_FAILURES_MAX, BREAKER_RECEIPTS_PER_INPUT_MAX,
};
use autonomic_core::storage::Capacities;
use autonomic_core::{
    Action, ActionCommand, ActionKind, ActionOutcome, EntitlementCommand, Event,
    GovernorState as S, SignalResult,
};
use common::{SMALL, activate, drain_records, engine_with, events, fill_ring_below, raw};

const COOLDOWN_MS: u64 = 1_000;

/// Pause's breaker opens after 3 failures; throttle's after 2; the others are disabled.
fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.breakers[ActionKind::Pause.index()] = BreakerConfig {
        failures: 3,
        cooldown_ms: COOLDOWN_MS,
    };
    config.breakers[ActionKind::Throttle.index()] = BreakerConfig {
        failures: 2,
        cooldown_ms: COOLDOWN_MS,
    };
    config
}

fn engine() -> Engine<'static> {
    let mut e = engine_with(&SMALL, config()).unwrap();
    activate(&mut e, "t");
    e
}

fn runs(e: &mut Engine<'_>) -> Vec<u64> {
    std::iter::from_fn(|| e.poll_action())
        .filter_map(|c| match c {
            ActionCommand::Run { receipt, .. } => Some(receipt),
            _ => None,
        })
        .collect()
}

/// A manual Pause that fails; returns its receipt.
fn failed_pause(e: &mut Engine<'_>, now_ms: u64) -> u64 {
    let receipt = e.handle_action(now_ms, "t", Action::Pause).unwrap();
    e.handle_outcome(now_ms, "t", Some(receipt), false, b"")
        .unwrap();
    receipt
}

/// Three failed Pauses at 1, 2 and 3 ms: Pause's circuit opens at 3.
fn open_pause(e: &mut Engine<'_>) {
    for now in 1..=3 {
        failed_pause(e, now);
    }
}

/// [`open_pause`], then two failed Throttles at 4 and 5 ms: both circuits open.
fn open_pause_and_throttle(e: &mut Engine<'_>) {
    open_pause(e);
    for now in 4..=5 {
        let r = e
            .handle_action(now, "t", Action::throttle(10).unwrap())
            .unwrap();
        e.handle_outcome(now, "t", Some(r), false, b"").unwrap();
    }
}

fn circuit(kind: ActionKind, to: CircuitState) -> Event {
    Event::Circuit { kind, to }
}

#[test]
fn consecutive_failures_open_the_circuit_and_refusals_make_no_run() {
    // Proves: the 3rd consecutive failure records `open`; then a Pause completes at once as
    // CircuitOpen with no run command, and the other kinds are unaffected.
    let mut e = engine();
    drain_records(&mut e);
    failed_pause(&mut e, 1);
    failed_pause(&mut e, 2);
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Closed);
    failed_pause(&mut e, 3);
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Open);
    let ev = events(&drain_records(&mut e));
    assert_eq!(
        ev.last(),
        Some(&circuit(ActionKind::Pause, CircuitState::Open))
    );
    runs(&mut e);

    let refused = e.handle_action(4, "t", Action::Pause).unwrap();
    assert!(runs(&mut e).is_empty(), "no run while open");
    assert!(e.in_flight().is_empty());
    assert_eq!(
        events(&drain_records(&mut e)).last(),
        Some(&Event::ActionCompleted {
            receipt: refused,
            outcome: ActionOutcome::CircuitOpen,
            undo: Default::default(),
        })
    );
    let shed = e.handle_action(5, "t", Action::shed(10).unwrap()).unwrap();
    assert_eq!(runs(&mut e), vec![shed], "shed's circuit is its own");
    assert_eq!(
        e.stats()
            .actions_completed(ActionKind::Pause, ActionOutcome::CircuitOpen),
        1
    );
    assert_eq!(
        e.stats()
            .circuit_transitions(ActionKind::Pause, CircuitState::Open),
        1
    );
    for (kind, to) in [
        (ActionKind::Pause, CircuitState::Closed),
        (ActionKind::Pause, CircuitState::HalfOpen),
        (ActionKind::Throttle, CircuitState::Open),
    ] {
        assert_eq!(
            e.stats().circuit_transitions(kind, to),
            0,
            "{kind:?} {to:?}"
        );
    }
}

#[test]
fn a_success_resets_the_count_and_refusals_do_not_count() {
    // Proves: failures must be consecutive; Superseded and CircuitOpen never count.
    let mut e = engine();
    failed_pause(&mut e, 1);
    failed_pause(&mut e, 2);
    let ok = e.handle_action(3, "t", Action::Pause).unwrap();
    e.handle_outcome(3, "t", Some(ok), true, b"").unwrap();
    failed_pause(&mut e, 4);
    failed_pause(&mut e, 5);
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Closed);
    failed_pause(&mut e, 6);
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Open);
}

#[test]
fn after_the_cooldown_one_trial_runs_and_its_success_closes() {
    let mut e = engine();
    open_pause(&mut e);
    drain_records(&mut e);
    runs(&mut e);
    // Still cooling down one ms before the end.
    e.handle_action(3 + COOLDOWN_MS - 1, "t", Action::Pause)
        .unwrap();
    assert!(runs(&mut e).is_empty());
    drain_records(&mut e);

    let trial = e
        .handle_action(3 + COOLDOWN_MS, "t", Action::Pause)
        .unwrap();
    assert_eq!(runs(&mut e), vec![trial], "the trial is a real call");
    let ev = events(&drain_records(&mut e));
    assert_eq!(ev[0], circuit(ActionKind::Pause, CircuitState::HalfOpen));
    assert!(matches!(ev[1], Event::ActionDispatched { .. }));
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::HalfOpen);

    // Another tenant's Pause while the trial is in flight is refused.
    activate(&mut e, "u");
    e.handle_action(3 + COOLDOWN_MS, "u", Action::Pause)
        .unwrap();
    assert!(runs(&mut e).is_empty());

    e.handle_outcome(3 + COOLDOWN_MS + 5, "t", Some(trial), true, b"")
        .unwrap();
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Closed);
    let ev = events(&drain_records(&mut e));
    assert_eq!(
        ev.last(),
        Some(&circuit(ActionKind::Pause, CircuitState::Closed))
    );
    let next = e
        .handle_action(3 + COOLDOWN_MS + 6, "u", Action::Pause)
        .unwrap();
    assert_eq!(runs(&mut e), vec![next]);
}

#[test]
fn a_trial_superseded_without_a_verdict_leaves_room_for_a_new_trial() {
    // Proves a half-open circuit whose trial ended without a verdict (superseded by the
    // governor's next action) does not refuse for ever: the next Pause is a new trial, a real
    // run, while a Pause during a trial in flight is refused.
    let mut e = engine();
    open_pause(&mut e);
    runs(&mut e);
    let at = 3 + COOLDOWN_MS;
    let trial = e.handle_action(at, "t", Action::Pause).unwrap();
    assert_eq!(runs(&mut e), vec![trial]);
    // Readings that take the governor to an action: its dispatch supersedes the trial.
    for (i, value) in [80.0, 81.0, 82.0].into_iter().enumerate() {
        let now = at + 1 + i as u64;
        e.handle_signal(now, &raw("t", value, now)).unwrap();
    }
    assert_eq!(runs(&mut e).len(), 1, "the governor's action runs");
    assert!(
        events(&drain_records(&mut e)).contains(&Event::ActionCompleted {
            receipt: trial,
            outcome: ActionOutcome::Superseded,
            undo: Default::default(),
        }),
        "the trial was superseded"
    );
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::HalfOpen);
    activate(&mut e, "u");
    let next = e.handle_action(at + 5, "u", Action::Pause).unwrap();
    assert_eq!(runs(&mut e), vec![next], "a new trial runs");
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::HalfOpen);
    activate(&mut e, "v");
    e.handle_action(at + 6, "v", Action::Pause).unwrap();
    assert!(runs(&mut e).is_empty(), "refused while the new trial runs");
}

#[test]
fn a_failed_or_timed_out_trial_reopens_for_another_cooldown() {
    let mut e = engine();
    open_pause(&mut e);
    let trial = e
        .handle_action(3 + COOLDOWN_MS, "t", Action::Pause)
        .unwrap();
    let deadline = e.in_flight()[0].deadline_ms;
    assert_eq!(e.handle_timeout(deadline), 1);
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Open);
    let reopened_at = deadline;
    runs(&mut e);
    e.handle_action(reopened_at + COOLDOWN_MS - 1, "t", Action::Pause)
        .unwrap();
    assert!(
        runs(&mut e).is_empty(),
        "a new cool-down from the reopening"
    );
    let second = e
        .handle_action(reopened_at + COOLDOWN_MS, "t", Action::Pause)
        .unwrap();
    assert_eq!(runs(&mut e), vec![second]);
    assert_ne!(trial, second);
    e.handle_outcome(reopened_at + COOLDOWN_MS, "t", None, false, b"")
        .unwrap();
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Open);
}

#[test]
fn a_refused_throttle_escalates_and_the_cascade_ends() {
    // Proves: a refusal is a failure for the governor: Intervene + ActionFailed → Degrade +
    // Pause; with Pause's circuit open too, that Pause is refused and the chain ends in Degrade.
    let mut e = engine();
    open_pause_and_throttle(&mut e);
    assert_eq!(e.circuit(ActionKind::Throttle), CircuitState::Open);
    drain_records(&mut e);
    runs(&mut e);

    let SignalResult::Governed(t) = e.handle_signal(6, &raw("t", 95.0, 6)).unwrap() else {
        panic!()
    };
    assert_eq!((t.from, t.to), (S::Stable, S::Intervene));
    assert!(runs(&mut e).is_empty());
    let ev = events(&drain_records(&mut e));
    let outcomes: Vec<_> = ev
        .iter()
        .filter_map(|ev| match ev {
            Event::ActionCompleted { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [ActionOutcome::CircuitOpen; 2]);
    assert_eq!(e.tenant(6, "t").unwrap().state, S::Degrade);
    assert!(e.in_flight().is_empty());
    assert_eq!(
        ev.len(),
        6,
        "governor, dispatch, refusal, governor, dispatch, refusal"
    );
}

#[test]
fn restore_rebuilds_every_circuit() {
    let mut e = engine();
    let mut records = drain_records(&mut e);
    open_pause(&mut e);
    let r = e
        .handle_action(4, "t", Action::throttle(10).unwrap())
        .unwrap();
    e.handle_outcome(4, "t", Some(r), false, b"").unwrap();
    records.extend(drain_records(&mut e));

    let mut rebuilt = engine_with(&SMALL, config()).unwrap();
    for r in &records {
        rebuilt.restore(r).unwrap();
    }
    for kind in ActionKind::ALL {
        assert_eq!(rebuilt.circuit(kind), e.circuit(kind), "{kind:?}");
    }
    // The count came back too: one more throttle failure opens it in both.
    for engine in [&mut e, &mut rebuilt] {
        runs(engine);
        let r = engine
            .handle_action(5, "t", Action::throttle(10).unwrap())
            .unwrap();
        engine.handle_outcome(5, "t", Some(r), false, b"").unwrap();
        assert_eq!(engine.circuit(ActionKind::Throttle), CircuitState::Open);
        runs(engine);
    }
    // An open circuit restored: the cool-down runs from the recorded opening.
    rebuilt
        .handle_action(2 + COOLDOWN_MS, "t", Action::Pause)
        .unwrap();
    assert!(runs(&mut rebuilt).is_empty(), "still cooling down");
    rebuilt
        .handle_action(3 + COOLDOWN_MS, "t", Action::Pause)
        .unwrap();
    assert_eq!(runs(&mut rebuilt).len(), 1, "the trial");
}

#[test]
fn a_breaker_turned_off_lets_everything_run_and_records_nothing() {
    // Proves: with failures = 0 an open circuit recorded earlier is reported closed, every
    // action runs, and no circuit receipt is written however many fail.
    let mut e = engine();
    let mut records = drain_records(&mut e);
    open_pause(&mut e);
    records.extend(drain_records(&mut e));
    let mut off = engine_with(&SMALL, EngineConfig::default()).unwrap();
    for r in &records {
        off.restore(r).unwrap();
    }
    assert_eq!(off.circuit(ActionKind::Pause), CircuitState::Closed);
    for now in 4..20 {
        let p = off.handle_action(now, "t", Action::Pause).unwrap();
        assert_eq!(runs(&mut off), vec![p]);
        off.handle_outcome(now, "t", Some(p), false, b"").unwrap();
    }
    let circuits = events(&drain_records(&mut off))
        .iter()
        .filter(|ev| matches!(ev, Event::Circuit { .. }))
        .count();
    assert_eq!(circuits, 0);
}

#[test]
fn breakers_need_a_ring_that_holds_the_longest_chain() {
    let small_ring = Capacities {
        receipts: 8,
        ..SMALL
    };
    let err = engine_with(&small_ring, config()).unwrap_err();
    assert_eq!(
        err,
        EngineConfigError::BreakerRingTooSmall { receipts: 8 }.into()
    );
    let ring = Capacities {
        receipts: 16,
        ..SMALL
    };
    assert!(engine_with(&ring, config()).is_ok());
    assert!(engine_with(&small_ring, EngineConfig::default()).is_ok());
}

#[test]
fn the_largest_breaker_settings_are_accepted() {
    // Proves the bounds are inclusive: BREAKER_FAILURES_MAX failures and a cool-down of
    // BREAKER_COOLDOWN_MS_MAX build an engine.
    let mut config = EngineConfig::default();
    config.breakers[ActionKind::Shed.index()] = BreakerConfig {
        failures: BREAKER_FAILURES_MAX,
        cooldown_ms: BREAKER_COOLDOWN_MS_MAX,
    };
    assert!(engine_with(&SMALL, config).is_ok());
}

#[test]
fn out_of_range_breaker_settings_are_refused() {
    for breaker in [
        BreakerConfig {
            failures: 1_001,
            cooldown_ms: 1,
        },
        BreakerConfig {
            failures: 1,
            cooldown_ms: 0,
        },
        BreakerConfig {
            failures: 1,
            cooldown_ms: 3_600_001,
        },
    ] {
        let mut config = EngineConfig::default();
        config.breakers[ActionKind::Shed.index()] = breaker;
        let err = engine_with(&SMALL, config).unwrap_err();
        assert_eq!(
            err,
            EngineConfigError::Breaker {
                kind: ActionKind::Shed,
                breaker
            }
            .into()
        );
    }
}

#[test]
fn the_longest_chain_needs_room_or_the_input_changes_nothing() {
    // Proves: a signal whose refused throttle would cascade into a refused pause (six
    // receipts) is refused with Busy while the ring has room for its own two receipts but not
    // for what the circuits may add, and nothing changes; after draining it applies whole.
    let mut e = engine();
    open_pause_and_throttle(&mut e);
    drain_records(&mut e);
    runs(&mut e);
    let mut other = 0;
    while e.ledger().can_append(6) {
        assert!(other < 10_000, "the ring fills within 10 000 commands");
        let command = if other % 2 == 1 {
            EntitlementCommand::Pause
        } else {
            EntitlementCommand::Resume
        };
        if other == 0 {
            activate(&mut e, "u");
        } else {
            e.handle_entitlement(6, "u", command).unwrap();
        }
        other += 1;
    }
    assert!(
        e.ledger().can_append(2),
        "room for the signal's own receipts"
    );
    let before = (e.ledger().next_seq(), e.tenant(6, "t").unwrap().state);
    assert_eq!(
        e.handle_signal(6, &raw("t", 95.0, 6)),
        Err(IngestError::Busy)
    );
    assert_eq!(
        (e.ledger().next_seq(), e.tenant(6, "t").unwrap().state),
        before
    );
    assert!(runs(&mut e).is_empty());
    drain_records(&mut e);
    assert!(e.handle_signal(6, &raw("t", 95.0, 6)).is_ok());
    assert_eq!(events(&drain_records(&mut e)).len(), 6);
    assert_eq!(e.tenant(6, "t").unwrap().state, S::Degrade);
}

#[test]
fn a_signal_that_changes_nothing_needs_no_room_for_the_circuits() {
    // Proves the room kept for what circuits may add to an input is kept only for inputs that
    // dispatch: with less room left than that, a reading that changes nothing (below warn, in
    // Stable) is governed and remembered, while one that would move the governor is Busy.
    let mut e = engine();
    activate(&mut e, "u");
    drain_records(&mut e);
    fill_ring_below(&mut e, "u", BREAKER_RECEIPTS_PER_INPUT_MAX);
    let seq = e.ledger().next_seq();
    assert_eq!(
        e.handle_signal(6, &raw("t", 80.0, 6)),
        Err(IngestError::Busy),
        "a step to Warn needs its receipt and the circuits' room"
    );
    let quiet = e.handle_signal(6, &raw("t", 10.0, 6)).unwrap();
    let SignalResult::Governed(step) = quiet else {
        panic!("governed: {quiet:?}")
    };
    assert_eq!(
        (step.from, step.to, step.receipt),
        (S::Stable, S::Stable, None)
    );
    assert_eq!(e.ledger().next_seq(), seq, "nothing appended");
    assert_eq!(
        e.handle_signal(6, &raw("t", 10.0, 6)),
        Ok(SignalResult::Duplicate),
        "remembered"
    );
}

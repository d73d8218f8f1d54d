//! The circuit breaker's table (`docs/actions.md#circuit-breakers`), row by row, on
//! [`Breaker`] alone: what a dispatch is told, what an outcome records, which recorded state
//! may follow which (restore's check). The engine-level behaviour is in `breaker.rs`.

use autonomic_core::ActionOutcome;
use autonomic_core::breaker::{Admission, Breaker, BreakerConfig, CircuitState};

const ON: BreakerConfig = BreakerConfig {
    failures: 3,
    cooldown_ms: 1_000,
};

#[test]
fn a_half_open_circuit_refuses_while_its_trial_runs_and_trials_again_once_it_ended() {
    // Proves the two HalfOpen rows of the dispatch column: the trial's receipt still in
    // flight refuses the next dispatch; a trial that ended without a verdict (superseded)
    // lets the next dispatch be the new trial.
    let half_open = Breaker::HalfOpen { trial: 7 };
    let in_flight = |receipt: u64| receipt == 7;
    let ended = |_: u64| false;
    assert_eq!(half_open.on_dispatch(&ON, 0, in_flight), Admission::Refuse);
    assert_eq!(half_open.on_dispatch(&ON, 0, ended), Admission::Trial);
    let other_in_flight = |receipt: u64| receipt == 8;
    assert_eq!(
        half_open.on_dispatch(&ON, 0, other_in_flight),
        Admission::Trial,
        "only the trial's own receipt holds the circuit"
    );
}

#[test]
fn only_the_trial_s_own_verdict_moves_a_half_open_circuit() {
    // Proves the HalfOpen outcome rows: the trial's success closes, its failure or timeout
    // reopens; another action's outcome, and the trial's Superseded or CircuitOpen, record
    // nothing.
    let half_open = Breaker::HalfOpen { trial: 7 };
    let after = |receipt, outcome| half_open.after_outcome(&ON, receipt, outcome);
    assert_eq!(
        after(7, ActionOutcome::Succeeded),
        Some(CircuitState::Closed)
    );
    assert_eq!(after(7, ActionOutcome::Failed), Some(CircuitState::Open));
    assert_eq!(after(7, ActionOutcome::TimedOut), Some(CircuitState::Open));
    assert_eq!(after(7, ActionOutcome::Superseded), None);
    assert_eq!(after(7, ActionOutcome::CircuitOpen), None);
    for outcome in ActionOutcome::ALL {
        assert_eq!(after(8, outcome), None, "not the trial: {outcome:?}");
    }
}

#[test]
fn only_failures_and_timeouts_are_the_backend_s_fault() {
    // Proves which outcomes a breaker counts: Failed and ExecutionTimeout; a success resets
    // the count; Superseded and CircuitOpen leave it.
    let counted: Vec<_> = ActionOutcome::ALL
        .into_iter()
        .filter(|o| o.is_failure_of_backend())
        .collect();
    assert_eq!(counted, [ActionOutcome::Failed, ActionOutcome::TimedOut]);
    let mut b = Breaker::Closed { failures: 1 };
    for outcome in [ActionOutcome::Superseded, ActionOutcome::CircuitOpen] {
        b.apply_outcome(outcome);
        assert_eq!(b, Breaker::Closed { failures: 1 }, "{outcome:?}");
        assert_eq!(b.after_outcome(&ON, 1, outcome), None);
    }
}

#[test]
fn a_recorded_circuit_state_follows_only_the_states_the_table_leads_from() {
    // Proves `follows`, restore's consistency check, over every (state, recorded) pair:
    // open from Closed or HalfOpen, closed only from HalfOpen, half_open from Open or
    // HalfOpen.
    let states = [
        Breaker::Closed { failures: 2 },
        Breaker::Open { since_ms: 5 },
        Breaker::HalfOpen { trial: 7 },
    ];
    let expected = [
        // Closed, Open, HalfOpen recorded
        [false, true, false], // from Closed
        [false, false, true], // from Open
        [true, true, true],   // from HalfOpen
    ];
    for (b, row) in states.iter().zip(expected) {
        for (to, follows) in CircuitState::ALL.into_iter().zip(row) {
            assert_eq!(b.follows(to), follows, "{to:?} after {b:?}");
        }
    }
}

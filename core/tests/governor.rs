//! Every row of the governor table (`docs/governor.md#the-table`), one test each, plus
//! threshold validation.

use autonomic_core::governor::{Order, Step, ThresholdError, step};
use autonomic_core::{GovernorEvent as E, GovernorState as S, Thresholds};

const TH: Thresholds = Thresholds::DEFAULT;

fn go(to: S, c: u8, action: Option<Order>) -> Step {
    Step {
        to,
        consecutive_high: c,
        action,
    }
}

#[test]
fn stable_at_or_above_intervene_throttles_50() {
    // Proves row "Stable | v >= 90 | Intervene | 0 | Throttle(50)" at 90 and 100.
    for v in [90, 100] {
        assert_eq!(
            step(&TH, S::Stable, 0, E::Signal(v)),
            go(S::Intervene, 0, Some(Order::Throttle(50)))
        );
    }
}

#[test]
fn stable_between_warn_and_intervene_warns_with_c1() {
    // Proves row "Stable | 75 <= v < 90 | Warn | 1" at both edges.
    for v in [75, 89] {
        assert_eq!(step(&TH, S::Stable, 0, E::Signal(v)), go(S::Warn, 1, None));
    }
}

#[test]
fn stable_below_warn_stays_stable() {
    // Proves row "Stable | v < 75 | Stable | 0" at 0 and 74.
    for v in [0, 74] {
        assert_eq!(
            step(&TH, S::Stable, 0, E::Signal(v)),
            go(S::Stable, 0, None)
        );
    }
}

#[test]
fn warn_at_or_above_intervene_throttles_50() {
    // Proves row "Warn | v >= 90 | Intervene | 0 | Throttle(50)", whatever c is.
    for c in [0, 2] {
        assert_eq!(
            step(&TH, S::Warn, c, E::Signal(90)),
            go(S::Intervene, 0, Some(Order::Throttle(50)))
        );
    }
}

#[test]
fn warn_high_reaching_sustain_degrades_with_throttle_25() {
    // Proves row "Warn | 75 <= v < 90, c+1 >= 3 | Degrade | 0 | Throttle(25)".
    assert_eq!(
        step(&TH, S::Warn, 2, E::Signal(75)),
        go(S::Degrade, 0, Some(Order::Throttle(25)))
    );
    assert_eq!(
        step(&TH, S::Warn, 2, E::Signal(89)),
        go(S::Degrade, 0, Some(Order::Throttle(25)))
    );
}

#[test]
fn warn_high_below_sustain_counts_up() {
    // Proves row "Warn | 75 <= v < 90, c+1 < 3 | Warn | c+1".
    assert_eq!(step(&TH, S::Warn, 0, E::Signal(80)), go(S::Warn, 1, None));
    assert_eq!(step(&TH, S::Warn, 1, E::Signal(89)), go(S::Warn, 2, None));
}

#[test]
fn warn_between_recover_and_warn_resets_c() {
    // Proves row "Warn | 70 <= v < 75 | Warn | 0".
    for v in [70, 74] {
        assert_eq!(step(&TH, S::Warn, 2, E::Signal(v)), go(S::Warn, 0, None));
    }
}

#[test]
fn warn_below_recover_returns_to_stable() {
    // Proves row "Warn | v < 70 | Stable | 0".
    for v in [0, 69] {
        assert_eq!(step(&TH, S::Warn, 1, E::Signal(v)), go(S::Stable, 0, None));
    }
}

#[test]
fn intervene_below_warn_returns_to_warn() {
    // Proves row "Intervene | v < 75 | Warn | 0".
    for v in [0, 74] {
        assert_eq!(
            step(&TH, S::Intervene, 0, E::Signal(v)),
            go(S::Warn, 0, None)
        );
    }
}

#[test]
fn intervene_at_or_above_warn_holds_without_new_action() {
    // Proves row "Intervene | v >= 75 | Intervene | 0 | —".
    for v in [75, 100] {
        assert_eq!(
            step(&TH, S::Intervene, 0, E::Signal(v)),
            go(S::Intervene, 0, None)
        );
    }
}

#[test]
fn intervene_success_returns_to_warn() {
    // Proves row "Intervene | ActionSucceeded | Warn | 0".
    assert_eq!(
        step(&TH, S::Intervene, 0, E::ActionSucceeded),
        go(S::Warn, 0, None)
    );
}

#[test]
fn intervene_failure_degrades_with_pause() {
    // Proves row "Intervene | ActionFailed | Degrade | 0 | Pause".
    assert_eq!(
        step(&TH, S::Intervene, 0, E::ActionFailed),
        go(S::Degrade, 0, Some(Order::Pause))
    );
}

#[test]
fn degrade_below_recover_returns_to_intervene() {
    // Proves row "Degrade | v < 70 | Intervene | 0".
    for v in [0, 69] {
        assert_eq!(
            step(&TH, S::Degrade, 0, E::Signal(v)),
            go(S::Intervene, 0, None)
        );
    }
}

#[test]
fn degrade_above_refuse_sheds_50() {
    // Proves row "Degrade | v > 95 | Refuse | 0 | Shed(50)" at 96 and 100.
    for v in [96, 100] {
        assert_eq!(
            step(&TH, S::Degrade, 0, E::Signal(v)),
            go(S::Refuse, 0, Some(Order::Shed(50)))
        );
    }
}

#[test]
fn degrade_between_recover_and_refuse_holds() {
    // Proves row "Degrade | 70 <= v <= 95 | Degrade | 0" at both inclusive edges.
    for v in [70, 95] {
        assert_eq!(
            step(&TH, S::Degrade, 0, E::Signal(v)),
            go(S::Degrade, 0, None)
        );
    }
}

#[test]
fn refuse_holds_on_any_signal() {
    // Proves row "Refuse | any signal | Refuse | 0": no signal leaves Refuse.
    for v in 0..=100 {
        assert_eq!(
            step(&TH, S::Refuse, 0, E::Signal(v)),
            go(S::Refuse, 0, None)
        );
    }
}

#[test]
fn reset_returns_any_state_to_stable() {
    // Proves row "any | Reset | Stable | 0".
    for state in S::ALL {
        assert_eq!(step(&TH, state, 2, E::Reset), go(S::Stable, 0, None));
    }
}

#[test]
fn outcomes_outside_intervene_change_nothing() {
    // Proves row "not Intervene | ActionSucceeded / ActionFailed | unchanged | unchanged".
    for state in [S::Stable, S::Warn, S::Degrade, S::Refuse] {
        for event in [E::ActionSucceeded, E::ActionFailed] {
            assert_eq!(step(&TH, state, 2, event), go(state, 2, None));
        }
    }
}

#[test]
fn table_is_total_and_deterministic() {
    // Proves every (state, event) pair yields exactly one answer, the same each time, and
    // that c never reaches sustain.
    let events = (0..=100u8)
        .map(E::Signal)
        .chain([E::ActionSucceeded, E::ActionFailed, E::Reset]);
    for state in S::ALL {
        for event in events.clone() {
            for c in 0..TH.sustain() {
                let a = step(&TH, state, c, event);
                assert_eq!(a, step(&TH, state, c, event));
                assert!(a.consecutive_high < TH.sustain());
            }
        }
    }
}

#[test]
fn custom_thresholds_move_every_edge() {
    // Proves the table reads its numbers from the thresholds, not from constants.
    let th = Thresholds::new(50, 40, 60, 80, 2).unwrap();
    assert_eq!(step(&th, S::Stable, 0, E::Signal(50)), go(S::Warn, 1, None));
    assert_eq!(
        step(&th, S::Warn, 1, E::Signal(55)),
        go(S::Degrade, 0, Some(Order::Throttle(25)))
    );
    assert_eq!(step(&th, S::Warn, 0, E::Signal(39)), go(S::Stable, 0, None));
    assert_eq!(
        step(&th, S::Stable, 0, E::Signal(60)),
        go(S::Intervene, 0, Some(Order::Throttle(50)))
    );
    assert_eq!(
        step(&th, S::Degrade, 0, E::Signal(81)),
        go(S::Refuse, 0, Some(Order::Shed(50)))
    );
    assert_eq!(
        step(&th, S::Degrade, 0, E::Signal(80)),
        go(S::Degrade, 0, None)
    );
}

#[test]
fn threshold_validation_names_each_violation() {
    // Proves recover <= warn < intervene <= refuse <= 100 and sustain >= 1 are enforced.
    assert_eq!(
        Thresholds::new(75, 76, 90, 95, 3),
        Err(ThresholdError::RecoverAboveWarn {
            recover: 76,
            warn: 75
        })
    );
    assert_eq!(
        Thresholds::new(90, 70, 90, 95, 3),
        Err(ThresholdError::WarnNotBelowIntervene {
            warn: 90,
            intervene: 90
        })
    );
    assert_eq!(
        Thresholds::new(75, 70, 96, 95, 3),
        Err(ThresholdError::InterveneAboveRefuse {
            intervene: 96,
            refuse: 95
        })
    );
    assert_eq!(
        Thresholds::new(75, 70, 90, 101, 3),
        Err(ThresholdError::RefuseAbove100(101))
    );
    assert_eq!(
        Thresholds::new(75, 70, 90, 95, 0),
        Err(ThresholdError::SustainZero)
    );
    assert!(
        Thresholds::new(75, 75, 90, 90, 1).is_ok(),
        "the inclusive edges are allowed"
    );
    assert!(Thresholds::new(75, 70, 90, 100, 255).is_ok());
}

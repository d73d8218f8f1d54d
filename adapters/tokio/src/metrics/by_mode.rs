//! The engine's counts and gauges split by the tenant's mode (`enforce`, `shadow`;
//! `docs/governor.md#shadow-mode`): governor transitions, completed actions, the actions
//! shadow tenants' governors ordered and did not dispatch, and tenants per state. Summed over
//! `mode`, each series means what it meant before modes existed.

use autonomic_core::engine::Mode;

use super::*;

/// A counter family keyed by three labels.
pub(super) type Counters3 = Family<[Label; 3], Counter>;

impl Metrics {
    /// Sets the governor transitions counted `from` → `to` for tenants in `mode` to `total`
    /// (a count read from a snapshot rather than counted here).
    pub fn set_transitions(&self, from: &'static str, to: &'static str, mode: Mode, total: u64) {
        let labels = [("from", from), ("to", to)];
        set_count_by_mode(&self.transitions, labels, mode, total);
    }

    /// Sets the completed actions counted of `kind` with `outcome`, for tenants in `mode`, to
    /// `total` (a count read from a snapshot rather than counted here).
    pub fn set_actions(&self, kind: &'static str, outcome: &'static str, mode: Mode, total: u64) {
        let labels = [("kind", kind), ("outcome", outcome)];
        set_count_by_mode(&self.actions, labels, mode, total);
    }

    /// Sets the actions of `kind` shadow tenants' governors ordered and did not dispatch.
    pub fn set_actions_shadowed(&self, kind: &'static str, total: u64) {
        self.actions_shadowed
            .get_or_create(&[("kind", Value(kind))])
            .inner()
            .store(total, Ordering::Relaxed);
    }

    /// Copies the transitions and actions of [`Stats`] by mode (a series appears at its
    /// first count).
    pub(super) fn publish_by_mode(&self, stats: &Stats) {
        for mode in Mode::ALL {
            for from in GovernorState::ALL {
                for to in GovernorState::ALL {
                    let total = stats.transitions_in(mode, from, to);
                    if total > 0 {
                        self.set_transitions(from.as_str(), to.as_str(), mode, total);
                    }
                }
            }
            for kind in ActionKind::ALL {
                for outcome in ActionOutcome::ALL {
                    let total = stats.actions_completed_in(mode, kind, outcome);
                    if total > 0 {
                        self.set_actions(kind.as_str(), outcome.as_str(), mode, total);
                    }
                }
            }
        }
        for kind in ActionKind::ALL {
            let total = stats.actions_shadowed(kind);
            if total > 0 {
                self.set_actions_shadowed(kind.as_str(), total);
            }
        }
    }
}

/// Sets the counter of `labels` and `mode` in `family` to `total`, whatever it counted
/// before.
fn set_count_by_mode(
    family: &Counters3,
    [(name1, value1), (name2, value2)]: [(&'static str, &'static str); 2],
    mode: Mode,
    total: u64,
) {
    let labels = [
        (name1, Value(value1)),
        (name2, Value(value2)),
        ("mode", Value(mode.as_str())),
    ];
    family
        .get_or_create(&labels)
        .inner()
        .store(total, Ordering::Relaxed);
}

/// The `autonomic_tenants` gauge from counts per (governor state, mode).
pub(super) fn tenants_by_state(
    counts: &BTreeMap<(&'static str, &'static str), u64>,
) -> Family<[Label; 2], GaugeU64> {
    let family = Family::<[Label; 2], GaugeU64>::default();
    for ((state, mode), n) in counts {
        family
            .get_or_create(&[("state", Value(state)), ("mode", Value(mode))])
            .set(*n);
    }
    family
}

//! The governor's timing (`docs/governor.md#timing`): the rules [`timed_step`] adds to the
//! table of [`super::step_with`].

use super::{
    ActionPercents, Governor, GovernorEvent, GovernorState, Order, Step, Thresholds, step_with,
};

/// The governor's timing (`docs/governor.md#timing`), in milliseconds; each 0 (the default)
/// is off, and all four off is the plain table. Each is at most
/// [`crate::limits::GOVERNOR_TIMING_MS_MAX`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GovernorTiming {
    /// No de-escalation from Intervene or Degrade before this long in the state.
    pub min_dwell_ms: u64,
    /// No governor-ordered action sooner than this after the tenant's previous one.
    pub cooldown_ms: u64,
    /// Refuse steps down to Degrade after this long in it (0: only Reset leaves).
    pub refuse_max_ms: u64,
    /// A governor-ordered Pause or Shed is announced by a warning receipt this long before
    /// it is dispatched.
    pub grace_ms: u64,
}

impl GovernorTiming {
    /// Everything off: the plain table.
    pub const OFF: GovernorTiming = GovernorTiming {
        min_dwell_ms: 0,
        cooldown_ms: 0,
        refuse_max_ms: 0,
        grace_ms: 0,
    };

    /// Each key with its value, in the order the config lists them.
    pub const fn keys(&self) -> [(&'static str, u64); 4] {
        [
            ("min_dwell_ms", self.min_dwell_ms),
            ("cooldown_ms", self.cooldown_ms),
            ("refuse_max_ms", self.refuse_max_ms),
            ("grace_ms", self.grace_ms),
        ]
    }

    /// Whether `order` is announced by a warning first: a Pause or a Shed while `grace_ms`
    /// is on.
    pub const fn warns(&self, order: Order) -> bool {
        self.grace_ms > 0 && matches!(order, Order::Pause | Order::Shed(_))
    }
}

/// The table's step ([`step_with`], with the SKU's percents `pct`) with the governor's timing
/// applied at `now_ms`. Two rules hold a step back — the state and `c` stay as they are and
/// nothing is ordered:
///
/// | rule | a step is held when |
/// |---|---|
/// | dwell | it leaves Intervene or Degrade for a lower state, by any event but Reset, before `min_dwell_ms` in the state |
/// | cool-down | it orders an action less than `cooldown_ms` after the tenant's previous governor-ordered dispatch |
///
/// A held step writes nothing (its outcome or signal is still recorded as usual); the next
/// event is decided afresh, so a step held by the cool-down is taken by the first event
/// after it that still calls for it. The other two rules act in the engine: `refuse_max_ms`
/// makes RefuseExpired due at `entered_at_ms + refuse_max_ms`, and with `grace_ms` on an
/// ordered Pause or Shed is a warning, dispatched at its deadline unless cancelled
/// (`docs/governor.md#grace-before-pause-and-shed`).
pub fn timed_step(
    th: &Thresholds,
    pct: &ActionPercents,
    timing: &GovernorTiming,
    governor: &Governor,
    now_ms: u64,
    event: GovernorEvent,
) -> Step {
    use GovernorState as S;
    let taken = step_with(th, pct, governor.state, governor.consecutive_high, event);
    let stepping_down = matches!(
        (governor.state, taken.to),
        (S::Intervene, S::Stable | S::Warn) | (S::Degrade, S::Stable | S::Warn | S::Intervene)
    );
    let dwelling = stepping_down
        && event != GovernorEvent::Reset
        && governor.time_in_state_ms(now_ms) < timing.min_dwell_ms;
    let cooling = taken.action.is_some()
        && governor
            .since_order_ms(now_ms)
            .is_some_and(|ms| ms < timing.cooldown_ms);
    if dwelling || cooling {
        return Step {
            to: governor.state,
            consecutive_high: governor.consecutive_high,
            action: None,
        };
    }
    taken
}

//! Plan (`docs/governor.md`): the per-tenant governor.

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::limits::GOVERNOR_TIMING_MS_MAX;

mod timing;

pub use self::timing::{GovernorTiming, timed_step};

mod percents;

pub use self::percents::{ActionPercents, PercentError, SkuActions};

/// The actions the governor's table orders: a small `Copy` value, turned into an
/// [`Action`] when dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// `Throttle(percent)`.
    Throttle(u8),
    /// `Pause`.
    Pause,
    /// `Shed(percent)`.
    Shed(u8),
}

impl Order {
    /// The order an action of the governor's is: Pause and Shed and Throttle; `None` for a
    /// Rollback (never ordered by the governor).
    pub const fn of(action: &Action) -> Option<Order> {
        match *action {
            Action::Throttle { percent } => Some(Order::Throttle(percent)),
            Action::Pause => Some(Order::Pause),
            Action::Shed { percent } => Some(Order::Shed(percent)),
            Action::Rollback { .. } => None,
        }
    }

    /// The action to dispatch.
    pub const fn action(self) -> Action {
        match self {
            Order::Throttle(percent) => Action::Throttle { percent },
            Order::Pause => Action::Pause,
            Order::Shed(percent) => Action::Shed { percent },
        }
    }
}

/// The governor's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GovernorState {
    /// Below the warn threshold.
    Stable,
    /// Elevated; counting consecutive high signals.
    Warn,
    /// An action (Throttle) is being applied.
    Intervene,
    /// Sustained or failed intervention.
    Degrade,
    /// Shedding load; only Reset leaves.
    Refuse,
}

impl GovernorState {
    /// Every state, in escalation order.
    pub const ALL: [GovernorState; 5] = [
        GovernorState::Stable,
        GovernorState::Warn,
        GovernorState::Intervene,
        GovernorState::Degrade,
        GovernorState::Refuse,
    ];

    /// The state's position in [`GovernorState::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The state's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            GovernorState::Stable => "Stable",
            GovernorState::Warn => "Warn",
            GovernorState::Intervene => "Intervene",
            GovernorState::Degrade => "Degrade",
            GovernorState::Refuse => "Refuse",
        }
    }
}

/// The events a governor reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GovernorEvent {
    /// A normalized signal value, 0..=100.
    Signal(u8),
    /// The action in flight (if any) succeeded.
    ActionSucceeded,
    /// The action in flight (if any) failed or timed out.
    ActionFailed,
    /// An operator's reset.
    Reset,
    /// The tenant has been in Refuse for `refuse_max_ms` ([`GovernorTiming`]).
    RefuseExpired,
}

/// The thresholds of the table, validated: `recover <= warn < intervene <= refuse <= 100`,
/// `1 <= sustain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thresholds {
    warn: u8,
    recover: u8,
    intervene: u8,
    refuse: u8,
    sustain: u8,
}

/// Why a set of thresholds was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// `recover` is above `warn`.
    #[error("recover ({recover}) must be <= warn ({warn})")]
    RecoverAboveWarn {
        /// The offending value.
        recover: u8,
        /// The bound.
        warn: u8,
    },
    /// `warn` is not below `intervene`.
    #[error("warn ({warn}) must be < intervene ({intervene})")]
    WarnNotBelowIntervene {
        /// The offending value.
        warn: u8,
        /// The bound.
        intervene: u8,
    },
    /// `intervene` is above `refuse`.
    #[error("intervene ({intervene}) must be <= refuse ({refuse})")]
    InterveneAboveRefuse {
        /// The offending value.
        intervene: u8,
        /// The bound.
        refuse: u8,
    },
    /// `refuse` is above 100.
    #[error("refuse ({0}) must be <= 100")]
    RefuseAbove100(u8),
    /// `sustain` is zero.
    #[error("sustain must be >= 1")]
    SustainZero,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Thresholds {
    /// The defaults: warn 75, recover 70, intervene 90, refuse above 95, sustain 3.
    pub const DEFAULT: Thresholds = Thresholds {
        warn: 75,
        recover: 70,
        intervene: 90,
        refuse: 95,
        sustain: 3,
    };

    /// Validates a set of thresholds.
    pub const fn new(
        warn: u8,
        recover: u8,
        intervene: u8,
        refuse: u8,
        sustain: u8,
    ) -> Result<Thresholds, ThresholdError> {
        if recover > warn {
            return Err(ThresholdError::RecoverAboveWarn { recover, warn });
        }
        if warn >= intervene {
            return Err(ThresholdError::WarnNotBelowIntervene { warn, intervene });
        }
        if intervene > refuse {
            return Err(ThresholdError::InterveneAboveRefuse { intervene, refuse });
        }
        if refuse > 100 {
            return Err(ThresholdError::RefuseAbove100(refuse));
        }
        if sustain == 0 {
            return Err(ThresholdError::SustainZero);
        }
        Ok(Thresholds {
            warn,
            recover,
            intervene,
            refuse,
            sustain,
        })
    }

    /// Enter Warn at or above this.
    pub const fn warn(&self) -> u8 {
        self.warn
    }
    /// Leave Warn (and Degrade) below this.
    pub const fn recover(&self) -> u8 {
        self.recover
    }
    /// Intervene at or above this.
    pub const fn intervene(&self) -> u8 {
        self.intervene
    }
    /// Refuse strictly above this (from Degrade).
    pub const fn refuse(&self) -> u8 {
        self.refuse
    }
    /// Consecutive high signals in Warn that escalate to Degrade.
    pub const fn sustain(&self) -> u8 {
        self.sustain
    }
}

/// The result of one step of the table: the next state, the next `consecutive_high` and the
/// action to dispatch, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The next state.
    pub to: GovernorState,
    /// The next consecutive-high count.
    pub consecutive_high: u8,
    /// The action the table orders.
    pub action: Option<Order>,
}

/// The governor table (`docs/governor.md#the-table`), total over (state, event). With the
/// default thresholds (warn 75, recover 70, intervene 90, refuse 95, sustain 3) and the
/// default percents (the three rows that order a Throttle or a Shed take theirs from the
/// tenant's SKU, [`ActionPercents`]: Throttle(50) `intervene_throttle_pct`, Throttle(25)
/// `degrade_throttle_pct`, Shed(50) `refuse_shed_pct`):
///
/// | state | event | next | c | action |
/// |---|---|---|---|---|
/// | Stable | v >= 90 | Intervene | 0 | Throttle(50) |
/// | Stable | 75 <= v < 90 | Warn | 1 | — |
/// | Stable | v < 75 | Stable | 0 | — |
/// | Warn | v >= 90 | Intervene | 0 | Throttle(50) |
/// | Warn | 75 <= v < 90, c+1 >= 3 | Degrade | 0 | Throttle(25) |
/// | Warn | 75 <= v < 90, c+1 < 3 | Warn | c+1 | — |
/// | Warn | 70 <= v < 75 | Warn | 0 | — |
/// | Warn | v < 70 | Stable | 0 | — |
/// | Intervene | v < 75 | Warn | 0 | — |
/// | Intervene | v >= 75 | Intervene | 0 | — (one action in flight at most) |
/// | Intervene | ActionSucceeded | Warn | 0 | — |
/// | Intervene | ActionFailed | Degrade | 0 | Pause |
/// | Degrade | v < 70 | Intervene | 0 | — |
/// | Degrade | v > 95 | Refuse | 0 | Shed(50) |
/// | Degrade | 70 <= v <= 95 | Degrade | 0 | — |
/// | Refuse | any signal | Refuse | 0 | — |
/// | any | Reset | Stable | 0 | — |
/// | not Intervene | ActionSucceeded / ActionFailed | unchanged | unchanged | — (outcome still recorded) |
/// | Refuse | RefuseExpired | Degrade | 0 | — |
/// | not Refuse | RefuseExpired | unchanged | unchanged | — |
///
/// The numbers are `warn`, `recover`, `intervene`, `refuse` and `sustain` of `th`; the
/// action percentages are those of [`ActionPercents::DEFAULT`] (50, 25, 50): [`step_with`]
/// takes a SKU's.
///
/// [`timed_step`] adds the governor's timing ([`GovernorTiming`], each rule off at 0) on top:
///
/// | rule | effect |
/// |---|---|
/// | `min_dwell_ms` | a step leaving Intervene or Degrade for a lower state (any event but Reset) before this long in the state is held: state and c stay, nothing written |
/// | `cooldown_ms` | a step that orders an action less than this after the tenant's previous governor-ordered dispatch is held the same way (the state never claims an action that did not run); the first event after the cool-down that still calls for the step takes it |
/// | `refuse_max_ms` | RefuseExpired is due at `entered_at_ms + refuse_max_ms` in Refuse |
/// | `grace_ms` | an ordered Pause or Shed is a `Warning` receipt, dispatched at its deadline unless cancelled first (a step that changes the state, or a signal below `recover`), or cancelled then if the tenant is not Active |
pub fn step(th: &Thresholds, state: GovernorState, c: u8, event: GovernorEvent) -> Step {
    step_with(th, &ActionPercents::DEFAULT, state, c, event)
}

/// [`step`] with the percents of the tenant's SKU (`docs/governor.md#per-plan-actions`):
/// Throttle(50) is `pct.intervene_throttle_pct`, Throttle(25) `pct.degrade_throttle_pct`
/// and Shed(50) `pct.refuse_shed_pct`; every other part of the table is the same.
pub fn step_with(
    th: &Thresholds,
    pct: &ActionPercents,
    state: GovernorState,
    c: u8,
    event: GovernorEvent,
) -> Step {
    use GovernorEvent as E;
    use GovernorState as S;
    let go = |to, consecutive_high, action| Step {
        to,
        consecutive_high,
        action,
    };
    match (state, event) {
        (_, E::Reset) => go(S::Stable, 0, None),
        (S::Stable, E::Signal(v)) if v >= th.intervene => go(
            S::Intervene,
            0,
            Some(Order::Throttle(pct.intervene_throttle_pct)),
        ),
        (S::Stable, E::Signal(v)) if v >= th.warn => go(S::Warn, 1, None),
        (S::Stable, E::Signal(_)) => go(S::Stable, 0, None),
        (S::Warn, E::Signal(v)) if v >= th.intervene => go(
            S::Intervene,
            0,
            Some(Order::Throttle(pct.intervene_throttle_pct)),
        ),
        (S::Warn, E::Signal(v)) if v >= th.warn => {
            let next = u16::from(c) + 1;
            if next >= u16::from(th.sustain) {
                go(
                    S::Degrade,
                    0,
                    Some(Order::Throttle(pct.degrade_throttle_pct)),
                )
            } else {
                // next < sustain <= u8::MAX, so it fits.
                go(S::Warn, next as u8, None)
            }
        }
        (S::Warn, E::Signal(v)) if v >= th.recover => go(S::Warn, 0, None),
        (S::Warn, E::Signal(_)) => go(S::Stable, 0, None),
        (S::Intervene, E::Signal(v)) if v < th.warn => go(S::Warn, 0, None),
        (S::Intervene, E::Signal(_)) => go(S::Intervene, 0, None),
        (S::Intervene, E::ActionSucceeded) => go(S::Warn, 0, None),
        (S::Intervene, E::ActionFailed) => go(S::Degrade, 0, Some(Order::Pause)),
        (S::Degrade, E::Signal(v)) if v < th.recover => go(S::Intervene, 0, None),
        (S::Degrade, E::Signal(v)) if v > th.refuse => {
            go(S::Refuse, 0, Some(Order::Shed(pct.refuse_shed_pct)))
        }
        (S::Degrade, E::Signal(_)) => go(S::Degrade, 0, None),
        (S::Refuse, E::Signal(_)) => go(S::Refuse, 0, None),
        (S::Stable | S::Warn | S::Degrade | S::Refuse, E::ActionSucceeded | E::ActionFailed) => {
            go(state, c, None)
        }
        (S::Refuse, E::RefuseExpired) => go(S::Degrade, 0, None),
        (S::Stable | S::Warn | S::Intervene | S::Degrade, E::RefuseExpired) => go(state, c, None),
    }
}

/// One tenant's governor: its state, `consecutive_high`, when it entered the state and when
/// it last ordered an action (for `cooldown_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Governor {
    /// The current state.
    pub state: GovernorState,
    /// Consecutive high signals counted in Warn.
    pub consecutive_high: u8,
    /// When the last governor-ordered action was dispatched, in ms relative to
    /// `entered_at_ms` ([`NO_ORDER`] for never). 32 bits fit the padding beside `state`, so
    /// the governor stays 16 bytes; an order further back than about 24 days reads as none,
    /// being beyond any cool-down ([`GOVERNOR_TIMING_MS_MAX`]).
    order_offset_ms: i32,
    /// `now_ms` of the last transition that changed `state`.
    pub entered_at_ms: u64,
}

/// An instant as `i64` (saturated: `i64::MAX` ms is 292 million years).
fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// [`Governor`]'s `order_offset_ms` when it never ordered an action.
const NO_ORDER: i32 = i32::MIN;

const _: () = assert!(GOVERNOR_TIMING_MS_MAX < i32::MAX as u64);

impl Governor {
    /// A governor in Stable since `now_ms`, that never ordered an action.
    pub const fn new(now_ms: u64) -> Governor {
        Governor {
            state: GovernorState::Stable,
            consecutive_high: 0,
            order_offset_ms: NO_ORDER,
            entered_at_ms: now_ms,
        }
    }

    /// Milliseconds since the state was entered (0 if the clock went backwards).
    pub const fn time_in_state_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.entered_at_ms)
    }

    /// Milliseconds since the last governor-ordered dispatch (0 if the clock went backwards),
    /// `None` if it never ordered one.
    pub fn since_order_ms(&self, now_ms: u64) -> Option<u64> {
        let ordered_at = self.ordered_at_ms()?;
        let since = ms_i64(now_ms).saturating_sub(ordered_at).max(0);
        Some(since.unsigned_abs())
    }

    /// When the last governor-ordered dispatch was (before the epoch when it was saturated
    /// long ago).
    fn ordered_at_ms(&self) -> Option<i64> {
        (self.order_offset_ms != NO_ORDER)
            .then(|| ms_i64(self.entered_at_ms).saturating_add(i64::from(self.order_offset_ms)))
    }

    /// The offset from `entered_at_ms` of an order at `ordered_at_ms`, saturated (one
    /// further back than `i32::MIN` ms reads as none: it is beyond any cool-down).
    fn offset_of(&self, ordered_at_ms: Option<i64>) -> i32 {
        let Some(at) = ordered_at_ms else {
            return NO_ORDER;
        };
        let offset = at.saturating_sub(ms_i64(self.entered_at_ms));
        let clamped = offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        i32::try_from(clamped).unwrap_or(NO_ORDER)
    }

    /// A governor-ordered action was dispatched at `now_ms`.
    pub fn apply_order(&mut self, now_ms: u64) {
        self.order_offset_ms = self.offset_of(Some(ms_i64(now_ms)));
    }

    /// Applies a step decided by [`step`] at `now_ms`.
    pub fn apply(&mut self, now_ms: u64, to: GovernorState, consecutive_high: u8) {
        if to != self.state {
            let ordered_at = self.ordered_at_ms();
            self.entered_at_ms = now_ms;
            self.order_offset_ms = self.offset_of(ordered_at);
        }
        self.state = to;
        self.consecutive_high = consecutive_high;
    }
}

/// A governor's step for one event, decided and not yet applied: the engine checks that its
/// receipts fit, then writes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    /// The state before.
    pub(crate) from: GovernorState,
    /// `consecutive_high` before.
    from_c: u8,
    /// The event.
    pub(crate) event: GovernorEvent,
    /// What the table decided, with the timing applied.
    pub(crate) step: Step,
    /// Write the governor receipt even if nothing changes (a reset ending enforcement).
    pub(crate) forced: bool,
}

impl Planned {
    /// The timed table's step for `event` from `governor`'s state at `now_ms`, with the
    /// SKU's percents `pct`.
    pub(crate) fn new(
        th: &Thresholds,
        pct: &ActionPercents,
        timing: &GovernorTiming,
        governor: Governor,
        now_ms: u64,
        event: GovernorEvent,
    ) -> Self {
        let step = timed_step(th, pct, timing, &governor, now_ms, event);
        Planned {
            from: governor.state,
            from_c: governor.consecutive_high,
            event,
            step,
            forced: false,
        }
    }

    /// Every change of a governor's state or c appends a receipt (and so does a
    /// forced step).
    pub(crate) fn changes(&self) -> bool {
        self.forced || self.step.to != self.from || self.step.consecutive_high != self.from_c
    }
}

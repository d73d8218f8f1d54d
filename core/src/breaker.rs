//! A circuit breaker per action kind (`docs/actions.md#circuit-breakers`): after
//! `failures` consecutive failures or timeouts of one kind's backend, actions of that kind
//! are refused at once (`ActionOutcome::CircuitOpen`) until a cool-down has passed; then one
//! trial call decides whether the circuit closes again.
//!
//! A pure state machine. The engine keeps one per [`ActionKind`] and changes it only in its
//! one `apply`: an `ActionCompleted` receipt updates the failure count
//! ([`Breaker::apply_outcome`]), an `Event::Circuit` receipt changes the state
//! ([`Breaker::apply_circuit`]), so `restore` rebuilds it. What the engine should record
//! next is decided here too ([`Breaker::on_dispatch`], [`Breaker::after_outcome`]):
//!
//! | state | input | next | recorded |
//! |---|---|---|---|
//! | Closed{n} | Failed / ExecutionTimeout | Closed{n+1} | — |
//! | Closed{n} | Succeeded | Closed{0} | — |
//! | Closed{n}, n+1 >= failures > 0 | Failed / ExecutionTimeout | Open{now} | `open` |
//! | Closed | dispatch | Closed | — (the action runs) |
//! | Open{since} | dispatch before since + cool-down | Open{since} | — (refused: `CircuitOpen`) |
//! | Open{since} | dispatch at or after since + cool-down | HalfOpen{the dispatch} | `half_open` (the action runs: the trial) |
//! | HalfOpen{trial} | dispatch while the trial is in flight | HalfOpen{trial} | — (refused) |
//! | HalfOpen{trial} | dispatch after the trial ended without a verdict (superseded) | HalfOpen{the dispatch} | `half_open` (a new trial) |
//! | HalfOpen{trial} | the trial Succeeded | Closed{0} | `closed` |
//! | HalfOpen{trial} | the trial Failed / ExecutionTimeout | Open{now} | `open` |
//! | Open / HalfOpen | any other outcome | unchanged | — |
//!
//! `Superseded` and `CircuitOpen` outcomes never count: the backend was not at fault. With
//! `failures = 0` the breaker is off: every dispatch runs, nothing is recorded, and the
//! engine reports the circuit closed (a state recorded while it was on stays in the fold and
//! applies again if it is turned back on).

use serde::{Deserialize, Serialize};

use crate::action::{ActionKind, ActionOutcome};

/// A circuit's state as receipts and the HTTP API name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CircuitState {
    /// Actions run.
    Closed,
    /// Actions are refused at once.
    Open,
    /// One trial action runs; the others are refused until it ends.
    HalfOpen,
}

impl CircuitState {
    /// Every state, in index order.
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    /// Position in [`CircuitState::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The state's name on the wire (`closed`, `open`, `half_open`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// One kind's breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakerConfig {
    /// Consecutive failures or timeouts that open the circuit; 0 disables the breaker.
    pub failures: u32,
    /// How long the circuit stays open before a trial call.
    pub cooldown_ms: u64,
}

/// One kind's circuit (see the module doc for its table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breaker {
    /// Actions run; `failures` consecutive failures or timeouts so far.
    Closed {
        /// Consecutive failures or timeouts.
        failures: u32,
    },
    /// Refusing since `since_ms`.
    Open {
        /// When it opened.
        since_ms: u64,
    },
    /// The trial action `trial` (its receipt id) decides.
    HalfOpen {
        /// The trial's receipt id.
        trial: u64,
    },
}

/// What to do with a dispatch of the breaker's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run it.
    Run,
    /// Record `half_open`, then run it as the trial.
    Trial,
    /// Refuse it at once (`CircuitOpen`).
    Refuse,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::CLOSED
    }
}

impl Breaker {
    /// Closed, no failures.
    pub const CLOSED: Breaker = Breaker::Closed { failures: 0 };

    /// The state as receipts name it.
    pub const fn state(&self) -> CircuitState {
        match self {
            Breaker::Closed { .. } => CircuitState::Closed,
            Breaker::Open { .. } => CircuitState::Open,
            Breaker::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// What to do with a dispatch at `now_ms`; `in_flight(receipt)` tells whether an action
    /// is still in flight.
    pub fn on_dispatch(
        &self,
        config: &BreakerConfig,
        now_ms: u64,
        in_flight: impl Fn(u64) -> bool,
    ) -> Admission {
        if config.failures == 0 {
            return Admission::Run;
        }
        match *self {
            Breaker::Closed { .. } => Admission::Run,
            Breaker::Open { since_ms } if now_ms >= since_ms.saturating_add(config.cooldown_ms) => {
                Admission::Trial
            }
            Breaker::Open { .. } => Admission::Refuse,
            Breaker::HalfOpen { trial } if in_flight(trial) => Admission::Refuse,
            Breaker::HalfOpen { .. } => Admission::Trial,
        }
    }

    /// The change to record after the action `receipt` ended with `outcome` (already
    /// applied with [`Breaker::apply_outcome`]), if any.
    pub fn after_outcome(
        &self,
        config: &BreakerConfig,
        receipt: u64,
        outcome: ActionOutcome,
    ) -> Option<CircuitState> {
        if config.failures == 0 {
            return None;
        }
        match *self {
            Breaker::Closed { failures }
                if outcome.is_failure_of_backend() && failures >= config.failures =>
            {
                Some(CircuitState::Open)
            }
            Breaker::HalfOpen { trial } if trial == receipt => match outcome {
                ActionOutcome::Succeeded => Some(CircuitState::Closed),
                _ if outcome.is_failure_of_backend() => Some(CircuitState::Open),
                _ => None,
            },
            _ => None,
        }
    }

    /// Applies an `ActionCompleted` of this kind: only the count of a closed circuit moves.
    pub fn apply_outcome(&mut self, outcome: ActionOutcome) {
        if let Breaker::Closed { failures } = self {
            if outcome == ActionOutcome::Succeeded {
                *failures = 0;
            } else if outcome.is_failure_of_backend() {
                *failures = failures.saturating_add(1);
            }
        }
    }

    /// Whether an `Event::Circuit` to `to` can follow this state (restore's check).
    pub const fn follows(&self, to: CircuitState) -> bool {
        matches!(
            (self, to),
            (Breaker::Closed { .. }, CircuitState::Open)
                | (Breaker::HalfOpen { .. }, CircuitState::Open)
                | (Breaker::HalfOpen { .. }, CircuitState::Closed)
                | (
                    Breaker::Open { .. } | Breaker::HalfOpen { .. },
                    CircuitState::HalfOpen
                )
        )
    }

    /// Applies an `Event::Circuit` to `to`, recorded as receipt `seq` at `ts_ms`. The trial
    /// of a half-open circuit is the dispatch recorded right after (`seq + 1`).
    pub fn apply_circuit(&mut self, seq: u64, ts_ms: u64, to: CircuitState) {
        *self = match to {
            CircuitState::Closed => Breaker::CLOSED,
            CircuitState::Open => Breaker::Open { since_ms: ts_ms },
            CircuitState::HalfOpen => Breaker::HalfOpen {
                trial: seq.saturating_add(1),
            },
        };
    }
}

/// The breakers of the four kinds, by [`ActionKind::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breakers([Breaker; 4]);

impl Breakers {
    /// One kind's breaker.
    pub fn get(&self, kind: ActionKind) -> Breaker {
        self.0.get(kind.index()).copied().unwrap_or_default()
    }

    /// One kind's breaker, to change it.
    pub(crate) fn get_mut(&mut self, kind: ActionKind) -> Option<&mut Breaker> {
        self.0.get_mut(kind.index())
    }
}

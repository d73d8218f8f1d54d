//! Execute, the deciding half (`docs/actions.md`): actions, their validation and their outcomes.
//! The engine decides what runs and keeps the books; the adapter runs it and reports back.

use serde::{Deserialize, Serialize};

use crate::limits::{REVISION_MAX_BYTES, UNDO_BYTES_MAX};

/// A rollback revision: 1..=128 visible-ASCII bytes.
pub type Revision = heapless::String<REVISION_MAX_BYTES, u8>;

/// An undo token: opaque bytes (at most [`UNDO_BYTES_MAX`]) a backend returned with a
/// successful run — the prior state it needs to roll the action back, e.g. the old
/// `cpu.max`. The core only stores it (in the completion receipt, so it survives a restart)
/// and hands it back in [`crate::engine::ActionCommand::Rollback`]. Empty when the backend
/// needs none, when the action did not succeed, and on engine-generated completions.
pub type Undo = heapless::Vec<u8, UNDO_BYTES_MAX>;

/// An action, validated: percents within 0..=100, revisions 1..=128 visible-ASCII bytes.
/// Build one with the constructors; a decoded one is checked by [`Action::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Limit the tenant to `percent` of its resources.
    Throttle {
        /// 0..=100.
        percent: u8,
    },
    /// Stop serving the tenant.
    Pause,
    /// Refuse `percent` of the tenant's admissions.
    Shed {
        /// 0..=100.
        percent: u8,
    },
    /// Roll the tenant's deployment back to a revision.
    Rollback {
        /// 1..=128 visible-ASCII bytes.
        revision: Revision,
    },
}

/// An action kind, without arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    /// `throttle`
    Throttle,
    /// `pause`
    Pause,
    /// `shed`
    Shed,
    /// `rollback`
    Rollback,
}

impl ActionKind {
    /// Every kind, in index order.
    pub const ALL: [ActionKind; 4] = [
        ActionKind::Throttle,
        ActionKind::Pause,
        ActionKind::Shed,
        ActionKind::Rollback,
    ];

    /// The kind's name on the wire (`"kind":"throttle"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionKind::Throttle => "throttle",
            ActionKind::Pause => "pause",
            ActionKind::Shed => "shed",
            ActionKind::Rollback => "rollback",
        }
    }

    /// Position in [`ActionKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The action's arguments are out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("percent must be 0..=100 and revision 1..=128 visible-ASCII bytes")]
pub struct InvalidAction;

impl Action {
    /// The governor's intervention (Stable or Warn → Intervene, `docs/governor.md#the-table`).
    pub const THROTTLE_50: Action = Action::Throttle { percent: 50 };
    /// The governor's sustained-pressure throttle (Warn → Degrade).
    pub const THROTTLE_25: Action = Action::Throttle { percent: 25 };
    /// The governor's refusal (Degrade → Refuse).
    pub const SHED_50: Action = Action::Shed { percent: 50 };

    /// `Throttle(percent)`, percent within 0..=100.
    pub const fn throttle(percent: u8) -> Result<Action, InvalidAction> {
        if percent > 100 {
            return Err(InvalidAction);
        }
        Ok(Action::Throttle { percent })
    }

    /// `Shed(percent)`, percent within 0..=100.
    pub const fn shed(percent: u8) -> Result<Action, InvalidAction> {
        if percent > 100 {
            return Err(InvalidAction);
        }
        Ok(Action::Shed { percent })
    }

    /// `Rollback(revision)`, revision 1..=128 visible-ASCII bytes.
    pub fn rollback(revision: &str) -> Result<Action, InvalidAction> {
        let bytes = revision.as_bytes();
        let visible = bytes.iter().all(|b| (0x21..=0x7E).contains(b));
        if bytes.is_empty() || !visible {
            return Err(InvalidAction);
        }
        let revision = Revision::try_from(revision).map_err(|_| InvalidAction)?;
        Ok(Action::Rollback { revision })
    }

    /// Re-checks a decoded action.
    pub fn validate(&self) -> Result<(), InvalidAction> {
        match self {
            Action::Throttle { percent } | Action::Shed { percent } if *percent > 100 => {
                Err(InvalidAction)
            }
            Action::Rollback { revision } => Action::rollback(revision).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The action's kind.
    pub const fn kind(&self) -> ActionKind {
        match self {
            Action::Throttle { .. } => ActionKind::Throttle,
            Action::Pause => ActionKind::Pause,
            Action::Shed { .. } => ActionKind::Shed,
            Action::Rollback { .. } => ActionKind::Rollback,
        }
    }

    /// The percent of Throttle and Shed.
    pub const fn percent(&self) -> Option<u8> {
        match self {
            Action::Throttle { percent } | Action::Shed { percent } => Some(*percent),
            _ => None,
        }
    }

    /// The revision of Rollback.
    pub fn revision(&self) -> Option<&str> {
        match self {
            Action::Rollback { revision } => Some(revision.as_str()),
            _ => None,
        }
    }
}

/// How a dispatched action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionOutcome {
    /// The backend reported success.
    Succeeded,
    /// The backend reported failure.
    Failed,
    /// It did not finish before its deadline (`ExecutionTimeout`); counts as a failure.
    TimedOut,
    /// A newer action from the governor replaced it; it was cancelled.
    Superseded,
    /// Its kind's circuit was open: refused at once, never run (`docs/actions.md#circuit-breakers`);
    /// counts as a failure for the governor, not for the circuit.
    CircuitOpen,
}

impl ActionOutcome {
    /// Every outcome, in index order.
    pub const ALL: [ActionOutcome; 5] = [
        ActionOutcome::Succeeded,
        ActionOutcome::Failed,
        ActionOutcome::TimedOut,
        ActionOutcome::Superseded,
        ActionOutcome::CircuitOpen,
    ];

    /// The outcome's position in [`ActionOutcome::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The outcome's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Succeeded => "Succeeded",
            ActionOutcome::Failed => "Failed",
            ActionOutcome::TimedOut => "ExecutionTimeout",
            ActionOutcome::Superseded => "Superseded",
            ActionOutcome::CircuitOpen => "CircuitOpen",
        }
    }

    /// Whether it is a failure of the backend (Failed, ExecutionTimeout): what a circuit
    /// breaker counts.
    pub const fn is_failure_of_backend(self) -> bool {
        matches!(self, ActionOutcome::Failed | ActionOutcome::TimedOut)
    }
}

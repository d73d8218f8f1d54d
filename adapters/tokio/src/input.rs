//! The inputs that change the engine, each turned into its engine call in one place.
//!
//! An input is owned data: a signal, a tenant's entitlement command, a reset, a manual
//! action, a rollback, an actuator's outcome. [`Apply::apply`] is the one mapping from each
//! to the engine's `handle_*` call. Two drivers use it and nothing else calls those
//! `handle_*` functions:
//!
//! - the engine thread (`crate::daemon`), with the wall clock, retrying once on `Busy`
//!   after draining and committing;
//! - `replay` (`crate::replay`), with the clock the input lines carry, through [`apply`]
//!   over the inputs a replay line can say ([`Input`]), draining after each line.

use autonomic_core::engine::{
    CommandError, EngineConfig, IngestError, Mode, ModeError, ReloadError, SignalResult, Transition,
};
use autonomic_core::entitlement::EntitlementError;
use autonomic_core::{Action, Engine, EntitlementCommand, EntitlementState, RawSignal};

use crate::wire::SignalIn;

/// An input the engine applies at an instant.
pub trait Apply {
    /// What the engine answers.
    type Output;
    /// Applies the input at `now_ms`.
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output;
}

/// An entitlement command with owned arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitlementCmd {
    /// Activate (or change plan).
    Activate {
        /// `starter`, `pro` or `enterprise`.
        sku: String,
        /// Optional expiry, Unix ms.
        expires_at_ms: Option<u64>,
    },
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Revoke.
    Revoke,
}

/// A tenant's entitlement command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// The tenant.
    pub tenant: String,
    /// The command.
    pub command: EntitlementCmd,
}

/// An operator's reset of a tenant's governor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    /// The tenant.
    pub tenant: String,
}

/// An operator's manual action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualAction {
    /// The tenant.
    pub tenant: String,
    /// The action.
    pub action: Action,
    /// Wait behind the action in flight instead of being refused
    /// ([`Engine::handle_queued_action`]).
    pub queue: bool,
}

/// What became of a manual action: its receipt id, and whether it was queued (the id is
/// then its `ActionQueued` receipt's) rather than dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionReceipt {
    /// The dispatch receipt, or the `ActionQueued` receipt.
    pub receipt: u64,
    /// Whether it was queued.
    pub queued: bool,
}

/// An operator sets a tenant's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMode {
    /// The tenant.
    pub tenant: String,
    /// Its mode from now on.
    pub mode: Mode,
}

/// A rollback of a completed action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollback {
    /// The completed action's receipt id.
    pub receipt: u64,
}

/// How a tenant's action in flight ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The tenant.
    pub tenant: String,
    /// The action's receipt id (`None`: whatever is in flight, as replay says it).
    pub receipt: Option<u64>,
    /// Whether the action took effect.
    pub succeeded: bool,
    /// The backend's undo token (empty: none).
    pub undo: Vec<u8>,
}

/// How a rollback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The rolled-back action's receipt id.
    pub receipt: u64,
    /// Whether the backend undid it.
    pub succeeded: bool,
}

/// A new engine configuration, from the file whose bytes hash to `hash` (hot reload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConfig {
    /// The configuration, applied whole.
    pub config: EngineConfig,
    /// The SHA-256 of the configuration file's bytes.
    pub hash: [u8; 32],
}

impl Apply for NewConfig {
    type Output = Result<u64, ReloadError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        engine.handle_config(now_ms, self.config, self.hash)
    }
}

impl Apply for SignalIn {
    type Output = Result<SignalResult, IngestError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        let raw = RawSignal {
            tenant: &self.tenant,
            metric: &self.metric,
            value: self.value,
            ts_ms: self.ts_ms,
        };
        engine.handle_signal(now_ms, &raw)
    }
}

impl Apply for Entitlement {
    type Output = Result<EntitlementState, EntitlementError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        let command = match &self.command {
            EntitlementCmd::Activate { sku, expires_at_ms } => EntitlementCommand::Activate {
                sku,
                expires_at_ms: *expires_at_ms,
            },
            EntitlementCmd::Pause => EntitlementCommand::Pause,
            EntitlementCmd::Resume => EntitlementCommand::Resume,
            EntitlementCmd::Revoke => EntitlementCommand::Revoke,
        };
        engine.handle_entitlement(now_ms, &self.tenant, command)
    }
}

impl Apply for Reset {
    type Output = Result<Transition, CommandError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        engine.handle_reset(now_ms, &self.tenant)
    }
}

impl Apply for ManualAction {
    type Output = Result<ActionReceipt, CommandError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        let (tenant, action) = (&self.tenant, self.action.clone());
        if !self.queue {
            let receipt = engine.handle_action(now_ms, tenant, action)?;
            return Ok(ActionReceipt {
                receipt,
                queued: false,
            });
        }
        let receipt = engine.handle_queued_action(now_ms, tenant, action)?;
        let queued = engine.queued(tenant).any(|q| q.receipt == receipt);
        Ok(ActionReceipt { receipt, queued })
    }
}

impl Apply for SetMode {
    type Output = Result<u64, ModeError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        engine.handle_mode(now_ms, &self.tenant, self.mode)
    }
}

impl Apply for Rollback {
    type Output = Result<u64, CommandError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        engine.handle_rollback(now_ms, self.receipt)
    }
}

impl Apply for Outcome {
    type Output = Result<Transition, CommandError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        let Outcome {
            tenant,
            receipt,
            succeeded,
            undo,
        } = self;
        engine.handle_outcome(now_ms, tenant, *receipt, *succeeded, undo)
    }
}

impl Apply for RollbackOutcome {
    type Output = Result<(), CommandError>;
    fn apply(&self, engine: &mut Engine<'_>, now_ms: u64) -> Self::Output {
        engine.handle_rollback_outcome(now_ms, self.receipt, self.succeeded)
    }
}

/// The inputs a replay line can say.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A signal.
    Signal(SignalIn),
    /// An entitlement command.
    Entitlement(Entitlement),
    /// A reset.
    Reset(Reset),
    /// The outcome of the tenant's action in flight.
    Outcome(Outcome),
}

impl Input {
    /// The tenant the input is about.
    #[must_use]
    pub fn tenant(&self) -> &str {
        match self {
            Input::Signal(s) => &s.tenant,
            Input::Entitlement(e) => &e.tenant,
            Input::Reset(r) => &r.tenant,
            Input::Outcome(o) => &o.tenant,
        }
    }
}

/// What the engine answered to an [`Input`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// To a signal.
    Signal(Result<SignalResult, IngestError>),
    /// To an entitlement command: the new state.
    Entitlement(Result<EntitlementState, EntitlementError>),
    /// To a reset or an outcome: the governor's transition.
    Governor(Result<Transition, CommandError>),
}

/// Applies `input` at `now_ms`.
pub fn apply(engine: &mut Engine<'_>, now_ms: u64, input: &Input) -> Applied {
    match input {
        Input::Signal(signal) => Applied::Signal(signal.apply(engine, now_ms)),
        Input::Entitlement(command) => Applied::Entitlement(command.apply(engine, now_ms)),
        Input::Reset(reset) => Applied::Governor(reset.apply(engine, now_ms)),
        Input::Outcome(outcome) => Applied::Governor(outcome.apply(engine, now_ms)),
    }
}

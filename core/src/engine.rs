//! The engine: one sans-IO type composing Monitor → Analyze → Plan → Execute → Knowledge.
//!
//! # Call order
//!
//! A driver owns the clock and runs a fixed loop (GUIDE §1):
//!
//! 1. read the clock once: `now_ms`;
//! 2. feed inputs: [`Engine::handle_signal`], [`Engine::handle_outcome`],
//!    [`Engine::handle_entitlement`], [`Engine::handle_reset`], [`Engine::handle_action`],
//!    [`Engine::handle_rollback`], [`Engine::handle_rollback_outcome`], and
//!    [`Engine::handle_timeout`] when the deadline from [`Engine::poll_timeout`] has passed;
//! 3. drain the effects: [`Engine::poll_record`] (receipts to persist, in seq order) and
//!    [`Engine::poll_action`] (actions to run, cancel or roll back);
//! 4. sleep until [`Engine::poll_timeout`] or the next input.
//!
//! Every input either applies whole or changes nothing: output queues are bounded, and an
//! input whose effects would not fit is refused with `Busy` before anything is touched.
//!
//! # State is the fold of the receipts
//!
//! Every change of a tenant's entitlement, governor, in-flight action, enforced action and
//! rollback bookkeeping happens in one place, `apply`, which takes a receipt's event. The
//! live path appends a receipt and applies it; [`Engine::restore`] applies receipts read back
//! from disk. So an engine rebuilt from its ledger equals the live one, by construction and
//! by test. Not persisted (and so not rebuilt): admission usage (callers re-admit after a
//! restart), the Shed spread counter, and dedup ids of signals that changed nothing.

use heapless::{Deque, Vec, index_map::FnvIndexMap};

use crate::action::{Action, ActionKind, ActionOutcome, Undo};
use crate::entitlement::{
    self, AdmitError, Entitlement, EntitlementCommand, EntitlementError, EntitlementState,
    NEVER_MS, Resource, Sku,
};
use crate::governor::{self, Governor, GovernorEvent, GovernorState, Step, Thresholds};
use crate::ledger::Ledger;
use crate::limits::{
    ACTION_QUEUE_MAX, ACTION_TIMEOUT_MS_DEFAULT, ACTION_TIMEOUT_MS_MAX, DEDUP_IDS_DEFAULT,
    DEDUP_SLOTS_DEFAULT, IN_FLIGHT_MAX, LEDGER_BYTES_DEFAULT, RECEIPTS_DEFAULT, ROLLBACKABLE_MAX,
    TENANTS_DEFAULT, UNDO_BYTES_MAX,
};
use crate::monitor::{self, Dedup, RawSignal, Signal, SignalError, TenantId};
use crate::receipt::{Cause, ChainError, Event, Receipt};

/// The engine with the default capacities of [`crate::limits`]: 1024 tenants, 1024
/// receipts in a 256 KiB ring, 8192 dedup ids. About 0.9 MiB: box it or make it static.
pub type DefaultEngine = Engine<
    TENANTS_DEFAULT,
    RECEIPTS_DEFAULT,
    LEDGER_BYTES_DEFAULT,
    DEDUP_IDS_DEFAULT,
    DEDUP_SLOTS_DEFAULT,
>;

/// What the engine is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The governor's thresholds.
    pub thresholds: Thresholds,
    /// The deadline of each action kind, by [`ActionKind::index`]; 1..=3 600 000 ms.
    pub action_timeout_ms: [u64; 4],
    /// Receipts kept in memory (clamped to 4..=N).
    pub ledger_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::DEFAULT,
            action_timeout_ms: [ACTION_TIMEOUT_MS_DEFAULT; 4],
            ledger_capacity: usize::MAX,
        }
    }
}

impl EngineConfig {
    /// The deadline of one action kind.
    pub fn timeout_ms(&self, kind: ActionKind) -> u64 {
        let configured = self.action_timeout_ms.get(kind.index()).copied();
        configured.unwrap_or(ACTION_TIMEOUT_MS_DEFAULT)
    }
}

/// A configuration the engine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EngineConfigError {
    /// An action timeout outside 1..=3 600 000 ms.
    #[error("{kind:?} timeout must be 1..=3600000 ms, got {timeout_ms}")]
    ActionTimeout {
        /// The kind.
        kind: ActionKind,
        /// The refused value.
        timeout_ms: u64,
    },
}

/// The action in force for admission, with the receipt that dispatched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforced {
    /// The dispatch receipt.
    pub receipt: u64,
    /// Throttle, Pause or Shed.
    pub kind: ActionKind,
    /// Throttle's and Shed's percent (0 for Pause).
    pub percent: u8,
}

/// One tenant's state beside its id: 64 bytes (a test guards the figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TenantState {
    governor: Governor,
    entitlement: Entitlement,
    enforced: Option<Enforced>,
    usage: [u16; 4],
    shed_attempt: u8,
    /// Once Terminated: the engine's termination count when this tenant was revoked, so the
    /// lowest is the one terminated longest ago (receipt order). A `u32` fits the padding
    /// (a `u64` seq would grow the state past 64 bytes).
    terminated_rank: u32,
}

/// An action being executed by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its receipt id.
    pub receipt: u64,
    slot: u32,
    /// When it times out.
    pub deadline_ms: u64,
    /// The action.
    pub action: Action,
}

/// A successfully completed action, remembered for rollback with the backend's undo token
/// (rebuilt by [`Engine::restore`] from its completion receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Completed {
    receipt: u64,
    slot: u32,
    action: Action,
    undo: Undo,
    rollback_pending: bool,
}

/// An effect for the adapter's actuators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCommand {
    /// Run `action`; report with [`Engine::handle_outcome`] quoting `receipt`.
    Run {
        /// The receipt id.
        receipt: u64,
        /// The tenant.
        tenant: TenantId,
        /// What to run.
        action: Action,
        /// The engine will time it out at this instant.
        deadline_ms: u64,
    },
    /// Stop the action with this receipt id (superseded or timed out); report nothing.
    Cancel {
        /// The receipt id.
        receipt: u64,
        /// The tenant.
        tenant: TenantId,
    },
    /// Undo the completed action with this receipt id; report with
    /// [`Engine::handle_rollback_outcome`].
    Rollback {
        /// The rolled-back action's receipt id.
        receipt: u64,
        /// The tenant.
        tenant: TenantId,
        /// What to undo.
        action: Action,
        /// The undo token the backend returned with the action's success (from the ledger,
        /// so it survives a restart); empty if it returned none.
        undo: Undo,
    },
}

/// What one governor event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: GovernorState,
    /// The state after.
    pub to: GovernorState,
    /// `consecutive_high` after.
    pub consecutive_high: u8,
    /// The action dispatched, if any.
    pub action: Option<Action>,
    /// Its receipt id.
    pub receipt: Option<u64>,
}

/// What became of an accepted signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalResult {
    /// Seen before in the retained windows: reported, not governed.
    Duplicate,
    /// Governed.
    Governed(Transition),
}

/// Why a signal was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// SPEC §2 validation.
    #[error(transparent)]
    Invalid(#[from] SignalError),
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// The entitlement has expired.
    #[error("the entitlement has expired")]
    EntitlementExpired,
    /// The entitlement is Pending, Paused or Terminated.
    #[error("the entitlement is not active")]
    EntitlementNotActive,
    /// The output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
}

impl IngestError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            IngestError::Invalid(e) => e.name(),
            IngestError::TenantNotFound => "TenantNotFound",
            IngestError::EntitlementExpired => "EntitlementExpired",
            IngestError::EntitlementNotActive => "EntitlementNotActive",
            IngestError::Busy => "Busy",
        }
    }
}

/// Why an outcome, a reset, an action request or a rollback was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// The outcome names a receipt that is not the tenant's action in flight.
    #[error("receipt {0} is not the action in flight")]
    StaleOutcome(u64),
    /// An action is already in flight for the tenant (or a rollback for the receipt).
    #[error("action {0} is still executing")]
    AlreadyExecuting(u64),
    /// No completed action with this receipt id is remembered.
    #[error("no completed action with receipt {0}")]
    ReceiptNotFound(u64),
    /// An outcome's undo token is longer than [`UNDO_BYTES_MAX`] bytes (its length).
    #[error("undo token of {0} bytes is longer than {UNDO_BYTES_MAX}")]
    UndoTooLarge(usize),
    /// The output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
}

impl CommandError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            CommandError::TenantNotFound => "TenantNotFound",
            CommandError::StaleOutcome(_) => "StaleOutcome",
            CommandError::AlreadyExecuting(_) => "AlreadyExecuting",
            CommandError::ReceiptNotFound(_) => "ReceiptNotFound",
            CommandError::UndoTooLarge(_) => "UndoTooLarge",
            CommandError::Busy => "Busy",
        }
    }
}

/// Why a record could not be restored; the engine must not be used after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The record does not continue the chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain is intact but the receipt contradicts the state before it (e.g. a governor
    /// change for a tenant with no entitlement), or the tenant table is full with no
    /// reusable slot (which the live path, having the same capacity, would have refused).
    #[error("receipt {0} does not follow from the receipts before it")]
    Inconsistent(u64),
}

/// A tenant, as the getters show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantView<'a> {
    /// The id.
    pub tenant: &'a str,
    /// The entitlement state at the `now_ms` asked about.
    pub entitlement: EntitlementState,
    /// The tier.
    pub sku: Sku,
    /// When the entitlement expires (`None`: never).
    pub expires_at_ms: Option<u64>,
    /// The governor's state.
    pub state: GovernorState,
    /// Its consecutive-high count.
    pub consecutive_high: u8,
    /// When the governor entered its state.
    pub entered_at_ms: u64,
    /// Milliseconds in the state at the `now_ms` asked about.
    pub time_in_state_ms: u64,
    /// The action in flight, if any.
    pub in_flight: Option<&'a InFlight>,
    /// The action enforced at admission, if any.
    pub enforced: Option<Enforced>,
    /// Units in use, by [`Resource`] index.
    pub usage: [u16; 4],
}

/// The sans-IO engine (see the module doc for the call order).
///
/// Capacities: `T` tenants (a power of two), `N` receipts and `BYTES` bytes in the ledger
/// ring, `IDS` dedup ids in `SLOTS` index slots. Engine-wide: [`IN_FLIGHT_MAX`] actions in
/// flight, [`ROLLBACKABLE_MAX`] completed actions remembered for rollback,
/// [`ACTION_QUEUE_MAX`] queued action commands.
#[derive(Debug, Clone)]
pub struct Engine<
    const T: usize,
    const N: usize,
    const BYTES: usize,
    const IDS: usize,
    const SLOTS: usize,
> {
    config: EngineConfig,
    tenants: FnvIndexMap<TenantId, TenantState, T>,
    dedup: Dedup<IDS, SLOTS>,
    ledger: Ledger<N, BYTES>,
    in_flight: Vec<InFlight, IN_FLIGHT_MAX>,
    completed: Deque<Completed, ROLLBACKABLE_MAX>,
    actions: Deque<ActionCommand, ACTION_QUEUE_MAX>,
    /// Terminations applied so far (saturating): the next Terminated tenant's rank.
    terminations: u32,
}

impl<const T: usize, const N: usize, const BYTES: usize, const IDS: usize, const SLOTS: usize>
    Engine<T, N, BYTES, IDS, SLOTS>
{
    const SHAPE_OK: () = assert!(T <= u32::MAX as usize, "tenant capacity must fit in u32");

    /// An empty engine at genesis.
    pub fn new(config: EngineConfig) -> Result<Self, EngineConfigError> {
        let () = Self::SHAPE_OK;
        for kind in ActionKind::ALL {
            let timeout_ms = config.timeout_ms(kind);
            if !(1..=ACTION_TIMEOUT_MS_MAX).contains(&timeout_ms) {
                return Err(EngineConfigError::ActionTimeout { kind, timeout_ms });
            }
        }
        Ok(Self {
            config,
            tenants: FnvIndexMap::new(),
            dedup: Dedup::new(),
            ledger: Ledger::new(config.ledger_capacity),
            in_flight: Vec::new(),
            completed: Deque::new(),
            actions: Deque::new(),
            terminations: 0,
        })
    }

    // ----- inputs -------------------------------------------------------------------------

    /// Monitor → Analyze → dedup → Plan → Execute for one signal (SPEC §2 order: validation,
    /// entitlement, dedup).
    pub fn handle_signal(
        &mut self,
        now_ms: u64,
        raw: &RawSignal<'_>,
    ) -> Result<SignalResult, IngestError> {
        let signal = Signal::parse(raw, now_ms)?;
        let slot = self
            .slot(signal.tenant)
            .ok_or(IngestError::TenantNotFound)?;
        let tenant = self.state(slot).ok_or(IngestError::TenantNotFound)?;
        match tenant.entitlement.state_at(now_ms) {
            EntitlementState::Active => {}
            EntitlementState::Expired => return Err(IngestError::EntitlementExpired),
            _ => return Err(IngestError::EntitlementNotActive),
        }
        // The age bound is the retention: an accepted signal's id is remembered at least as
        // long as a redelivery of it would be accepted.
        debug_assert!(self.dedup.retains(signal.window(), now_ms));
        let id = signal.id();
        if self.dedup.contains(&id, now_ms) {
            return Ok(SignalResult::Duplicate);
        }
        let event = GovernorEvent::Signal(signal.value_pct);
        let step = self.plan(slot, event);
        if !self.has_room(slot, false, &step) {
            return Err(IngestError::Busy);
        }
        let inserted = self.dedup.insert(&id, signal.window(), now_ms);
        debug_assert!(inserted);
        let cause = Cause::Signal {
            metric: signal.metric,
            value_pct: signal.value_pct,
            ts_ms: signal.ts_ms,
        };
        Ok(SignalResult::Governed(
            self.enact(now_ms, slot, cause, step),
        ))
    }

    /// An action outcome for `tenant`. With `receipt`, it must be the action in flight
    /// (else `StaleOutcome`); without, it applies to whatever is in flight, if anything.
    /// The governor reacts either way (SPEC §5).
    ///
    /// `undo` is the backend's undo token for a successful run (see [`Undo`]): kept in the
    /// completion receipt and handed back with [`ActionCommand::Rollback`]. One longer than
    /// [`UNDO_BYTES_MAX`] is refused with `UndoTooLarge` before anything else (nothing
    /// changes); on a failed outcome it is ignored and recorded empty.
    pub fn handle_outcome(
        &mut self,
        now_ms: u64,
        tenant: &str,
        receipt: Option<u64>,
        succeeded: bool,
        undo: &[u8],
    ) -> Result<Transition, CommandError> {
        let undo = Undo::from_slice(undo).map_err(|_| CommandError::UndoTooLarge(undo.len()))?;
        let slot = self.slot(tenant).ok_or(CommandError::TenantNotFound)?;
        let in_flight = self.in_flight_of(slot).map(|f| f.receipt);
        if let Some(r) = receipt
            && in_flight != Some(r)
        {
            return Err(CommandError::StaleOutcome(r));
        }
        let (outcome, undo) = if succeeded {
            (ActionOutcome::Succeeded, undo)
        } else {
            (ActionOutcome::Failed, Undo::new())
        };
        self.complete(now_ms, slot, outcome, undo)
    }

    /// Times out every action whose deadline is at or before `now_ms` (SPEC §5: a timeout
    /// is `ExecutionTimeout` = ActionFailed; the adapter gets a `Cancel` to kill it).
    /// Returns how many it timed out; fewer than are due when the queues fill, in which case
    /// [`Engine::poll_timeout`] stays in the past and the driver calls again after draining.
    pub fn handle_timeout(&mut self, now_ms: u64) -> usize {
        let mut done = 0;
        while let Some(due) = self
            .in_flight
            .iter()
            .filter(|f| f.deadline_ms <= now_ms)
            .min_by_key(|f| (f.deadline_ms, f.receipt))
        {
            let (slot, receipt) = (due.slot as usize, due.receipt);
            if self.actions.len() + 2 > ACTION_QUEUE_MAX {
                break;
            }
            let Some(tenant) = self.tenant_id(slot) else {
                break;
            };
            match self.complete(now_ms, slot, ActionOutcome::TimedOut, Undo::new()) {
                Ok(_) => {
                    let cancel = ActionCommand::Cancel { receipt, tenant };
                    let queued = self.actions.push_back(cancel).is_ok();
                    debug_assert!(queued);
                    done += 1;
                }
                Err(_) => break,
            }
        }
        done
    }

    /// An operator's reset: the governor returns to Stable (SPEC §4), whatever the
    /// entitlement's state, and enforcement ends. The governor receipt (cause `Reset`) is
    /// written when the state or c change and also when an action is enforced (Stable →
    /// Stable, c 0): applying it is what clears the enforced action, so restore agrees.
    pub fn handle_reset(&mut self, now_ms: u64, tenant: &str) -> Result<Transition, CommandError> {
        let slot = self.slot(tenant).ok_or(CommandError::TenantNotFound)?;
        let mut step = self.plan(slot, GovernorEvent::Reset);
        step.forced = self.state(slot).is_some_and(|t| t.enforced.is_some());
        debug_assert_eq!(step.step.to, GovernorState::Stable);
        if !self.has_room(slot, false, &step) {
            return Err(CommandError::Busy);
        }
        Ok(self.enact(now_ms, slot, Cause::Reset, step))
    }

    /// A manual action request; `AlreadyExecuting` while the tenant has one in flight
    /// (SPEC §5). Returns the action's receipt id.
    pub fn handle_action(
        &mut self,
        now_ms: u64,
        tenant: &str,
        action: Action,
    ) -> Result<u64, CommandError> {
        let slot = self.slot(tenant).ok_or(CommandError::TenantNotFound)?;
        if let Some(f) = self.in_flight_of(slot) {
            return Err(CommandError::AlreadyExecuting(f.receipt));
        }
        let in_flight_full = self.in_flight.is_full();
        if in_flight_full || !self.ledger.can_append(1) || self.actions.is_full() {
            return Err(CommandError::Busy);
        }
        self.dispatch(now_ms, slot, action, true)
            .ok_or(CommandError::Busy)
    }

    /// Requests the rollback of a completed action by its receipt id. Returns the receipt of
    /// the request; the adapter gets an [`ActionCommand::Rollback`].
    pub fn handle_rollback(&mut self, now_ms: u64, receipt: u64) -> Result<u64, CommandError> {
        let done = self
            .completed
            .iter()
            .find(|c| c.receipt == receipt)
            .ok_or(CommandError::ReceiptNotFound(receipt))?;
        if done.rollback_pending {
            return Err(CommandError::AlreadyExecuting(receipt));
        }
        if !self.ledger.can_append(1) || self.actions.is_full() {
            return Err(CommandError::Busy);
        }
        let (slot, action, undo) = (done.slot as usize, done.action.clone(), done.undo.clone());
        let tenant = self
            .tenant_id(slot)
            .ok_or(CommandError::ReceiptNotFound(receipt))?;
        let seq = self
            .commit(now_ms, slot, Event::RollbackRequested { receipt })
            .ok_or(CommandError::Busy)?;
        let command = ActionCommand::Rollback {
            receipt,
            tenant,
            action,
            undo,
        };
        let queued = self.actions.push_back(command).is_ok();
        debug_assert!(queued);
        Ok(seq)
    }

    /// The outcome of a rollback requested with [`Engine::handle_rollback`].
    pub fn handle_rollback_outcome(
        &mut self,
        now_ms: u64,
        receipt: u64,
        succeeded: bool,
    ) -> Result<(), CommandError> {
        let slot = self
            .completed
            .iter()
            .find(|c| c.receipt == receipt && c.rollback_pending)
            .map(|c| c.slot as usize)
            .ok_or(CommandError::ReceiptNotFound(receipt))?;
        if !self.ledger.can_append(1) {
            return Err(CommandError::Busy);
        }
        let event = Event::RollbackCompleted { receipt, succeeded };
        self.commit(now_ms, slot, event)
            .map(|_| ())
            .ok_or(CommandError::Busy)
    }

    /// An entitlement command (SPEC §3). Returns the new state.
    pub fn handle_entitlement(
        &mut self,
        now_ms: u64,
        tenant: &str,
        command: EntitlementCommand<'_>,
    ) -> Result<EntitlementState, EntitlementError> {
        monitor::validate_tenant(tenant).map_err(|_| EntitlementError::InvalidTenantId)?;
        let new_sku = match command {
            EntitlementCommand::Provision { sku } | EntitlementCommand::Activate { sku, .. } => {
                Some(Sku::parse(sku)?)
            }
            _ => None,
        };
        let slot = self.slot(tenant);
        let current = slot.and_then(|s| self.state(s)).map(|t| t.entitlement);
        let from = current.map(|e| e.state_at(now_ms));
        let to = entitlement::transition(from, command.kind())?;
        if !self.ledger.can_append(1) {
            return Err(EntitlementError::Busy);
        }
        let slot = match slot {
            Some(slot) => slot,
            None => self
                .insert_tenant(tenant, now_ms)
                .ok_or(EntitlementError::TenantTableFull)?,
        };
        let (sku, expires_at_ms) = match (command, current) {
            (EntitlementCommand::Activate { expires_at_ms, .. }, _) => (new_sku, expires_at_ms),
            (EntitlementCommand::Provision { .. }, _) => (new_sku, None),
            (_, Some(e)) => (Some(e.sku), expiry(e.expires_at_ms)),
            (_, None) => (None, None),
        };
        let event = Event::Entitlement {
            command: command.kind(),
            from,
            to,
            sku: sku.unwrap_or(Sku::Starter),
            expires_at_ms,
        };
        self.commit(now_ms, slot, event)
            .ok_or(EntitlementError::Busy)?;
        Ok(to)
    }

    /// Admits `amount` units of `resource` for `tenant` under its quota and its enforced
    /// action (SPEC §3): Throttle(p) lowers the limit to p% (at least 1), Pause refuses all,
    /// Shed(p) refuses p of every 100 attempts, evenly spread. Returns the units now in use.
    ///
    /// On refusal nothing changes, except that a Shed-refused attempt still advances the
    /// spread counter (otherwise Shed would refuse forever).
    pub fn admit(
        &mut self,
        now_ms: u64,
        tenant: &str,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let slot = self.slot(tenant).ok_or(AdmitError::TenantNotFound)?;
        let state = self.state_mut(slot).ok_or(AdmitError::TenantNotFound)?;
        serving(&state.entitlement, now_ms)?;
        let amount = u16::try_from(amount)
            .ok()
            .filter(|a| *a > 0)
            .ok_or(AdmitError::InvalidAmount)?;
        let mut limit = state.entitlement.sku.limit(resource);
        match state.enforced {
            Some(Enforced {
                kind: ActionKind::Pause,
                ..
            }) => {
                return Err(AdmitError::RefusedByAction(ActionKind::Pause));
            }
            Some(Enforced {
                kind: ActionKind::Shed,
                percent,
                ..
            }) => {
                let refused = entitlement::shed_refuses(state.shed_attempt, percent);
                state.shed_attempt = (state.shed_attempt + 1) % 100;
                if refused {
                    return Err(AdmitError::RefusedByAction(ActionKind::Shed));
                }
            }
            Some(Enforced {
                kind: ActionKind::Throttle,
                percent,
                ..
            }) => {
                limit = entitlement::throttled_limit(limit, percent);
            }
            _ => {}
        }
        let used = state
            .usage
            .get_mut(resource.index())
            .ok_or(AdmitError::UnknownResource)?;
        let current = *used;
        if u32::from(current) + u32::from(amount) > u32::from(limit) {
            return Err(AdmitError::QuotaExceeded {
                resource,
                in_use: current,
                requested: amount,
                limit,
            });
        }
        *used = current + amount;
        Ok(*used)
    }

    /// Releases units admitted before. Returns the units still in use.
    pub fn release(
        &mut self,
        tenant: &str,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let slot = self.slot(tenant).ok_or(AdmitError::TenantNotFound)?;
        let state = self.state_mut(slot).ok_or(AdmitError::TenantNotFound)?;
        let amount = u16::try_from(amount)
            .ok()
            .filter(|a| *a > 0)
            .ok_or(AdmitError::InvalidAmount)?;
        let used = state
            .usage
            .get_mut(resource.index())
            .ok_or(AdmitError::UnknownResource)?;
        let current = *used;
        let left = current
            .checked_sub(amount)
            .ok_or(AdmitError::ReleaseExceedsUsage {
                resource,
                current,
                amount,
            })?;
        *used = left;
        Ok(left)
    }

    /// Rebuilds state from one durable record, in chain order (receipt 0 first). The record
    /// is verified against the ring's head (seq, prev_hash, hash), decoded, kept in the ring
    /// as already persisted, and applied exactly as the live path applied it.
    pub fn restore(&mut self, record: &[u8]) -> Result<(), RestoreError> {
        let position = self.ledger.next_seq();
        let receipt = Receipt::decode(record).map_err(|kind| ChainError { position, kind })?;
        let slot = match (self.slot(&receipt.tenant), &receipt.event) {
            (Some(slot), _) => slot,
            (None, Event::Entitlement { from: None, .. }) => self
                .insert_tenant(&receipt.tenant, receipt.ts_ms)
                .ok_or(RestoreError::Inconsistent(position))?,
            (None, _) => return Err(RestoreError::Inconsistent(position)),
        };
        if !self.follows(slot, &receipt.event) {
            return Err(RestoreError::Inconsistent(position));
        }
        self.ledger.restore(record)?;
        self.apply(slot, receipt.seq, receipt.ts_ms, &receipt.event);
        if let Event::Governor { cause, .. } = &receipt.event
            && let (Some(id), Cause::Signal { ts_ms, .. }) =
                (cause.signal_id(&receipt.tenant), cause)
        {
            let window = ts_ms / crate::limits::DEDUP_WINDOW_MS;
            self.dedup.insert(&id, window, receipt.ts_ms);
        }
        Ok(())
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next receipt to persist, as its canonical bytes, in seq order.
    pub fn poll_record(&mut self) -> Option<&[u8]> {
        self.ledger.poll_record()
    }

    /// The next action command for the adapter.
    pub fn poll_action(&mut self) -> Option<ActionCommand> {
        self.actions.pop_front()
    }

    /// The earliest deadline of an action in flight: call [`Engine::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.in_flight.iter().map(|f| f.deadline_ms).min()
    }

    // ----- getters ------------------------------------------------------------------------

    /// One tenant as of `now_ms`.
    pub fn tenant(&self, now_ms: u64, tenant: &str) -> Option<TenantView<'_>> {
        self.view(now_ms, self.slot(tenant)?)
    }

    /// Every tenant as of `now_ms`, in the order they were first seen.
    pub fn tenants(&self, now_ms: u64) -> impl Iterator<Item = TenantView<'_>> + '_ {
        (0..self.tenants.len()).filter_map(move |slot| self.view(now_ms, slot))
    }

    /// Number of tenants known.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// The in-memory ledger.
    pub const fn ledger(&self) -> &Ledger<N, BYTES> {
        &self.ledger
    }

    /// The actions in flight.
    pub fn in_flight(&self) -> &[InFlight] {
        &self.in_flight
    }

    /// Receipt ids of completed actions that can be rolled back, oldest first.
    pub fn rollbackable(&self) -> impl Iterator<Item = u64> + '_ {
        self.completed.iter().map(|c| c.receipt)
    }

    /// Signal ids remembered by the deduplicator.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// Dedup ids evicted while still inside the 60 s retention because the deduplicator was
    /// full (counted since this engine was built, restore included). A redelivery of such a
    /// signal is governed again: a rising count means `IDS` is too small for the load.
    pub const fn dedup_evictions(&self) -> u64 {
        self.dedup.evictions()
    }

    /// Whether a signal with this id would be reported as a duplicate at `now_ms`.
    pub fn is_duplicate(&self, id: &[u8; 32], now_ms: u64) -> bool {
        self.dedup.contains(id, now_ms)
    }

    /// The configuration.
    pub const fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ----- internals ----------------------------------------------------------------------

    fn slot(&self, tenant: &str) -> Option<usize> {
        self.tenants.get_index_of(tenant)
    }

    fn state(&self, slot: usize) -> Option<&TenantState> {
        self.tenants.get_index(slot).map(|(_, v)| v)
    }

    fn state_mut(&mut self, slot: usize) -> Option<&mut TenantState> {
        self.tenants.get_index_mut(slot).map(|(_, v)| v)
    }

    fn tenant_id(&self, slot: usize) -> Option<TenantId> {
        self.tenants.get_index(slot).map(|(k, _)| k.clone())
    }

    fn in_flight_of(&self, slot: usize) -> Option<&InFlight> {
        self.in_flight.iter().find(|f| f.slot as usize == slot)
    }

    /// Adds a tenant (Pending, Starter, governor Stable) and returns its slot. When the table
    /// is full, the slot of the reusable tenant terminated longest ago is taken first (see
    /// [`Engine::reusable_slot`]); `None` if there is none. The live path and
    /// [`Engine::restore`] both come here, so a rebuilt table equals the live one.
    fn insert_tenant(&mut self, tenant: &str, now_ms: u64) -> Option<usize> {
        let id = monitor::tenant_id(tenant).ok()?;
        debug_assert!(self.slot(tenant).is_none());
        if self.tenants.len() == T {
            let victim = self.reusable_slot()?;
            self.remove_slot(victim)?;
        }
        let state = TenantState {
            governor: Governor::new(now_ms),
            entitlement: Entitlement {
                stored: EntitlementState::Pending,
                sku: Sku::Starter,
                expires_at_ms: NEVER_MS,
            },
            enforced: None,
            usage: [0; 4],
            shed_attempt: 0,
            terminated_rank: 0,
        };
        self.tenants.insert(id, state).ok()?;
        self.slot(tenant)
    }

    /// The slot a new tenant may take when the table is full: the Terminated tenant with the
    /// lowest termination rank (ties, possible only after `u32::MAX` terminations: the lowest
    /// slot) that has no action in flight and no completed action remembered for rollback,
    /// so that nothing indexed by slot still points at it.
    fn reusable_slot(&self) -> Option<usize> {
        self.tenants
            .values()
            .enumerate()
            .filter(|(_, t)| t.entitlement.stored == EntitlementState::Terminated)
            .filter(|(slot, _)| {
                self.in_flight_of(*slot).is_none()
                    && !self.completed.iter().any(|c| c.slot as usize == *slot)
            })
            .min_by_key(|(slot, t)| (t.terminated_rank, *slot))
            .map(|(slot, _)| slot)
    }

    /// Forgets the tenant in `slot`, which nothing in `in_flight` or `completed` names. The
    /// map's `swap_remove` moves its last tenant into `slot`: the entries naming that one
    /// follow it.
    fn remove_slot(&mut self, slot: usize) -> Option<()> {
        debug_assert!(self.in_flight_of(slot).is_none());
        debug_assert!(self.completed.iter().all(|c| c.slot as usize != slot));
        let last = self.tenants.len().checked_sub(1)?;
        let id = self.tenant_id(slot)?;
        self.tenants.swap_remove(id.as_str())?;
        // T fits in u32 (SHAPE_OK), so slots do.
        let (from, to) = (last as u32, slot as u32);
        for f in self.in_flight.iter_mut().filter(|f| f.slot == from) {
            f.slot = to;
        }
        for c in self.completed.iter_mut().filter(|c| c.slot == from) {
            c.slot = to;
        }
        debug_assert!(self.in_flight.iter().all(|f| (f.slot as usize) < last));
        debug_assert!(self.completed.iter().all(|c| (c.slot as usize) < last));
        Some(())
    }

    fn view(&self, now_ms: u64, slot: usize) -> Option<TenantView<'_>> {
        let (id, t) = self.tenants.get_index(slot)?;
        Some(TenantView {
            tenant: id.as_str(),
            entitlement: t.entitlement.state_at(now_ms),
            sku: t.entitlement.sku,
            expires_at_ms: expiry(t.entitlement.expires_at_ms),
            state: t.governor.state,
            consecutive_high: t.governor.consecutive_high,
            entered_at_ms: t.governor.entered_at_ms,
            time_in_state_ms: t.governor.time_in_state_ms(now_ms),
            in_flight: self.in_flight_of(slot),
            enforced: t.enforced,
            usage: t.usage,
        })
    }

    /// The governor's step for `event`, decided but not applied.
    fn plan(&self, slot: usize, event: GovernorEvent) -> Planned {
        let governor = self.state(slot).map_or(Governor::new(0), |t| t.governor);
        let step = governor::step(
            &self.config.thresholds,
            governor.state,
            governor.consecutive_high,
            event,
        );
        Planned {
            from: governor.state,
            from_c: governor.consecutive_high,
            step,
            forced: false,
        }
    }

    /// Whether the receipts and commands of `planned` (after completing the in-flight action
    /// when `completing`) fit in the ring, the action queue and the in-flight table.
    fn has_room(&self, slot: usize, completing: bool, planned: &Planned) -> bool {
        let in_flight = self.in_flight_of(slot).is_some() && !completing;
        let mut receipts = usize::from(completing) + usize::from(planned.changes());
        let mut commands = 0;
        if planned.step.action.is_some() {
            receipts += 1 + usize::from(in_flight);
            commands += 1 + usize::from(in_flight);
            let frees_one = in_flight || completing;
            if self.in_flight.is_full() && !frees_one {
                return false;
            }
        }
        self.ledger.can_append(receipts) && self.actions.len() + commands <= ACTION_QUEUE_MAX
    }

    /// Completes the tenant's in-flight action (if any) with `outcome` and lets the governor
    /// react (ActionSucceeded, or ActionFailed for Failed and TimedOut). `undo` is empty
    /// unless `outcome` is `Succeeded`.
    fn complete(
        &mut self,
        now_ms: u64,
        slot: usize,
        outcome: ActionOutcome,
        undo: Undo,
    ) -> Result<Transition, CommandError> {
        debug_assert!(outcome == ActionOutcome::Succeeded || undo.is_empty());
        let in_flight = self.in_flight_of(slot).map(|f| f.receipt);
        let (event, cause) = match outcome {
            ActionOutcome::Succeeded => (GovernorEvent::ActionSucceeded, Cause::ActionSucceeded),
            _ => (GovernorEvent::ActionFailed, Cause::ActionFailed),
        };
        let planned = self.plan(slot, event);
        if !self.has_room(slot, in_flight.is_some(), &planned) {
            return Err(CommandError::Busy);
        }
        if let Some(receipt) = in_flight {
            let done = Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            };
            self.commit(now_ms, slot, done).ok_or(CommandError::Busy)?;
        }
        Ok(self.enact(now_ms, slot, cause, planned))
    }

    /// Applies a planned step: the governor receipt (if anything changed), then the action.
    fn enact(&mut self, now_ms: u64, slot: usize, cause: Cause, planned: Planned) -> Transition {
        let changes = planned.changes();
        let Planned { from, step, .. } = planned;
        if changes {
            let event = Event::Governor {
                cause,
                from,
                to: step.to,
                consecutive_high: step.consecutive_high,
            };
            let committed = self.commit(now_ms, slot, event);
            debug_assert!(committed.is_some());
        }
        let action = step.action.map(governor::Order::action);
        let receipt = match &action {
            Some(action) => self.dispatch(now_ms, slot, action.clone(), false),
            None => None,
        };
        debug_assert_eq!(action.is_some(), receipt.is_some());
        Transition {
            from,
            to: step.to,
            consecutive_high: step.consecutive_high,
            action,
            receipt,
        }
    }

    /// Dispatches an action, superseding the one in flight (SPEC §5). Room was checked.
    fn dispatch(&mut self, now_ms: u64, slot: usize, action: Action, manual: bool) -> Option<u64> {
        let tenant = self.tenant_id(slot)?;
        if let Some(old) = self.in_flight_of(slot).map(|f| f.receipt) {
            let superseded = Event::ActionCompleted {
                receipt: old,
                outcome: ActionOutcome::Superseded,
                undo: Undo::new(),
            };
            self.commit(now_ms, slot, superseded)?;
            let cancel = ActionCommand::Cancel {
                receipt: old,
                tenant: tenant.clone(),
            };
            self.actions.push_back(cancel).ok()?;
        }
        let timeout_ms = self.config.timeout_ms(action.kind());
        let deadline_ms = now_ms.saturating_add(timeout_ms);
        let event = Event::ActionDispatched {
            action: action.clone(),
            deadline_ms,
            manual,
        };
        let receipt = self.commit(now_ms, slot, event)?;
        let run = ActionCommand::Run {
            receipt,
            tenant,
            action,
            deadline_ms,
        };
        self.actions.push_back(run).ok()?;
        Some(receipt)
    }

    /// Appends a receipt for `event` and applies it. `None` only if room was not checked
    /// first (a bug: debug builds assert).
    fn commit(&mut self, now_ms: u64, slot: usize, event: Event) -> Option<u64> {
        let (id, _) = self.tenants.get_index(slot)?;
        let appended = self.ledger.append(now_ms, id, &event);
        debug_assert!(appended.is_ok(), "room is checked before every commit");
        let seq = appended.ok()?;
        self.apply(slot, seq, now_ms, &event);
        Some(seq)
    }

    /// Whether `event` can follow the current state of `slot` (restore's consistency check).
    fn follows(&self, slot: usize, event: &Event) -> bool {
        let Some(t) = self.state(slot) else {
            return false;
        };
        match event {
            Event::Governor { from, .. } => *from == t.governor.state,
            Event::ActionDispatched { .. } => self.in_flight_of(slot).is_none(),
            Event::ActionCompleted { receipt, .. } => self
                .in_flight_of(slot)
                .is_some_and(|f| f.receipt == *receipt),
            Event::RollbackRequested { receipt } | Event::RollbackCompleted { receipt, .. } => {
                self.completed.iter().any(|c| c.receipt == *receipt)
            }
            Event::Entitlement { .. } => true,
        }
    }

    /// The one place where receipts change state (see the module doc).
    fn apply(&mut self, slot: usize, seq: u64, ts_ms: u64, event: &Event) {
        match event {
            Event::Governor {
                to,
                consecutive_high,
                ..
            } => {
                if let Some(t) = self.state_mut(slot) {
                    t.governor.apply(ts_ms, *to, *consecutive_high);
                    if *to == GovernorState::Stable {
                        t.enforced = None;
                    }
                }
            }
            Event::ActionDispatched {
                action,
                deadline_ms,
                ..
            } => {
                let flight = InFlight {
                    receipt: seq,
                    slot: slot as u32,
                    deadline_ms: *deadline_ms,
                    action: action.clone(),
                };
                let pushed = self.in_flight.push(flight).is_ok();
                debug_assert!(pushed);
                if let (Some(t), true) =
                    (self.state_mut(slot), action.kind() != ActionKind::Rollback)
                {
                    t.enforced = Some(Enforced {
                        receipt: seq,
                        kind: action.kind(),
                        percent: action.percent().unwrap_or(0),
                    });
                }
            }
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => self.apply_action_completed(slot, *receipt, *outcome, undo),
            Event::RollbackRequested { receipt } => {
                if let Some(c) = self.completed.iter_mut().find(|c| c.receipt == *receipt) {
                    c.rollback_pending = true;
                }
            }
            Event::RollbackCompleted { receipt, succeeded } => {
                self.apply_rollback_completed(slot, *receipt, *succeeded);
            }
            Event::Entitlement {
                to,
                sku,
                expires_at_ms,
                ..
            } => {
                let rank = self.terminations;
                let terminated = *to == EntitlementState::Terminated;
                if let Some(t) = self.state_mut(slot) {
                    t.entitlement = Entitlement {
                        stored: *to,
                        sku: *sku,
                        expires_at_ms: expires_at_ms.unwrap_or(NEVER_MS),
                    };
                    if terminated {
                        t.terminated_rank = rank;
                    }
                }
                if terminated {
                    self.terminations = self.terminations.saturating_add(1);
                }
            }
        }
    }

    /// An action ended: out of flight; remembered for rollback (with its undo token) if it
    /// succeeded; otherwise (Failed, TimedOut, Superseded) no longer enforced, if it was.
    fn apply_action_completed(
        &mut self,
        slot: usize,
        receipt: u64,
        outcome: ActionOutcome,
        undo: &Undo,
    ) {
        let Some(index) = self.in_flight.iter().position(|f| f.receipt == receipt) else {
            return;
        };
        let flight = self.in_flight.swap_remove(index);
        debug_assert_eq!(flight.slot as usize, slot);
        if outcome != ActionOutcome::Succeeded {
            debug_assert!(undo.is_empty());
            if let Some(t) = self.state_mut(slot)
                && t.enforced.is_some_and(|e| e.receipt == receipt)
            {
                t.enforced = None;
            }
            return;
        }
        if self.completed.is_full() {
            self.completed.pop_front();
        }
        let done = Completed {
            receipt: flight.receipt,
            slot: flight.slot,
            action: flight.action,
            undo: undo.clone(),
            rollback_pending: false,
        };
        let pushed = self.completed.push_back(done).is_ok();
        debug_assert!(pushed);
    }

    fn apply_rollback_completed(&mut self, slot: usize, receipt: u64, succeeded: bool) {
        let Some(index) = self.completed.iter().position(|c| c.receipt == receipt) else {
            return;
        };
        if !succeeded {
            if let Some(c) = self.completed.iter_mut().nth(index) {
                c.rollback_pending = false;
            }
            return;
        }
        // Deque has no remove(index): rotate the entry out, keeping the others' order.
        let len = self.completed.len();
        for i in 0..len {
            if let Some(c) = self.completed.pop_front()
                && i != index
            {
                let _ = self.completed.push_back(c);
            }
        }
        if let Some(t) = self.state_mut(slot)
            && t.enforced.is_some_and(|e| e.receipt == receipt)
        {
            t.enforced = None;
        }
    }
}

/// A governor step, decided and not yet applied.
#[derive(Debug, Clone)]
struct Planned {
    from: GovernorState,
    from_c: u8,
    step: Step,
    /// Write the governor receipt even if nothing changes (a reset ending enforcement).
    forced: bool,
}

impl Planned {
    /// SPEC §6: every change of a governor's state or c appends a receipt (and so does a
    /// forced step).
    fn changes(&self) -> bool {
        self.forced || self.step.to != self.from || self.step.consecutive_high != self.from_c
    }
}

fn expiry(expires_at_ms: u64) -> Option<u64> {
    (expires_at_ms != NEVER_MS).then_some(expires_at_ms)
}

fn serving(entitlement: &Entitlement, now_ms: u64) -> Result<(), AdmitError> {
    match entitlement.state_at(now_ms) {
        EntitlementState::Active => Ok(()),
        EntitlementState::Expired => Err(AdmitError::EntitlementExpired),
        _ => Err(AdmitError::EntitlementNotActive),
    }
}

/// Bytes of core state per tenant beside its id (governor + entitlement + enforced action +
/// usage), guarded by a test against the figure in the README.
pub const TENANT_STATE_BYTES: usize = core::mem::size_of::<TenantState>();

//! Execute, the bookkeeping half: the actions in flight, the completed actions
//! remembered for rollback, the manual actions queued behind those in flight, the commands
//! waiting for the adapter, and what a dispatched
//! action enforces at admission. [`crate::action`] is the deciding half.
//!
//! The `apply_*` methods are the execution part of the engine's one `apply` (state is the
//! fold of the receipts): nothing else changes the in-flight table, the rollbackable list or
//! the queued actions.
//! Tenants are named by their slot in the engine's tenant table.

use heapless::Deque;

use crate::action::{Action, ActionKind, ActionOutcome, Undo};
use crate::engine::CommandError;
use crate::limits::{ACTION_QUEUE_MAX, QUEUED_PER_TENANT_MAX};
use crate::monitor::TenantId;
use crate::receipt::Event;
use crate::table::Table;

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

impl Enforced {
    /// What dispatching `action` under receipt `receipt` enforces at admission: Throttle,
    /// Pause and Shed do, Rollback does not.
    pub fn of(receipt: u64, action: &Action) -> Option<Enforced> {
        let kind = action.kind();
        (kind != ActionKind::Rollback).then(|| Enforced {
            receipt,
            kind,
            percent: action.percent().unwrap_or(0),
        })
    }
}

/// An action being executed by the adapter. Also the storage element of the in-flight book
/// ([`crate::storage::Storage::in_flight`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// Its receipt id.
    pub receipt: u64,
    pub(crate) slot: u32,
    /// When it times out.
    pub deadline_ms: u64,
    /// The action.
    pub action: Action,
}

impl InFlight {
    /// An unused entry, for `static` storage (`[InFlight::EMPTY; N]`).
    pub const EMPTY: InFlight = InFlight {
        receipt: 0,
        slot: 0,
        deadline_ms: 0,
        action: Action::Pause,
    };
}

impl Default for InFlight {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// A successfully completed action, remembered for rollback with the backend's undo token
/// (rebuilt by `restore` from its completion receipt). The storage element of the
/// rollbackable book ([`crate::storage::Storage::rollbackable`]); its fields are private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub(crate) receipt: u64,
    pub(crate) slot: u32,
    pub(crate) action: Action,
    pub(crate) undo: Undo,
    pub(crate) rollback_pending: bool,
}

/// A manual action queued behind its tenant's action in flight, waiting to be dispatched
/// (`docs/actions.md#queued-actions`). The storage element of the queued book
/// ([`crate::storage::Storage::queued`]); a tenant's entries are in receipt order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub(crate) slot: u32,
    /// The receipt id of its `ActionQueued` receipt.
    pub receipt: u64,
    /// The action.
    pub action: Action,
}

impl Queued {
    /// An unused entry, for `static` storage (`[Queued::EMPTY; N]`).
    pub const EMPTY: Queued = Queued {
        slot: 0,
        receipt: 0,
        action: Action::Pause,
    };
}

impl Default for Queued {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// An effect for the adapter's actuators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionCommand {
    /// Run `action`; report with [`crate::engine::Engine::handle_outcome`] quoting `receipt`.
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
    /// [`crate::engine::Engine::handle_rollback_outcome`].
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

impl Completed {
    /// An unused entry, for `static` storage (`[Completed::EMPTY; N]`).
    pub const EMPTY: Completed = Completed {
        receipt: 0,
        slot: 0,
        action: Action::Pause,
        undo: Undo::new(),
        rollback_pending: false,
    };
}

impl Default for Completed {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// The execution books, over caller-provided storage: actions in flight (one per tenant at
/// most), completed actions remembered for rollback (oldest forgotten first), manual actions
/// queued (in receipt order, at most [`QUEUED_PER_TENANT_MAX`] per tenant), and
/// [`ACTION_QUEUE_MAX`] queued commands.
#[derive(Debug)]
pub(crate) struct Execution<'a> {
    in_flight: Table<'a, InFlight>,
    completed: Table<'a, Completed>,
    queued: Table<'a, Queued>,
    actions: Deque<ActionCommand, ACTION_QUEUE_MAX>,
}

impl<'a> Execution<'a> {
    /// Empty books holding at most `in_flight.len()` actions in flight,
    /// `rollbackable.len()` completed ones and `queued.len()` queued ones.
    pub(crate) fn new(
        in_flight: &'a mut [InFlight],
        rollbackable: &'a mut [Completed],
        queued: &'a mut [Queued],
    ) -> Self {
        Self {
            in_flight: Table::new(in_flight),
            completed: Table::new(rollbackable),
            queued: Table::new(queued),
            actions: Deque::new(),
        }
    }

    /// The most actions in flight, and completed actions remembered.
    pub(crate) fn capacities(&self) -> (usize, usize) {
        (self.in_flight.capacity(), self.completed.capacity())
    }

    // ----- queued actions -----------------------------------------------------------------

    /// The queued actions, all tenants, in receipt order; and the most the table holds.
    pub(crate) fn queued(&self) -> (&[Queued], usize) {
        (self.queued.as_slice(), self.queued.capacity())
    }

    /// The actions queued for the tenant in `slot`, first to run first.
    pub(crate) fn queued_of(&self, slot: usize) -> impl Iterator<Item = &Queued> + '_ {
        self.queued.iter().filter(move |q| q.slot as usize == slot)
    }

    /// Whether one more action can be queued for the tenant in `slot`.
    pub(crate) fn can_enqueue(&self, slot: usize) -> bool {
        !self.queued.is_full() && self.queued_of(slot).count() < QUEUED_PER_TENANT_MAX
    }

    /// When the engine wants a timeout call: 0 (due now) while a queued action is due —
    /// some tenant has one and nothing in flight, and the in-flight table has room (while it
    /// is full, only a completion can make one due) — else the earliest deadline.
    pub(crate) fn next_timeout_ms(&self) -> Option<u64> {
        let queue_due = !self.in_flight.is_full()
            && self
                .queued
                .iter()
                .any(|q| self.in_flight_of(q.slot as usize).is_none());
        if queue_due {
            return Some(0);
        }
        self.next_deadline_ms()
    }

    /// The first queued action due to run: the head of a tenant's queue with nothing in
    /// flight, among the tenants `eligible` accepts (by slot).
    pub(crate) fn next_queued(&self, eligible: impl Fn(u32) -> bool) -> Option<&Queued> {
        self.queued.iter().find(|q| {
            let slot = q.slot as usize;
            eligible(q.slot)
                && self.in_flight_of(slot).is_none()
                && self.queued_of(slot).next().map(|h| h.receipt) == Some(q.receipt)
        })
    }

    // ----- reads --------------------------------------------------------------------------

    /// The actions in flight.
    pub(crate) fn in_flight(&self) -> &[InFlight] {
        self.in_flight.as_slice()
    }

    /// The action in flight for the tenant in `slot`.
    pub(crate) fn in_flight_of(&self, slot: usize) -> Option<&InFlight> {
        self.in_flight.iter().find(|f| f.slot as usize == slot)
    }

    /// Whether the action with receipt id `receipt` is in flight.
    pub(crate) fn is_in_flight(&self, receipt: u64) -> bool {
        self.in_flight.iter().any(|f| f.receipt == receipt)
    }

    /// Whether no further action can be in flight.
    pub(crate) fn in_flight_full(&self) -> bool {
        self.in_flight.is_full()
    }

    /// The earliest deadline of an action in flight.
    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        self.in_flight.iter().map(|f| f.deadline_ms).min()
    }

    /// The action in flight due first at `now_ms` (earliest deadline, then lowest receipt).
    pub(crate) fn due(&self, now_ms: u64) -> Option<&InFlight> {
        self.in_flight
            .iter()
            .filter(|f| f.deadline_ms <= now_ms)
            .min_by_key(|f| (f.deadline_ms, f.receipt))
    }

    /// Receipt ids of completed actions that can be rolled back, oldest first.
    pub(crate) fn rollbackable(&self) -> impl Iterator<Item = u64> + '_ {
        self.completed.iter().map(|c| c.receipt)
    }

    /// Receipt ids of completed actions whose rollback was requested and has not ended.
    pub(crate) fn pending_rollbacks(&self) -> impl Iterator<Item = u64> + '_ {
        self.completed
            .iter()
            .filter(|c| c.rollback_pending)
            .map(|c| c.receipt)
    }

    /// The completed action a rollback of `receipt` would undo: remembered, and without a
    /// rollback already pending.
    pub(crate) fn rollback_of(&self, receipt: u64) -> Result<&Completed, CommandError> {
        let done = self
            .completed
            .iter()
            .find(|c| c.receipt == receipt)
            .ok_or(CommandError::ReceiptNotFound(receipt))?;
        if done.rollback_pending {
            return Err(CommandError::AlreadyExecuting(receipt));
        }
        Ok(done)
    }

    /// The completed action whose rollback is pending under `receipt`.
    pub(crate) fn pending_rollback(&self, receipt: u64) -> Option<&Completed> {
        self.completed
            .iter()
            .find(|c| c.receipt == receipt && c.rollback_pending)
    }

    /// Whether anything in the books names the tenant in `slot`.
    pub(crate) fn names(&self, slot: usize) -> bool {
        self.in_flight_of(slot).is_some()
            || self.completed.iter().any(|c| c.slot as usize == slot)
            || self.queued_of(slot).next().is_some()
    }

    /// The kind of the action an `ActionCompleted` or `RollbackCompleted` event ends, read
    /// before the event is applied; `None` for other events.
    pub(crate) fn kind_ended_by(&self, event: &Event) -> Option<ActionKind> {
        let action = match event {
            Event::ActionCompleted { receipt, .. } => self
                .in_flight
                .iter()
                .find(|f| f.receipt == *receipt)
                .map(|f| &f.action),
            Event::RollbackCompleted { receipt, .. } => self
                .completed
                .iter()
                .find(|c| c.receipt == *receipt)
                .map(|c| &c.action),
            _ => None,
        };
        action.map(Action::kind)
    }

    /// Whether an action event can follow the books for the tenant in `slot` (restore's
    /// consistency check); `true` for events that are not about actions.
    pub(crate) fn follows(&self, slot: usize, event: &Event) -> bool {
        match event {
            Event::ActionDispatched { .. } => self.in_flight_of(slot).is_none(),
            Event::ActionQueued { .. } => {
                let waiting =
                    self.in_flight_of(slot).is_some() || self.queued_of(slot).next().is_some();
                waiting && self.can_enqueue(slot)
            }
            Event::ActionCompleted { receipt, .. } => self
                .in_flight_of(slot)
                .is_some_and(|f| f.receipt == *receipt),
            Event::RollbackRequested { receipt } | Event::RollbackCompleted { receipt, .. } => {
                self.completed.iter().any(|c| c.receipt == *receipt)
            }
            Event::Governor { .. }
            | Event::Entitlement { .. }
            | Event::Circuit { .. }
            | Event::ConfigApplied { .. }
            | Event::ModeSet { .. }
            | Event::ShadowAction { .. }
            | Event::Warning { .. }
            | Event::WarningCancelled { .. } => true,
        }
    }

    // ----- commands -----------------------------------------------------------------------

    /// Whether `commands` more commands fit in the queue.
    pub(crate) fn can_queue(&self, commands: usize) -> bool {
        self.actions.len() + commands <= ACTION_QUEUE_MAX
    }

    /// Queues a command for the adapter; `None` if the queue is full (callers check
    /// [`Execution::can_queue`] first).
    pub(crate) fn queue(&mut self, command: ActionCommand) -> Option<()> {
        self.actions.push_back(command).ok()
    }

    /// The next command for the adapter.
    pub(crate) fn poll_action(&mut self) -> Option<ActionCommand> {
        self.actions.pop_front()
    }

    // ----- the execution part of `apply` --------------------------------------------------

    /// An action was dispatched under receipt `seq`: it is in flight until `deadline_ms`.
    /// `slot` fits in `u32` (the engine's tenant capacity does).
    pub(crate) fn apply_dispatched(
        &mut self,
        slot: usize,
        seq: u64,
        deadline_ms: u64,
        action: &Action,
    ) {
        let flight = InFlight {
            receipt: seq,
            slot: slot as u32,
            deadline_ms,
            action: action.clone(),
        };
        let pushed = self.in_flight.push(flight).is_ok();
        debug_assert!(pushed);
    }

    /// A manual action was queued under receipt `seq`. `slot` fits in `u32`.
    pub(crate) fn apply_queued(&mut self, slot: usize, seq: u64, action: &Action) {
        let queued = Queued {
            slot: slot as u32,
            receipt: seq,
            action: action.clone(),
        };
        let pushed = self.queued.push(queued).is_ok();
        debug_assert!(pushed);
    }

    /// A manual action was dispatched for the tenant in `slot`: if it has queued actions, it
    /// was the head (a plain manual action is refused while any are queued), which leaves.
    pub(crate) fn apply_manual_dispatched(&mut self, slot: usize) {
        if let Some(index) = self.queued.iter().position(|q| q.slot as usize == slot) {
            self.queued.remove(index);
        }
    }

    /// An action ended: out of flight; remembered for rollback (with its undo token) if it
    /// succeeded. Returns whether its enforcement ends: it did not succeed (Failed, TimedOut,
    /// Superseded) and was in flight.
    pub(crate) fn apply_action_completed(
        &mut self,
        slot: usize,
        receipt: u64,
        outcome: ActionOutcome,
        undo: &Undo,
    ) -> bool {
        let Some(index) = self.in_flight.iter().position(|f| f.receipt == receipt) else {
            return false;
        };
        let Some(flight) = self.in_flight.swap_remove(index) else {
            return false;
        };
        debug_assert_eq!(flight.slot as usize, slot);
        if outcome != ActionOutcome::Succeeded {
            debug_assert!(undo.is_empty());
            return true;
        }
        if self.completed.is_full() {
            self.completed.remove(0);
        }
        let done = Completed {
            receipt: flight.receipt,
            slot: flight.slot,
            action: flight.action,
            undo: undo.clone(),
            rollback_pending: false,
        };
        let pushed = self.completed.push(done).is_ok();
        debug_assert!(pushed);
        false
    }

    /// A rollback of the completed action `receipt` was requested.
    pub(crate) fn apply_rollback_requested(&mut self, receipt: u64) {
        if let Some(c) = self.completed.iter_mut().find(|c| c.receipt == receipt) {
            c.rollback_pending = true;
        }
    }

    /// A rollback ended: if it succeeded the action is forgotten, else it can be rolled back
    /// again. Returns whether the action's enforcement ends (the rollback succeeded).
    pub(crate) fn apply_rollback_completed(&mut self, receipt: u64, succeeded: bool) -> bool {
        let Some(index) = self.completed.iter().position(|c| c.receipt == receipt) else {
            return false;
        };
        if !succeeded {
            if let Some(c) = self.completed.iter_mut().nth(index) {
                c.rollback_pending = false;
            }
            return false;
        }
        self.completed.remove(index);
        true
    }
}

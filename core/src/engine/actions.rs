//! The Execute inputs of the engine: action outcomes, timeouts, manual actions and
//! rollbacks, with the two steps the signal path shares (completing the action in flight,
//! dispatching one). They compose the execution books ([`crate::execution`]) with the
//! ledger; state still changes only in the engine's one `apply`.

use super::{ActionCommand, CommandError, Engine, Transition};
use crate::action::{Action, ActionOutcome, Undo};
use crate::breaker::{Admission, CircuitState};
use crate::governor::GovernorEvent;
use crate::receipt::{Cause, Event};

impl Engine<'_> {
    /// An action outcome for `tenant`. With `receipt`, it must be the action in flight
    /// (else `StaleOutcome`); without, it applies to whatever is in flight, if anything.
    /// The governor reacts either way (`docs/actions.md#outcomes`).
    ///
    /// `undo` is the backend's undo token for a successful run (see [`Undo`]): kept in the
    /// completion receipt and handed back with [`ActionCommand::Rollback`]. One longer than
    /// [`crate::limits::UNDO_BYTES_MAX`] is refused with `UndoTooLarge` before anything else
    /// (nothing changes); on a failed outcome it is ignored and recorded empty.
    pub fn handle_outcome(
        &mut self,
        now_ms: u64,
        tenant: &str,
        receipt: Option<u64>,
        succeeded: bool,
        undo: &[u8],
    ) -> Result<Transition, CommandError> {
        let undo = Undo::from_slice(undo).map_err(|_| CommandError::UndoTooLarge(undo.len()))?;
        let slot = self.command_slot(tenant)?;
        let in_flight = self.execution.in_flight_of(slot).map(|f| f.receipt);
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

    /// Times out every action whose deadline is at or before `now_ms` (a timeout
    /// is `ExecutionTimeout` = ActionFailed; the adapter gets a `Cancel` to kill it).
    /// Returns how many it timed out; fewer than are due when the queues fill, in which case
    /// [`Engine::poll_timeout`] stays in the past and the driver calls again after draining.
    ///
    /// Then it fires the governor's timers that are due (`docs/governor.md#timing`: Refuse
    /// steps down to Degrade, a warning's action is dispatched or cancelled), and dispatches
    /// the head of each tenant's queued manual actions that has nothing in flight, at most one
    /// per tenant per call (`docs/actions.md#queued-actions`).
    pub fn handle_timeout(&mut self, now_ms: u64) -> usize {
        let mut done = 0;
        while let Some(due) = self.execution.due(now_ms) {
            let (slot, receipt) = (due.slot as usize, due.receipt);
            if !self.execution.can_queue(2) {
                break;
            }
            let Some(tenant) = self.tenants.id(slot) else {
                break;
            };
            match self.complete(now_ms, slot, ActionOutcome::TimedOut, Undo::new()) {
                Ok(_) => {
                    let queued = self
                        .execution
                        .queue(ActionCommand::Cancel { receipt, tenant });
                    debug_assert!(queued.is_some());
                    done += 1;
                }
                Err(_) => break,
            }
        }
        self.fire_timers(now_ms);
        self.dispatch_queued(now_ms);
        done
    }

    /// A manual action request; `AlreadyExecuting` while the tenant has one in flight, or
    /// (quoting the first) while it has queued ones, so manual actions keep their order
    /// (`docs/actions.md#dispatch`). Returns the action's receipt id. If its kind's circuit
    /// is open, the action is completed at once as `CircuitOpen` and the governor reacts as to
    /// any failure.
    pub fn handle_action(
        &mut self,
        now_ms: u64,
        tenant: &str,
        action: Action,
    ) -> Result<u64, CommandError> {
        let slot = self.command_slot(tenant)?;
        if let Some(q) = self.execution.queued_of(slot).next() {
            return Err(CommandError::AlreadyExecuting(q.receipt));
        }
        if let Some(f) = self.execution.in_flight_of(slot) {
            return Err(CommandError::AlreadyExecuting(f.receipt));
        }
        if !self.manual_room() {
            return Err(CommandError::Busy);
        }
        let dispatched = self
            .dispatch(now_ms, slot, action, true)
            .ok_or(CommandError::Busy)?;
        self.settle(now_ms, slot, dispatched.refused);
        Ok(dispatched.receipt)
    }

    /// Whether a manual dispatch for a tenant with nothing in flight fits: a free in-flight
    /// entry, its receipts (and what circuit breakers may add) and its run command.
    pub(super) fn manual_room(&self) -> bool {
        let receipts = 1 + self.breaker_room();
        !self.execution.in_flight_full()
            && self.ledger.can_append(receipts)
            && self.execution.can_queue(1)
            && self.timers_free(self.settle_timer_reserve())
    }

    /// Requests the rollback of a completed action by its receipt id. Returns the receipt of
    /// the request; the adapter gets an [`ActionCommand::Rollback`].
    pub fn handle_rollback(&mut self, now_ms: u64, receipt: u64) -> Result<u64, CommandError> {
        let done = self.execution.rollback_of(receipt)?;
        if !self.ledger.can_append(1) || !self.execution.can_queue(1) {
            return Err(CommandError::Busy);
        }
        let (slot, action, undo) = (done.slot as usize, done.action.clone(), done.undo.clone());
        let tenant = self
            .tenants
            .id(slot)
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
        let queued = self.execution.queue(command);
        debug_assert!(queued.is_some());
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
            .execution
            .pending_rollback(receipt)
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
        let in_flight = self
            .execution
            .in_flight_of(slot)
            .map(|f| (f.receipt, f.action.kind()));
        let (event, cause) = match outcome {
            ActionOutcome::Succeeded => (GovernorEvent::ActionSucceeded, Cause::ActionSucceeded),
            _ => (GovernorEvent::ActionFailed, Cause::ActionFailed),
        };
        let planned = self.plan(now_ms, slot, event);
        if !self.has_room(slot, in_flight.is_some(), &planned) {
            return Err(CommandError::Busy);
        }
        if let Some((receipt, kind)) = in_flight {
            let done = Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            };
            self.commit(now_ms, slot, done).ok_or(CommandError::Busy)?;
            let config = self.config.breaker(kind);
            if let Some(to) = self
                .breakers
                .get(kind)
                .after_outcome(&config, receipt, outcome)
            {
                let circuit = Event::Circuit { kind, to };
                self.commit(now_ms, slot, circuit)
                    .ok_or(CommandError::Busy)?;
            }
        }
        Ok(self.enact(now_ms, slot, cause, planned))
    }

    /// Dispatches an action, superseding the one in flight; its kind's circuit decides
    /// whether it runs (recording `half_open` before a trial) or is completed at once as
    /// `CircuitOpen`, with no run command. Room was checked.
    pub(super) fn dispatch(
        &mut self,
        now_ms: u64,
        slot: usize,
        action: Action,
        manual: bool,
    ) -> Option<Dispatched> {
        let tenant = self.tenants.id(slot)?;
        if let Some(old) = self.execution.in_flight_of(slot).map(|f| f.receipt) {
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
            self.execution.queue(cancel)?;
        }
        let kind = action.kind();
        let config = self.config.breaker(kind);
        let admission = self
            .breakers
            .get(kind)
            .on_dispatch(&config, now_ms, |r| self.execution.is_in_flight(r));
        if admission == Admission::Trial {
            let to = CircuitState::HalfOpen;
            self.commit(now_ms, slot, Event::Circuit { kind, to })?;
        }
        let timeout_ms = self.config.timeout_ms(kind);
        let deadline_ms = now_ms.saturating_add(timeout_ms);
        let event = Event::ActionDispatched {
            action: action.clone(),
            deadline_ms,
            manual,
        };
        let receipt = self.commit(now_ms, slot, event)?;
        let refused = admission == Admission::Refuse;
        if refused {
            let done = Event::ActionCompleted {
                receipt,
                outcome: ActionOutcome::CircuitOpen,
                undo: Undo::new(),
            };
            self.commit(now_ms, slot, done)?;
        } else {
            let run = ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            };
            self.execution.queue(run)?;
        }
        Some(Dispatched { receipt, refused })
    }
}

/// What became of a dispatch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dispatched {
    /// The action's receipt id.
    pub(super) receipt: u64,
    /// Its circuit refused it: it was completed at once as `CircuitOpen`.
    pub(super) refused: bool,
}

//! Queued manual actions (`docs/actions.md#queued-actions`): an operator's action that waits
//! for the one in flight instead of being refused. Queuing is a receipt (`ActionQueued`);
//! dispatching the head of a tenant's queue is an ordinary manual `ActionDispatched`, which
//! the one `apply` folds by popping that head. Heads are dispatched only by
//! [`Engine::handle_timeout`], never inside another input.

use heapless::Vec;

use super::{CommandError, Engine, Queued};
use crate::action::Action;
use crate::limits::ACTION_QUEUE_MAX;
use crate::receipt::Event;

impl Engine<'_> {
    /// A manual action that waits its turn. With nothing in flight and nothing queued for
    /// the tenant it is exactly [`Engine::handle_action`] (dispatched now; returns the
    /// dispatch receipt). Otherwise it is queued behind them (returns the `ActionQueued`
    /// receipt) and dispatched by a later [`Engine::handle_timeout`]; `QueueFull` when the
    /// tenant has [`crate::limits::QUEUED_PER_TENANT_MAX`] queued or the table is full.
    pub fn handle_queued_action(
        &mut self,
        now_ms: u64,
        tenant: &str,
        action: Action,
    ) -> Result<u64, CommandError> {
        let Some(slot) = self.waiting_slot(tenant)? else {
            return self.handle_action(now_ms, tenant, action);
        };
        if !self.execution.can_enqueue(slot) {
            return Err(CommandError::QueueFull);
        }
        if !self.ledger.can_append(1) {
            return Err(CommandError::Busy);
        }
        self.commit(now_ms, slot, Event::ActionQueued { action })
            .ok_or(CommandError::Busy)
    }

    /// The slot of `tenant` if it has an action in flight or queued: a queued action waits.
    fn waiting_slot(&self, tenant: &str) -> Result<Option<usize>, CommandError> {
        let slot = self.command_slot(tenant)?;
        let waiting = self.execution.in_flight_of(slot).is_some()
            || self.execution.queued_of(slot).next().is_some();
        Ok(waiting.then_some(slot))
    }

    /// The manual actions queued for `tenant`, first to run first (none for an unknown one).
    pub fn queued(&self, tenant: &str) -> impl Iterator<Item = &Queued> + '_ {
        let slot = self.tenants.slot(tenant);
        let (all, _) = self.execution.queued();
        all.iter().filter(move |q| Some(q.slot as usize) == slot)
    }

    /// How many manual actions are queued, all tenants, and the most that can be.
    pub fn queued_len(&self) -> (usize, usize) {
        let (queued, capacity) = self.execution.queued();
        (queued.len(), capacity)
    }

    /// Dispatches the head of each tenant's queue that has nothing in flight: at most one per
    /// tenant, in receipt order, each only while the ledger and the command queue have room
    /// (else it stops, and [`Engine::poll_timeout`] stays in the past). A dispatch its circuit
    /// refuses completes at once; the tenant's next head waits for the next call. Returns how
    /// many it dispatched.
    pub(super) fn dispatch_queued(&mut self, now_ms: u64) -> usize {
        let mut served: Vec<u32, ACTION_QUEUE_MAX> = Vec::new();
        while let Some(head) = self.execution.next_queued(|slot| !served.contains(&slot)) {
            let (slot, action) = (head.slot, head.action.clone());
            if !self.manual_room() || served.push(slot).is_err() {
                break;
            }
            let Some(dispatched) = self.dispatch(now_ms, slot as usize, action, true) else {
                break;
            };
            self.settle(now_ms, slot as usize, dispatched.refused);
        }
        served.len()
    }
}

//! One governor step of the engine: plan it, check there is room for everything it may
//! append and queue, then enact it (the governor receipt, the action) and let the governor
//! react when a circuit refused that action. The signal path, resets, outcomes, queued
//! dispatches and the governor's timers all go through here. With `grace_ms` on, an ordered
//! Pause or Shed is a `Warning` receipt instead of a dispatch ([`super::timers`]), and a step
//! that changes the state, or a signal below `recover`, cancels the tenant's pending warning.

use super::{Engine, Transition};
use crate::governor::{Governor, GovernorEvent, Planned};
use crate::limits::{BREAKER_RECEIPTS_PER_INPUT_MAX, BREAKER_REFUSALS_PER_INPUT_MAX};
use crate::receipt::{Cause, Event};

impl Engine<'_> {
    /// The governor's step for `event` at `now_ms` (the timed table), decided but not
    /// applied.
    pub(super) fn plan(&self, now_ms: u64, slot: usize, event: GovernorEvent) -> Planned {
        let config = &self.config;
        let (governor, pct) = match self.tenants.state(slot) {
            Some(t) => (t.governor, config.actions.of(t.entitlement.sku)),
            None => (Governor::new(0), Default::default()),
        };
        Planned::new(
            &config.thresholds,
            &pct,
            &config.timing,
            governor,
            now_ms,
            event,
        )
    }

    /// Whether `planned` appends, queues and starts nothing: the governor's state and count
    /// stay, no action is ordered and no warning cancelled (most signals). Such a step needs
    /// no room (circuits act only on a dispatch) and [`Engine::quiet`] is all of its enacting.
    pub(super) fn is_quiet(&self, slot: usize, planned: &Planned) -> bool {
        !planned.changes()
            && planned.step.action.is_none()
            && self.cancelled_warning(slot, planned).is_none()
    }

    /// The transition of a quiet step ([`Engine::is_quiet`]): nothing to append or dispatch.
    pub(super) fn quiet(planned: &Planned) -> Transition {
        Transition {
            from: planned.from,
            to: planned.step.to,
            consecutive_high: planned.step.consecutive_high,
            action: None,
            receipt: None,
            shadow: false,
        }
    }

    /// Whether the receipts, commands and timers of `planned` (after completing the
    /// in-flight action when `completing`) fit in the ring, the action queue, the in-flight
    /// table and the timer table.
    pub(super) fn has_room(&self, slot: usize, completing: bool, planned: &Planned) -> bool {
        let in_flight = self.execution.in_flight_of(slot).is_some() && !completing;
        let mut receipts = usize::from(completing) + usize::from(planned.changes());
        receipts += usize::from(self.cancelled_warning(slot, planned).is_some());
        let mut commands = 0;
        let warns = planned
            .step
            .action
            .is_some_and(|order| self.config.timing.warns(order));
        if warns || (planned.step.action.is_some() && self.shadowed(slot)) {
            receipts += 1;
        } else if planned.step.action.is_some() {
            receipts += 1 + usize::from(in_flight);
            commands += 1 + usize::from(in_flight);
            let frees_one = in_flight || completing;
            if self.execution.in_flight_full() && !frees_one {
                return false;
            }
        }
        self.ledger.can_append(receipts + self.breaker_room())
            && self.execution.can_queue(commands)
            && self.timers_fit(slot, planned)
    }

    /// Receipts to keep free beyond an input's own for what circuit breakers may add to it
    /// (none while every breaker is off, so such an engine behaves as one without breakers).
    pub(super) fn breaker_room(&self) -> usize {
        if self.config.breakers_enabled() {
            BREAKER_RECEIPTS_PER_INPUT_MAX
        } else {
            0
        }
    }

    /// Applies a planned step, then lets the governor react to what a circuit refused.
    pub(super) fn enact(
        &mut self,
        now_ms: u64,
        slot: usize,
        cause: Cause,
        planned: Planned,
    ) -> Transition {
        let (transition, refused) = self.enact_step(now_ms, slot, cause, planned);
        self.settle(now_ms, slot, refused);
        transition
    }

    /// The governor reacts to a dispatch its circuit refused as to any failed action
    /// (ActionFailed), which may dispatch (and have refused) one more action: a loop bounded
    /// by [`BREAKER_REFUSALS_PER_INPUT_MAX`], not recursion. Room was checked.
    pub(super) fn settle(&mut self, now_ms: u64, slot: usize, mut refused: bool) {
        for _ in 0..BREAKER_REFUSALS_PER_INPUT_MAX {
            if !refused {
                return;
            }
            let planned = self.plan(now_ms, slot, GovernorEvent::ActionFailed);
            refused = self
                .enact_step(now_ms, slot, Cause::ActionFailed, planned)
                .1;
        }
        debug_assert!(!refused, "the governor ignores a failure in Degrade");
    }

    /// Applies a planned step: the governor receipt (if anything changed), the cancellation
    /// of a pending warning (if it cancels one), then the action, or its warning. Returns the
    /// transition (whose action is the one dispatched now: none for a warning) and whether a
    /// circuit refused the action.
    fn enact_step(
        &mut self,
        now_ms: u64,
        slot: usize,
        cause: Cause,
        planned: Planned,
    ) -> (Transition, bool) {
        let changes = planned.changes();
        let cancelled = self.cancelled_warning(slot, &planned);
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
        if let Some(receipt) = cancelled {
            let committed = self.commit(now_ms, slot, Event::WarningCancelled { receipt });
            debug_assert!(committed.is_some());
        }
        let timing = self.config.timing;
        let action = step.action.filter(|order| !timing.warns(*order));
        if let Some(order) = step.action.filter(|order| timing.warns(*order)) {
            let deadline_ms = now_ms.saturating_add(timing.grace_ms);
            let warning = Event::Warning {
                action: order.action(),
                deadline_ms,
            };
            let committed = self.commit(now_ms, slot, warning);
            debug_assert!(committed.is_some());
        }
        let shadow = action.is_some() && self.shadowed(slot);
        let dispatched = match action {
            Some(order) if shadow => self.shadow(now_ms, slot, order.action()).map(|receipt| {
                super::actions::Dispatched {
                    receipt,
                    refused: false,
                }
            }),
            Some(order) => self.dispatch(now_ms, slot, order.action(), false),
            None => None,
        };
        debug_assert_eq!(action.is_some(), dispatched.is_some());
        let transition = Transition {
            from,
            to: step.to,
            consecutive_high: step.consecutive_high,
            action,
            receipt: dispatched.map(|d| d.receipt),
            shadow,
        };
        (transition, dispatched.is_some_and(|d| d.refused))
    }
}

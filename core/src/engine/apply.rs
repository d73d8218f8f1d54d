//! The fold: [`Engine::apply`] is the one place where a receipt changes the engine's state,
//! for the live path ([`Engine::commit`], which appends the receipt first) and for
//! [`Engine::restore`] alike, so a rebuilt engine equals the live one.

use super::{Engine, Mode};
use crate::execution::Enforced;
use crate::receipt::Event;

impl Engine<'_> {
    /// Appends a receipt for `event`, counts it and applies it: the live path. `None` only if
    /// room was not checked first (a bug: debug builds assert).
    pub(super) fn commit(&mut self, now_ms: u64, slot: usize, event: Event) -> Option<u64> {
        let (id, _) = self.tenants.get(slot)?;
        let appended = self.ledger.append(now_ms, id, &event);
        debug_assert!(appended.is_ok(), "room is checked before every commit");
        let seq = appended.ok()?;
        let ended = self.execution.kind_ended_by(&event);
        let mode = self.tenants.state(slot).map_or(Mode::Enforce, |t| t.mode);
        self.stats.count_receipt(seq, &event, ended, mode);
        self.apply(slot, seq, now_ms, &event);
        Some(seq)
    }

    /// Whether `event` can follow the current state of `slot` (restore's consistency check).
    pub(super) fn follows(&self, slot: usize, event: &Event) -> bool {
        let Some(t) = self.tenants.state(slot) else {
            return false;
        };
        match event {
            Event::Governor { from, .. } => *from == t.governor.state,
            Event::Circuit { kind, to } => self.breakers.get(*kind).follows(*to),
            Event::ShadowAction { .. } => t.mode == Mode::Shadow,
            Event::Warning { .. } | Event::WarningCancelled { .. } => {
                self.timers.follows(slot, event)
            }
            _ => self.execution.follows(slot, event),
        }
    }

    /// The one place where receipts change state (see the module doc): the live path
    /// ([`Engine::commit`]) and [`Engine::restore`] both come here.
    pub(super) fn apply(&mut self, slot: usize, seq: u64, ts_ms: u64, event: &Event) {
        match event {
            Event::Governor {
                to,
                consecutive_high,
                ..
            } => {
                if let Some(t) = self.tenants.state_mut(slot) {
                    t.apply_governor(ts_ms, *to, *consecutive_high);
                }
                let timed = self.config.timing.refuse_max_ms > 0;
                self.timers.apply_governor(slot, *to, timed);
            }
            Event::ActionDispatched {
                action,
                deadline_ms,
                manual,
            } => {
                if *manual {
                    self.execution.apply_manual_dispatched(slot);
                } else {
                    self.apply_order(slot, ts_ms);
                }
                self.execution
                    .apply_dispatched(slot, seq, *deadline_ms, action);
                if let (Some(t), Some(enforced)) =
                    (self.tenants.state_mut(slot), Enforced::of(seq, action))
                {
                    t.enforced = Some(enforced);
                }
            }
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => {
                let kind = self.execution.kind_ended_by(event);
                if let Some(breaker) = kind.and_then(|k| self.breakers.get_mut(k)) {
                    breaker.apply_outcome(*outcome);
                }
                if self
                    .execution
                    .apply_action_completed(slot, *receipt, *outcome, undo)
                {
                    self.end_enforcement(slot, *receipt);
                }
            }
            Event::RollbackRequested { receipt } => {
                self.execution.apply_rollback_requested(*receipt);
            }
            Event::RollbackCompleted { receipt, succeeded } => {
                if self
                    .execution
                    .apply_rollback_completed(*receipt, *succeeded)
                {
                    self.end_enforcement(slot, *receipt);
                }
            }
            Event::Entitlement {
                to,
                sku,
                expires_at_ms,
                ..
            } => self
                .tenants
                .apply_entitlement(slot, *to, *sku, *expires_at_ms),
            Event::Circuit { kind, to } => {
                if let Some(breaker) = self.breakers.get_mut(*kind) {
                    breaker.apply_circuit(seq, ts_ms, *to);
                }
            }
            Event::ActionQueued { action } => self.execution.apply_queued(slot, seq, action),
            // A system receipt names no tenant: `reload::apply_system` applies it.
            Event::ConfigApplied { .. } => {}
            Event::ModeSet { mode } => {
                if let Some(t) = self.tenants.state_mut(slot) {
                    t.mode = *mode;
                }
            }
            // What a shadow tenant's governor ordered and did not dispatch: an order all the
            // same for the timing (its cool-down starts, a pending warning ends).
            Event::ShadowAction { .. } => self.apply_order(slot, ts_ms),
            Event::Warning { .. } | Event::WarningCancelled { .. } => {
                self.timers.apply_warning(slot, seq, event);
            }
        }
    }

    fn end_enforcement(&mut self, slot: usize, receipt: u64) {
        if let Some(t) = self.tenants.state_mut(slot) {
            t.end_enforcement(receipt);
        }
    }
}

//! A tenant's mode (`docs/governor.md#shadow-mode`): `Enforce` (the default) runs what the
//! governor orders; `Shadow` runs the governor all the same but, where it would dispatch an
//! action, records a `ShadowAction` receipt instead: nothing runs, nothing is enforced at
//! admission, nothing in flight is superseded. Manual actions still run in both modes.
//!
//! Setting the mode is a receipt (`ModeSet`), so the mode is rebuilt by restore like the rest
//! of the tenant's state.

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::action::Action;
use crate::receipt::Event;

/// What a tenant's governor does with the actions it orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Dispatch them (the default).
    #[default]
    Enforce,
    /// Record them in a `ShadowAction` receipt; dispatch nothing.
    Shadow,
}

impl Mode {
    /// Every mode, in index order.
    pub const ALL: [Mode; 2] = [Mode::Enforce, Mode::Shadow];

    /// The mode's position in [`Mode::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The mode's name on the wire and in the config: `enforce` or `shadow`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }

    /// The mode named `name` (`enforce` or `shadow`, exactly).
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Why a mode change was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// The output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
}

impl ModeError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            ModeError::TenantNotFound => "TenantNotFound",
            ModeError::Busy => "Busy",
        }
    }
}

impl Engine<'_> {
    /// Sets `tenant`'s mode, in any entitlement state: one `ModeSet` receipt, also when the
    /// mode does not change (an operator's command is always recorded). Returns its seq.
    /// Nothing else changes: an action in flight runs on and an enforced one stays enforced
    /// (switching to shadow undoes nothing); after a switch to enforce, only the actions the
    /// governor orders from then on run.
    pub fn handle_mode(&mut self, now_ms: u64, tenant: &str, mode: Mode) -> Result<u64, ModeError> {
        let slot = self.tenants.slot(tenant).ok_or(ModeError::TenantNotFound)?;
        if !self.ledger.can_append(1) {
            return Err(ModeError::Busy);
        }
        self.commit(now_ms, slot, Event::ModeSet { mode })
            .ok_or(ModeError::Busy)
    }

    /// The mode of `tenant` (`None` if unknown).
    pub fn mode(&self, tenant: &str) -> Option<Mode> {
        let slot = self.tenants.slot(tenant)?;
        self.tenants.state(slot).map(|t| t.mode)
    }

    /// Whether the tenant in `slot` is in shadow mode.
    pub(super) fn shadowed(&self, slot: usize) -> bool {
        self.tenants
            .state(slot)
            .is_some_and(|t| t.mode == Mode::Shadow)
    }

    /// Records the action the governor ordered for a shadow tenant instead of dispatching
    /// it: its receipt's seq. Room was checked (one receipt).
    pub(super) fn shadow(&mut self, now_ms: u64, slot: usize, action: Action) -> Option<u64> {
        self.commit(now_ms, slot, Event::ShadowAction { action })
    }
}

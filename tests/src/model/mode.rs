//! `docs/governor.md#shadow-mode` and `#per-plan-actions`: a tenant's mode and each SKU's
//! action percents.
//!
//! - Per-plan percents: the three rows of the table that order a Throttle or a Shed take
//!   their percent from the tenant's SKU — `Stable`/`Warn` → `Intervene` Throttle
//!   (`intervene_throttle_pct`), `Warn` sustained → `Degrade` Throttle
//!   (`degrade_throttle_pct`), `Degrade` → `Refuse` Shed (`refuse_shed_pct`); the defaults
//!   (50, 25, 50) are the table of [`super::governor::step`].
//! - Shadow mode: the governor steps as in enforce mode, but an action it orders is one
//!   receipt (a shadow action), not a dispatch: no command, nothing superseded, nothing in
//!   flight, nothing enforced. Manual actions, outcomes and timeouts are as in enforce mode.
//! - Setting a mode is one receipt, whatever the mode was (`TenantNotFound` for an unknown
//!   tenant); nothing else changes.

use super::engine::EngineModel;
use super::governor::{self, GEvent, GState, MAction, Th};

/// A tenant's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MMode {
    /// Dispatch what the governor orders.
    #[default]
    Enforce,
    /// Record it instead.
    Shadow,
}

impl MMode {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            MMode::Enforce => "enforce",
            MMode::Shadow => "shadow",
        }
    }
}

/// One SKU's percents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MPercents {
    /// Throttle of the rows that enter Intervene.
    pub intervene_throttle_pct: u8,
    /// Throttle of Warn sustained → Degrade.
    pub degrade_throttle_pct: u8,
    /// Shed of Degrade → Refuse.
    pub refuse_shed_pct: u8,
}

impl MPercents {
    /// 50, 25, 50.
    pub const DEFAULT: MPercents = MPercents {
        intervene_throttle_pct: 50,
        degrade_throttle_pct: 25,
        refuse_shed_pct: 50,
    };
}

/// The SKUs in the order of [`EngineModel::actions`].
pub const SKUS: [&str; 3] = ["starter", "pro", "enterprise"];

/// The table of [`governor::step`] with the row's percent taken from `pct`.
pub fn step_with(
    th: &Th,
    pct: &MPercents,
    state: GState,
    c: u8,
    event: GEvent,
) -> (GState, u8, Option<MAction>) {
    let (to, c, action) = governor::step(th, state, c, event);
    let action = match (to, action) {
        (GState::Intervene, Some(MAction::Throttle(_))) => {
            Some(MAction::Throttle(pct.intervene_throttle_pct))
        }
        (GState::Degrade, Some(MAction::Throttle(_))) => {
            Some(MAction::Throttle(pct.degrade_throttle_pct))
        }
        (GState::Refuse, Some(MAction::Shed(_))) => Some(MAction::Shed(pct.refuse_shed_pct)),
        (_, other) => other,
    };
    (to, c, action)
}

impl EngineModel {
    /// The same model with these percents for starter, pro and enterprise.
    pub fn with_actions(self, actions: [MPercents; 3]) -> Self {
        Self { actions, ..self }
    }

    /// The percents of a SKU.
    pub fn percents_of(&self, sku: &str) -> MPercents {
        let i = SKUS.iter().position(|s| *s == sku).unwrap_or(0);
        self.actions[i]
    }

    /// An operator sets a tenant's mode: one receipt; returns its seq.
    pub fn set_mode(&mut self, tenant: &str, mode: MMode) -> Result<u64, &'static str> {
        let i = self
            .tenants
            .iter()
            .position(|t| t.id == tenant)
            .ok_or("TenantNotFound")?;
        self.tenants[i].mode = mode;
        self.next_seq += 1;
        Ok(self.next_seq - 1)
    }
}

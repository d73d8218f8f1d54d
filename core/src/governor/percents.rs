//! The percents of the actions the governor's table orders, per SKU
//! (`docs/governor.md#per-plan-actions`): each row that orders a Throttle or a Shed takes its
//! percent from the tenant's SKU.

use crate::entitlement::Sku;
use crate::limits::{ORDERED_ACTION_PCT_MAX, ORDERED_ACTION_PCT_MIN};

/// The percents one SKU's governor orders, each 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionPercents {
    /// Throttle(p) of `Stable`/`Warn` → `Intervene` (default 50).
    pub intervene_throttle_pct: u8,
    /// Throttle(p) of `Warn` sustained → `Degrade` (default 25).
    pub degrade_throttle_pct: u8,
    /// Shed(p) of `Degrade` → `Refuse` (default 50).
    pub refuse_shed_pct: u8,
}

impl ActionPercents {
    /// The table's percents before they were configurable: 50, 25, 50.
    pub const DEFAULT: ActionPercents = ActionPercents {
        intervene_throttle_pct: 50,
        degrade_throttle_pct: 25,
        refuse_shed_pct: 50,
    };

    /// The first percent (in field order) outside 1..=100: its key and value.
    pub fn validate(&self) -> Result<(), PercentError> {
        [
            ("intervene_throttle_pct", self.intervene_throttle_pct),
            ("degrade_throttle_pct", self.degrade_throttle_pct),
            ("refuse_shed_pct", self.refuse_shed_pct),
        ]
        .into_iter()
        .try_for_each(|(key, got)| {
            if (ORDERED_ACTION_PCT_MIN..=ORDERED_ACTION_PCT_MAX).contains(&got) {
                Ok(())
            } else {
                Err(PercentError { key, got })
            }
        })
    }
}

impl Default for ActionPercents {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A percent outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{key} must be 1..=100, got {got}")]
pub struct PercentError {
    /// The field's name (as the config spells it).
    pub key: &'static str,
    /// The refused value.
    pub got: u8,
}

/// Each SKU's [`ActionPercents`] (part of [`crate::engine::EngineConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SkuActions {
    /// `starter`'s.
    pub starter: ActionPercents,
    /// `pro`'s.
    pub pro: ActionPercents,
    /// `enterprise`'s.
    pub enterprise: ActionPercents,
}

impl SkuActions {
    /// Every SKU on [`ActionPercents::DEFAULT`].
    pub const DEFAULT: SkuActions = SkuActions {
        starter: ActionPercents::DEFAULT,
        pro: ActionPercents::DEFAULT,
        enterprise: ActionPercents::DEFAULT,
    };

    /// The percents of one SKU.
    pub const fn of(&self, sku: Sku) -> ActionPercents {
        match sku {
            Sku::Starter => self.starter,
            Sku::Pro => self.pro,
            Sku::Enterprise => self.enterprise,
        }
    }

    /// The first SKU (starter, pro, enterprise) with a percent out of bounds, and which.
    pub fn validate(&self) -> Result<(), (Sku, PercentError)> {
        [Sku::Starter, Sku::Pro, Sku::Enterprise]
            .into_iter()
            .try_for_each(|sku| self.of(sku).validate().map_err(|e| (sku, e)))
    }
}

impl Default for SkuActions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

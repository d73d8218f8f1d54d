//! What an engine is configured with, and the configurations it refuses.

use crate::action::ActionKind;
use crate::entitlement::{RateLimitError, RateLimits, Sku};
use crate::governor::Thresholds;
use crate::limits::{ACTION_TIMEOUT_MS_DEFAULT, ACTION_TIMEOUT_MS_MAX};

/// What the engine is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The governor's thresholds.
    pub thresholds: Thresholds,
    /// The deadline of each action kind, by [`ActionKind::index`]; 1..=3 600 000 ms.
    pub action_timeout_ms: [u64; 4],
    /// Each SKU's `rate` bucket (`docs/entitlements.md#rate-limits`).
    pub rates: RateLimits,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::DEFAULT,
            action_timeout_ms: [ACTION_TIMEOUT_MS_DEFAULT; 4],
            rates: RateLimits::DEFAULT,
        }
    }
}

impl EngineConfig {
    /// The deadline of one action kind.
    pub fn timeout_ms(&self, kind: ActionKind) -> u64 {
        let configured = self.action_timeout_ms.get(kind.index()).copied();
        configured.unwrap_or(ACTION_TIMEOUT_MS_DEFAULT)
    }

    /// Refuses an action timeout outside 1..=[`ACTION_TIMEOUT_MS_MAX`] (the first kind's, in
    /// [`ActionKind::ALL`] order), then a rate limit out of bounds (the first SKU's).
    pub(super) fn validate(&self) -> Result<(), EngineConfigError> {
        for kind in ActionKind::ALL {
            let timeout_ms = self.timeout_ms(kind);
            if !(1..=ACTION_TIMEOUT_MS_MAX).contains(&timeout_ms) {
                return Err(EngineConfigError::ActionTimeout { kind, timeout_ms });
            }
        }
        self.rates
            .validate()
            .map_err(|(sku, error)| EngineConfigError::RateLimit { sku, error })
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
    /// A SKU's rate limit out of bounds.
    #[error("{} rate limit: {error}", sku.as_str())]
    RateLimit {
        /// The SKU.
        sku: Sku,
        /// What is out of bounds.
        error: RateLimitError,
    },
}

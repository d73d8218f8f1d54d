//! What an engine is configured with, and the configurations it refuses.

use crate::action::ActionKind;
use crate::governor::Thresholds;
use crate::limits::{ACTION_TIMEOUT_MS_DEFAULT, ACTION_TIMEOUT_MS_MAX};

/// What the engine is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The governor's thresholds.
    pub thresholds: Thresholds,
    /// The deadline of each action kind, by [`ActionKind::index`]; 1..=3 600 000 ms.
    pub action_timeout_ms: [u64; 4],
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::DEFAULT,
            action_timeout_ms: [ACTION_TIMEOUT_MS_DEFAULT; 4],
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
    /// [`ActionKind::ALL`] order).
    pub(super) fn validate(&self) -> Result<(), EngineConfigError> {
        for kind in ActionKind::ALL {
            let timeout_ms = self.timeout_ms(kind);
            if !(1..=ACTION_TIMEOUT_MS_MAX).contains(&timeout_ms) {
                return Err(EngineConfigError::ActionTimeout { kind, timeout_ms });
            }
        }
        Ok(())
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

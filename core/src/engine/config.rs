//! What an engine is configured with, and the configurations it refuses.

use crate::action::ActionKind;
use crate::breaker::BreakerConfig;
use crate::entitlement::{RateLimitError, RateLimits, Sku};
use crate::governor::{GovernorTiming, PercentError, SkuActions, Thresholds};
use crate::limits::{
    ACTION_TIMEOUT_MS_DEFAULT, ACTION_TIMEOUT_MS_MAX, BREAKER_COOLDOWN_MS_DEFAULT,
    BREAKER_COOLDOWN_MS_MAX, BREAKER_FAILURES_DEFAULT, BREAKER_FAILURES_MAX,
    GOVERNOR_TIMING_MS_MAX,
};

/// What the engine is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// The governor's thresholds.
    pub thresholds: Thresholds,
    /// The deadline of each action kind, by [`ActionKind::index`]; 1..=3 600 000 ms.
    pub action_timeout_ms: [u64; 4],
    /// The circuit breaker of each action kind, by [`ActionKind::index`]: `failures`
    /// 0..=[`BREAKER_FAILURES_MAX`] (0, the default, disables it), `cooldown_ms`
    /// 1..=[`BREAKER_COOLDOWN_MS_MAX`].
    pub breakers: [BreakerConfig; 4],
    /// Each SKU's `rate` bucket (`docs/entitlements.md#rate-limits`).
    pub rates: RateLimits,
    /// Each SKU's percents of the actions the governor orders
    /// (`docs/governor.md#per-plan-actions`).
    pub actions: SkuActions,
    /// The governor's timing (`docs/governor.md#timing`): each 0..=
    /// [`GOVERNOR_TIMING_MS_MAX`], all off by default. Read when each step is decided and
    /// each timer polled, so a new value applies from the next input on.
    pub timing: GovernorTiming,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::DEFAULT,
            action_timeout_ms: [ACTION_TIMEOUT_MS_DEFAULT; 4],
            breakers: [BreakerConfig::DEFAULT; 4],
            rates: RateLimits::DEFAULT,
            actions: SkuActions::DEFAULT,
            timing: GovernorTiming::OFF,
        }
    }
}

impl BreakerConfig {
    /// The core's default: disabled, with the default cool-down.
    pub const DEFAULT: BreakerConfig = BreakerConfig {
        failures: BREAKER_FAILURES_DEFAULT,
        cooldown_ms: BREAKER_COOLDOWN_MS_DEFAULT,
    };
}

impl EngineConfig {
    /// The deadline of one action kind.
    pub fn timeout_ms(&self, kind: ActionKind) -> u64 {
        let configured = self.action_timeout_ms.get(kind.index()).copied();
        configured.unwrap_or(ACTION_TIMEOUT_MS_DEFAULT)
    }

    /// The circuit breaker settings of one action kind.
    pub fn breaker(&self, kind: ActionKind) -> BreakerConfig {
        let configured = self.breakers.get(kind.index()).copied();
        configured.unwrap_or(BreakerConfig::DEFAULT)
    }

    /// Whether any kind's circuit breaker is enabled.
    pub fn breakers_enabled(&self) -> bool {
        self.breakers.iter().any(|b| b.failures > 0)
    }

    /// Refuses an action timeout or a breaker setting out of range (the first kind's, in
    /// [`ActionKind::ALL`] order), then a rate limit out of bounds (the first SKU's), then an
    /// action percent out of bounds (the first SKU's), then a governor timing above
    /// [`GOVERNOR_TIMING_MS_MAX`] (the first key's).
    pub(super) fn validate(&self) -> Result<(), EngineConfigError> {
        for kind in ActionKind::ALL {
            let timeout_ms = self.timeout_ms(kind);
            if !(1..=ACTION_TIMEOUT_MS_MAX).contains(&timeout_ms) {
                return Err(EngineConfigError::ActionTimeout { kind, timeout_ms });
            }
            let breaker = self.breaker(kind);
            if breaker.failures > BREAKER_FAILURES_MAX
                || !(1..=BREAKER_COOLDOWN_MS_MAX).contains(&breaker.cooldown_ms)
            {
                return Err(EngineConfigError::Breaker { kind, breaker });
            }
        }
        self.rates
            .validate()
            .map_err(|(sku, error)| EngineConfigError::RateLimit { sku, error })?;
        self.actions
            .validate()
            .map_err(|(sku, error)| EngineConfigError::ActionPercent { sku, error })?;
        for (key, value_ms) in self.timing.keys() {
            if value_ms > GOVERNOR_TIMING_MS_MAX {
                return Err(EngineConfigError::Timing { key, value_ms });
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
    /// A breaker's `failures` above 1 000 or `cooldown_ms` outside 1..=3 600 000.
    #[error(
        "{kind:?} breaker_failures must be 0..=1000 and breaker_cooldown_ms 1..=3600000, got {} and {}",
        breaker.failures,
        breaker.cooldown_ms
    )]
    Breaker {
        /// The kind.
        kind: ActionKind,
        /// The refused settings.
        breaker: BreakerConfig,
    },
    /// A circuit breaker is on but the ledger ring cannot hold the longest chain of receipts
    /// one input may then append (16 receipts at 256 arena bytes each always can).
    #[error(
        "circuit breakers need a ledger ring of at least 16 receipts (ledger_capacity), got {receipts}"
    )]
    BreakerRingTooSmall {
        /// The ring's receipts.
        receipts: usize,
    },
    /// A SKU's rate limit out of bounds.
    #[error("{} rate limit: {error}", sku.as_str())]
    RateLimit {
        /// The SKU.
        sku: Sku,
        /// What is out of bounds.
        error: RateLimitError,
    },
    /// A SKU's action percent out of 1..=100.
    #[error("{} actions: {error}", sku.as_str())]
    ActionPercent {
        /// The SKU.
        sku: Sku,
        /// Which percent, and its value.
        error: PercentError,
    },
    /// A governor timing above one day.
    #[error("governor {key} must be 0..=86400000 ms, got {value_ms}")]
    Timing {
        /// The key (`min_dwell_ms`, `cooldown_ms`, `refuse_max_ms` or `grace_ms`).
        key: &'static str,
        /// The refused value.
        value_ms: u64,
    },
}

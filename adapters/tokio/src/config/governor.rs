//! `[governor]`: the thresholds of `docs/governor.md#thresholds`, checked by the core's own rule
//! ([`Thresholds::new`]) so that a bad section gets the error the core would give, and the
//! governor's timing (`docs/governor.md#timing`: `min_dwell_ms`, `cooldown_ms`,
//! `refuse_max_ms`, `grace_ms`, each 0..=[`GOVERNOR_TIMING_MS_MAX`], 0 = off).

use autonomic_core::Thresholds;
use autonomic_core::governor::{GovernorTiming, ThresholdError};
use autonomic_core::limits::GOVERNOR_TIMING_MS_MAX;
use serde::Deserialize;
use thiserror::Error;

use super::InvalidKey;

/// `[governor]`: raw threshold numbers (percent) and the sustain count
/// (`docs/governor.md#thresholds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernorSection {
    /// Stable -> Warn at or above this (default 75).
    pub warn: u8,
    /// Warn -> Stable below this (default 70).
    pub recover: u8,
    /// Intervene at or above this (default 90).
    pub intervene: u8,
    /// Degrade -> Refuse above this (default 95).
    pub refuse: u8,
    /// High readings in a row in Warn before Degrade (default 3, 1..=255).
    pub sustain: u32,
    /// No de-escalation from Intervene or Degrade before this long in the state (0: off).
    pub min_dwell_ms: u64,
    /// No governor-ordered action sooner than this after the tenant's previous one (0: off).
    pub cooldown_ms: u64,
    /// Refuse steps down to Degrade after this long (0: only a reset leaves it).
    pub refuse_max_ms: u64,
    /// A Pause or Shed the governor orders is announced by a warning this long before it is
    /// dispatched (0: off).
    pub grace_ms: u64,
}

impl Default for GovernorSection {
    /// The core's defaults ([`Thresholds::DEFAULT`]).
    fn default() -> Self {
        let d = Thresholds::DEFAULT;
        Self {
            warn: d.warn(),
            recover: d.recover(),
            intervene: d.intervene(),
            refuse: d.refuse(),
            sustain: u32::from(d.sustain()),
            min_dwell_ms: 0,
            cooldown_ms: 0,
            refuse_max_ms: 0,
            grace_ms: 0,
        }
    }
}

/// Why `[governor]` cannot make the core's [`Thresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GovernorError {
    /// `sustain` does not fit the core's count (at most 255).
    #[error("governor.sustain: must be 1..=255, got {0}")]
    SustainAbove255(u32),
    /// The core refuses the thresholds.
    #[error("governor: {0}")]
    Thresholds(#[from] ThresholdError),
    /// A timing above one day.
    #[error("governor.{key}: must be within 0..={GOVERNOR_TIMING_MS_MAX}, got {value_ms}")]
    Timing {
        /// The key.
        key: &'static str,
        /// The refused value.
        value_ms: u64,
    },
}

impl GovernorError {
    /// The error as the config reports it: the key at fault and what is wrong with it.
    #[must_use]
    pub fn invalid_key(self) -> InvalidKey {
        let (key, message) = match self {
            GovernorError::SustainAbove255(sustain) => sustain_out_of_range(sustain),
            GovernorError::Timing { key, value_ms } => (
                key,
                format!("must be within 0..={GOVERNOR_TIMING_MS_MAX}, got {value_ms}"),
            ),
            GovernorError::Thresholds(e) => match e {
                ThresholdError::RecoverAboveWarn { recover, warn } => (
                    "recover",
                    format!("must be <= warn ({warn}), got {recover}"),
                ),
                ThresholdError::WarnNotBelowIntervene { warn, intervene } => (
                    "warn",
                    format!("must be < intervene ({intervene}), got {warn}"),
                ),
                ThresholdError::InterveneAboveRefuse { intervene, refuse } => (
                    "intervene",
                    format!("must be <= refuse ({refuse}), got {intervene}"),
                ),
                ThresholdError::RefuseAbove100(refuse) => {
                    ("refuse", format!("must be <= 100, got {refuse}"))
                }
                ThresholdError::SustainZero => sustain_out_of_range(0),
            },
        };
        InvalidKey::new(format!("governor.{key}"), message)
    }
}

impl GovernorSection {
    /// The core's thresholds from this section: `sustain` must fit a `u8`, and the rest is
    /// [`Thresholds::new`] (`recover <= warn < intervene <= refuse <= 100`, `sustain >= 1`).
    pub fn thresholds(&self) -> Result<Thresholds, GovernorError> {
        let g = self;
        let sustain =
            u8::try_from(g.sustain).map_err(|_| GovernorError::SustainAbove255(g.sustain))?;
        Ok(Thresholds::new(
            g.warn,
            g.recover,
            g.intervene,
            g.refuse,
            sustain,
        )?)
    }

    /// The core's timing from this section: each key at most [`GOVERNOR_TIMING_MS_MAX`].
    pub fn timing(&self) -> Result<GovernorTiming, GovernorError> {
        let timing = GovernorTiming {
            min_dwell_ms: self.min_dwell_ms,
            cooldown_ms: self.cooldown_ms,
            refuse_max_ms: self.refuse_max_ms,
            grace_ms: self.grace_ms,
        };
        match timing
            .keys()
            .into_iter()
            .find(|(_, v)| *v > GOVERNOR_TIMING_MS_MAX)
        {
            Some((key, value_ms)) => Err(GovernorError::Timing { key, value_ms }),
            None => Ok(timing),
        }
    }

    /// [`GovernorSection::thresholds`] and [`GovernorSection::timing`], the error naming
    /// the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.thresholds()
            .and_then(|_| self.timing())
            .map(|_| ())
            .map_err(GovernorError::invalid_key)
    }
}

/// The key and message of a `sustain` outside `1..=255`.
fn sustain_out_of_range(sustain: u32) -> (&'static str, String) {
    (
        "sustain",
        format!("must be within 1..={}, got {sustain}", u8::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn timing_keys_default_to_off_and_reach_the_core() {
        // Proves the four keys parse, default to 0 and make the core's timing.
        let config = Config::from_str("[governor]\nrefuse_max_ms = 1500\ngrace_ms = 10\n", "t")
            .expect("valid");
        let timing = config.governor.timing().expect("in bounds");
        assert_eq!(
            (timing.min_dwell_ms, timing.cooldown_ms),
            (0, 0),
            "defaults"
        );
        assert_eq!((timing.refuse_max_ms, timing.grace_ms), (1500, 10));
    }

    #[test]
    fn a_timing_above_one_day_names_its_key() {
        // Proves the bound and the error line's key.
        let error = Config::from_str("[governor]\ncooldown_ms = 86400001\n", "t")
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("governor.cooldown_ms: must be within 0..=86400000, got 86400001"),
            "{error}"
        );
    }
}

//! `[governor]`: the thresholds of `docs/governor.md#thresholds`, checked by the core's own rule
//! ([`Thresholds::new`]) so that a bad section gets the error the core would give.

use autonomic_core::Thresholds;
use autonomic_core::governor::ThresholdError;
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
}

impl GovernorError {
    /// The error as the config reports it: the key at fault and what is wrong with it.
    #[must_use]
    pub fn invalid_key(self) -> InvalidKey {
        let (key, message) = match self {
            GovernorError::SustainAbove255(sustain) => sustain_out_of_range(sustain),
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

    /// [`GovernorSection::thresholds`], its error naming the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.thresholds()
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

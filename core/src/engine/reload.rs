//! Hot reload (`docs/receipts.md#system-receipts`): a new [`EngineConfig`] replaces the
//! running one whole, recorded as a `ConfigApplied` system receipt carrying the SHA-256 of the
//! configuration file it came from. The last applied hash and its receipt's seq are state:
//! the fold of the `ConfigApplied` receipts, rebuilt by [`Engine::restore`].
//!
//! The configuration itself is not in the receipt: after a restart the driver starts the
//! engine with the file it reads then, and records a `ConfigApplied` when that file's hash is
//! not the last one recorded (`docs/config.md#hot-reload`).

use super::{Engine, EngineConfig, EngineConfigError, Mode, RestoreError};
use crate::ledger::Ledger;
use crate::limits::{BREAKER_RECEIPTS_PER_INPUT_MAX, RECEIPTS_PER_INPUT_MAX};
use crate::receipt::{Event, Receipt, SYSTEM_TENANT};

/// The last configuration applied: its file's hash and its `ConfigApplied` receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedConfig {
    /// The seq of its `ConfigApplied` receipt.
    pub seq: u64,
    /// The SHA-256 of the configuration file's bytes.
    pub hash: [u8; 32],
}

/// Why [`Engine::handle_config`] refused a configuration; nothing changed (no receipt, the
/// old configuration and hash stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The configuration is refused, as [`Engine::new`] would refuse it.
    #[error(transparent)]
    Invalid(#[from] EngineConfigError),
    /// The ledger ring has no room for the receipt; retry after draining it.
    #[error("output queues are full; retry later")]
    Busy,
}

impl ReloadError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            ReloadError::Invalid(_) => "ConfigInvalid",
            ReloadError::Busy => "Busy",
        }
    }
}

/// Refuses a configuration whose circuit breakers need a longer chain of receipts per input
/// than `ledger` can ever hold (the one rule [`EngineConfig::validate`] cannot check alone).
pub(super) fn check_ring(
    config: &EngineConfig,
    ledger: &Ledger<'_>,
) -> Result<(), EngineConfigError> {
    let chain = RECEIPTS_PER_INPUT_MAX + BREAKER_RECEIPTS_PER_INPUT_MAX;
    if config.breakers_enabled() && !ledger.could_append(chain) {
        let receipts = ledger.capacity();
        return Err(EngineConfigError::BreakerRingTooSmall { receipts });
    }
    Ok(())
}

impl Engine<'_> {
    /// Applies `config` whole, validated as [`Engine::new`] validates it: appends a
    /// `ConfigApplied` receipt carrying `hash` (the SHA-256 of the file the configuration
    /// came from), then every later input runs under `config`. Returns the receipt's seq. On
    /// an error nothing changed.
    pub fn handle_config(
        &mut self,
        now_ms: u64,
        config: EngineConfig,
        hash: [u8; 32],
    ) -> Result<u64, ReloadError> {
        config.validate()?;
        check_ring(&config, &self.ledger)?;
        if !self.ledger.can_append(1) {
            return Err(ReloadError::Busy);
        }
        let event = Event::ConfigApplied { hash };
        let appended = self.ledger.append(now_ms, SYSTEM_TENANT, &event);
        let seq = appended.map_err(|_| ReloadError::Busy)?;
        // A system receipt counts only as a receipt; the mode is not read for it.
        self.stats.count_receipt(seq, &event, None, Mode::Enforce);
        self.apply_system(seq, &event);
        self.config = config;
        Ok(seq)
    }

    /// [`Engine::restore`] of a system receipt: it names no tenant, so no slot.
    pub(super) fn restore_system(
        &mut self,
        record: &[u8],
        receipt: &Receipt,
    ) -> Result<(), RestoreError> {
        self.ledger.restore(record)?;
        self.apply_system(receipt.seq, &receipt.event);
        Ok(())
    }

    /// The one place where system receipts change state (the live path and restore both
    /// come here).
    fn apply_system(&mut self, seq: u64, event: &Event) {
        if let Event::ConfigApplied { hash } = event {
            self.applied_config = Some(AppliedConfig { seq, hash: *hash });
        }
    }
}

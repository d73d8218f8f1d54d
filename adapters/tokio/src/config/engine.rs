//! From a validated [`Config`] to what the engine thread starts with: the core's engine
//! configuration, the tenants to activate (the sampler's tenant included) and where the
//! checkpoints live.

use std::path::PathBuf;

use autonomic_core::{ActionKind, Capacities, EngineConfig};

use super::{Config, GovernorError, TenantSection};
use crate::actuator::ActuatorConfigError;
use crate::ledger_file::FsyncPolicy;

/// What the engine thread is started with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where `ledger.log` lives.
    pub data_dir: PathBuf,
    /// When the ledger syncs.
    pub fsync: FsyncPolicy,
    /// The engine's thresholds and timeouts.
    pub engine: EngineConfig,
    /// What the engine holds: tenants, their ids, dedup ids, receipts in memory.
    pub capacities: Capacities,
    /// Tenants to activate at start unless the ledger knows them (config, then sampler).
    pub tenants: Vec<TenantSection>,
    /// Signed checkpoints: key, cadence, witness.
    pub checkpoint: CheckpointSetup,
    /// The SHA-256 of the config file's bytes, when `run` read one: recorded at start in a
    /// `ConfigApplied` receipt once the ledger holds one with another hash (hot reload).
    pub config_hash: Option<[u8; 32]>,
}

/// Where the sidecar's identity and checkpoints live (from `[checkpoint]`).
#[derive(Debug, Clone)]
pub struct CheckpointSetup {
    /// The Ed25519 private key file (made on first start).
    pub key_path: PathBuf,
    /// Least time between two checkpoints.
    pub interval_ms: u64,
    /// A second copy of each checkpoint, if configured.
    pub witness: Option<PathBuf>,
    /// An external witness each checkpoint is POSTed to, if configured.
    pub webhook: Option<String>,
}

/// Why the configuration cannot drive an engine.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `[governor]` cannot make the core's thresholds.
    #[error("config: {0}")]
    Governor(#[from] GovernorError),
    /// An actuator section is refused.
    #[error("config: {0}")]
    Actuator(#[from] ActuatorConfigError),
    /// A `[skus.<sku>]` section is refused.
    #[error("config: {0}")]
    Skus(#[from] super::InvalidKey),
}

impl DaemonConfig {
    /// The engine configuration and the tenants to activate, from a validated [`Config`].
    /// The sampler's tenant is activated too when the sampler runs and no `[[tenants]]`
    /// entry names it.
    pub fn from_config(config: &Config) -> Result<Self, SetupError> {
        let engine = EngineConfig {
            thresholds: config.governor.thresholds()?,
            action_timeout_ms: ActionKind::ALL.map(|kind| config.actuators.get(kind).timeout_ms),
            breakers: ActionKind::ALL.map(|kind| config.actuators.get(kind).breaker()),
            rates: config.skus.rates()?,
            actions: config.actions.percents()?,
            timing: config.governor.timing()?,
        };
        let mut tenants = config.tenants.clone();
        if config.sampler.enabled && !tenants.iter().any(|t| t.id == config.sampler.tenant) {
            tenants.push(TenantSection {
                id: config.sampler.tenant.clone(),
                sku: config.sampler.sku.clone(),
                expires_at_ms: None,
                mode: None,
            });
        }
        Ok(Self {
            data_dir: config.data_dir.clone(),
            fsync: config.fsync,
            engine,
            capacities: config.capacities(),
            tenants,
            checkpoint: CheckpointSetup {
                key_path: config.checkpoint.key_path(&config.data_dir),
                interval_ms: config.checkpoint.interval_ms,
                witness: config.checkpoint.witness.clone(),
                webhook: config.checkpoint.webhook.clone(),
            },
            config_hash: None,
        })
    }
}

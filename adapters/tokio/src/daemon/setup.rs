//! From config to the engine thread's settings: the engine's configuration, the tenants to
//! activate, and the actuators.

use super::*;

/// What the engine thread is started with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where `ledger.log` lives.
    pub data_dir: PathBuf,
    /// When the ledger syncs.
    pub fsync: FsyncPolicy,
    /// The engine's thresholds, timeouts and ring size.
    pub engine: EngineConfig,
    /// Tenants to activate at start unless the ledger knows them (config, then sampler).
    pub tenants: Vec<TenantSection>,
    /// Signed checkpoints: key, cadence, witness.
    pub checkpoint: CheckpointSetup,
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
    /// The thresholds are refused by the core.
    #[error("config: governor: {0}")]
    Thresholds(#[from] autonomic_core::governor::ThresholdError),
    /// `governor.sustain` above 255.
    #[error("config: governor.sustain: must be 1..=255, got {0}")]
    Sustain(u32),
    /// An actuator section is refused.
    #[error("config: {0}")]
    Actuator(#[from] ActuatorConfigError),
}

impl DaemonConfig {
    /// The engine configuration and the tenants to activate, from a validated [`Config`].
    pub fn from_config(config: &Config) -> Result<Self, SetupError> {
        let g = &config.governor;
        let sustain = u8::try_from(g.sustain).map_err(|_| SetupError::Sustain(g.sustain))?;
        let thresholds = Thresholds::new(g.warn, g.recover, g.intervene, g.refuse, sustain)?;
        let a = &config.actuators;
        let engine = EngineConfig {
            thresholds,
            action_timeout_ms: [
                a.throttle.timeout_ms,
                a.pause.timeout_ms,
                a.shed.timeout_ms,
                a.rollback.timeout_ms,
            ],
            ledger_capacity: config.ledger_capacity as usize,
        };
        let mut tenants = config.tenants.clone();
        if config.sampler.enabled && !tenants.iter().any(|t| t.id == config.sampler.tenant) {
            tenants.push(TenantSection {
                id: config.sampler.tenant.clone(),
                sku: config.sampler.sku.clone(),
                expires_at_ms: None,
            });
        }
        Ok(Self {
            data_dir: config.data_dir.clone(),
            fsync: config.fsync,
            engine,
            tenants,
            checkpoint: CheckpointSetup {
                key_path: config.checkpoint.key_path(&config.data_dir),
                interval_ms: config.checkpoint.interval_ms,
                witness: config.checkpoint.witness.clone(),
                webhook: config.checkpoint.webhook.clone(),
            },
        })
    }
}

/// One actuator per action kind, in [`autonomic_core::ActionKind::index`] order.
#[derive(Debug, Clone)]
pub struct Actuators {
    by_kind: [Arc<Actuator>; 4],
}

impl Actuators {
    /// Builds every actuator; each gets its section's `timeout_ms` plus
    /// [`ACTUATOR_GRACE_MS`] (see the module doc), and `exec` ones record their process
    /// groups in `records` (so a restarted sidecar can kill what a dead one left).
    pub fn from_config(
        sections: &ActuatorsSection,
        records: Option<ProcessRecords>,
    ) -> Result<Self, SetupError> {
        let build = |kind, section: &crate::config::ActuatorSection| {
            let mut section = section.clone();
            section.timeout_ms = section
                .timeout_ms
                .saturating_add(ACTUATOR_GRACE_MS)
                .min(actuator::TIMEOUT_MS_MAX);
            let actuator = Actuator::from_config(kind, &section)?;
            let actuator = match &records {
                Some(r) => actuator.with_process_records(r.clone()),
                None => actuator,
            };
            Ok::<_, ActuatorConfigError>(Arc::new(actuator))
        };
        use actuator::ActionKind as K;
        Ok(Self {
            by_kind: [
                build(K::Throttle, &sections.throttle)?,
                build(K::Pause, &sections.pause)?,
                build(K::Shed, &sections.shed)?,
                build(K::Rollback, &sections.rollback)?,
            ],
        })
    }

    pub(super) fn get(&self, kind: autonomic_core::ActionKind) -> Option<&Arc<Actuator>> {
        self.by_kind.get(kind.index())
    }
}

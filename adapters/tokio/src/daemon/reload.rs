//! Hot reload (`docs/config.md#hot-reload`): SIGHUP and `POST /v1/config/reload` re-read
//! the file `run --config` named, and apply it whole or refuse it with one line, changing
//! nothing.
//!
//! A reload, in order (one at a time: the [`Reloader`] holds the running config behind a
//! lock): read, parse and validate the file exactly as at start (the same one-line errors);
//! refuse a change to a key bound at start, by name ([`check_live`]); build the engine's
//! configuration; hand it to the engine thread, which applies it with
//! [`autonomic_core::Engine::handle_config`] (validated as at start, a `ConfigApplied`
//! receipt committed before the answer). Only then does the reloader take the new file as
//! the running one.
//!
//! At start the engine thread records a `ConfigApplied` only when the ledger already holds
//! one and the file's hash is not the last one recorded ([`Host::record_config_at_start`]).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `autonomic_config_reloads_total` | counter | `result`: `applied`, `refused` |
//! | `autonomic_config_info` | gauge | `hash`: the first 12 hex digits of the running file's SHA-256; always 1 |

use std::sync::atomic::AtomicU64;

use autonomic_core::engine::ReloadError;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::*;
use crate::config::reload::{Loaded, check_live};
use crate::config::{Config, ConfigError};
use crate::metrics::PREFIX;

/// Hex digits of the running file's hash in `autonomic_config_info`.
pub const HASH_PREFIX_HEX: usize = 12;

impl MaybeBusy for ReloadError {
    fn is_busy(&self) -> bool {
        matches!(self, ReloadError::Busy)
    }
}

impl Host<'_, '_> {
    /// Once an operator has reloaded (the ledger holds a `ConfigApplied`), a start with a
    /// file whose hash is not the last one recorded records it, so every later decision is
    /// attributable to a file. A ledger that never saw a reload gets no receipt here.
    pub(super) fn record_config_at_start(
        &mut self,
        hash: Option<[u8; 32]>,
    ) -> Result<(), StartError> {
        let (Some(hash), Some(last)) = (hash, self.engine.config_hash()) else {
            return Ok(());
        };
        if hash == last {
            return Ok(());
        }
        let input = input::NewConfig {
            config: *self.engine.config(),
            hash,
        };
        let seq = self
            .apply(now_ms(), &input)
            .map_err(|e| StartError::Other(format!("config: {e}")))?;
        if !self.flush() {
            return Err(StartError::Other(
                "ledger: recording the changed config failed".to_owned(),
            ));
        }
        info!(seq, hash = %hex::encode(hash), "config: the file changed since the last one applied; recorded");
        Ok(())
    }
}

/// Reads the running file again, as `run` read it at start (its path and the command line's
/// overrides).
pub type LoadConfig = Box<dyn Fn() -> Result<Loaded, ConfigError> + Send + Sync>;

/// What `GET /v1/config` (and a successful reload) answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigStatus {
    /// The SHA-256 of the running file's bytes, 64 lowercase hex.
    pub hash: String,
    /// The seq of the last `ConfigApplied` receipt (`null` before any).
    pub applied_seq: Option<u64>,
    /// The file `run --config` named (`null` without one: the defaults).
    pub path: Option<String>,
}

/// Why a reload changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadFailure {
    /// The file is refused: one line naming the file and the key (HTTP 400 `ConfigInvalid`).
    #[error("{0}")]
    Invalid(String),
    /// The engine thread did not take it (shutting down, poisoned, queue full).
    #[error(transparent)]
    Refused(#[from] Refused),
}

/// The file running now.
#[derive(Debug)]
struct Running {
    config: Config,
    hash: [u8; 32],
    applied_seq: Option<u64>,
}

/// Reloads the running file on request (SIGHUP, HTTP), one reload at a time.
pub struct Reloader {
    load: LoadConfig,
    origin: String,
    path: Option<String>,
    engine: EngineHandle,
    running: tokio::sync::Mutex<Running>,
    metrics: ConfigMetrics,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader of the file at `path` (`None`: started without one), running `loaded`
    /// since start, whose last `ConfigApplied` receipt (after start-up) is `applied_seq`.
    #[must_use]
    pub fn new(
        load: LoadConfig,
        path: Option<&std::path::Path>,
        loaded: Loaded,
        applied_seq: Option<u64>,
        engine: EngineHandle,
    ) -> Reloader {
        let path = path.map(|p| p.display().to_string());
        let metrics = ConfigMetrics::new();
        metrics.running(&loaded.hash);
        Reloader {
            load,
            origin: path.clone().unwrap_or_else(|| "(defaults)".to_owned()),
            path,
            engine,
            running: tokio::sync::Mutex::new(Running {
                config: loaded.config,
                hash: loaded.hash,
                applied_seq,
            }),
            metrics,
        }
    }

    /// The running file's hash, the last `ConfigApplied` seq and the path.
    pub async fn status(&self) -> ConfigStatus {
        self.status_of(&*self.running.lock().await)
    }

    fn status_of(&self, running: &Running) -> ConfigStatus {
        ConfigStatus {
            hash: hex::encode(running.hash),
            applied_seq: running.applied_seq,
            path: self.path.clone(),
        }
    }

    /// Re-reads the file and applies it whole, or refuses it changing nothing; logged
    /// (a refusal as its one line) and counted either way.
    pub async fn reload(&self) -> Result<ConfigStatus, ReloadFailure> {
        let mut running = self.running.lock().await;
        let result = self.try_reload(&mut running).await;
        match &result {
            Ok(status) => {
                self.metrics.reloaded("applied");
                self.metrics.running(&running.hash);
                info!(hash = %status.hash, applied_seq = ?status.applied_seq, "config: reloaded");
            }
            Err(e) => {
                self.metrics.reloaded("refused");
                error!("config: reload refused, nothing changed: {e}");
            }
        }
        result
    }

    async fn try_reload(&self, running: &mut Running) -> Result<ConfigStatus, ReloadFailure> {
        let invalid = |e: &dyn std::fmt::Display| {
            ReloadFailure::Invalid(format!("config {}: {e}", self.origin))
        };
        let loaded = (self.load)().map_err(|e| ReloadFailure::Invalid(e.to_string()))?;
        check_live(&running.config, &loaded.config).map_err(|e| invalid(&e))?;
        let engine = DaemonConfig::from_config(&loaded.config)
            .map_err(|e| ReloadFailure::Invalid(e.to_string()))?
            .engine;
        let seq = match self.engine.apply_config(engine, loaded.hash).await? {
            Ok(seq) => seq,
            Err(ReloadError::Busy) => return Err(Refused::QueueFull.into()),
            Err(ReloadError::Invalid(e)) => return Err(invalid(&e)),
        };
        *running = Running {
            config: loaded.config,
            hash: loaded.hash,
            applied_seq: Some(seq),
        };
        Ok(self.status_of(running))
    }

    /// Appends the reload metrics to a `/metrics` exposition.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
    }
}

type Counters = Family<[(&'static str, &'static str); 1], Counter>;
type Info = Family<[(&'static str, String); 1], Gauge<u64, AtomicU64>>;

/// `autonomic_config_reloads_total` and `autonomic_config_info`.
#[derive(Debug)]
struct ConfigMetrics {
    registry: Registry,
    reloads: Counters,
    info: Info,
}

impl ConfigMetrics {
    /// Registered; both results exposed from the start at 0.
    fn new() -> ConfigMetrics {
        let mut metrics = ConfigMetrics {
            registry: Registry::with_prefix(PREFIX),
            reloads: Counters::default(),
            info: Info::default(),
        };
        for result in ["applied", "refused"] {
            metrics
                .reloads
                .get_or_create(&[("result", result)])
                .inc_by(0);
        }
        let r = &mut metrics.registry;
        let help = "Config reloads (SIGHUP, POST /v1/config/reload), by result";
        r.register("config_reloads", help, metrics.reloads.clone());
        let help = "The running config file: the first hex digits of its SHA-256; always 1";
        r.register("config_info", help, metrics.info.clone());
        metrics
    }

    fn reloaded(&self, result: &'static str) {
        self.reloads.get_or_create(&[("result", result)]).inc();
    }

    fn running(&self, hash: &[u8; 32]) {
        let mut prefix = hex::encode(hash);
        prefix.truncate(HASH_PREFIX_HEX);
        self.info.clear();
        self.info.get_or_create(&[("hash", prefix)]).set(1);
    }

    fn render(&self, out: &mut String) {
        // Writing to a `String` cannot fail.
        let _ = prometheus_text::encode(out, &self.registry);
    }
}

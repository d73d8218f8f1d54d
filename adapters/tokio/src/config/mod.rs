//! Configuration: the TOML file of `docs/config.md`.
//!
//! Every key is optional; an empty file is [`Config::default`]. Unknown keys are errors at
//! every level (`deny_unknown_fields`), and after parsing [`Config::validate`] checks every
//! value's bounds and the relations between values. A [`ConfigError`] displays as one line
//! naming the file and the key, e.g.
//! `config ./a.toml: unknown key 'governor.wran' at line 3 (expected ...)` or
//! `config ./a.toml: governor.warn: must be < intervene (90), got 95`.
//!
//! Beyond `listen`, `data_dir`, `token`, `fsync`, and the capacities `max_tenants`,
//! `tenant_id_bytes`, `dedup_ids` and `ledger_capacity`, the top level accepts
//! `max_body_bytes` (largest accepted HTTP request body, default 1 MiB) and
//! `max_concurrent_requests` (HTTP requests served at once, default 256); and the HTTP
//! hygiene keys `header_read_timeout_ms`, `idle_timeout_ms`, `body_read_timeout_ms`,
//! `max_connections`, `allowed_origins` and `allowed_hosts` (see `http_server.rs` and
//! `docs/http-api.md#security`).
//! The command line's `--listen` and `--data-dir` override the plain public fields
//! [`Config::listen`] and [`Config::data_dir`]; call [`Config::validate`] again after.
//!
//! Files: this one (the top-level keys, `[checkpoint]`, loading), `governor.rs`,
//! `tenants.rs` (`[sampler]`, `[[tenants]]`), `actuators.rs`, `notify.rs` (`[[notify]]`),
//! `fleet.rs` (`[fleet]`), `skus.rs` (`[skus.<sku>]`), `actions.rs` (`[actions.<sku>]`),
//! `checks.rs` (value rules), `errors.rs` (one-line errors), `engine.rs` (from a config to
//! what the engine starts with) and `reload.rs` (the running file's hash, and what may change
//! without a restart).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ledger_file::FsyncPolicy;

mod actions;
mod actuators;
mod checks;
mod engine;
mod errors;
mod fleet;
mod governor;
mod notify;
pub mod reload;
mod skus;
mod tenants;

pub use actions::{ActionsSection, SkuActionsSection};
pub use actuators::{ActuatorSection, ActuatorsSection, BackendKind, DEFAULT_TIMEOUT_MS};
use checks::{check_host_name, check_http_url, check_list, check_origin, check_range, check_token};
pub use engine::{CheckpointSetup, DaemonConfig, SetupError};
use errors::parse_error;
pub use errors::{ConfigError, InvalidKey};
pub use fleet::{FleetSection, OnUnavailable, RedisAddr};
pub use governor::{GovernorError, GovernorSection};
use notify::validate_notify;
pub use notify::{NOTIFY_TIMEOUT_MS_DEFAULT, NOTIFY_TIMEOUT_MS_MAX, NotifySection};
pub use skus::{SkuSection, SkusSection};
use tenants::validate_tenants;
pub use tenants::{SamplerSection, TenantSection};

/// Largest config file read, in bytes.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Default HTTP listen address.
pub const LISTEN_DEFAULT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7411));
/// Default data directory.
pub const DATA_DIR_DEFAULT: &str = "./autonomic-data";
/// Longest accepted `token`, in bytes.
pub const TOKEN_BYTES_MAX: usize = 1024;
/// Default `ledger_capacity`: receipts kept in memory.
pub const LEDGER_CAPACITY_DEFAULT: u32 = 1024;
/// Smallest accepted `ledger_capacity`.
pub const LEDGER_CAPACITY_MIN: u32 = 16;
/// Largest accepted `ledger_capacity`.
pub const LEDGER_CAPACITY_MAX: u32 = 65_536;
/// Default `max_tenants`: tenants at once.
pub const MAX_TENANTS_DEFAULT: u32 = autonomic_core::limits::TENANTS_DEFAULT as u32;
/// Largest accepted `max_tenants` (each costs about 110 bytes plus its id: 16 Mi tenants is
/// about 2 GiB).
pub const MAX_TENANTS_MAX: u32 = 1 << 24;
/// Smallest accepted `tenant_id_bytes`: one id of the longest length.
pub const TENANT_ID_BYTES_MIN: u64 = autonomic_core::limits::TENANT_ID_MAX_BYTES as u64;
/// Largest accepted `tenant_id_bytes` (a `u32` offset).
pub const TENANT_ID_BYTES_MAX: u64 = u32::MAX as u64;
/// Default `dedup_ids`: 60 s of retention (65 s in 5 s windows) at 10 000 signals/s.
pub const DEDUP_IDS_DEFAULT: u32 = autonomic_core::limits::DEDUP_IDS_DEFAULT as u32;
/// Smallest accepted `dedup_ids`.
pub const DEDUP_IDS_MIN: u32 = 1024;
/// Largest accepted `dedup_ids` (64 Mi ids, about 2 GiB of index and arrivals).
pub const DEDUP_IDS_MAX: u32 = 1 << 26;
/// Default `max_in_flight`: actions executing at once.
pub const MAX_IN_FLIGHT_DEFAULT: u32 = autonomic_core::limits::IN_FLIGHT_DEFAULT as u32;
/// Largest accepted `max_in_flight` (every signal scans the actions in flight).
pub const MAX_IN_FLIGHT_MAX: u32 = 4096;
/// Default `max_rollbackable`: completed actions remembered for rollback.
pub const MAX_ROLLBACKABLE_DEFAULT: u32 = autonomic_core::limits::ROLLBACKABLE_DEFAULT as u32;
/// Largest accepted `max_rollbackable` (a rollback request scans them).
pub const MAX_ROLLBACKABLE_MAX: u32 = 65_536;
/// Default `max_queued_actions`: manual actions queued behind those in flight, engine-wide.
pub const MAX_QUEUED_ACTIONS_DEFAULT: u32 = autonomic_core::limits::QUEUED_DEFAULT as u32;
/// Largest accepted `max_queued_actions` (queuing and dispatching scan them).
pub const MAX_QUEUED_ACTIONS_MAX: u32 = 4096;
/// Default `max_timers`: the governor's Refuse timers and pending warnings held at once.
pub const MAX_TIMERS_DEFAULT: u32 = autonomic_core::limits::TIMERS_DEFAULT as u32;
/// Largest accepted `max_timers` (the core's bound: the timers held are scanned per signal).
pub const MAX_TIMERS_MAX: u32 = autonomic_core::limits::TIMERS_MAX as u32;
/// Default `max_body_bytes` (a body over 1 MiB is refused).
pub const MAX_BODY_BYTES_DEFAULT: u64 = 1024 * 1024;
/// Smallest accepted `max_body_bytes`.
pub const MAX_BODY_BYTES_MIN: u64 = 1024;
/// Largest accepted `max_body_bytes`.
pub const MAX_BODY_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Default `max_concurrent_requests`.
pub const MAX_CONCURRENT_REQUESTS_DEFAULT: u32 = 256;
/// Largest accepted `max_concurrent_requests`.
pub const MAX_CONCURRENT_REQUESTS_MAX: u32 = 65_536;
/// Default `header_read_timeout_ms`: from a request's first byte to the end of its head.
pub const HEADER_READ_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Default `idle_timeout_ms`: a connection with no request in progress and no bytes moving.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 15_000;
/// Default `body_read_timeout_ms`: from the end of a request's head to the end of its body.
pub const BODY_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Smallest accepted value of the three HTTP timeouts.
pub const HTTP_TIMEOUT_MS_MIN: u64 = 100;
/// Largest accepted value of the three HTTP timeouts (ten minutes).
pub const HTTP_TIMEOUT_MS_MAX: u64 = 600_000;
/// Default `max_connections` (further capped below `RLIMIT_NOFILE` at start).
pub const MAX_CONNECTIONS_DEFAULT: u32 = 1024;
/// Largest accepted `max_connections`.
pub const MAX_CONNECTIONS_MAX: u32 = 1_000_000;
/// Most entries in `allowed_origins` or `allowed_hosts`.
pub const ALLOWED_ENTRIES_MAX: usize = 64;
/// Longest entry of `allowed_origins` or `allowed_hosts`, in bytes.
pub const ALLOWED_ENTRY_BYTES_MAX: usize = 255;
/// Default `sampler.interval_ms`.
pub const SAMPLER_INTERVAL_MS_DEFAULT: u64 = 1000;
/// Default `checkpoint.interval_ms`.
pub const CHECKPOINT_INTERVAL_MS_DEFAULT: u64 = 10_000;
/// Smallest accepted `checkpoint.interval_ms`.
pub const CHECKPOINT_INTERVAL_MS_MIN: u64 = 100;
/// Largest accepted `checkpoint.interval_ms`.
pub const CHECKPOINT_INTERVAL_MS_MAX: u64 = 3_600_000;
/// Smallest accepted `sampler.interval_ms`.
pub const SAMPLER_INTERVAL_MS_MIN: u64 = 100;
/// Largest accepted `sampler.interval_ms` (one hour).
pub const SAMPLER_INTERVAL_MS_MAX: u64 = 3_600_000;
/// Most `[[tenants]]` entries.
pub const TENANTS_MAX: usize = 4096;

/// The whole configuration file (`docs/config.md`). Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address (`listen`, default `127.0.0.1:7411`).
    pub listen: SocketAddr,
    /// Directory of the ledger file (`data_dir`, default `./autonomic-data`).
    pub data_dir: PathBuf,
    /// Bearer token for mutating endpoints (`token`); `None`: no auth (loopback only).
    pub token: Option<String>,
    /// When the ledger syncs (`fsync`, default `always`).
    pub fsync: FsyncPolicy,
    /// Receipts kept in memory (`ledger_capacity`, 16..=65536, default 1024).
    pub ledger_capacity: u32,
    /// Tenants at once (`max_tenants`, 1..=16 777 216, default 1024).
    pub max_tenants: u32,
    /// Bytes of tenant ids, all tenants together (`tenant_id_bytes`, 256..=4 294 967 295;
    /// default 32 per tenant of `max_tenants`).
    pub tenant_id_bytes: Option<u64>,
    /// Signal ids the deduplicator remembers (`dedup_ids`, 1024..=67 108 864, default 650 000).
    pub dedup_ids: u32,
    /// Actions executing at once, engine-wide (`max_in_flight`, 1..=4096, default 64).
    pub max_in_flight: u32,
    /// Completed actions remembered for rollback (`max_rollbackable`, 1..=65 536, default 64).
    pub max_rollbackable: u32,
    /// Manual actions queued behind those in flight, engine-wide (`max_queued_actions`,
    /// 1..=4096, default 64).
    pub max_queued_actions: u32,
    /// The governor's timers held at once, engine-wide (`max_timers`, 1..=65 536, default 128).
    pub max_timers: u32,
    /// Extension: largest HTTP request body (`max_body_bytes`, default 1 MiB).
    pub max_body_bytes: u64,
    /// Extension: HTTP requests served at once (`max_concurrent_requests`, default 256).
    pub max_concurrent_requests: u32,
    /// Extension: time from a request's first byte to the end of its head
    /// (`header_read_timeout_ms`, default 5 000).
    pub header_read_timeout_ms: u64,
    /// Extension: how long a connection may sit with no request in progress and no bytes
    /// moving before it is closed (`idle_timeout_ms`, default 15 000).
    pub idle_timeout_ms: u64,
    /// Extension: time from the end of a request's head to the end of its body
    /// (`body_read_timeout_ms`, default 10 000); slower: 408 and the connection is closed.
    pub body_read_timeout_ms: u64,
    /// Extension: open HTTP connections (`max_connections`, default 1024), further capped at
    /// start below the file-descriptor limit.
    pub max_connections: u32,
    /// Extension: browser origins allowed to call the API (`allowed_origins`, default none):
    /// a request with any other `Origin` header is refused (403).
    pub allowed_origins: Vec<String>,
    /// Extension: host names, beyond the listen address, `localhost` and loopback addresses,
    /// that a request's `Host` may name (`allowed_hosts`, default none).
    pub allowed_hosts: Vec<String>,
    /// `[governor]`: the governor's thresholds.
    pub governor: GovernorSection,
    /// `[sampler]`: host signals from /proc.
    pub sampler: SamplerSection,
    /// `[[tenants]]`: activated at start unless the ledger already knows them.
    pub tenants: Vec<TenantSection>,
    /// `[actuators.*]`: the backend of each action kind.
    pub actuators: ActuatorsSection,
    /// `[checkpoint]`: the signing key, the cadence and the witness of signed checkpoints.
    pub checkpoint: CheckpointSection,
    /// `[[notify]]`: subscribers that receive every receipt as a CloudEvent.
    pub notify: Vec<NotifySection>,
    /// `[fleet]`: admissions counted fleet-wide in Redis (`fleet.rs`); absent: locally only.
    pub fleet: Option<FleetSection>,
    /// `[skus.<sku>]`: per-SKU overrides of the `rate` bucket.
    pub skus: SkusSection,
    /// `[actions.<sku>]`: per-SKU percents of the governor's actions.
    pub actions: ActionsSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: LISTEN_DEFAULT,
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            token: None,
            fsync: FsyncPolicy::Always,
            ledger_capacity: LEDGER_CAPACITY_DEFAULT,
            max_tenants: MAX_TENANTS_DEFAULT,
            tenant_id_bytes: None,
            dedup_ids: DEDUP_IDS_DEFAULT,
            max_in_flight: MAX_IN_FLIGHT_DEFAULT,
            max_rollbackable: MAX_ROLLBACKABLE_DEFAULT,
            max_queued_actions: MAX_QUEUED_ACTIONS_DEFAULT,
            max_timers: MAX_TIMERS_DEFAULT,
            max_body_bytes: MAX_BODY_BYTES_DEFAULT,
            max_concurrent_requests: MAX_CONCURRENT_REQUESTS_DEFAULT,
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            body_read_timeout_ms: BODY_READ_TIMEOUT_MS_DEFAULT,
            max_connections: MAX_CONNECTIONS_DEFAULT,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            governor: GovernorSection::default(),
            sampler: SamplerSection::default(),
            tenants: Vec::new(),
            actuators: ActuatorsSection::default(),
            checkpoint: CheckpointSection::default(),
            notify: Vec::new(),
            fleet: None,
            skus: SkusSection::default(),
            actions: ActionsSection::default(),
        }
    }
}

/// `[checkpoint]`: signed checkpoints of the ledger's head (see `checkpoint.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// The Ed25519 private key (`key`, default `<data_dir>/identity.key`; made with mode 0600
    /// on first start). It may live off the data disk.
    pub key: Option<PathBuf>,
    /// Sign a checkpoint when the durable head moved and this long has passed since the
    /// last one (`interval_ms`, default 10 000, 100..=3 600 000); also at shutdown.
    pub interval_ms: u64,
    /// A second copy of each checkpoint (`witness`), e.g. on another volume; checked at
    /// start like the one in the data dir.
    pub witness: Option<PathBuf>,
    /// An external witness (`webhook`, an `http://` URL) that each checkpoint's text is
    /// POSTed to (`text/plain`); failures are logged and counted, never fatal.
    pub webhook: Option<String>,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            key: None,
            interval_ms: CHECKPOINT_INTERVAL_MS_DEFAULT,
            witness: None,
            webhook: None,
        }
    }
}

impl CheckpointSection {
    /// `interval_ms` in bounds; paths not empty.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_range(
            "checkpoint.interval_ms",
            self.interval_ms,
            CHECKPOINT_INTERVAL_MS_MIN,
            CHECKPOINT_INTERVAL_MS_MAX,
        )?;
        for (key, path) in [
            ("checkpoint.key", &self.key),
            ("checkpoint.witness", &self.witness),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(InvalidKey::new(key, "must not be empty"));
            }
        }
        if let Some(url) = &self.webhook {
            check_http_url(url)
                .map_err(|message| InvalidKey::new("checkpoint.webhook", message))?;
        }
        Ok(())
    }

    /// The private key's path: `key`, or `identity.key` in `data_dir`.
    #[must_use]
    pub fn key_path(&self, data_dir: &Path) -> PathBuf {
        self.key
            .clone()
            .unwrap_or_else(|| data_dir.join(crate::checkpoint::KEY_FILE_NAME))
    }
}

impl Config {
    /// Reads, parses and validates the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::from_str(&Self::read_text(path)?, &path.display().to_string())
    }

    /// Reads the file at `path` (at most [`CONFIG_FILE_BYTES_MAX`] bytes of UTF-8), unparsed.
    pub fn read_text(path: &Path) -> Result<String, ConfigError> {
        let origin = path.display().to_string();
        let read_error = |source| ConfigError::Read {
            origin: origin.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        file.take(CONFIG_FILE_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > CONFIG_FILE_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                origin,
                max_bytes: CONFIG_FILE_BYTES_MAX,
            });
        }
        Ok(text)
    }

    /// Parses and validates TOML `text`; `origin` names it in errors (a path, or `-`).
    pub fn from_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        if text.len() as u64 > CONFIG_FILE_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                origin: origin.to_owned(),
                max_bytes: CONFIG_FILE_BYTES_MAX,
            });
        }
        let config: Config = toml::from_str(text).map_err(|e| parse_error(origin, text, e))?;
        config.validate().map_err(|invalid| ConfigError::Invalid {
            origin: origin.to_owned(),
            invalid,
        })?;
        Ok(config)
    }

    /// Checks every bound and relation between values; the first failure names its key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(InvalidKey::new("data_dir", "must not be empty"));
        }
        if let Some(token) = &self.token {
            check_token(token)?;
        }
        check_range(
            "ledger_capacity",
            u64::from(self.ledger_capacity),
            u64::from(LEDGER_CAPACITY_MIN),
            u64::from(LEDGER_CAPACITY_MAX),
        )?;
        self.validate_capacities()?;
        check_range(
            "max_body_bytes",
            self.max_body_bytes,
            MAX_BODY_BYTES_MIN,
            MAX_BODY_BYTES_MAX,
        )?;
        check_range(
            "max_concurrent_requests",
            u64::from(self.max_concurrent_requests),
            1,
            u64::from(MAX_CONCURRENT_REQUESTS_MAX),
        )?;
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            check_range(key, value, HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX)?;
        }
        check_range(
            "max_connections",
            u64::from(self.max_connections),
            1,
            u64::from(MAX_CONNECTIONS_MAX),
        )?;
        check_list("allowed_origins", &self.allowed_origins, check_origin)?;
        check_list("allowed_hosts", &self.allowed_hosts, check_host_name)?;
        self.governor.validate()?;
        self.sampler.validate()?;
        validate_tenants(&self.tenants)?;
        self.checkpoint.validate()?;
        validate_notify(&self.notify)?;
        if let Some(fleet) = &self.fleet {
            fleet.validate()?;
        }
        self.skus.validate()?;
        self.actions.validate()?;
        self.actuators.validate()
    }

    /// `max_tenants`, `tenant_id_bytes`, `dedup_ids`, `max_in_flight`, `max_rollbackable`,
    /// `max_queued_actions` and `max_timers` in bounds, and room for every
    /// `[[tenants]]` entry (and the sampler's tenant).
    fn validate_capacities(&self) -> Result<(), InvalidKey> {
        check_range(
            "max_tenants",
            u64::from(self.max_tenants),
            1,
            u64::from(MAX_TENANTS_MAX),
        )?;
        if let Some(bytes) = self.tenant_id_bytes {
            check_range(
                "tenant_id_bytes",
                bytes,
                TENANT_ID_BYTES_MIN,
                TENANT_ID_BYTES_MAX,
            )?;
        }
        check_range(
            "dedup_ids",
            u64::from(self.dedup_ids),
            u64::from(DEDUP_IDS_MIN),
            u64::from(DEDUP_IDS_MAX),
        )?;
        for (key, value, max) in [
            ("max_in_flight", self.max_in_flight, MAX_IN_FLIGHT_MAX),
            (
                "max_rollbackable",
                self.max_rollbackable,
                MAX_ROLLBACKABLE_MAX,
            ),
            (
                "max_queued_actions",
                self.max_queued_actions,
                MAX_QUEUED_ACTIONS_MAX,
            ),
            ("max_timers", self.max_timers, MAX_TIMERS_MAX),
        ] {
            check_range(key, u64::from(value), 1, u64::from(max))?;
        }
        let configured = self.tenants.len() + usize::from(self.sampler.enabled);
        if configured > self.max_tenants as usize {
            return Err(InvalidKey::new(
                "max_tenants",
                format!(
                    "must hold the {configured} configured tenants ([[tenants]] and the sampler's), got {}",
                    self.max_tenants
                ),
            ));
        }
        Ok(())
    }

    /// The engine's capacities (`max_tenants`, `tenant_id_bytes`, `dedup_ids`,
    /// `ledger_capacity`, `max_in_flight`, `max_rollbackable`, `max_queued_actions`,
    /// `max_timers`).
    #[must_use]
    pub fn capacities(&self) -> autonomic_core::Capacities {
        // The core's defaults for this many tenants (its one rule for the id arena's default),
        // then every key the file sets.
        let defaults = autonomic_core::Capacities::with_tenants(self.max_tenants as usize);
        let id_bytes = self.tenant_id_bytes.and_then(|b| usize::try_from(b).ok());
        autonomic_core::Capacities {
            tenant_id_bytes: id_bytes.unwrap_or(defaults.tenant_id_bytes),
            dedup_ids: self.dedup_ids as usize,
            receipts: self.ledger_capacity as usize,
            in_flight: self.max_in_flight as usize,
            rollbackable: self.max_rollbackable as usize,
            queued: self.max_queued_actions as usize,
            timers: self.max_timers as usize,
            ..defaults
        }
    }
}

//! Configuration: TOML as in SPEC section 7.
//!
//! Every key is optional; an empty file is [`Config::default`]. Unknown keys are errors at
//! every level (`deny_unknown_fields`), and after parsing [`Config::validate`] checks every
//! value's bounds and the relations between values. A [`ConfigError`] displays as one line
//! naming the file and the key, e.g.
//! `config ./a.toml: unknown key 'governor.wran' at line 3 (expected ...)` or
//! `config ./a.toml: governor.warn: must be < intervene (90), got 95`.
//!
//! Beyond SPEC section 7 two top-level keys are accepted (documented extensions):
//! `max_body_bytes` (largest accepted HTTP request body, default 1 MiB) and
//! `max_concurrent_requests` (HTTP requests served at once, default 256); and the HTTP
//! hygiene keys `header_read_timeout_ms`, `idle_timeout_ms`, `body_read_timeout_ms`,
//! `max_connections`, `allowed_origins` and `allowed_hosts` (see `http_server.rs` and the
//! README's Security section).
//! The command line's `--listen` and `--data-dir` override the plain public fields
//! [`Config::listen`] and [`Config::data_dir`]; call [`Config::validate`] again after.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::ledger_file::FsyncPolicy;

mod checks;
mod errors;

use checks::*;
use errors::parse_error;
pub use errors::{ConfigError, InvalidKey};

/// Largest config file read, in bytes.
pub const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Default HTTP listen address (SPEC section 7).
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
/// Default `max_body_bytes` (SPEC section 8: a body over 1 MiB is refused).
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
/// Longest tenant id, in bytes (SPEC section 2).
pub const TENANT_ID_BYTES_MAX: usize = 256;
/// The SKUs of SPEC section 3.
pub const SKUS: [&str; 3] = ["starter", "pro", "enterprise"];
/// Largest accepted actuator `timeout_ms` (one hour).
pub const ACTUATOR_TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Most entries in `args` or `rollback_args`.
pub const ACTUATOR_ARGS_MAX: usize = 256;
/// Longest program, argument, URL or group string, in bytes.
pub const ACTUATOR_STRING_BYTES_MAX: usize = 4096;

/// The whole configuration file (SPEC section 7). Every field has a default.
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
    /// `[governor]`: the thresholds of SPEC section 4.
    pub governor: GovernorSection,
    /// `[sampler]`: host signals from /proc.
    pub sampler: SamplerSection,
    /// `[[tenants]]`: activated at start unless the ledger already knows them.
    pub tenants: Vec<TenantSection>,
    /// `[actuators.*]`: the backend of each action kind.
    pub actuators: ActuatorsSection,
    /// `[checkpoint]`: the signing key, the cadence and the witness of signed checkpoints.
    pub checkpoint: CheckpointSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: LISTEN_DEFAULT,
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            token: None,
            fsync: FsyncPolicy::Always,
            ledger_capacity: LEDGER_CAPACITY_DEFAULT,
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

/// `[governor]`: raw threshold numbers (percent) and the sustain count of SPEC section 4.
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
    fn default() -> Self {
        Self {
            warn: 75,
            recover: 70,
            intervene: 90,
            refuse: 95,
            sustain: 3,
        }
    }
}

/// `[sampler]`: the host sampler's tenant and period.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerSection {
    /// Whether the sampler runs (default true).
    pub enabled: bool,
    /// The tenant its signals are for (default `local`).
    pub tenant: String,
    /// The SKU that tenant is activated with (default `pro`).
    pub sku: String,
    /// Period between samples (default 1000, 100..=3600000).
    pub interval_ms: u64,
}

impl Default for SamplerSection {
    fn default() -> Self {
        Self {
            enabled: true,
            tenant: "local".to_owned(),
            sku: "pro".to_owned(),
            interval_ms: SAMPLER_INTERVAL_MS_DEFAULT,
        }
    }
}

/// One `[[tenants]]` entry: activated at start unless the ledger already knows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Tenant id (SPEC section 2 rules: 1..=256 visible ASCII bytes).
    pub id: String,
    /// `starter`, `pro` or `enterprise`.
    pub sku: String,
    /// When the entitlement expires (Unix ms), if ever.
    pub expires_at_ms: Option<u64>,
}

/// `[actuators]`: one section per action kind; a missing one is `dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActuatorsSection {
    /// `[actuators.throttle]`.
    pub throttle: ActuatorSection,
    /// `[actuators.pause]`.
    pub pause: ActuatorSection,
    /// `[actuators.shed]`.
    pub shed: ActuatorSection,
    /// `[actuators.rollback]`.
    pub rollback: ActuatorSection,
}

impl ActuatorsSection {
    /// Each section with its table name, in a fixed order.
    #[must_use]
    pub fn sections(&self) -> [(&'static str, &ActuatorSection); 4] {
        [
            ("throttle", &self.throttle),
            ("pause", &self.pause),
            ("shed", &self.shed),
            ("rollback", &self.rollback),
        ]
    }
}

/// Which backend runs one action kind (SPEC section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Records the action; changes nothing outside the process.
    #[default]
    DryRun,
    /// Runs a program with an argument vector (no shell).
    Exec,
    /// POSTs JSON to a URL.
    Webhook,
    /// Writes cgroupfs files (cpu limit, freezer).
    Cgroup,
}

/// One `[actuators.<kind>]` table. Which fields are required depends on `backend`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActuatorSection {
    /// The backend for this action kind.
    #[serde(default)]
    pub backend: BackendKind,
    /// `exec`: the program to run (absolute path or a name looked up in PATH).
    pub program: Option<String>,
    /// `exec`: its arguments; placeholders `{tenant}` `{action}` `{percent}` `{revision}` `{receipt}`.
    #[serde(default)]
    pub args: Vec<String>,
    /// `exec`: the program that undoes the action, if any.
    pub rollback_program: Option<String>,
    /// `exec`: the rollback program's arguments, with the same placeholders.
    #[serde(default)]
    pub rollback_args: Vec<String>,
    /// Deadline for one run of the action, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `webhook`: the URL to POST to.
    pub url: Option<String>,
    /// `cgroup`: the group, relative to the mount (may contain `{tenant}`).
    pub group: Option<String>,
    /// `cgroup`: overrides the mount point found in /proc/self/mountinfo.
    pub root: Option<PathBuf>,
}

/// SPEC section 5: an action that does not finish within 30 s is cancelled.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl Default for ActuatorSection {
    fn default() -> Self {
        Self {
            backend: BackendKind::DryRun,
            program: None,
            args: Vec::new(),
            rollback_program: None,
            rollback_args: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            url: None,
            group: None,
            root: None,
        }
    }
}

impl Config {
    /// Reads, parses and validates the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
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
        Self::from_str(&text, &origin)
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
        self.actuators.validate()
    }
}

impl GovernorSection {
    /// `recover <= warn < intervene <= refuse <= 100` and `1 <= sustain <= 255`.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        let g = self;
        if g.refuse > 100 {
            return Err(InvalidKey::new(
                "governor.refuse",
                format!("must be <= 100, got {}", g.refuse),
            ));
        }
        if g.intervene > g.refuse {
            return Err(InvalidKey::new(
                "governor.intervene",
                format!("must be <= refuse ({}), got {}", g.refuse, g.intervene),
            ));
        }
        if g.warn >= g.intervene {
            return Err(InvalidKey::new(
                "governor.warn",
                format!("must be < intervene ({}), got {}", g.intervene, g.warn),
            ));
        }
        if g.recover > g.warn {
            return Err(InvalidKey::new(
                "governor.recover",
                format!("must be <= warn ({}), got {}", g.warn, g.recover),
            ));
        }
        check_range("governor.sustain", u64::from(g.sustain), 1, 255)
    }
}

impl SamplerSection {
    /// `interval_ms` within bounds; `tenant` a valid id; `sku` a known SKU.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_range(
            "sampler.interval_ms",
            self.interval_ms,
            SAMPLER_INTERVAL_MS_MIN,
            SAMPLER_INTERVAL_MS_MAX,
        )?;
        check_tenant_id("sampler.tenant", &self.tenant)?;
        check_sku("sampler.sku", &self.sku)
    }
}

fn validate_tenants(tenants: &[TenantSection]) -> Result<(), InvalidKey> {
    if tenants.len() > TENANTS_MAX {
        return Err(InvalidKey::new(
            "tenants",
            format!("at most {TENANTS_MAX} entries, got {}", tenants.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(tenants.len());
    for (i, tenant) in tenants.iter().enumerate() {
        check_tenant_id(&format!("tenants[{i}].id"), &tenant.id)?;
        check_sku(&format!("tenants[{i}].sku"), &tenant.sku)?;
        if !seen.insert(tenant.id.as_str()) {
            return Err(InvalidKey::new(
                format!("tenants[{i}].id"),
                format!("duplicate tenant {:?}", tenant.id),
            ));
        }
    }
    Ok(())
}

impl ActuatorsSection {
    /// Validates each section against its backend and action kind.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.sections()
            .into_iter()
            .try_for_each(|(kind, section)| section.validate(kind))
    }
}

impl BackendKind {
    /// The backend's name as written in the config.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::DryRun => "dry-run",
            BackendKind::Exec => "exec",
            BackendKind::Webhook => "webhook",
            BackendKind::Cgroup => "cgroup",
        }
    }

    /// The backend-specific keys this backend uses.
    fn keys(self) -> &'static [&'static str] {
        match self {
            BackendKind::DryRun => &[],
            BackendKind::Exec => &["program", "args", "rollback_program", "rollback_args"],
            BackendKind::Webhook => &["url"],
            BackendKind::Cgroup => &["group", "root"],
        }
    }
}

impl ActuatorSection {
    /// Checks the section `[actuators.<kind>]` (kind `throttle`, `pause`, `shed` or
    /// `rollback`): the keys its backend needs are set and valid, no other backend's key is.
    pub fn validate(&self, kind: &str) -> Result<(), InvalidKey> {
        let key = |name: &str| format!("actuators.{kind}.{name}");
        check_range(
            &key("timeout_ms"),
            self.timeout_ms,
            1,
            ACTUATOR_TIMEOUT_MS_MAX,
        )?;
        if let Some(stray) = self.stray_key() {
            let owner = [BackendKind::Exec, BackendKind::Webhook, BackendKind::Cgroup]
                .into_iter()
                .find(|b| b.keys().contains(&stray))
                .map_or("another backend", BackendKind::name);
            return Err(InvalidKey::new(
                key(stray),
                format!(
                    "only for backend {owner} (backend is {})",
                    self.backend.name()
                ),
            ));
        }
        match self.backend {
            BackendKind::DryRun => Ok(()),
            BackendKind::Exec => self.validate_exec(&key),
            BackendKind::Webhook => {
                let url = self
                    .url
                    .as_deref()
                    .ok_or_else(|| InvalidKey::new(key("url"), "required by backend webhook"))?;
                check_http_url(url).map_err(|message| InvalidKey::new(key("url"), message))
            }
            BackendKind::Cgroup => self.validate_cgroup(kind, &key),
        }
    }

    /// The first backend-specific key set that this section's backend does not use.
    fn stray_key(&self) -> Option<&'static str> {
        let present: [(&'static str, bool); 7] = [
            ("program", self.program.is_some()),
            ("args", !self.args.is_empty()),
            ("rollback_program", self.rollback_program.is_some()),
            ("rollback_args", !self.rollback_args.is_empty()),
            ("url", self.url.is_some()),
            ("group", self.group.is_some()),
            ("root", self.root.is_some()),
        ];
        let allowed = self.backend.keys();
        present
            .into_iter()
            .find(|(name, set)| *set && !allowed.contains(name))
            .map(|(name, _)| name)
    }

    fn validate_exec(&self, key: &dyn Fn(&str) -> String) -> Result<(), InvalidKey> {
        let program = self
            .program
            .as_deref()
            .ok_or_else(|| InvalidKey::new(key("program"), "required by backend exec"))?;
        check_string(&key("program"), program)?;
        check_args(&key("args"), &self.args)?;
        if let Some(rollback_program) = self.rollback_program.as_deref() {
            check_string(&key("rollback_program"), rollback_program)?;
        } else if !self.rollback_args.is_empty() {
            return Err(InvalidKey::new(
                key("rollback_args"),
                "set without rollback_program",
            ));
        }
        check_args(&key("rollback_args"), &self.rollback_args)
    }

    fn validate_cgroup(&self, kind: &str, key: &dyn Fn(&str) -> String) -> Result<(), InvalidKey> {
        if kind != "throttle" && kind != "pause" {
            return Err(InvalidKey::new(
                key("backend"),
                format!("cgroup supports only throttle and pause, not {kind}"),
            ));
        }
        let group = self
            .group
            .as_deref()
            .ok_or_else(|| InvalidKey::new(key("group"), "required by backend cgroup"))?;
        check_string(&key("group"), group)?;
        crate::actuator::cgroup::check_relative(group)
            .map_err(|message| InvalidKey::new(key("group"), message))?;
        match &self.root {
            Some(root) if !root.is_absolute() => Err(InvalidKey::new(
                key("root"),
                format!(
                    "must be an absolute path, got {:?}",
                    root.display().to_string()
                ),
            )),
            _ => Ok(()),
        }
    }
}

//! `[actuators.<kind>]`: the backend of each action kind. The rules shared with the
//! actuators themselves (which keys a backend uses, the bounds of values) live in
//! [`crate::actuator::section`]; this file names the offending key in config terms.

use std::path::PathBuf;

use autonomic_core::ActionKind;
use autonomic_core::breaker::BreakerConfig;
use autonomic_core::limits::{
    ACTION_TIMEOUT_MS_DEFAULT, ACTION_TIMEOUT_MS_MAX, BREAKER_COOLDOWN_MS_DEFAULT,
    BREAKER_COOLDOWN_MS_MAX, BREAKER_FAILURES_MAX,
};
use serde::Deserialize;

use super::InvalidKey;
use super::checks::{check_http_url, check_range};
use crate::actuator::section::{self, ARGS_MAX, TEMPLATE_BYTES_MAX, TextProblem};
use crate::actuator::{BATCH_MS_MAX, cgroup};

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
    /// The section of `kind`.
    #[must_use]
    pub fn get(&self, kind: ActionKind) -> &ActuatorSection {
        match kind {
            ActionKind::Throttle => &self.throttle,
            ActionKind::Pause => &self.pause,
            ActionKind::Shed => &self.shed,
            ActionKind::Rollback => &self.rollback,
        }
    }

    /// Each section with its action kind, in [`ActionKind::ALL`] order.
    #[must_use]
    pub fn sections(&self) -> [(ActionKind, &ActuatorSection); 4] {
        ActionKind::ALL.map(|kind| (kind, self.get(kind)))
    }

    /// Validates each section against its backend and action kind.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.sections()
            .into_iter()
            .try_for_each(|(kind, section)| section.validate(kind))
    }
}

/// Which backend runs one action kind (`docs/actions.md#backends`).
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
    /// `webhook`: send the runs dispatched within this many milliseconds in one POST
    /// (1..=10 000; absent: one POST per run).
    pub batch_ms: Option<u64>,
    /// `cgroup`: the group, relative to the mount (may contain `{tenant}`).
    pub group: Option<String>,
    /// `cgroup`: overrides the mount point found in /proc/self/mountinfo.
    pub root: Option<PathBuf>,
    /// Consecutive failures or timeouts that open this kind's circuit (0: never).
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open circuit refuses before one trial call, in milliseconds.
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
}

/// The sidecar's `breaker_failures` (the core's default is 0, disabled).
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;

fn default_breaker_failures() -> u32 {
    DEFAULT_BREAKER_FAILURES
}

fn default_breaker_cooldown_ms() -> u64 {
    BREAKER_COOLDOWN_MS_DEFAULT
}

/// An action that does not finish within 30 s is cancelled (the core's default).
pub const DEFAULT_TIMEOUT_MS: u64 = ACTION_TIMEOUT_MS_DEFAULT;

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
            batch_ms: None,
            group: None,
            root: None,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown_ms: BREAKER_COOLDOWN_MS_DEFAULT,
        }
    }
}

impl ActuatorSection {
    /// This kind's circuit breaker settings for the engine.
    #[must_use]
    pub fn breaker(&self) -> BreakerConfig {
        BreakerConfig {
            failures: self.breaker_failures,
            cooldown_ms: self.breaker_cooldown_ms,
        }
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
}

impl ActuatorSection {
    /// Checks the section `[actuators.<kind>]`: the keys its backend needs are set and
    /// valid, no other backend's key is (the rules of [`crate::actuator::section`]).
    pub fn validate(&self, kind: ActionKind) -> Result<(), InvalidKey> {
        let key = |name: &str| format!("actuators.{}.{name}", kind.as_str());
        check_range(
            &key("timeout_ms"),
            self.timeout_ms,
            section::TIMEOUT_MS_MIN,
            ACTION_TIMEOUT_MS_MAX,
        )?;
        check_range(
            &key("breaker_failures"),
            u64::from(self.breaker_failures),
            0,
            u64::from(BREAKER_FAILURES_MAX),
        )?;
        check_range(
            &key("breaker_cooldown_ms"),
            self.breaker_cooldown_ms,
            1,
            BREAKER_COOLDOWN_MS_MAX,
        )?;
        if let Some((unused, owner)) = section::unused_key(self) {
            return Err(InvalidKey::new(
                key(unused),
                format!(
                    "only for backend {} (backend is {})",
                    owner.name(),
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
                check_http_url(url).map_err(|message| InvalidKey::new(key("url"), message))?;
                match self.batch_ms {
                    Some(ms) if !section::batch_ms_ok(ms) => Err(InvalidKey::new(
                        key("batch_ms"),
                        format!("must be within 1..={BATCH_MS_MAX}, got {ms}"),
                    )),
                    _ => Ok(()),
                }
            }
            BackendKind::Cgroup => self.validate_cgroup(kind, &key),
        }
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

    fn validate_cgroup(
        &self,
        kind: ActionKind,
        key: &dyn Fn(&str) -> String,
    ) -> Result<(), InvalidKey> {
        if !section::cgroup_supports(kind) {
            return Err(InvalidKey::new(
                key("backend"),
                format!(
                    "cgroup supports only throttle and pause, not {}",
                    kind.as_str()
                ),
            ));
        }
        let group = self
            .group
            .as_deref()
            .ok_or_else(|| InvalidKey::new(key("group"), "required by backend cgroup"))?;
        check_string(&key("group"), group)?;
        cgroup::check_relative(group).map_err(|message| InvalidKey::new(key("group"), message))?;
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

fn check_string(key: &str, value: &str) -> Result<(), InvalidKey> {
    if value.is_empty() {
        return Err(InvalidKey::new(key, "must not be empty"));
    }
    let message = match section::text_problem(value) {
        None => return Ok(()),
        Some(TextProblem::TooLong(len)) => {
            format!("at most {TEMPLATE_BYTES_MAX} bytes, got {len}")
        }
        Some(TextProblem::Nul) => "contains a NUL byte".to_owned(),
    };
    Err(InvalidKey::new(key, message))
}

fn check_args(key: &str, args: &[String]) -> Result<(), InvalidKey> {
    if args.len() > ARGS_MAX {
        return Err(InvalidKey::new(
            key,
            format!("at most {ARGS_MAX} entries, got {}", args.len()),
        ));
    }
    for (i, arg) in args.iter().enumerate() {
        if section::text_problem(arg).is_some() {
            return Err(InvalidKey::new(
                format!("{key}[{i}]"),
                format!("at most {TEMPLATE_BYTES_MAX} bytes and no NUL byte"),
            ));
        }
    }
    Ok(())
}

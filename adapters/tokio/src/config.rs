//! Configuration: TOML as in SPEC section 7.

use std::path::PathBuf;

use serde::Deserialize;

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

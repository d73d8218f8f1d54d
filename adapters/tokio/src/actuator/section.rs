//! The rules of an `[actuators.<kind>]` section that need no host: which keys each backend
//! uses, the bounds of every value, and [`ActuatorConfigError`], the typed error of a bad
//! section. Both the config's validation and [`super::Actuator::from_config`] check through
//! these functions (each names the problem in its own words), so each rule is here once.

use autonomic_core::limits::ACTION_TIMEOUT_MS_MAX;

use super::ActionKind;
use super::batch::BATCH_MS_MAX;
use crate::config::{ActuatorSection, BackendKind};

/// Most arguments an `exec` section may list (each of `args` and `rollback_args`).
pub const ARGS_MAX: usize = 256;
/// Longest single argument template, program path, URL or group template, in bytes.
pub const TEMPLATE_BYTES_MAX: usize = 4096;
/// Shortest accepted `timeout_ms`; the longest is the core's [`ACTION_TIMEOUT_MS_MAX`].
pub const TIMEOUT_MS_MIN: u64 = 1;

/// A section that cannot drive its backend. `Display` names the config table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActuatorConfigError {
    /// The backend needs a key the section does not set.
    #[error("[actuators.{}]: backend {backend} needs `{key}`", .kind.as_str())]
    MissingKey {
        /// The action kind (table name).
        kind: ActionKind,
        /// The backend's config name.
        backend: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// The section sets a key its backend does not use.
    #[error("[actuators.{}]: `{key}` is not used by backend {backend}", .kind.as_str())]
    UnusedKey {
        /// The action kind (table name).
        kind: ActionKind,
        /// The backend's config name.
        backend: &'static str,
        /// The stray key.
        key: &'static str,
    },
    /// A value is malformed or out of its bounds.
    #[error("[actuators.{}]: bad `{key}`: {reason}", .kind.as_str())]
    BadValue {
        /// The action kind (table name).
        kind: ActionKind,
        /// The offending key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `cgroup` backend only throttles and pauses.
    #[error("[actuators.{}]: backend cgroup supports only throttle and pause", .kind.as_str())]
    CgroupUnsupportedKind {
        /// The action kind (table name).
        kind: ActionKind,
    },
    /// No cgroup mount with the needed controller was found and no `root` was given.
    #[error(
        "[actuators.{}]: no cgroup mount found: {reason} (set `root` to override)",
        .kind.as_str()
    )]
    NoCgroupMount {
        /// The action kind (table name).
        kind: ActionKind,
        /// What was looked for and where.
        reason: String,
    },
}
/// The first backend-specific key set in `section` that its backend does not use, with the
/// backend that does use it (a key the chosen backend would silently ignore is an error).
#[must_use]
pub fn unused_key(section: &ActuatorSection) -> Option<(&'static str, BackendKind)> {
    let s = section;
    let keys = [
        ("program", BackendKind::Exec, s.program.is_some()),
        ("args", BackendKind::Exec, !s.args.is_empty()),
        (
            "rollback_program",
            BackendKind::Exec,
            s.rollback_program.is_some(),
        ),
        (
            "rollback_args",
            BackendKind::Exec,
            !s.rollback_args.is_empty(),
        ),
        ("url", BackendKind::Webhook, s.url.is_some()),
        ("batch_ms", BackendKind::Webhook, s.batch_ms.is_some()),
        ("group", BackendKind::Cgroup, s.group.is_some()),
        ("root", BackendKind::Cgroup, s.root.is_some()),
    ];
    keys.into_iter()
        .find(|&(_, owner, set)| set && owner != s.backend)
        .map(|(key, owner, _)| (key, owner))
}

/// Whether `timeout_ms` is within [`TIMEOUT_MS_MIN`]`..=`[`ACTION_TIMEOUT_MS_MAX`].
#[must_use]
pub fn timeout_ms_ok(timeout_ms: u64) -> bool {
    (TIMEOUT_MS_MIN..=ACTION_TIMEOUT_MS_MAX).contains(&timeout_ms)
}

/// Whether `batch_ms` is within 1..=[`BATCH_MS_MAX`].
#[must_use]
pub fn batch_ms_ok(batch_ms: u64) -> bool {
    (1..=BATCH_MS_MAX).contains(&batch_ms)
}

/// Whether the `cgroup` backend can perform `kind` (it only throttles and pauses).
#[must_use]
pub fn cgroup_supports(kind: ActionKind) -> bool {
    matches!(kind, ActionKind::Throttle | ActionKind::Pause)
}

/// Why a program, argument, URL or group string from the config cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Longer than [`TEMPLATE_BYTES_MAX`] bytes (its length).
    TooLong(usize),
    /// It contains a NUL byte, which no argument or path can carry.
    Nul,
}

/// `None` when `value` is at most [`TEMPLATE_BYTES_MAX`] bytes and has no NUL byte.
#[must_use]
pub fn text_problem(value: &str) -> Option<TextProblem> {
    if value.len() > TEMPLATE_BYTES_MAX {
        Some(TextProblem::TooLong(value.len()))
    } else if value.contains('\0') {
        Some(TextProblem::Nul)
    } else {
        None
    }
}

/// `timeout_ms` in bounds and no key the backend does not use.
pub(crate) fn check_common(
    kind: ActionKind,
    s: &ActuatorSection,
) -> Result<(), ActuatorConfigError> {
    if !timeout_ms_ok(s.timeout_ms) {
        return Err(ActuatorConfigError::BadValue {
            kind,
            key: "timeout_ms",
            reason: format!(
                "{} is outside {TIMEOUT_MS_MIN}..={ACTION_TIMEOUT_MS_MAX}",
                s.timeout_ms
            ),
        });
    }
    match unused_key(s) {
        Some((key, _)) => Err(ActuatorConfigError::UnusedKey {
            kind,
            backend: s.backend.name(),
            key,
        }),
        None => Ok(()),
    }
}

/// A string key checked for presence, length and NUL bytes.
pub(crate) fn required<'a>(
    kind: ActionKind,
    backend: &'static str,
    key: &'static str,
    value: Option<&'a String>,
) -> Result<&'a str, ActuatorConfigError> {
    let value = value.ok_or(ActuatorConfigError::MissingKey { kind, backend, key })?;
    check_template(kind, key, value)?;
    if value.is_empty() {
        return Err(ActuatorConfigError::BadValue {
            kind,
            key,
            reason: "empty".to_owned(),
        });
    }
    Ok(value)
}

/// Length and NUL check for any templated string from the config.
pub(crate) fn check_template(
    kind: ActionKind,
    key: &'static str,
    value: &str,
) -> Result<(), ActuatorConfigError> {
    let reason = match text_problem(value) {
        None => return Ok(()),
        Some(TextProblem::TooLong(_)) => format!("longer than {TEMPLATE_BYTES_MAX} bytes"),
        Some(TextProblem::Nul) => "contains a NUL byte".to_owned(),
    };
    Err(ActuatorConfigError::BadValue { kind, key, reason })
}

/// An argument list within [`ARGS_MAX`] entries, each a valid template; returns a copy.
pub(crate) fn check_args(
    kind: ActionKind,
    key: &'static str,
    args: &[String],
) -> Result<Vec<String>, ActuatorConfigError> {
    if args.len() > ARGS_MAX {
        return Err(ActuatorConfigError::BadValue {
            kind,
            key,
            reason: format!("{} arguments, at most {ARGS_MAX}", args.len()),
        });
    }
    for arg in args {
        check_template(kind, key, arg)?;
    }
    Ok(args.to_vec())
}

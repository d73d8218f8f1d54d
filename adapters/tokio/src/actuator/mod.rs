//! Actuator backends (SPEC section 5): what actually happens when the governor acts.
//!
//! One [`Actuator`] serves one action kind (`[actuators.throttle]`, `.pause`, `.shed`,
//! `.rollback` in the config) and is built once from its section with
//! [`Actuator::from_config`]; a bad section is a typed [`ActuatorConfigError`] at start,
//! never a surprise at run time. The engine then calls [`Actuator::run`] for each dispatched
//! action and [`Actuator::rollback`] to undo a completed one. Both always return an
//! [`ActionReport`]; they never panic and never hang: every run is bounded by the section's
//! `timeout_ms` as well as by the caller's cancellation token.
//!
//! Backends:
//! - `dry-run` (default): succeeds at once with detail `dry-run` and changes nothing.
//! - `exec`: runs `program` with `args` (no shell), in its own process group, stdin null,
//!   stdout discarded, the last 4 KiB of stderr kept for the report. Placeholders `{tenant}`
//!   `{action}` `{percent}` `{revision}` `{receipt}` are filled in each argument (an absent
//!   value becomes the empty string; unknown `{...}` stay literal; a substituted value is
//!   never substituted again). Exit 0 = success. On cancel or timeout the whole process
//!   group is killed with SIGKILL and the child reaped. Rollback runs `rollback_program`
//!   with `rollback_args` the same way. Children never outlive the sidecar: each gets
//!   SIGKILL when the sidecar dies (`PR_SET_PDEATHSIG`), and with
//!   [`Actuator::with_process_records`] each running group is recorded in a directory so
//!   that [`reap_orphans`] at the next start kills what remains of it (see [`process`]).
//! - `webhook`: POSTs `{"tenant","action","percent","revision","receipt"}` as JSON to an
//!   `http://` URL; 2xx = success. Rollback POSTs the same body plus `"rollback": true`.
//! - `cgroup`: throttle writes the CPU limit, pause freezes. The prior value leaves in the
//!   report's [`ActionReport::undo`] token (at most [`UNDO_BYTES_MAX`] bytes, format in
//!   [`undo`]); the engine stores it in the ledger's outcome receipt and passes it back to
//!   rollback, which writes the prior value back. No state is kept in memory, so a rollback
//!   works after a restart (see [`cgroup`]).
//!
//! Every report's `detail` is one line of at most [`DETAIL_BYTES_MAX`] bytes.

pub mod cgroup;
mod exec;
mod host;
pub mod process;
pub mod undo;
mod webhook;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{ActuatorSection, BackendKind};

pub use autonomic_core::ActionKind;
pub use process::{ProcessRecords, ReapReport, reap_orphans};

/// Longest undo token in an [`ActionReport`], in bytes: the core's limit, since the ledger's
/// outcome receipt stores the token.
pub const UNDO_BYTES_MAX: usize = autonomic_core::limits::UNDO_BYTES_MAX;
/// Longest `detail` in an [`ActionReport`], in bytes.
pub const DETAIL_BYTES_MAX: usize = 512;
/// Longest accepted `timeout_ms` in an actuator section (one hour).
pub const TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Most arguments an `exec` section may list (each of `args` and `rollback_args`).
pub const ARGS_MAX: usize = 256;
/// Longest single argument template, program path, URL or group template, in bytes.
pub const TEMPLATE_BYTES_MAX: usize = 4096;

/// One dispatched action, as the engine hands it to an actuator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// The tenant the action is for.
    pub tenant: String,
    /// What to do.
    pub kind: ActionKind,
    /// Throttle/shed percentage, if the kind has one.
    pub percent: Option<u8>,
    /// Rollback revision, if the kind has one.
    pub revision: Option<String>,
    /// The receipt id of the dispatch; the key for a later rollback.
    pub receipt: u64,
}

/// How one run (or rollback) of an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    /// The action took effect (exit 0, HTTP 2xx, cgroup file written and settled).
    pub ok: bool,
    /// One line, at most [`DETAIL_BYTES_MAX`] bytes, saying what happened.
    pub detail: String,
    /// The `exec` program's exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// The caller's cancellation token fired before the action finished.
    pub cancelled: bool,
    /// The section's `timeout_ms` passed before the action finished.
    pub timed_out: bool,
    /// What [`Actuator::rollback`] needs to undo this run, at most [`UNDO_BYTES_MAX`] bytes;
    /// the engine stores it in the outcome receipt. Empty unless a `cgroup` run succeeded
    /// (format: [`undo`]).
    pub undo: Vec<u8>,
}

impl ActionReport {
    fn new(ok: bool, detail: &str) -> Self {
        Self {
            ok,
            detail: one_line(detail),
            exit_code: None,
            cancelled: false,
            timed_out: false,
            undo: Vec::new(),
        }
    }

    pub(crate) fn succeeded(detail: &str) -> Self {
        Self::new(true, detail)
    }

    pub(crate) fn failed(detail: &str) -> Self {
        Self::new(false, detail)
    }

    pub(crate) fn cancelled(detail: &str) -> Self {
        Self {
            cancelled: true,
            ..Self::new(false, detail)
        }
    }

    pub(crate) fn timed_out(timeout: Duration, detail: &str) -> Self {
        let text = format!("timed out after {} ms: {detail}", timeout.as_millis());
        Self {
            timed_out: true,
            ..Self::new(false, &text)
        }
    }
}

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

/// A backend chosen for one action kind. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct Actuator {
    kind: ActionKind,
    timeout: Duration,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    DryRun,
    Exec(exec::ExecBackend),
    Webhook(webhook::WebhookBackend),
    Cgroup(cgroup::CgroupBackend),
}

impl Actuator {
    /// Builds the actuator for `kind` from its config section, checking every key the
    /// backend uses (and rejecting keys it does not).
    pub fn from_config(
        kind: ActionKind,
        section: &ActuatorSection,
    ) -> Result<Actuator, ActuatorConfigError> {
        if section.timeout_ms == 0 || section.timeout_ms > TIMEOUT_MS_MAX {
            return Err(ActuatorConfigError::BadValue {
                kind,
                key: "timeout_ms",
                reason: format!("{} is outside 1..={TIMEOUT_MS_MAX}", section.timeout_ms),
            });
        }
        let timeout = Duration::from_millis(section.timeout_ms);
        reject_unused_keys(kind, section)?;
        let backend = match section.backend {
            BackendKind::DryRun => Backend::DryRun,
            BackendKind::Exec => Backend::Exec(exec::ExecBackend::from_config(kind, section)?),
            BackendKind::Webhook => Backend::Webhook(webhook::WebhookBackend::from_config(
                kind, section, timeout,
            )?),
            BackendKind::Cgroup => {
                Backend::Cgroup(cgroup::CgroupBackend::from_config(kind, section)?)
            }
        };
        Ok(Actuator {
            kind,
            timeout,
            backend,
        })
    }

    /// The backend this actuator drives.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::DryRun => BackendKind::DryRun,
            Backend::Exec(_) => BackendKind::Exec,
            Backend::Webhook(_) => BackendKind::Webhook,
            Backend::Cgroup(_) => BackendKind::Cgroup,
        }
    }

    /// The action kind this actuator was built for.
    pub fn kind(&self) -> ActionKind {
        self.kind
    }

    /// The section's deadline for one run or rollback.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the action until it finishes, `cancel` fires (the engine cancels on its deadline
    /// or on supersede) or the section's `timeout_ms` passes, whichever is first.
    pub async fn run(&self, req: &ActionRequest, cancel: CancellationToken) -> ActionReport {
        let report = match &self.backend {
            Backend::DryRun => ActionReport::succeeded("dry-run"),
            Backend::Exec(b) => b.run(req, &cancel, self.timeout).await,
            Backend::Webhook(b) => b.run(req, &cancel, self.timeout, false).await,
            Backend::Cgroup(b) => b.run(req, &cancel, self.timeout).await,
        };
        debug_assert!(report.undo.len() <= UNDO_BYTES_MAX);
        debug_assert!(
            report.ok || report.undo.is_empty(),
            "a failure carries no undo"
        );
        report
    }

    /// Undoes a completed action; bounded by the section's `timeout_ms`. `undo` is the
    /// [`ActionReport::undo`] of the run being undone, as stored in the ledger (the `cgroup`
    /// backend needs it and refuses to act without a valid one; the others ignore it).
    pub async fn rollback(&self, req: &ActionRequest, undo: &[u8]) -> ActionReport {
        let never = CancellationToken::new();
        let report = match &self.backend {
            Backend::DryRun => ActionReport::succeeded("dry-run"),
            Backend::Exec(b) => b.rollback(req, &never, self.timeout).await,
            Backend::Webhook(b) => b.run(req, &never, self.timeout, true).await,
            Backend::Cgroup(b) => b.rollback(req, undo, self.timeout).await,
        };
        debug_assert!(report.undo.is_empty(), "a rollback hands out no undo token");
        report
    }

    /// Whether every run for `tenant` would be refused by the substitution rules (an `exec`
    /// argument or rollback argument that `{tenant}` turns into an option, a `cgroup` group
    /// component it turns into a path that is not one component). The daemon warns about
    /// such a tenant when it is activated; its actions will fail. Values other than the
    /// tenant are filled with harmless stand-ins.
    pub fn check_tenant(&self, tenant: &str) -> Result<(), SubstitutionError> {
        let req = ActionRequest {
            tenant: tenant.to_owned(),
            kind: self.kind,
            percent: Some(0),
            revision: Some("r".to_owned()),
            receipt: 0,
        };
        match &self.backend {
            Backend::DryRun | Backend::Webhook(_) => Ok(()),
            Backend::Exec(b) => b.check(&req),
            Backend::Cgroup(b) => b.check(&req),
        }
    }

    /// Records the process groups of this actuator's `exec` runs in `records` (see
    /// [`process`]); other backends spawn nothing and ignore it.
    pub fn with_process_records(mut self, records: ProcessRecords) -> Actuator {
        if let Backend::Exec(b) = &mut self.backend {
            b.set_process_records(records);
        }
        self
    }
}

/// A key set in the section that the chosen backend would silently ignore is an error.
fn reject_unused_keys(kind: ActionKind, s: &ActuatorSection) -> Result<(), ActuatorConfigError> {
    let (backend, allowed): (&'static str, &[&str]) = match s.backend {
        BackendKind::DryRun => ("dry-run", &[]),
        BackendKind::Exec => (
            "exec",
            &["program", "args", "rollback_program", "rollback_args"],
        ),
        BackendKind::Webhook => ("webhook", &["url"]),
        BackendKind::Cgroup => ("cgroup", &["group", "root"]),
    };
    let present: [(&'static str, bool); 7] = [
        ("program", s.program.is_some()),
        ("args", !s.args.is_empty()),
        ("rollback_program", s.rollback_program.is_some()),
        ("rollback_args", !s.rollback_args.is_empty()),
        ("url", s.url.is_some()),
        ("group", s.group.is_some()),
        ("root", s.root.is_some()),
    ];
    match present
        .iter()
        .find(|(key, set)| *set && !allowed.contains(key))
    {
        Some((key, _)) => Err(ActuatorConfigError::UnusedKey { kind, backend, key }),
        None => Ok(()),
    }
}

/// A substituted value that would stop being data where its template puts it; the run is
/// refused before anything is executed or written (README, Backends: substitution rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstitutionError {
    /// An `exec` argument whose template does not begin with `-` would begin with `-` once
    /// substituted: the program would read a tenant id (or another value) as an option.
    #[error(
        "argument {index} {template:?} would become the option {value:?}: a substituted value may not begin an argument with `-`; nothing executed"
    )]
    OptionArgument {
        /// The argument's position in `args` / `rollback_args`, from 0.
        index: usize,
        /// Its template.
        template: String,
        /// What it would have been.
        value: String,
    },
    /// A `cgroup` group component would not be exactly one plain path component once
    /// substituted (empty, `.`, `..`, or containing `/`): the group would be another one.
    #[error(
        "group {template:?}: component {component:?} would be {value:?}, which is {reason}; a substituted value must be exactly one path component; nothing written"
    )]
    PathComponent {
        /// The group template.
        template: String,
        /// The template's component.
        component: String,
        /// What it would have been.
        value: String,
        /// Why that is not one plain component.
        reason: &'static str,
    },
}

/// Substitutes each `exec` argument template; refuses (see
/// [`SubstitutionError::OptionArgument`]) an argument that only substitution makes begin with
/// `-`. A template that itself begins with `-` (`--tenant={tenant}`) is the operator's option
/// and keeps whatever value follows.
pub fn substitute_args(
    templates: &[String],
    req: &ActionRequest,
) -> Result<Vec<String>, SubstitutionError> {
    let mut out = Vec::with_capacity(templates.len());
    for (index, template) in templates.iter().enumerate() {
        let value = substitute(template, req);
        if value.starts_with('-') && !template.starts_with('-') {
            return Err(SubstitutionError::OptionArgument {
                index,
                template: template.clone(),
                value,
            });
        }
        out.push(value);
    }
    debug_assert_eq!(out.len(), templates.len());
    Ok(out)
}

/// Substitutes a `cgroup` group template component by component (the template's components
/// are split at `/` and were checked plain at start). Each substituted component must be one
/// plain name: not empty, not `.` or `..`, no `/`. So the group directory is exactly the
/// mount joined with as many components as the template has, never normalized into another.
pub fn substitute_group(
    template: &str,
    req: &ActionRequest,
) -> Result<Vec<String>, SubstitutionError> {
    let mut out = Vec::new();
    for component in template.split('/') {
        let value = substitute(component, req);
        let reason = match value.as_str() {
            "" => Some("empty"),
            "." => Some("`.`"),
            ".." => Some("`..`"),
            v if v.contains('/') => Some("more than one component (it contains `/`)"),
            v if v.contains('\0') => Some("not a name (it contains a NUL byte)"),
            _ => None,
        };
        if let Some(reason) = reason {
            return Err(SubstitutionError::PathComponent {
                template: template.to_owned(),
                component: component.to_owned(),
                value,
                reason,
            });
        }
        out.push(value);
    }
    debug_assert!(out.iter().all(|c| !c.is_empty() && !c.contains('/')));
    Ok(out)
}

/// Fills `{tenant}` `{action}` `{percent}` `{revision}` `{receipt}` in one pass: text that a
/// placeholder expands to is never scanned again, and unknown `{...}` stay as written.
/// Where the result becomes an argument or a path, use [`substitute_args`] or
/// [`substitute_group`], which refuse values that would stop being data.
pub fn substitute(template: &str, req: &ActionRequest) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_open) = rest.split_at(open);
        out.push_str(before);
        let value = from_open.find('}').and_then(|close| {
            let name = from_open.get(1..close)?;
            Some((placeholder(name, req)?, close))
        });
        match value {
            Some((text, close)) => {
                out.push_str(&text);
                rest = from_open.get(close + 1..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_open.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

fn placeholder(name: &str, req: &ActionRequest) -> Option<String> {
    Some(match name {
        "tenant" => req.tenant.clone(),
        "action" => req.kind.as_str().to_owned(),
        "percent" => req.percent.map(|p| p.to_string()).unwrap_or_default(),
        "revision" => req.revision.clone().unwrap_or_default(),
        "receipt" => req.receipt.to_string(),
        _ => return None,
    })
}

/// Makes `text` one line of at most [`DETAIL_BYTES_MAX`] bytes: control characters become
/// spaces, runs of whitespace collapse, and an over-long text keeps its head and ends in `...`.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = collapse(text, DETAIL_BYTES_MAX + 1);
    if out.len() > DETAIL_BYTES_MAX {
        let mut cut = DETAIL_BYTES_MAX - 3;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    debug_assert!(out.len() <= DETAIL_BYTES_MAX);
    debug_assert!(!out.contains('\n'));
    out
}

/// `text` on one line: control characters and whitespace runs become one space. Stops
/// once the output passes `stop_bytes` (the caller cuts it).
pub(crate) fn collapse(text: &str, stop_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(stop_bytes));
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() >= stop_bytes {
            break;
        }
    }
    out
}

/// The last `max_bytes` bytes of `text` (at a char boundary), prefixed with `...` if cut.
pub(crate) fn tail_excerpt(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", text.get(start..).unwrap_or(""))
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
    let reason = if value.len() > TEMPLATE_BYTES_MAX {
        format!("longer than {TEMPLATE_BYTES_MAX} bytes")
    } else if value.contains('\0') {
        "contains a NUL byte".to_owned()
    } else {
        return Ok(());
    };
    Err(ActuatorConfigError::BadValue { kind, key, reason })
}

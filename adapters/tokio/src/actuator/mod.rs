//! Actuator backends (`docs/actions.md#backends`): what actually happens when the governor acts.
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
//!   `http://` URL; 2xx = success. Rollback POSTs the same body plus `"rollback": true`. With
//!   `batch_ms`, the runs dispatched within a window share one POST (see `batch.rs`).
//! - `cgroup`: throttle writes the CPU limit, pause freezes. The prior value leaves in the
//!   report's [`ActionReport::undo`] token (at most [`UNDO_BYTES_MAX`] bytes, format in
//!   [`undo`]); the engine stores it in the ledger's outcome receipt and passes it back to
//!   rollback, which writes the prior value back. No state is kept in memory, so a rollback
//!   works after a restart (see [`cgroup`]).
//!
//! Every report's `detail` is one line of at most [`DETAIL_BYTES_MAX`] bytes.
//!
//! Files: this one (requests, reports, [`Actuator`]), `section.rs` (the rules of a config
//! section), `registry.rs` ([`Actuators`], one per kind), `substitute.rs` (placeholders), one
//! per backend (`exec.rs`, `webhook.rs` with `batch.rs`, `cgroup.rs` with `cgroupfs.rs` and `host.rs`), and
//! `process.rs`, `undo.rs`.

mod batch;
pub mod cgroup;
mod cgroupfs;
mod exec;
mod host;
pub mod process;
mod registry;
pub mod section;
mod substitute;
pub mod undo;
mod webhook;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{ActuatorSection, BackendKind};
use section::check_common;

pub use autonomic_core::ActionKind;
pub use batch::{BATCH_ACTIONS_MAX, BATCH_MS_MAX};
pub use process::{ProcessRecords, ReapReport, reap_orphans};
pub use registry::Actuators;
pub use section::{ARGS_MAX, ActuatorConfigError, TEMPLATE_BYTES_MAX};
pub use substitute::{SubstitutionError, substitute, substitute_args, substitute_group};

/// Longest undo token in an [`ActionReport`], in bytes: the core's limit, since the ledger's
/// outcome receipt stores the token.
pub const UNDO_BYTES_MAX: usize = autonomic_core::limits::UNDO_BYTES_MAX;
/// Longest `detail` in an [`ActionReport`], in bytes.
pub const DETAIL_BYTES_MAX: usize = 512;

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
            detail: crate::text::one_line(detail, DETAIL_BYTES_MAX),
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

/// What bounds one run of a backend: the caller's cancellation token and the section's
/// deadline.
#[derive(Debug, Clone, Copy)]
struct Bounds<'a> {
    cancel: &'a CancellationToken,
    timeout: Duration,
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
        check_common(kind, section)?;
        let timeout = Duration::from_millis(section.timeout_ms);
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
        let bounds = self.bounds(&cancel);
        let report = match &self.backend {
            Backend::DryRun => ActionReport::succeeded("dry-run"),
            Backend::Exec(b) => b.run(req, bounds).await,
            Backend::Webhook(b) => b.run(req, bounds, false).await,
            Backend::Cgroup(b) => b.run(req, bounds).await,
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
        let bounds = self.bounds(&never);
        let report = match &self.backend {
            Backend::DryRun => ActionReport::succeeded("dry-run"),
            Backend::Exec(b) => b.rollback(req, bounds).await,
            Backend::Webhook(b) => b.run(req, bounds, true).await,
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

    /// The bounds of one run or rollback: `cancel` and the section's `timeout_ms`.
    fn bounds<'a>(&self, cancel: &'a CancellationToken) -> Bounds<'a> {
        Bounds {
            cancel,
            timeout: self.timeout,
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

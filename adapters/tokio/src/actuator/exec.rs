//! The `exec` backend: a program with an argument vector, never a shell.
//!
//! Arguments are substituted with [`substitute_args`]: an argument that only substitution
//! makes begin with `-` (a tenant `-rf` in `{tenant}`) fails the run before anything is
//! spawned, with a detail naming the argument.
//!
//! The child gets its own process group (so a cancel reaches its children too), stdin
//! null, stdout discarded and stderr piped; the last [`STDERR_TAIL_BYTES`] of stderr are
//! kept and the report carries a one-line excerpt of their end. A program still running
//! when the caller cancels, when `timeout_ms` passes, or when the run future is dropped has
//! its whole group killed with SIGKILL. A program that exits normally is not chased: what it
//! deliberately left running in the background is its own business.
//!
//! If the sidecar itself dies (kill -9 included), the child gets SIGKILL from the kernel
//! (`PR_SET_PDEATHSIG`, set before `exec`); with [`ProcessRecords`] every running group is
//! also recorded, so the next start's [`reap_orphans`](super::process::reap_orphans) kills
//! the grandchildren the signal does not reach. Children are forked on one dedicated thread
//! so that the signal follows the process, not a runtime thread: see [`super::process`].

use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpid, getppid};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, Command};
use tokio_util::sync::CancellationToken;

use super::process::{self, ProcessRecords, RECORD_SUFFIX, Spawned};
use super::section::{check_args, required};
use super::{
    ActionKind, ActionReport, ActionRequest, ActuatorConfigError, Bounds, DETAIL_BYTES_MAX,
    substitute_args,
};
use crate::config::ActuatorSection;

/// Bytes of the child's stderr kept (the end of it).
pub const STDERR_TAIL_BYTES: usize = 4096;
/// How long to wait for a SIGKILLed child to be reaped.
const REAP_TIMEOUT_MS: u64 = 5_000;
/// How long to keep reading stderr after the child exited (a grandchild may hold the pipe).
const STDERR_DRAIN_MS: u64 = 200;
/// Read size for stderr.
const STDERR_CHUNK_BYTES: usize = 1024;

/// A program and its argument templates.
#[derive(Debug, Clone)]
struct ProgramSpec {
    program: String,
    args: Vec<String>,
}

/// Runs `program args` for the action and `rollback_program rollback_args` to undo it.
#[derive(Debug)]
pub(super) struct ExecBackend {
    action: ProgramSpec,
    rollback: Option<ProgramSpec>,
    records: Option<ProcessRecords>,
}

/// How the wait for the child ended.
enum Ended {
    Exited(std::io::Result<ExitStatus>),
    Cancelled,
    TimedOut,
}

impl ExecBackend {
    pub(super) fn from_config(
        kind: ActionKind,
        s: &ActuatorSection,
    ) -> Result<Self, ActuatorConfigError> {
        let program = required(kind, "exec", "program", s.program.as_ref())?;
        let action = ProgramSpec {
            program: program.to_owned(),
            args: check_args(kind, "args", &s.args)?,
        };
        let rollback = match &s.rollback_program {
            Some(p) => Some(ProgramSpec {
                program: required(kind, "exec", "rollback_program", Some(p))?.to_owned(),
                args: check_args(kind, "rollback_args", &s.rollback_args)?,
            }),
            None if !s.rollback_args.is_empty() => {
                return Err(ActuatorConfigError::MissingKey {
                    kind,
                    backend: "exec",
                    key: "rollback_program",
                });
            }
            None => None,
        };
        Ok(Self {
            action,
            rollback,
            records: None,
        })
    }

    /// The substitution check of [`super::Actuator::check_tenant`]: the action's and the
    /// rollback's arguments.
    pub(super) fn check(&self, req: &ActionRequest) -> Result<(), super::SubstitutionError> {
        substitute_args(&self.action.args, req)?;
        if let Some(rollback) = &self.rollback {
            substitute_args(&rollback.args, req)?;
        }
        Ok(())
    }

    /// Records every running process group in `records` from now on.
    pub(super) fn set_process_records(&mut self, records: ProcessRecords) {
        self.records = Some(records);
    }

    pub(super) async fn run(&self, req: &ActionRequest, bounds: Bounds<'_>) -> ActionReport {
        let record = self.record(format!("{}{RECORD_SUFFIX}", req.receipt));
        run_program(&self.action, req, bounds, record).await
    }

    pub(super) async fn rollback(&self, req: &ActionRequest, bounds: Bounds<'_>) -> ActionReport {
        match &self.rollback {
            Some(spec) => {
                let name = format!("{}.rollback{RECORD_SUFFIX}", req.receipt);
                run_program(spec, req, bounds, self.record(name)).await
            }
            None => ActionReport::failed("no rollback program configured"),
        }
    }

    /// The record to write for one run, if this backend keeps records.
    fn record(&self, name: String) -> Option<(ProcessRecords, String)> {
        self.records.clone().map(|records| (records, name))
    }
}

/// Kills the child's process group on drop unless disarmed (after the child was reaped,
/// when its pid may be reused).
struct GroupKiller {
    pgid: Option<Pid>,
}

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is the only expected error; nothing to do about others.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn run_program(
    spec: &ProgramSpec,
    req: &ActionRequest,
    bounds: Bounds<'_>,
    record: Option<(ProcessRecords, String)>,
) -> ActionReport {
    let Bounds { cancel, timeout } = bounds;
    // A substituted value never becomes an option: refused before anything is spawned.
    let args = match substitute_args(&spec.args, req) {
        Ok(args) => args,
        Err(e) => return ActionReport::failed(&format!("refused: {e}")),
    };
    let mut cmd = Command::new(&spec.program);
    cmd.args(&args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let Spawned { mut child, record } = match process::spawn(cmd, record).await {
        Ok(spawned) => spawned,
        Err(e) => return ActionReport::failed(&format!("cannot run {}: {e}", spec.program)),
    };
    // process_group(0) makes the child its own group leader: its pid is the group id.
    let mut killer = GroupKiller {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    let (ended, stderr) = wait_child(&mut child, &mut killer, cancel, timeout).await;
    let exited = match ended {
        Ended::Exited(status) => status,
        Ended::Cancelled | Ended::TimedOut => {
            let reaped = tokio::time::timeout(ms(REAP_TIMEOUT_MS), child.wait()).await;
            if reaped.is_ok() {
                killer.disarm();
            }
            // The group was SIGKILLed (and the child reaped, or left to tokio's reaper).
            drop(record);
            let note = format!("process group killed; stderr: {}", excerpt(&stderr, 256));
            return match ended {
                Ended::TimedOut => ActionReport::timed_out(timeout, &note),
                _ => ActionReport::cancelled(&format!("cancelled: {note}")),
            };
        }
    };
    killer.disarm();
    // Reaped: nothing of this run is ours to kill any more.
    drop(record);
    report_exit(exited, &stderr)
}

/// Makes the child die with the sidecar: SIGKILL on parent death, set between fork and exec.
fn die_with_parent(cmd: &mut Command) {
    let parent = getpid();
    // SAFETY: the closure runs in the forked child, where only async-signal-safe operations
    // are allowed. It makes two plain system calls (prctl(2), getppid(2)) through nix, which
    // neither allocate nor take locks, compares two integers, and on failure returns an
    // `io::Error` built from a raw errno (no allocation). `parent` is a `Copy` pid captured
    // before the fork. It touches no memory shared with other threads.
    unsafe {
        cmd.pre_exec(move || {
            set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The sidecar may have died between fork and prctl: then no signal will come,
            // and the child was reparented (getppid changed). Do not run the program.
            if getppid() != parent {
                return Err(std::io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// Waits for the child to exit, `cancel`, or `timeout`, reading stderr all along (a child
/// that fills the pipe would otherwise block forever). On cancel or timeout the group is
/// killed here. Returns how it ended and the stderr tail.
async fn wait_child(
    child: &mut Child,
    killer: &mut GroupKiller,
    cancel: &CancellationToken,
    timeout: Duration,
) -> (Ended, String) {
    let mut tail: Vec<u8> = Vec::with_capacity(STDERR_TAIL_BYTES + STDERR_CHUNK_BYTES);
    let ended = {
        let mut reader = pin!(read_tail(child.stderr.take(), &mut tail));
        let mut deadline = pin!(tokio::time::sleep(timeout));
        let mut pipe_closed = false;
        let ended = loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break Ended::Cancelled,
                () = &mut deadline => break Ended::TimedOut,
                status = child.wait() => break Ended::Exited(status),
                () = &mut reader, if !pipe_closed => pipe_closed = true,
            }
        };
        if !matches!(ended, Ended::Exited(_)) {
            killer.kill();
        }
        if !pipe_closed {
            // Once the group is dead (or the child exited) the pipe closes, unless something
            // outside the group holds it: read on only briefly.
            let _ = tokio::time::timeout(ms(STDERR_DRAIN_MS), reader).await;
        }
        ended
    };
    (ended, String::from_utf8_lossy(&tail).into_owned())
}

/// Reads the pipe to its end, keeping the last [`STDERR_TAIL_BYTES`] bytes.
async fn read_tail(pipe: Option<ChildStderr>, tail: &mut Vec<u8>) {
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut chunk = [0u8; STDERR_CHUNK_BYTES];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                if tail.len() > STDERR_TAIL_BYTES {
                    let excess = tail.len() - STDERR_TAIL_BYTES;
                    tail.drain(..excess);
                }
            }
        }
    }
    debug_assert!(tail.len() <= STDERR_TAIL_BYTES);
}

fn report_exit(status: std::io::Result<ExitStatus>, stderr: &str) -> ActionReport {
    let status = match status {
        Ok(status) => status,
        Err(e) => return ActionReport::failed(&format!("cannot wait for the program: {e}")),
    };
    if status.success() {
        return ActionReport {
            exit_code: Some(0),
            ..ActionReport::succeeded("exit code 0")
        };
    }
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => format!("ended with {status}"),
    };
    let prefix = format!("{what}; stderr: ");
    // `excerpt` may add a 3-byte `...` marker in front of what it keeps.
    let room = DETAIL_BYTES_MAX.saturating_sub(prefix.len() + 3);
    ActionReport {
        exit_code: status.code(),
        ..ActionReport::failed(&format!("{prefix}{}", excerpt(stderr, room)))
    }
}

/// The end of `stderr` on one line, at most `max_bytes` bytes (plus a `...` marker).
fn excerpt(stderr: &str, max_bytes: usize) -> String {
    // Control characters become spaces one for one, so nothing is cut here.
    let line = crate::text::one_line(stderr, stderr.len());
    let line = line.trim();
    if line.is_empty() {
        return "(empty)".to_owned();
    }
    tail_excerpt(line, max_bytes)
}

/// The last `max_bytes` bytes of `text` (at a char boundary), prefixed with `...` if cut.
fn tail_excerpt(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", text.get(start..).unwrap_or(""))
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

//! The `cgroup` backend: throttle writes a CPU limit, pause freezes; rollback restores.
//!
//! Only `[actuators.throttle]` and `[actuators.pause]` may use it. The group is `group`
//! (which may contain `{tenant}`) relative to a cgroup mount: a relative path of plain
//! components (none empty, `.` or `..`), checked at start. At dispatch each component is
//! substituted on its own ([`super::substitute_group`]) and must still be exactly one plain
//! component (not empty, `.` or `..`, no `/`), or the run fails naming the reason and nothing
//! is written: a tenant `acme/.` or `..` never reaches `work/acme` or a nested group. The group directory must already exist
//! (the backend never creates or removes groups).
//!
//! Which files, where:
//! - Without `root`, the mounts come from `/proc/self/mountinfo`: the `cgroup2` mount is tried
//!   first and used when the group directory there has the needed file (`cpu.max` to
//!   throttle, `cgroup.freeze` to pause); otherwise the cgroup v1 mount carrying the `cpu`
//!   controller (throttle: `cpu.cfs_quota_us`) or the `freezer` controller (pause:
//!   `freezer.state`). So a hybrid host can pause through v2 and throttle through v1.
//! - With `root = DIR`, the same files are looked for, in this order, in `DIR/<group>` (DIR is
//!   laid out like the v2 mount, or is itself a v1 controller mount) and then in
//!   `DIR/cpu/<group>` or `DIR/freezer/<group>` (DIR is the parent of the v1 controller
//!   mounts, like `/sys/fs/cgroup` on a v1 host).
//!
//! Throttle(p): reads the current limit and writes quota = max(1000, base × p / 100) µs per
//! period, where base is the current quota if there is one, else (unlimited) the number of
//! online CPUs × the period. v2 writes `cpu.max` = `"<quota> <period>"`; v1 writes
//! `cpu.cfs_quota_us` (the period comes from `cpu.cfs_period_us` and is left alone). Once
//! started, a throttle's two small file operations are not interrupted by a cancel.
//!
//! Pause: v2 writes `1` to `cgroup.freeze` and waits (polling every 10 ms) until
//! `cgroup.events` says `frozen 1`; v1 writes `FROZEN` to `freezer.state` and waits until it
//! reads `FROZEN`. A pause cancelled or timed out before the group settles is undone (the
//! prior freeze value is written back), so a failed pause leaves nothing behind.
//!
//! A successful run hands out an undo token in [`ActionReport::undo`] (format: [`super::undo`],
//! at most [`super::UNDO_BYTES_MAX`] bytes): the control file's name and its prior content
//! (v1 freezer: the prior `THAWED`/`FROZEN` state). The backend keeps no state between
//! calls; the engine stores the token in the ledger's outcome receipt and hands it back to
//! [`Actuator::rollback`](super::Actuator::rollback), so a rollback works after a restart
//! and even from another instance built from the same config. Rollback recomputes the group
//! directory from the config and the tenant (the token carries no path), checks that the
//! token names one of the four control files of this action kind with a value that file can
//! hold, and writes that value back. A token that is empty, longer than the limit, garbled
//! or names anything else is refused with a failed report and nothing is written. A prior
//! value the format cannot carry fails the run before anything is written.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cgroupfs::{Layout, read_by, read_cpu_limit, wait_frozen, write_by};
use super::host::discover;
pub use super::host::{CgroupMounts, online_cpus, parse_cpu_list, parse_mountinfo};
use super::section::{cgroup_supports, check_template, required};
use super::undo::{CgroupUndo, ControlFile};
use super::{
    ActionKind, ActionReport, ActionRequest, ActuatorConfigError, Bounds, DETAIL_BYTES_MAX,
    substitute_group,
};
use crate::config::ActuatorSection;

/// The smallest CPU quota written, in microseconds per period (the kernel's v1 minimum).
pub const QUOTA_US_MIN: u64 = 1000;
/// Bound on writing back the prior freeze state after a failed pause.
const UNDO_TIMEOUT_MS: u64 = 1_000;

/// The quota Throttle(percent) writes: max([`QUOTA_US_MIN`], base × percent / 100), base being
/// `prior_quota_us` when the group is limited, else `cpus` × `period_us`.
pub fn throttle_quota_us(
    prior_quota_us: Option<u64>,
    period_us: u64,
    cpus: u32,
    percent: u8,
) -> u64 {
    let base = prior_quota_us.unwrap_or_else(|| u64::from(cpus).saturating_mul(period_us));
    let scaled = u128::from(base) * u128::from(percent) / 100;
    u64::try_from(scaled).unwrap_or(u64::MAX).max(QUOTA_US_MIN)
}

/// Where to look for groups.
#[derive(Debug)]
enum Roots {
    Override(PathBuf),
    Discovered(CgroupMounts),
}

/// Throttles or pauses one group per tenant through cgroupfs.
#[derive(Debug)]
pub(super) struct CgroupBackend {
    kind: ActionKind,
    group: String,
    roots: Roots,
    cpus: u32,
}

impl CgroupBackend {
    pub(super) fn from_config(
        kind: ActionKind,
        s: &ActuatorSection,
    ) -> Result<Self, ActuatorConfigError> {
        if !cgroup_supports(kind) {
            return Err(ActuatorConfigError::CgroupUnsupportedKind { kind });
        }
        let group = required(kind, "cgroup", "group", s.group.as_ref())?;
        check_relative(group).map_err(|reason| ActuatorConfigError::BadValue {
            kind,
            key: "group",
            reason,
        })?;
        let roots = match &s.root {
            Some(root) => {
                check_template(kind, "root", &root.to_string_lossy())?;
                Roots::Override(root.clone())
            }
            None => Roots::Discovered(discover(kind)?),
        };
        Ok(Self {
            kind,
            group: group.to_owned(),
            roots,
            cpus: online_cpus(),
        })
    }

    /// The substitution check of [`super::Actuator::check_tenant`].
    pub(super) fn check(&self, req: &ActionRequest) -> Result<(), super::SubstitutionError> {
        substitute_group(&self.group, req).map(|_| ())
    }

    pub(super) async fn run(&self, req: &ActionRequest, bounds: Bounds<'_>) -> ActionReport {
        let Bounds { cancel, timeout } = bounds;
        if cancel.is_cancelled() {
            return ActionReport::cancelled("cancelled before start");
        }
        let deadline = Instant::now() + timeout;
        let (layout, dir) = match self.resolve(req, deadline, None).await {
            Ok(found) => found,
            Err(report) => return report,
        };
        match self.kind {
            ActionKind::Throttle => self.throttle(req, layout, &dir, deadline, timeout).await,
            _ => self.pause(layout, &dir, cancel, deadline, timeout).await,
        }
    }

    /// Decodes `undo` (see [`super::undo`]), finds the file it names in this request's
    /// group and writes the prior value back. A token that does not decode writes nothing.
    pub(super) async fn rollback(
        &self,
        req: &ActionRequest,
        undo: &[u8],
        timeout: Duration,
    ) -> ActionReport {
        let undo = match CgroupUndo::decode(undo, self.kind) {
            Ok(undo) => undo,
            Err(e) => return ActionReport::failed(&format!("rollback refused: {e}")),
        };
        let deadline = Instant::now() + timeout;
        let (_, dir) = match self.resolve(req, deadline, Some(undo.file())).await {
            Ok(found) => found,
            Err(report) => return report,
        };
        let file = dir.join(undo.file().name());
        let bytes = format!("{}\n", undo.value()).into_bytes();
        match write_by(&file, bytes, deadline, timeout).await {
            Ok(()) => {
                ActionReport::succeeded(&format!("restored {} = {}", file.display(), undo.value()))
            }
            Err(report) => report,
        }
    }

    /// Finds the group directory and its layout for this request (see the module docs).
    /// `only` (rollback) restricts the search to the one file an undo token names.
    async fn resolve(
        &self,
        req: &ActionRequest,
        deadline: Instant,
        only: Option<ControlFile>,
    ) -> Result<(Layout, PathBuf), ActionReport> {
        // Each substituted component is one plain name (else refused, nothing written), so
        // the directory is exactly the mount joined with the template's components.
        let components = substitute_group(&self.group, req)
            .map_err(|e| ActionReport::failed(&format!("refused: {e}")))?;
        let group: PathBuf = components.iter().collect();
        debug_assert_eq!(group.components().count(), components.len());
        debug_assert!(
            group
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        );
        let group = group.display().to_string();
        let (v2_file, v1_file, controller) = match self.kind {
            ActionKind::Throttle => (ControlFile::CpuMax, ControlFile::CfsQuotaUs, "cpu"),
            _ => (
                ControlFile::CgroupFreeze,
                ControlFile::FreezerState,
                "freezer",
            ),
        };
        debug_assert!(only.is_none_or(|f| f == v2_file || f == v1_file));
        let candidates: Vec<(Layout, PathBuf)> = match &self.roots {
            Roots::Override(root) => vec![
                (Layout::V2, root.join(&group)),
                (Layout::V1, root.join(&group)),
                (Layout::V1, root.join(controller).join(&group)),
            ],
            Roots::Discovered(m) => {
                let v1 = match self.kind {
                    ActionKind::Throttle => &m.cpu_v1,
                    _ => &m.freezer_v1,
                };
                let mut found = Vec::new();
                if let Some(v2) = &m.v2 {
                    found.push((Layout::V2, v2.join(&group)));
                }
                if let Some(v1) = v1 {
                    found.push((Layout::V1, v1.join(&group)));
                }
                found
            }
        };
        let mut looked = Vec::new();
        for (layout, dir) in candidates {
            let name = if layout == Layout::V2 {
                v2_file
            } else {
                v1_file
            };
            if only.is_some_and(|f| f != name) {
                continue;
            }
            let file = dir.join(name.name());
            let exists = tokio::time::timeout_at(deadline, tokio::fs::try_exists(&file)).await;
            if matches!(exists, Ok(Ok(true))) {
                return Ok((layout, dir));
            }
            looked.push(file.display().to_string());
        }
        Err(ActionReport::failed(&format!(
            "no cgroup for group {group:?}: none of {} exists",
            looked.join(", ")
        )))
    }

    async fn throttle(
        &self,
        req: &ActionRequest,
        layout: Layout,
        dir: &Path,
        deadline: Instant,
        timeout: Duration,
    ) -> ActionReport {
        let percent = match req.percent {
            Some(p) if p <= 100 => p,
            Some(p) => return ActionReport::failed(&format!("throttle percent {p} is over 100")),
            None => return ActionReport::failed("throttle needs a percent"),
        };
        let limit = match read_cpu_limit(layout, dir, deadline, timeout).await {
            Ok(limit) => limit,
            Err(report) => return report,
        };
        // Make sure the prior can be carried in the undo token before changing anything:
        // a throttle that could not be rolled back must not happen.
        let Some(undo) = CgroupUndo::new(limit.control, &limit.prior) else {
            return ActionReport::failed(&format!(
                "cannot record {} = {:?} in an undo token; nothing written",
                limit.file.display(),
                String::from_utf8_lossy(&limit.prior).trim()
            ));
        };
        let quota_us = throttle_quota_us(limit.quota_us, limit.period_us, self.cpus, percent);
        let text = match layout {
            Layout::V2 => format!("{quota_us} {}\n", limit.period_us),
            Layout::V1 => format!("{quota_us}\n"),
        };
        if let Err(report) =
            write_by(&limit.file, text.clone().into_bytes(), deadline, timeout).await
        {
            return report;
        }
        ActionReport {
            undo: undo.encode(),
            ..ActionReport::succeeded(&format!(
                "{} = {} (was {})",
                limit.file.display(),
                text.trim(),
                undo.value()
            ))
        }
    }

    async fn pause(
        &self,
        layout: Layout,
        dir: &Path,
        cancel: &CancellationToken,
        deadline: Instant,
        timeout: Duration,
    ) -> ActionReport {
        let control = match layout {
            Layout::V2 => ControlFile::CgroupFreeze,
            Layout::V1 => ControlFile::FreezerState,
        };
        let file = dir.join(control.name());
        let prior = match read_by(&file, deadline, timeout).await {
            Ok(prior) => prior,
            Err(report) => return report,
        };
        let (freeze, restore): (&str, &[u8]) = match layout {
            Layout::V2 => ("1\n", &prior),
            // FREEZING cannot be written back; a group on its way to frozen counts as frozen.
            Layout::V1 if String::from_utf8_lossy(&prior).trim() == "THAWED" => {
                ("FROZEN\n", b"THAWED")
            }
            Layout::V1 => ("FROZEN\n", b"FROZEN"),
        };
        let Some(undo) = CgroupUndo::new(control, restore) else {
            return ActionReport::failed(&format!(
                "cannot record {} = {:?} in an undo token; nothing written",
                file.display(),
                String::from_utf8_lossy(&prior).trim()
            ));
        };
        if let Err(report) = write_by(&file, freeze.as_bytes().to_vec(), deadline, timeout).await {
            return report;
        }
        let settled = tokio::select! {
            biased;
            () = cancel.cancelled() => Err(ActionReport::cancelled("cancelled before the group froze")),
            () = tokio::time::sleep_until(deadline) => {
                Err(ActionReport::timed_out(timeout, "the group did not report frozen"))
            }
            frozen = wait_frozen(layout, dir) => frozen,
        };
        match settled {
            Ok(()) => ActionReport {
                undo: undo.encode(),
                ..ActionReport::succeeded(&format!(
                    "{} frozen (was {})",
                    dir.display(),
                    undo.value()
                ))
            },
            Err(mut report) => {
                // A failed pause leaves nothing behind and hands out no undo token.
                let undo_ms = Duration::from_millis(UNDO_TIMEOUT_MS);
                let bytes = format!("{}\n", undo.value()).into_bytes();
                let restored = write_by(&file, bytes, Instant::now() + undo_ms, undo_ms).await;
                let note = if restored.is_ok() {
                    "prior freeze state restored"
                } else {
                    "could not restore the prior freeze state"
                };
                let detail = format!("{}; {note}", report.detail);
                report.detail = crate::text::one_line(&detail, DETAIL_BYTES_MAX);
                debug_assert!(report.undo.is_empty());
                report
            }
        }
    }
}

/// A group template must be a relative path of plain components, split at `/`: none empty
/// (no leading, trailing or doubled `/`), none `.` or `..`. Checked literally, not through
/// `Path::components` (which drops `.` and empty components and would accept `a/./b`).
pub fn check_relative(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("empty".to_owned());
    }
    if group.contains('\0') {
        return Err(format!("{group:?} contains a NUL byte"));
    }
    if group.starts_with('/') {
        return Err(format!(
            "{group:?} is absolute; give it relative to the mount"
        ));
    }
    match group
        .split('/')
        .find(|c| c.is_empty() || *c == "." || *c == "..")
    {
        Some("..") => Err(format!("{group:?} has a `..` component")),
        Some(".") => Err(format!("{group:?} has a `.` component")),
        Some(_) => Err(format!(
            "{group:?} has an empty component (`//` or a trailing `/`)"
        )),
        None => Ok(()),
    }
}

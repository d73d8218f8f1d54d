//! The cgroupfs control files of the `cgroup` backend: reading and writing them within the
//! action's deadline, reading a group's CPU limit, and waiting for a freeze to settle.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::ActionReport;
use super::undo::ControlFile;

/// Bytes read from one cgroupfs control file.
const CONTROL_FILE_BYTES_MAX: u64 = 4096;
/// Poll interval while waiting for a freeze to settle.
const FREEZE_POLL_MS: u64 = 10;

/// Which cgroup version's files a resolved group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    V2,
    V1,
}

/// Polls until the group reports frozen (v2 `cgroup.events` line `frozen 1`, v1
/// `freezer.state` reads `FROZEN`). The caller bounds it.
pub(super) async fn wait_frozen(layout: Layout, dir: &Path) -> Result<(), ActionReport> {
    let (file, done): (PathBuf, fn(&str) -> bool) = match layout {
        Layout::V2 => (dir.join("cgroup.events"), |text| {
            text.lines().any(|l| l.trim() == "frozen 1")
        }),
        Layout::V1 => (dir.join("freezer.state"), |text| text.trim() == "FROZEN"),
    };
    loop {
        let bytes = read_file(file.clone())
            .await
            .map_err(|e| ActionReport::failed(&format!("cannot read {}: {e}", file.display())))?;
        if done(&String::from_utf8_lossy(&bytes)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(FREEZE_POLL_MS)).await;
    }
}

/// A CPU limit as read before a throttle.
pub(super) struct CpuLimit {
    /// Which control file holds the quota.
    pub(super) control: ControlFile,
    /// The file that holds the quota (and is written).
    pub(super) file: PathBuf,
    /// Its exact bytes before the throttle.
    pub(super) prior: Vec<u8>,
    /// The current quota, `None` when unlimited.
    pub(super) quota_us: Option<u64>,
    /// The period the quota applies to, in microseconds.
    pub(super) period_us: u64,
}

/// Reads the CPU limit of the group in `dir`: v2 `cpu.max` (`<quota|max> [<period>]`), v1
/// `cpu.cfs_quota_us` (`-1` is unlimited) with `cpu.cfs_period_us`.
pub(super) async fn read_cpu_limit(
    layout: Layout,
    dir: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<CpuLimit, ActionReport> {
    let control = match layout {
        Layout::V2 => ControlFile::CpuMax,
        Layout::V1 => ControlFile::CfsQuotaUs,
    };
    let file = dir.join(control.name());
    let prior = read_by(&file, deadline, timeout).await?;
    let (quota_us, period_us) = match layout {
        Layout::V2 => parse_cpu_max(&file, &prior)?,
        Layout::V1 => {
            let period_file = dir.join("cpu.cfs_period_us");
            let period = read_by(&period_file, deadline, timeout).await?;
            parse_cfs(&file, &prior, &period_file, &period)?
        }
    };
    Ok(CpuLimit {
        control,
        file,
        prior,
        quota_us,
        period_us,
    })
}

/// `cpu.max`: `max` or a quota, then the period (default 100 000 µs, never 0).
fn parse_cpu_max(file: &Path, prior: &[u8]) -> Result<(Option<u64>, u64), ActionReport> {
    let text = String::from_utf8_lossy(prior);
    let bad = || {
        ActionReport::failed(&format!(
            "cannot parse {} = {:?}",
            file.display(),
            text.trim()
        ))
    };
    let mut fields = text.split_whitespace();
    let quota_us = match fields.next() {
        Some("max") => None,
        Some(q) => Some(q.parse::<u64>().map_err(|_| bad())?),
        None => return Err(bad()),
    };
    let period_us = match fields.next() {
        Some(p) => p.parse::<u64>().map_err(|_| bad())?,
        None => 100_000,
    };
    if period_us == 0 {
        return Err(bad());
    }
    Ok((quota_us, period_us))
}

/// `cpu.cfs_quota_us` (negative: unlimited) and a non-zero `cpu.cfs_period_us`.
fn parse_cfs(
    file: &Path,
    prior: &[u8],
    period_file: &Path,
    period: &[u8],
) -> Result<(Option<u64>, u64), ActionReport> {
    let quota_text = String::from_utf8_lossy(prior).trim().to_owned();
    let period_text = String::from_utf8_lossy(period).trim().to_owned();
    let quota: i64 = quota_text.parse().map_err(|_| {
        ActionReport::failed(&format!("cannot parse {} = {quota_text:?}", file.display()))
    })?;
    let period_us = match period_text.parse::<u64>() {
        Ok(p) if p > 0 => p,
        _ => {
            return Err(ActionReport::failed(&format!(
                "cannot parse {} = {period_text:?}",
                period_file.display()
            )));
        }
    };
    // v1 uses -1 for "no limit".
    Ok((u64::try_from(quota).ok(), period_us))
}

pub(super) async fn read_by(
    file: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, ActionReport> {
    let op = read_file(file.to_path_buf());
    by(file, ("read", "reading"), deadline, timeout, op).await
}

pub(super) async fn write_by(
    file: &Path,
    bytes: Vec<u8>,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), ActionReport> {
    let op = write_file(file.to_path_buf(), bytes);
    by(file, ("write", "writing"), deadline, timeout, op).await
}

/// Runs one control-file operation before `deadline`, turning its failure or lateness into
/// the action's report. `verb` is the (infinitive, gerund) pair for the messages.
async fn by<T>(
    file: &Path,
    verb: (&str, &str),
    deadline: Instant,
    timeout: Duration,
    op: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, ActionReport> {
    match tokio::time::timeout_at(deadline, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ActionReport::failed(&format!(
            "cannot {} {}: {e}",
            verb.0,
            file.display()
        ))),
        Err(_) => Err(ActionReport::timed_out(
            timeout,
            &format!("{} {}", verb.1, file.display()),
        )),
    }
}

/// Reads at most [`CONTROL_FILE_BYTES_MAX`] bytes of a control file.
async fn read_file(file: PathBuf) -> std::io::Result<Vec<u8>> {
    blocking(move || {
        let mut bytes = Vec::new();
        std::fs::File::open(&file)?
            .take(CONTROL_FILE_BYTES_MAX)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    })
    .await
}

/// Writes a control file in one `write` (cgroupfs takes a value per write); never creates it.
async fn write_file(file: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    blocking(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&file)?;
        f.write_all(&bytes)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(op)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

//! What the cgroup backend reads from the host: the cgroup mounts in
//! `/proc/self/mountinfo` (found once at start) and the online CPUs.

use std::io::Read;
use std::path::PathBuf;

use super::{ActionKind, ActuatorConfigError};

/// Bytes read from `/proc/self/mountinfo`.
const MOUNTINFO_BYTES_MAX: u64 = 4 << 20;
/// Lines of mountinfo looked at.
const MOUNTINFO_LINES_MAX: usize = 65_536;

/// The cgroup mount points found in a mountinfo text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// The first `cgroup2` mount.
    pub v2: Option<PathBuf>,
    /// The first cgroup v1 mount with the `cpu` controller.
    pub cpu_v1: Option<PathBuf>,
    /// The first cgroup v1 mount with the `freezer` controller.
    pub freezer_v1: Option<PathBuf>,
}

/// Finds the cgroup mounts in the text of `/proc/self/mountinfo` (proc(5)). Pure; lines that
/// do not parse are skipped; octal escapes (`\040`) in mount points are decoded.
pub fn parse_mountinfo(text: &str) -> CgroupMounts {
    let mut mounts = CgroupMounts::default();
    for line in text.lines().take(MOUNTINFO_LINES_MAX) {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split(' ').nth(4) else {
            continue;
        };
        let mut tail = after.split(' ');
        let (fstype, super_options) = match (tail.next(), tail.nth(1)) {
            (Some(f), Some(o)) => (f, o),
            _ => continue,
        };
        let path = || PathBuf::from(unescape_mount_point(mount_point));
        if fstype == "cgroup2" && mounts.v2.is_none() {
            mounts.v2 = Some(path());
        } else if fstype == "cgroup" {
            for option in super_options.split(',') {
                match option {
                    "cpu" if mounts.cpu_v1.is_none() => mounts.cpu_v1 = Some(path()),
                    "freezer" if mounts.freezer_v1.is_none() => mounts.freezer_v1 = Some(path()),
                    _ => {}
                }
            }
        }
    }
    mounts
}

/// Decodes the `\ooo` octal escapes the kernel uses for space, tab, newline and backslash.
fn unescape_mount_point(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (b, octal) {
            (b'\\', Some(decoded)) => {
                out.push(decoded);
                i += 4;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Counts the CPUs in a kernel CPU list such as `0-3,5,7-8` (`/sys/devices/system/cpu/online`).
/// `None` if the text is not such a list.
pub fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut count: u32 = 0;
    for part in text.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let cpu = part.parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        count = count.checked_add(hi.checked_sub(lo)?.checked_add(1)?)?;
    }
    (count > 0).then_some(count)
}

/// The number of online CPUs (`/sys/devices/system/cpu/online`, else what std reports, else 1).
pub fn online_cpus() -> u32 {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|text| parse_cpu_list(&text))
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
        })
        .unwrap_or(1)
}

/// Reads `/proc/self/mountinfo` and checks a mount exists for this kind.
pub(super) fn discover(kind: ActionKind) -> Result<CgroupMounts, ActuatorConfigError> {
    let mut text = String::new();
    std::fs::File::open("/proc/self/mountinfo")
        .and_then(|f| f.take(MOUNTINFO_BYTES_MAX).read_to_string(&mut text))
        .map_err(|e| ActuatorConfigError::NoCgroupMount {
            kind,
            reason: format!("cannot read /proc/self/mountinfo: {e}"),
        })?;
    let mounts = parse_mountinfo(&text);
    let v1 = match kind {
        ActionKind::Throttle => &mounts.cpu_v1,
        _ => &mounts.freezer_v1,
    };
    if mounts.v2.is_none() && v1.is_none() {
        let controller = if kind == ActionKind::Throttle {
            "cpu"
        } else {
            "freezer"
        };
        return Err(ActuatorConfigError::NoCgroupMount {
            kind,
            reason: format!(
                "/proc/self/mountinfo has no cgroup2 mount and no v1 {controller} mount"
            ),
        });
    }
    Ok(mounts)
}

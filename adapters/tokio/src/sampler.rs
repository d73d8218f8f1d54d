//! Host signals from /proc: the sampler `autonomic run` feeds to its `local` tenant.
//!
//! Each [`HostSampler::sample`] reads a few /proc files and returns readings in percent
//! (finite, clamped to `0.0..=100.0`), named as the metric kinds of
//! `docs/signals.md#metric-kinds`:
//!
//! | metric    | source                          | value                                          |
//! |-----------|---------------------------------|------------------------------------------------|
//! | `cpu`     | `/proc/stat`, aggregate `cpu`   | busy share of the ticks since the last sample  |
//! | `memory`  | `/proc/meminfo`                 | `(MemTotal - MemAvailable) / MemTotal x 100`   |
//! | `latency` | `/proc/pressure/cpu`, `some`    | `avg10`: share of the last 10 s in which some  |
//! |           |                                 | runnable task waited for a CPU                 |
//! | `disk`    | `/proc/pressure/io`, `some`     | `avg10`: share of the last 10 s in which some  |
//! |           |                                 | task waited for I/O                            |
//!
//! `cpu` needs two samples: total ticks are `user + nice + system + idle + iowait + irq +
//! softirq + steal` (guest time is already inside user and nice), busy ticks are
//! `total - idle - iowait`, and the reading is the busy delta over the total delta. The first
//! sample, a zero total delta and a counter that went backwards give no `cpu` reading.
//! The pressure files exist only on kernels with PSI; when one is missing (or PSI is
//! disabled, `EOPNOTSUPP`) its reading is skipped. Any other read error, and any text that
//! does not parse, is a typed [`SamplerError`]: the parsers are pure functions over `&str`
//! that never panic on garbage.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Most bytes read from one /proc file (the lines used come first).
pub const PROC_FILE_BYTES_MAX: u64 = 64 * 1024;
/// Metric name of the CPU busy reading.
pub const METRIC_CPU: &str = "cpu";
/// Metric name of the memory use reading.
pub const METRIC_MEMORY: &str = "memory";
/// Metric name of the CPU pressure reading.
pub const METRIC_LATENCY: &str = "latency";
/// Metric name of the I/O pressure reading.
pub const METRIC_DISK: &str = "disk";
/// Longest excerpt of unparsable text kept in a [`ParseError`].
const EXCERPT_BYTES_MAX: usize = 32;
/// The `cpu` line's counters summed into the total (user..=steal).
const CPU_FIELDS_SUMMED: usize = 8;
/// Kernels before 2.5 print only user, nice, system and idle.
const CPU_FIELDS_MIN: usize = 4;

/// One host reading: a metric kind's name and a percent value, finite, in `0.0..=100.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// `cpu`, `memory`, `latency` or `disk`.
    pub metric: &'static str,
    /// Percent, finite and clamped to `0.0..=100.0`.
    pub value: f64,
}

/// The aggregate CPU counters of one `/proc/stat` read, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent neither idle nor waiting for I/O.
    pub busy_ticks: u64,
    /// All ticks (user through steal).
    pub total_ticks: u64,
}

/// Why /proc text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line the reading needs is absent.
    #[error("no `{0}` line")]
    MissingLine(&'static str),
    /// The line or file lacks a field the reading needs.
    #[error("no `{0}` field")]
    MissingField(&'static str),
    /// A field is not a number (or not a finite one).
    #[error("`{field}` is not a valid number: {excerpt:?}")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// The start of the text found there.
        excerpt: String,
    },
    /// A field that must be positive is zero.
    #[error("`{0}` is zero")]
    Zero(&'static str),
    /// The counters sum past `u64::MAX`.
    #[error("`{0}` counters overflow")]
    Overflow(&'static str),
}

/// Why a sample failed.
#[derive(Debug, Error)]
pub enum SamplerError {
    /// A /proc file could not be read.
    #[error("sampler: cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A /proc file's text did not parse.
    #[error("sampler: {}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        error: ParseError,
    },
}

/// Parses the aggregate `cpu` line of `/proc/stat`.
pub fn parse_cpu_times(stat: &str) -> Result<CpuTimes, ParseError> {
    let line = stat
        .lines()
        .find(|line| line.split_ascii_whitespace().next() == Some("cpu"))
        .ok_or(ParseError::MissingLine("cpu"))?;
    let mut counters = [0_u64; CPU_FIELDS_SUMMED];
    let mut fields = line.split_ascii_whitespace().skip(1);
    for (i, slot) in counters.iter_mut().enumerate() {
        match fields.next() {
            Some(text) => *slot = parse_u64("cpu", text)?,
            None if i < CPU_FIELDS_MIN => return Err(ParseError::MissingField("cpu")),
            None => break,
        }
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal] = counters;
    let total_ticks = [user, nice, system, idle, iowait, irq, softirq, steal]
        .into_iter()
        .try_fold(0_u64, u64::checked_add)
        .ok_or(ParseError::Overflow("cpu"))?;
    // total includes idle and iowait, so neither subtraction can underflow.
    let busy_ticks = total_ticks.saturating_sub(idle).saturating_sub(iowait);
    debug_assert!(busy_ticks <= total_ticks);
    Ok(CpuTimes {
        busy_ticks,
        total_ticks,
    })
}

/// Busy percent between two `/proc/stat` reads; `None` when no tick passed or a counter
/// went backwards.
#[must_use]
pub fn cpu_busy_percent(previous: CpuTimes, current: CpuTimes) -> Option<f64> {
    let total_delta = current.total_ticks.checked_sub(previous.total_ticks)?;
    let busy_delta = current.busy_ticks.checked_sub(previous.busy_ticks)?;
    if total_delta == 0 {
        return None;
    }
    Some(clamp_percent(
        busy_delta as f64 / total_delta as f64 * 100.0,
    ))
}

/// Memory in use, percent: `(MemTotal - MemAvailable) / MemTotal x 100` from `/proc/meminfo`.
pub fn parse_memory_used_percent(meminfo: &str) -> Result<f64, ParseError> {
    let mut total_kb = None;
    let mut available_kb = None;
    for line in meminfo.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let (field, slot) = match key.trim() {
            "MemTotal" => ("MemTotal", &mut total_kb),
            "MemAvailable" => ("MemAvailable", &mut available_kb),
            _ => continue,
        };
        let value = rest.split_ascii_whitespace().next().unwrap_or_default();
        *slot = Some(parse_u64(field, value)?);
        if total_kb.is_some() && available_kb.is_some() {
            break;
        }
    }
    let total_kb = total_kb.ok_or(ParseError::MissingField("MemTotal"))?;
    let available_kb = available_kb.ok_or(ParseError::MissingField("MemAvailable"))?;
    if total_kb == 0 {
        return Err(ParseError::Zero("MemTotal"));
    }
    let used_kb = total_kb.saturating_sub(available_kb);
    Ok(clamp_percent(used_kb as f64 / total_kb as f64 * 100.0))
}

/// The `some avg10` value of a `/proc/pressure/*` file, percent.
pub fn parse_pressure_some_avg10(pressure: &str) -> Result<f64, ParseError> {
    let line = pressure
        .lines()
        .find(|line| line.split_ascii_whitespace().next() == Some("some"))
        .ok_or(ParseError::MissingLine("some"))?;
    let text = line
        .split_ascii_whitespace()
        .find_map(|field| field.strip_prefix("avg10="))
        .ok_or(ParseError::MissingField("avg10"))?;
    let value: f64 = text.parse().map_err(|_| bad_number("avg10", text))?;
    if !value.is_finite() {
        return Err(bad_number("avg10", text));
    }
    Ok(clamp_percent(value))
}

fn parse_u64(field: &'static str, text: &str) -> Result<u64, ParseError> {
    text.parse().map_err(|_| bad_number(field, text))
}

fn bad_number(field: &'static str, text: &str) -> ParseError {
    let mut end = text.len().min(EXCERPT_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    ParseError::BadNumber {
        field,
        excerpt: text.get(..end).unwrap_or_default().to_owned(),
    }
}

fn clamp_percent(value: f64) -> f64 {
    debug_assert!(value.is_finite());
    if value.is_finite() {
        value.clamp(0.0, 100.0)
    } else {
        0.0
    }
}

/// Samples the host from a /proc tree (`/proc`, or a directory laid out like it in tests).
#[derive(Debug, Clone)]
pub struct HostSampler {
    proc_root: PathBuf,
    previous_cpu: Option<CpuTimes>,
}

impl HostSampler {
    /// A sampler reading `<proc_root>/stat`, `meminfo` and `pressure/{cpu,io}`.
    #[must_use]
    pub fn new(proc_root: PathBuf) -> Self {
        Self {
            proc_root,
            previous_cpu: None,
        }
    }

    /// Reads the host once: `cpu` (from the second call on), `memory`, and `latency` and `disk`
    /// when the kernel has pressure files. Keeps the CPU counters for the next call.
    pub fn sample(&mut self) -> Result<Vec<Reading>, SamplerError> {
        let mut readings = Vec::with_capacity(4);
        let stat_path = self.proc_root.join("stat");
        let cpu = parse_at(&stat_path, parse_cpu_times)?;
        let previous = self.previous_cpu.replace(cpu);
        if let Some(value) = previous.and_then(|previous| cpu_busy_percent(previous, cpu)) {
            readings.push(reading(METRIC_CPU, value));
        }
        let meminfo_path = self.proc_root.join("meminfo");
        let memory = parse_at(&meminfo_path, parse_memory_used_percent)?;
        readings.push(reading(METRIC_MEMORY, memory));
        for (file, metric) in [("cpu", METRIC_LATENCY), ("io", METRIC_DISK)] {
            let path = self.proc_root.join("pressure").join(file);
            if let Some(value) = parse_optional_at(&path, parse_pressure_some_avg10)? {
                readings.push(reading(metric, value));
            }
        }
        debug_assert!(readings.iter().all(|r| (0.0..=100.0).contains(&r.value)));
        Ok(readings)
    }
}

fn reading(metric: &'static str, value: f64) -> Reading {
    Reading {
        metric,
        value: clamp_percent(value),
    }
}

fn parse_at<T>(path: &Path, parse: fn(&str) -> Result<T, ParseError>) -> Result<T, SamplerError> {
    let text = read_capped(path).map_err(|source| SamplerError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|error| SamplerError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// Like [`parse_at`], but a file that does not exist or is unsupported gives `None`.
fn parse_optional_at<T>(
    path: &Path,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, SamplerError> {
    match parse_at(path, parse) {
        Ok(value) => Ok(Some(value)),
        Err(SamplerError::Read { source, .. }) if is_absent(&source) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::Unsupported
    ) || error.raw_os_error() == Some(nix::errno::Errno::EOPNOTSUPP as i32)
}

/// Reads at most [`PROC_FILE_BYTES_MAX`] bytes; a cut or non-UTF-8 byte becomes U+FFFD, which
/// the parsers then reject like any other garbage.
fn read_capped(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(PROC_FILE_BYTES_MAX)
        .read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

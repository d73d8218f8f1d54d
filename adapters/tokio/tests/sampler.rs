//! The host sampler: pure /proc parsers on fixtures and garbage, a fixture /proc tree, and
//! the real /proc of this machine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autonomic_tokio::sampler::{self, CpuTimes, HostSampler, ParseError, Reading, SamplerError};
use tempfile::TempDir;

const STAT: &str = "\
cpu  58893 8489 16281 161423 2137 0 513 2120 0 0
cpu0 29242 3875 7637 82747 323 0 31 1027 0 0
cpu1 29650 4613 8643 78675 1813 0 482 1092 0 0
intr 1 2 3
ctxt 123
";

const MEMINFO: &str = "\
MemTotal:       24684092 kB
MemFree:        21708696 kB
MemAvailable:   18513069 kB
Buffers:          123456 kB
";

const PRESSURE_CPU: &str = "\
some avg10=83.98 avg60=73.29 avg300=32.98 total=157713578
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
";

const PRESSURE_IO: &str = "\
some avg10=0.10 avg60=0.43 avg300=1.52 total=21021222
full avg10=0.00 avg60=0.19 avg300=1.01 total=16282032
";

/// A /proc-like tree: `stat` with the given aggregate counters, `meminfo`, and the pressure
/// files when `with_pressure`.
fn proc_tree(cpu_line: &str, with_pressure: bool) -> TempDir {
    let root = TempDir::new().unwrap();
    write_stat(root.path(), cpu_line);
    fs::write(root.path().join("meminfo"), MEMINFO).unwrap();
    if with_pressure {
        fs::create_dir(root.path().join("pressure")).unwrap();
        fs::write(root.path().join("pressure/cpu"), PRESSURE_CPU).unwrap();
        fs::write(root.path().join("pressure/io"), PRESSURE_IO).unwrap();
    }
    root
}

fn write_stat(root: &Path, cpu_line: &str) {
    fs::write(
        root.join("stat"),
        format!("{cpu_line}\ncpu0 1 2 3 4\nctxt 9\n"),
    )
    .unwrap();
}

fn value_of(readings: &[Reading], metric: &str) -> Option<f64> {
    readings
        .iter()
        .find(|r| r.metric == metric)
        .map(|r| r.value)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn cpu_times_sum_user_through_steal() {
    // Proves: total is user..=steal (guest excluded), busy is total minus idle and iowait.
    // Arrange
    let text = STAT;
    // Act
    let times = sampler::parse_cpu_times(text).unwrap();
    // Assert
    let total = 58893 + 8489 + 16281 + 161423 + 2137 + 513 + 2120;
    assert_eq!(times.total_ticks, total);
    assert_eq!(times.busy_ticks, total - 161423 - 2137);
}

#[test]
fn cpu_times_accept_old_four_field_lines() {
    // Proves: a kernel that prints only user, nice, system and idle still parses.
    // Arrange
    let text = "cpu 10 20 30 40\n";
    // Act
    let times = sampler::parse_cpu_times(text).unwrap();
    // Assert
    assert_eq!(
        times,
        CpuTimes {
            busy_ticks: 60,
            total_ticks: 100
        }
    );
}

#[test]
fn cpu_times_reject_garbage_with_typed_errors() {
    // Proves: missing line, too few fields, a non-number and overflow are distinct errors.
    // Arrange
    let max = u64::MAX;
    let overflow = format!("cpu {max} {max} 0 0\n");
    let cases: [(&str, ParseError); 4] = [
        ("cpu0 1 2 3 4\n", ParseError::MissingLine("cpu")),
        ("cpu 1 2 3\n", ParseError::MissingField("cpu")),
        (
            "cpu 1 2 x 4\n",
            ParseError::BadNumber {
                field: "cpu",
                excerpt: "x".into(),
            },
        ),
        (&overflow, ParseError::Overflow("cpu")),
    ];
    for (text, expected) in cases {
        // Act
        let result = sampler::parse_cpu_times(text);
        // Assert
        assert_eq!(result, Err(expected), "{text:?}");
    }
}

#[test]
fn cpu_busy_percent_is_the_delta_ratio() {
    // Proves: busy percent is busy delta over total delta; no ticks or a counter that went
    // backwards gives no reading.
    // Arrange
    let before = CpuTimes {
        busy_ticks: 100,
        total_ticks: 1000,
    };
    let after = CpuTimes {
        busy_ticks: 350,
        total_ticks: 1500,
    };
    let went_back = CpuTimes {
        busy_ticks: 50,
        total_ticks: 1600,
    };
    // Act
    let busy = sampler::cpu_busy_percent(before, after);
    let idle_tick = sampler::cpu_busy_percent(before, before);
    let regression = sampler::cpu_busy_percent(after, went_back);
    // Assert
    assert_eq!(busy, Some(50.0));
    assert_eq!(idle_tick, None);
    assert_eq!(regression, None);
}

#[test]
fn memory_is_total_minus_available_over_total() {
    // Proves: the memory reading is (MemTotal - MemAvailable) / MemTotal x 100.
    // Arrange
    let text = MEMINFO;
    // Act
    let percent = sampler::parse_memory_used_percent(text).unwrap();
    // Assert
    let expected = (24_684_092.0 - 18_513_069.0) / 24_684_092.0 * 100.0;
    assert!(close(percent, expected), "{percent} vs {expected}");
}

#[test]
fn memory_rejects_garbage_and_clamps() {
    // Proves: missing fields, zero total and non-numbers are typed errors; more available
    // than total clamps to 0.
    // Arrange
    let missing_available = "MemTotal: 100 kB\nMemFree: 50 kB\n";
    let zero_total = "MemTotal: 0 kB\nMemAvailable: 0 kB\n";
    let bad = "MemTotal: lots kB\nMemAvailable: 1 kB\n";
    let inverted = "MemTotal: 100 kB\nMemAvailable: 200 kB\n";
    // Act
    let results = [
        sampler::parse_memory_used_percent(missing_available),
        sampler::parse_memory_used_percent(zero_total),
        sampler::parse_memory_used_percent(bad),
        sampler::parse_memory_used_percent(""),
    ];
    let clamped = sampler::parse_memory_used_percent(inverted);
    // Assert
    assert_eq!(results[0], Err(ParseError::MissingField("MemAvailable")));
    assert_eq!(results[1], Err(ParseError::Zero("MemTotal")));
    assert!(matches!(
        &results[2],
        Err(ParseError::BadNumber {
            field: "MemTotal",
            ..
        })
    ));
    assert_eq!(results[3], Err(ParseError::MissingField("MemTotal")));
    assert_eq!(clamped, Ok(0.0));
}

#[test]
fn pressure_is_some_avg10() {
    // Proves: the pressure reading is the `some` line's avg10, not `full`, and is clamped.
    // Arrange
    let over = "some avg10=150.00 avg60=0 avg300=0 total=0\n";
    // Act
    let cpu = sampler::parse_pressure_some_avg10(PRESSURE_CPU);
    let io = sampler::parse_pressure_some_avg10(PRESSURE_IO);
    let clamped = sampler::parse_pressure_some_avg10(over);
    // Assert
    assert_eq!(cpu, Ok(83.98));
    assert_eq!(io, Ok(0.10));
    assert_eq!(clamped, Ok(100.0));
}

#[test]
fn pressure_rejects_garbage() {
    // Proves: no `some` line, no avg10, a non-number and a non-finite number are typed errors.
    // Arrange
    let cases = [
        "full avg10=1.00\n",
        "some avg60=1.00\n",
        "some avg10=abc\n",
        "some avg10=NaN\n",
        "some avg10=inf\n",
    ];
    for text in cases {
        // Act
        let result = sampler::parse_pressure_some_avg10(text);
        // Assert
        assert!(result.is_err(), "{text:?} gave {result:?}");
    }
}

#[test]
fn parsers_never_panic_on_random_bytes() {
    // Proves: thousands of random byte strings (lossy UTF-8) give Ok in range or an error.
    // Arrange
    let alphabet = b"cpu some avg10= MemTotal: MemAvailable: 0123456789.-eEnaif\n\t\xff";
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..5000 {
        let mut bytes = Vec::new();
        for _ in 0..(state % 64) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        let text = String::from_utf8_lossy(&bytes);
        // Act
        let memory = sampler::parse_memory_used_percent(&text);
        let pressure = sampler::parse_pressure_some_avg10(&text);
        let cpu = sampler::parse_cpu_times(&text);
        // Assert
        for value in [memory.ok(), pressure.ok()].into_iter().flatten() {
            assert!(
                value.is_finite() && (0.0..=100.0).contains(&value),
                "{text:?}"
            );
        }
        if let Ok(times) = cpu {
            assert!(times.busy_ticks <= times.total_ticks);
        }
    }
}

#[test]
fn sampler_reports_cpu_from_the_second_sample() {
    // Proves: the first sample has memory and pressure but no cpu; the second has cpu from
    // the counter deltas between the two.
    // Arrange
    let root = proc_tree("cpu  100 0 100 700 100 0 0 0 0 0", true);
    let mut host = HostSampler::new(root.path().to_path_buf());
    // Act
    let first = host.sample().unwrap();
    write_stat(root.path(), "cpu  200 0 200 900 100 0 0 0 0 0");
    let second = host.sample().unwrap();
    // Assert
    let metrics: Vec<&str> = first.iter().map(|r| r.metric).collect();
    assert_eq!(metrics, ["memory", "latency", "disk"]);
    assert_eq!(value_of(&second, "cpu"), Some(50.0));
    assert_eq!(value_of(&second, "latency"), Some(83.98));
    assert_eq!(value_of(&second, "disk"), Some(0.10));
    assert!(value_of(&second, "memory").is_some_and(|m| m > 0.0 && m < 100.0));
}

#[test]
fn sampler_without_pressure_files_skips_them() {
    // Proves: a kernel without PSI gives cpu and memory only, not an error.
    // Arrange
    let root = proc_tree("cpu  1 1 1 1 0 0 0 0 0 0", false);
    let mut host = HostSampler::new(root.path().to_path_buf());
    host.sample().unwrap();
    write_stat(root.path(), "cpu  2 2 2 2 0 0 0 0 0 0");
    // Act
    let readings = host.sample().unwrap();
    // Assert
    let metrics: Vec<&str> = readings.iter().map(|r| r.metric).collect();
    assert_eq!(metrics, ["cpu", "memory"]);
    assert_eq!(value_of(&readings, "cpu"), Some(75.0));
}

#[test]
fn sampler_with_unchanged_counters_gives_no_cpu() {
    // Proves: a zero tick delta between samples gives no cpu reading rather than 0 or NaN.
    // Arrange
    let root = proc_tree("cpu  5 5 5 5 0 0 0 0 0 0", false);
    let mut host = HostSampler::new(root.path().to_path_buf());
    host.sample().unwrap();
    // Act
    let readings = host.sample().unwrap();
    // Assert
    assert_eq!(value_of(&readings, "cpu"), None);
}

#[test]
fn sampler_errors_name_the_file() {
    // Proves: a missing /proc/stat is a Read error and garbage meminfo a Parse error, each
    // naming its file.
    // Arrange
    let empty = TempDir::new().unwrap();
    let garbage = proc_tree("cpu  1 1 1 1", false);
    fs::write(garbage.path().join("meminfo"), "\u{0}\u{1}garbage\n").unwrap();
    // Act
    let missing = HostSampler::new(empty.path().to_path_buf()).sample();
    let unparsable = HostSampler::new(garbage.path().to_path_buf()).sample();
    // Assert
    match missing {
        Err(SamplerError::Read { path, .. }) => assert_eq!(path, empty.path().join("stat")),
        other => panic!("expected a read error, got {other:?}"),
    }
    match unparsable {
        Err(error @ SamplerError::Parse { .. }) => {
            assert!(error.to_string().contains("meminfo"), "{error}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn real_proc_of_this_machine() {
    // Proves: against the real /proc, memory is a percent and cpu appears on the second sample.
    // Arrange
    let mut host = HostSampler::new(PathBuf::from("/proc"));
    // Act
    let first = host.sample().unwrap();
    std::thread::sleep(Duration::from_millis(250));
    let second = host.sample().unwrap();
    // Assert
    assert_eq!(value_of(&first, "cpu"), None);
    let memory = value_of(&first, "memory").unwrap();
    assert!((0.0..=100.0).contains(&memory), "memory {memory}");
    let cpu = value_of(&second, "cpu").unwrap();
    assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
    for reading in &second {
        assert!(reading.value.is_finite() && (0.0..=100.0).contains(&reading.value));
    }
    let has_psi = fs::read_to_string("/proc/pressure/cpu").is_ok();
    assert_eq!(value_of(&second, "latency").is_some(), has_psi);
}

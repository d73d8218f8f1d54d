//! Shared helpers of the tests of `deploy/`: where the repository is, finding a program on
//! `PATH` (or skipping loudly), running one with a bound, and the metric names the rules and
//! the dashboard may use. A test file that uses it also declares `mod cli_support;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a helper program (promtool, kubernetes-validate, python3, sh) may run.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Metrics the rules and the dashboard name that a sidecar exports only with `[fleet]`, which
/// the test fleets here do not configure, each with why it is absent.
pub const FLEET_ONLY: [(&str, &str); 3] = [
    ("autonomic_fleet_redis_up", "exported only with [fleet]"),
    (
        "autonomic_fleet_unavailable_total",
        "exported only with [fleet]",
    ),
    (
        "autonomic_fleet_admissions_total",
        "exported only with [fleet]",
    ),
];

/// The repository's root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The files of `deploy/<dir>` whose names end in `.<extension>`, sorted.
pub fn deploy_files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("deploy").join(dir);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// The path of `name` on `PATH`, if it is there.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `name` on `PATH`, or `None` after saying loudly that `test` cannot run (stderr and the
/// skipped-tests list); under `CI` (which installs everything) a missing program fails.
pub fn program_or_skip(name: &str, test: &str, install: &str) -> Option<PathBuf> {
    let found = program(name);
    if found.is_none() {
        let line = format!("SKIPPED {test}: {name} is not on PATH ({install})");
        crate::cli_support::skipped(&line);
        assert!(std::env::var_os("CI").is_none(), "{line}");
    }
    found
}

/// Runs `command` with stdin closed, waiting at most [`PROGRAM_TIMEOUT`] (then kills it and
/// fails the test).
pub fn output(command: &mut Command) -> Output {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + PROGRAM_TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not exit within {PROGRAM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// Stdout and stderr of `out`, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every metric the sidecar documents in the table at the top of `metrics.rs` (the one list
/// of its names) and in the fleet's table at the top of `fleet/metrics.rs`.
pub fn known_metrics() -> BTreeSet<String> {
    let read = |path: &str| std::fs::read_to_string(repo_root().join(path)).expect(path);
    let source =
        read("adapters/tokio/src/metrics.rs") + &read("adapters/tokio/src/fleet/metrics.rs");
    let names: BTreeSet<String> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.len() >= 20,
        "the table of metrics.rs moved: {names:?}"
    );
    names
}

/// The metric names in PromQL or rule text: every `autonomic_…` identifier not part of a
/// recording rule's name (`autonomic:…`), a histogram's `_bucket`/`_sum`/`_count` removed.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.split(|c: char| !is_ident(c))
        .filter(|word| word.starts_with("autonomic_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

/// Every `targets[].expr` of the dashboard, with the title of its panel (rows' nested panels
/// included).
pub fn dashboard_exprs() -> Vec<(String, String)> {
    let path = repo_root().join("deploy/grafana/autonomic.json");
    let text = std::fs::read_to_string(&path).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut panels: Vec<serde_json::Value> =
        dashboard["panels"].as_array().expect("panels").to_vec();
    let mut exprs = Vec::new();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested.iter().cloned());
        }
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            exprs.push((title.clone(), expr.to_owned()));
        }
    }
    exprs
}

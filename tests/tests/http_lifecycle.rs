//! The sidecar's own lifecycle: the host sampler feeds its tenant end to end, and SIGTERM
//! cancels an action still running after the shutdown bound, flushes, and exits 0.

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::{Sidecar, config, now_ms, run, wait_until};

fn signals_counted(s: &Sidecar) -> u64 {
    let metrics = s.get("/metrics").body;
    metrics
        .lines()
        .filter(|l| l.starts_with("autonomic_signals_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[test]
fn sampler_feeds_the_host_tenant_from_proc() {
    // Proves the sampler activates its tenant with the configured SKU and delivers /proc
    // readings through the engine (counted as signals) every interval.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml =
        "[sampler]\nenabled = true\ntenant = \"host-1\"\nsku = \"starter\"\ninterval_ms = 100\n";
    let s = Sidecar::start(&dir.path().join("s"), toml);
    let ok = wait_until(Duration::from_secs(20), || signals_counted(&s) >= 3);
    assert!(
        ok,
        "no sampled signals reached the engine: {}",
        s.stderr_log()
    );
    let t = s.tenant("host-1");
    assert_eq!(t["entitlement"], "Active");
    assert_eq!(t["sku"], "starter");
}

#[test]
fn sigterm_cancels_a_running_action_after_the_bound_and_exits_0() {
    // Proves shutdown waits a bounded time for a hanging action, kills its process group,
    // keeps the ledger verifiable, and exits 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("s");
    std::fs::create_dir_all(&home).unwrap();
    let script = home.join("hang.sh");
    let pid_file = home.join("hang.pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 1000\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let toml = config(&format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n[actuators.throttle]\nbackend = \"exec\"\nprogram = \"{}\"\ntimeout_ms = 600000\n",
        script.display()
    ));
    let mut s = Sidecar::start(&home, &toml);
    let result = s.signal("acme", 95.0, now_ms());
    assert_eq!(result["to"], "Intervene", "{result}");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n'))
    }));
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let started = Instant::now();
    let status = s.stop();
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}: {}", s.stderr_log());
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");
    assert!(
        took >= Duration::from_secs(4),
        "it should wait for running actions first ({took:?})"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("gone");
    assert!(
        state == "gone" || state == "Z",
        "the action's process {pid} still runs (state {state})"
    );
    let data = s.data_dir.display().to_string();
    let verify = run(&["verify", "--data-dir", &data], None);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

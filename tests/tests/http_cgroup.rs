//! The cgroup actuator through the real binary: against a directory laid out like cgroupfs
//! (always), and against the machine's real cgroups where a group can be created (each test
//! prints which it ran; the real one says SKIPPED loudly when it cannot).

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};

fn cgroup_config(group: &str, root: Option<&Path>) -> String {
    let root = root
        .map(|r| format!("root = \"{}\"\n", r.display()))
        .unwrap_or_default();
    config(&format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n\
         [actuators.throttle]\nbackend = \"cgroup\"\ngroup = \"{group}\"\n{root}\
         [actuators.pause]\nbackend = \"cgroup\"\ngroup = \"{group}\"\n{root}"
    ))
}

fn receipt_of_last_dispatch(s: &Sidecar) -> u64 {
    let ledger = s.get("/v1/ledger?tail=20").json();
    ledger
        .as_array()
        .expect("array")
        .iter()
        .rev()
        .find(|r| r["event"]["type"] == "action_dispatched")
        .and_then(|r| r["seq"].as_u64())
        .expect("a dispatch receipt")
}

#[test]
fn throttle_writes_and_rollback_restores_a_cgroupfs_layout() {
    // Proves, against a directory laid out like cgroup v2, that Throttle(50) from the governor
    // writes cpu.max from the prior "max" and that rollback by receipt restores the exact bytes.
    eprintln!("cgroup test ran against a DIRECTORY laid out like cgroupfs v2");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cgroupfs");
    let group = root.join("workload");
    std::fs::create_dir_all(&group).unwrap();
    std::fs::write(group.join("cpu.max"), "max 100000\n").unwrap();
    std::fs::write(group.join("cgroup.freeze"), "0\n").unwrap();
    std::fs::write(group.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    let s = Sidecar::start(
        &dir.path().join("s"),
        &cgroup_config("workload", Some(&root)),
    );
    let result = s.signal("acme", 95.0, now_ms());
    assert_eq!(result["action"]["kind"], "throttle", "{result}");
    let written = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(group.join("cpu.max")).is_ok_and(|v| !v.starts_with("max"))
    });
    assert!(written, "cpu.max unchanged: {}", s.stderr_log());
    let quota = std::fs::read_to_string(group.join("cpu.max")).unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    assert_eq!(
        quota.trim(),
        format!("{} 100000", cpus * 100_000 / 2),
        "50% of all CPUs"
    );
    assert!(wait_until(
        Duration::from_secs(10),
        || s.tenant("acme")["state"] == "Warn"
    ));
    let receipt = receipt_of_last_dispatch(&s);
    let r = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let restored = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(group.join("cpu.max")).is_ok_and(|v| v == "max 100000\n")
    });
    assert!(
        restored,
        "rollback did not restore cpu.max: {}",
        s.stderr_log()
    );
}

/// A group created in the real v1 `cpu` and `freezer` hierarchies, removed on drop.
struct RealGroup {
    dirs: Vec<PathBuf>,
    child: Child,
}

impl RealGroup {
    fn create(name: &str) -> Result<RealGroup, String> {
        let mut dirs = Vec::new();
        for controller in ["cpu", "freezer"] {
            let dir = Path::new("/sys/fs/cgroup").join(controller).join(name);
            std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            dirs.push(dir);
        }
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .map_err(|e| e.to_string())?;
        let group = RealGroup { dirs, child };
        for dir in &group.dirs {
            std::fs::write(dir.join("cgroup.procs"), child_pid(&group.child))
                .map_err(|e| e.to_string())?;
        }
        Ok(group)
    }
}

/// Creates the real v1 group `name` with a busy process in it, saying which ran; `None`
/// (and SKIPPED, loudly) where the machine has no writable v1 cpu and freezer hierarchies.
fn real_group_or_skip(name: &str, what: &str) -> Option<RealGroup> {
    let can = Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists()
        && Path::new("/sys/fs/cgroup/freezer").is_dir();
    match can.then(|| RealGroup::create(name)) {
        Some(Ok(g)) => {
            eprintln!("{what} ran against REAL cgroup v1 at /sys/fs/cgroup/{{cpu,freezer}}/{name}");
            Some(g)
        }
        Some(Err(why)) => {
            cli_support::skipped(&format!("SKIPPED (not writable): {what}: {why}"));
            None
        }
        None => {
            cli_support::skipped(&format!(
                "SKIPPED (no cgroup v1 cpu+freezer mounts): {what}"
            ));
            None
        }
    }
}

fn child_pid(child: &Child) -> String {
    child.id().to_string()
}

impl Drop for RealGroup {
    fn drop(&mut self) {
        let freezer = self
            .dirs
            .iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/freezer"));
        if let Some(f) = freezer {
            let _ = std::fs::write(f.join("freezer.state"), "THAWED");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for dir in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn utime_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    after
        .split_whitespace()
        .nth(11)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn real_cgroup_v1_throttle_pause_and_rollback_of_a_busy_process() {
    // Proves on real cgroups: the governor's Throttle(50) sets cpu.cfs_quota_us of a group
    // holding a busy process; a manual Pause freezes it (its CPU time stops advancing); rollback
    // by receipt thaws it (it runs again).
    let name = format!("autonomic-it-{}", std::process::id());
    let Some(group) = real_group_or_skip(&name, "real cgroup v1 test") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(&dir.path().join("s"), &cgroup_config(&name, None));
    let cpu = &group.dirs[0];
    let freezer = &group.dirs[1];
    let result = s.signal("acme", 95.0, now_ms());
    assert_eq!(result["action"]["kind"], "throttle", "{result}");
    let quota = || {
        std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert!(
        wait_until(Duration::from_secs(10), || quota() != "-1"),
        "quota never set: {}",
        s.stderr_log()
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let period: u64 = std::fs::read_to_string(cpu.join("cpu.cfs_period_us"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(quota(), (cpus * period / 2).to_string());
    assert!(wait_until(Duration::from_secs(10), || {
        s.tenant("acme")["action_in_flight"].is_null()
    }));
    let r = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let pause_receipt = r.json()["receipt"].as_u64().expect("receipt");
    let state = || {
        std::fs::read_to_string(freezer.join("freezer.state"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert!(
        wait_until(Duration::from_secs(10), || state() == "FROZEN"),
        "not frozen: {}",
        s.stderr_log()
    );
    let pid = group.child.id();
    let frozen_at = utime_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(utime_ticks(pid), frozen_at, "a frozen process does not run");
    assert!(wait_until(Duration::from_secs(10), || {
        s.tenant("acme")["action_in_flight"].is_null()
    }));
    let r = s.post(&format!("/v1/actions/{pause_receipt}/rollback"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        wait_until(Duration::from_secs(10), || state() == "THAWED"),
        "not thawed"
    );
    let thawed_at = utime_ticks(pid);
    assert!(
        wait_until(Duration::from_secs(5), || utime_ticks(pid) > thawed_at),
        "a thawed process runs again"
    );
}

/// Waits until the tenant's action has completed (its outcome receipt is durable).
fn wait_completed(s: &Sidecar) {
    assert!(
        wait_until(Duration::from_secs(10), || {
            s.tenant("acme")["action_in_flight"].is_null()
        }),
        "action never completed: {}",
        s.stderr_log()
    );
}

#[test]
fn rollback_after_kill_9_and_restart_restores_a_cgroupfs_layout() {
    // Proves the restart case on a cgroupfs-shaped v2 dir: throttle, kill -9, start again,
    // roll back by receipt → cpu.max is the prior value again (the undo token came from the
    // ledger; main answered 200 but left the group throttled forever).
    eprintln!("cgroup restart test ran against a DIRECTORY laid out like cgroupfs v2");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cgroupfs");
    let group = root.join("workload");
    std::fs::create_dir_all(&group).unwrap();
    std::fs::write(group.join("cpu.max"), "250000 100000\n").unwrap();
    std::fs::write(group.join("cgroup.freeze"), "0\n").unwrap();
    std::fs::write(group.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    let toml = cgroup_config("workload", Some(&root));
    let home = dir.path().join("s");
    let mut s = Sidecar::start(&home, &toml);
    let result = s.signal("acme", 95.0, now_ms());
    assert_eq!(result["action"]["kind"], "throttle", "{result}");
    wait_completed(&s);
    assert_eq!(
        std::fs::read_to_string(group.join("cpu.max")).unwrap(),
        "125000 100000\n",
        "50% of the prior quota"
    );
    let receipt = receipt_of_last_dispatch(&s);
    s.kill9();
    let s = Sidecar::start(&home, &toml);
    let r = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let restored = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(group.join("cpu.max")).is_ok_and(|v| v == "250000 100000\n")
    });
    assert!(restored, "not restored: {}", s.stderr_log());
    let ledger = s.get("/v1/ledger?tail=3").json();
    let done = ledger
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["event"]["type"] == "rollback_completed")
        .expect("a rollback_completed receipt");
    assert_eq!(done["event"]["succeeded"], true, "{done}");
}

#[test]
fn real_cgroup_v1_rollback_after_kill_9_and_restart() {
    // Proves on real cgroup v1: a throttle and a pause of a busy process, kill -9 of the
    // sidecar, a restart, then rollbacks by receipt: the quota is -1 again and the group
    // thaws (the process runs again).
    let name = format!("autonomic-rs-{}", std::process::id());
    let Some(group) = real_group_or_skip(&name, "real cgroup v1 restart test") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("s");
    let toml = cgroup_config(&name, None);
    let mut s = Sidecar::start(&home, &toml);
    let (cpu, freezer) = (&group.dirs[0], &group.dirs[1]);
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    s.signal("acme", 95.0, now_ms());
    wait_completed(&s);
    let throttle = receipt_of_last_dispatch(&s);
    assert_ne!(read(cpu.join("cpu.cfs_quota_us")), "-1", "throttled");
    let r = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let pause = r.json()["receipt"].as_u64().expect("receipt");
    wait_completed(&s);
    assert_eq!(read(freezer.join("freezer.state")), "FROZEN");
    s.kill9();
    let s = Sidecar::start(&home, &toml);
    for receipt in [pause, throttle] {
        let r = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let restored = wait_until(Duration::from_secs(10), || {
        read(cpu.join("cpu.cfs_quota_us")) == "-1"
            && read(freezer.join("freezer.state")) == "THAWED"
    });
    assert!(restored, "not restored: {}", s.stderr_log());
    let pid = group.child.id();
    let thawed_at = utime_ticks(pid);
    assert!(
        wait_until(Duration::from_secs(5), || utime_ticks(pid) > thawed_at),
        "a thawed process runs again"
    );
}

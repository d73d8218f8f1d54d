//! A rollback cut short by a crash: after the restart it is recorded as failed (its backend
//! may or may not have finished), and the operator can request it again.

mod cli_support;

use std::path::Path;
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// A throttle that succeeds at once and a rollback that says it `started`, then runs until
/// `release` exists.
fn exec_config(dir: &Path) -> String {
    let (started, release) = (dir.join("started"), dir.join("release"));
    config(&format!(
        r#"[[tenants]]
id = "acme"
sku = "pro"
[actuators.throttle]
backend = "exec"
program = "/bin/true"
rollback_program = "/bin/sh"
rollback_args = ["-c", "touch {started}; while [ ! -e {release} ]; do sleep 0.05; done"]
timeout_ms = 60000
"#,
        started = started.display(),
        release = release.display(),
    ))
}

#[test]
fn a_rollback_cut_short_by_kill_9_is_failed_at_restart_and_can_be_asked_again() {
    // Proves: rollback requested, the sidecar killed while the rollback program runs, a
    // restart → a `rollback_completed` with `succeeded: false` for it, and a new rollback
    // request is accepted (before, the action stayed "being rolled back" forever and every
    // request got 409 AlreadyExecuting).
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = exec_config(dir.path());
    let home = dir.path().join("sidecar");
    let mut s = Sidecar::start(&home, &toml);
    let result = s.signal("acme", 95.0, now_ms());
    assert_eq!(result["action"]["kind"], "throttle", "{result}");
    assert!(
        wait_until(WAIT, || s.tenant("acme")["action_in_flight"].is_null()),
        "the throttle never completed: {}",
        s.stderr_log()
    );
    let receipt = s.tenant("acme")["enforced"]["receipt"]
        .as_u64()
        .expect("enforced receipt");
    let r = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(r.status, 200, "{}", r.body);
    let again = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(again.status, 409, "still running: {}", again.body);
    assert!(
        wait_until(WAIT, || dir.path().join("started").exists()),
        "the rollback program never started: {}",
        s.stderr_log()
    );
    s.kill9();

    let s = Sidecar::start(&home, &toml);
    let failed: Vec<Value> = s
        .ledger()
        .into_iter()
        .filter(|r| r["event"]["type"] == "rollback_completed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["event"]["receipt"], receipt, "{failed:?}");
    assert_eq!(failed[0]["event"]["succeeded"], false, "{failed:?}");
    std::fs::write(dir.path().join("release"), b"").expect("release the rollback");
    let retry = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(
        retry.status, 200,
        "asked again after the restart: {}",
        retry.body
    );
    assert!(
        wait_until(WAIT, || s.tenant("acme")["enforced"].is_null()),
        "the second rollback ends the enforcement: {}",
        s.stderr_log()
    );
}

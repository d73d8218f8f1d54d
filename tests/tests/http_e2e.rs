//! The sidecar end to end over HTTP with real actuators: an `exec` program that records its
//! arguments, a failing program, a `webhook` reaching a real HTTP server run by the test,
//! and rollback by receipt id.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until, webhook_server};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A script appending its arguments (after the first, the log file) as one line.
fn recorder(dir: &Path) -> PathBuf {
    script(
        dir,
        "record.sh",
        "out=\"$1\"; shift; echo \"$@\" >> \"$out\"",
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn exec_actuator_runs_on_intervene_and_rollback_undoes_it() {
    // Proves signals drive a tenant Stable -> Warn -> Intervene, the exec actuator runs the
    // configured program with the placeholders filled, its success moves the governor to
    // Warn, and a rollback by receipt id runs the rollback program and is recorded.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rec = recorder(d);
    let (run_log, rollback_log) = (d.join("throttle.log"), d.join("rollback.log"));
    let toml = config(&format!(
        r#"token = "t0k3n"
[[tenants]]
id = "acme"
sku = "pro"
[actuators.throttle]
backend = "exec"
program = "{rec}"
args = ["{run}", "throttle", "{{tenant}}", "{{percent}}", "{{receipt}}"]
rollback_program = "{rec}"
rollback_args = ["{rb}", "unthrottle", "{{tenant}}", "{{receipt}}"]
timeout_ms = 10000
"#,
        rec = rec.display(),
        run = run_log.display(),
        rb = rollback_log.display(),
    ));
    let s = Sidecar::start(&d.join("sidecar"), &toml);
    let base = now_ms();
    let warn = s.signal("acme", 78.0, base);
    assert_eq!(
        warn,
        serde_json::json!({"tenant":"acme","from":"Stable","to":"Warn","consecutive_high":1,"action":null})
    );
    let intervene = s.signal("acme", 92.0, base + 5_000);
    assert_eq!(intervene["to"], "Intervene");
    assert_eq!(
        intervene["action"],
        serde_json::json!({"kind":"throttle","percent":50})
    );

    assert!(
        wait_until(WAIT, || s.tenant("acme")["state"] == "Warn"),
        "the program's success should move Intervene to Warn: {}",
        s.stderr_log()
    );
    let tenant = s.tenant("acme");
    let receipt = tenant["enforced"]["receipt"]
        .as_u64()
        .expect("enforced throttle");
    assert_eq!(tenant["enforced"]["kind"], "throttle");
    assert_eq!(read(&run_log), format!("throttle acme 50 {receipt}\n"));
    let completed = s.ledger().into_iter().any(|r| {
        r["event"]["type"] == "action_completed"
            && r["event"]["receipt"] == receipt
            && r["event"]["outcome"] == "Succeeded"
    });
    assert!(completed, "the ledger records the success");

    let rollback = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    assert_eq!(rollback.json()["receipt"], receipt);
    assert!(
        wait_until(WAIT, || read(&rollback_log)
            == format!("unthrottle acme {receipt}\n")),
        "rollback program did not run: {:?}",
        read(&rollback_log)
    );
    assert!(wait_until(WAIT, || s.ledger().iter().any(|r| {
        r["event"]["type"] == "rollback_completed"
            && r["event"]["receipt"] == receipt
            && r["event"]["succeeded"] == true
    })));
    assert!(wait_until(WAIT, || s.tenant("acme")["enforced"].is_null()));
    let again = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(
        again.status, 404,
        "a rolled-back action is gone: {}",
        again.body
    );
    assert_eq!(again.json()["error"], "ReceiptNotFound");

    let metrics = s.get("/metrics").body;
    for line in [
        "autonomic_actions_total{kind=\"throttle\",outcome=\"succeeded\",mode=\"enforce\"} 1",
        "autonomic_rollbacks_total{kind=\"throttle\",outcome=\"succeeded\"} 1",
        "autonomic_transitions_total{from=\"warn\",to=\"intervene\",mode=\"enforce\"} 1",
        "autonomic_signals_total{result=\"governed\"} 2",
        "autonomic_tenants{state=\"warn\",mode=\"enforce\"} 1",
        "# TYPE autonomic_dedup_evictions_total counter\nautonomic_dedup_evictions_total 0",
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    assert!(
        metrics
            .lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.starts_with("autonomic_"))
    );
}

#[test]
fn failing_program_degrades_and_pauses_then_refuse_sheds_through_a_webhook() {
    // Proves a failing exec program (exit 3) is ActionFailed: Intervene -> Degrade with
    // Pause dispatched (run by exec), Pause is enforced at admission, and v > 95 in Degrade
    // -> Refuse with Shed(50) POSTed to a real webhook server.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rec = recorder(d);
    let fail = script(d, "fail.sh", "echo failing on purpose >&2; exit 3");
    let pause_log = d.join("pause.log");
    let (hook, bodies) = webhook_server();
    let toml = config(&format!(
        r#"[[tenants]]
id = "beta"
sku = "pro"
[actuators.throttle]
backend = "exec"
program = "{fail}"
[actuators.pause]
backend = "exec"
program = "{rec}"
args = ["{pause}", "pause", "{{tenant}}", "{{receipt}}"]
[actuators.shed]
backend = "webhook"
url = "http://{hook}/shed"
"#,
        fail = fail.display(),
        rec = rec.display(),
        pause = pause_log.display(),
    ));
    let s = Sidecar::start(&d.join("sidecar"), &toml);
    let base = now_ms();
    let intervene = s.signal("beta", 92.0, base);
    assert_eq!(intervene["action"]["kind"], "throttle");
    assert!(
        wait_until(WAIT, || read(&pause_log).starts_with("pause beta ")),
        "pause program did not run: {}",
        s.stderr_log()
    );
    let tenant = s.tenant("beta");
    assert_eq!(tenant["state"], "Degrade");
    let events = s.ledger();
    assert!(
        events
            .iter()
            .any(|r| r["event"]["type"] == "action_completed" && r["event"]["outcome"] == "Failed")
    );
    assert!(events.iter().any(|r| r["event"]["type"] == "governor"
        && r["event"]["cause"]["type"] == "action_failed"
        && r["event"]["from"] == "Intervene"
        && r["event"]["to"] == "Degrade"));
    assert!(wait_until(WAIT, || s.tenant("beta")["enforced"]["kind"] == "pause"));
    let admit = s.post(
        "/v1/tenants/beta/admit",
        r#"{"resource":"requests","amount":1}"#,
    );
    assert_eq!(admit.status, 429, "{}", admit.body);
    assert_eq!(admit.json()["error"], "RefusedByAction");

    let refuse = s.signal("beta", 97.0, base + 5_000);
    assert_eq!(refuse["from"], "Degrade");
    assert_eq!(refuse["to"], "Refuse");
    assert_eq!(
        refuse["action"],
        serde_json::json!({"kind":"shed","percent":50})
    );
    assert!(
        wait_until(WAIT, || !bodies.lock().expect("lock").is_empty()),
        "webhook not reached: {}",
        s.stderr_log()
    );
    let body: Value = serde_json::from_str(&bodies.lock().expect("lock")[0]).expect("JSON body");
    assert_eq!(body["tenant"], "beta");
    assert_eq!(body["action"], "shed");
    assert_eq!(body["percent"], 50);
    let shed_receipt = s.tenant("beta")["enforced"]["receipt"].clone();
    assert_eq!(body["receipt"], shed_receipt);
}

#[test]
fn an_action_past_its_timeout_is_cancelled_as_execution_timeout() {
    // Proves an exec action that outlives its timeout_ms is recorded as ExecutionTimeout,
    // its process is killed, and the governor treats it as ActionFailed (Degrade + Pause).
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let marker = d.join("finished");
    let slow = script(
        d,
        "slow.sh",
        &format!("sleep 2; touch {}", marker.display()),
    );
    let toml = config(&format!(
        "[[tenants]]\nid = \"gamma\"\nsku = \"pro\"\n\
         [actuators.throttle]\nbackend = \"exec\"\nprogram = \"{}\"\ntimeout_ms = 300\n",
        slow.display()
    ));
    let s = Sidecar::start(&d.join("sidecar"), &toml);
    assert_eq!(s.signal("gamma", 95.0, now_ms())["to"], "Intervene");
    assert!(
        wait_until(WAIT, || s.tenant("gamma")["state"] == "Degrade"),
        "{}",
        s.stderr_log()
    );
    let events = s.ledger();
    assert!(
        events
            .iter()
            .any(|r| r["event"]["type"] == "action_completed"
                && r["event"]["outcome"] == "ExecutionTimeout")
    );
    assert!(
        events
            .iter()
            .any(|r| r["event"]["type"] == "action_dispatched"
                && r["event"]["action"]["kind"] == "pause")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !marker.exists(),
        "the timed-out program was killed, not left running"
    );
}

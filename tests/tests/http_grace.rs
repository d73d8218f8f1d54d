//! Grace before Pause and Shed through the binary (`docs/governor.md#grace-before-pause-and-shed`):
//! with `[governor] grace_ms`, the Shed a tenant's escalation to Refuse orders is first a
//! `warning` receipt; the `exec` program of the Shed (it creates a marker file) runs only at
//! the deadline. A reading below `recover` in between cancels it: a `warning_cancelled`
//! receipt names the warning, and the program never runs. `GET /v1/tenants/{id}` shows the
//! pending warning until it is dispatched or cancelled.

mod cli_support;

use std::path::Path;
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const GRACE_MS: u64 = 2000;

/// `grace_ms` on, and a Shed whose program creates `<dir>/shed-ran`.
fn grace_config(dir: &Path) -> String {
    let marker = dir.join("shed-ran");
    config(&format!(
        r#"[governor]
grace_ms = {GRACE_MS}
[[tenants]]
id = "acme"
sku = "pro"
[actuators.shed]
backend = "exec"
program = "/bin/sh"
args = ["-c", "touch {}"]
"#,
        marker.display()
    ))
}

/// Warn, Warn, Degrade (Throttle 25), then Refuse: the Shed it orders is warned.
fn into_refuse(s: &Sidecar) -> Value {
    let now = now_ms();
    for v in [80.0, 81.0, 82.0] {
        s.signal("acme", v, now);
    }
    let refused = s.signal("acme", 96.0, now);
    assert_eq!(refused["to"], "Refuse", "{refused}");
    assert_eq!(
        refused["action"],
        Value::Null,
        "the Shed is not dispatched yet"
    );
    // The Throttle's `action_completed` may land after the warning: find it by type.
    let ledger = s.ledger();
    let warnings = of_type(&ledger, "warning");
    assert_eq!(warnings.len(), 1, "{ledger:#?}");
    let warning = warnings[0].clone();
    assert_eq!(warning["event"]["action"]["kind"], "shed", "{warning}");
    warning
}

fn of_type<'a>(ledger: &'a [Value], kind: &str) -> Vec<&'a Value> {
    ledger
        .iter()
        .filter(|r| r["event"]["type"] == kind)
        .collect()
}

fn shed_dispatches(ledger: &[Value]) -> Vec<&Value> {
    ledger
        .iter()
        .filter(|r| r["event"]["type"] == "action_dispatched")
        .filter(|r| r["event"]["action"]["kind"] == "shed")
        .collect()
}

#[test]
fn a_warned_shed_runs_at_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Sidecar::start(&dir.path().join("sidecar"), &grace_config(dir.path()));
    let warning = into_refuse(&s);
    let deadline_ms = warning["event"]["deadline_ms"].as_u64().expect("deadline");
    assert_eq!(deadline_ms, warning["ts_ms"].as_u64().unwrap() + GRACE_MS);
    assert!(
        !dir.path().join("shed-ran").exists(),
        "ran before the deadline"
    );
    let shown = s.tenant("acme");
    assert_eq!(shown["warning"]["receipt"], warning["seq"], "{shown}");
    assert_eq!(shown["warning"]["action"]["kind"], "shed", "{shown}");
    assert_eq!(shown["warning"]["deadline_ms"], deadline_ms, "{shown}");

    let ran = wait_until(WAIT, || dir.path().join("shed-ran").exists());
    assert!(ran, "the Shed never ran: {}", s.stderr_log());
    let ledger = s.ledger();
    let sheds = shed_dispatches(&ledger);
    assert_eq!(sheds.len(), 1, "{ledger:#?}");
    assert_eq!(sheds[0]["event"]["manual"], false);
    assert!(sheds[0]["ts_ms"].as_u64().unwrap() >= deadline_ms);
    let shown = s.tenant("acme");
    assert_eq!(shown["state"], "Refuse");
    assert!(shown.get("warning").is_none(), "dispatched: {shown}");
    assert!(s.stop().success());
}

#[test]
fn a_reading_below_recover_cancels_the_warned_shed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = Sidecar::start(&dir.path().join("sidecar"), &grace_config(dir.path()));
    let warning = into_refuse(&s);
    let seq = warning["seq"].as_u64().expect("seq");
    let low = s.signal("acme", 50.0, now_ms());
    assert_eq!(low["to"], "Refuse", "{low}");
    let ledger = s.ledger();
    let cancelled = of_type(&ledger, "warning_cancelled");
    assert_eq!(cancelled.len(), 1, "{ledger:#?}");
    assert_eq!(cancelled[0]["event"]["receipt"], seq, "{ledger:#?}");
    assert!(cancelled[0]["seq"].as_u64() > Some(seq), "{ledger:#?}");
    let shown = s.tenant("acme");
    assert!(shown.get("warning").is_none(), "cancelled: {shown}");

    // Well past the deadline: the program never ran, and no Shed was dispatched.
    std::thread::sleep(Duration::from_millis(GRACE_MS + 1500));
    assert!(
        !dir.path().join("shed-ran").exists(),
        "a cancelled Shed ran"
    );
    assert!(shed_dispatches(&s.ledger()).is_empty());
    assert!(s.stop().success());
}

//! Queued manual actions end to end through the binary (`docs/actions.md#queued-actions`):
//! a Pause runs (an `exec` program that waits for a file), a second one asked with
//! `"queue": true` answers queued and shows in `GET /v1/tenants/{id}`, a plain one is refused
//! meanwhile; when the test lets the first finish, the queued one's program runs and the
//! ledger shows `action_queued` then its `action_dispatched`. A restart keeps a queued action
//! queued; a fifth queued action is `QueueFull`.

mod cli_support;

use std::path::Path;
use std::time::Duration;

use cli_support::{Sidecar, config, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A Pause whose program logs `pause <receipt>` to `runs.log`, then waits (at most 10 s)
/// until `release-<receipt>` exists.
fn exec_config(dir: &Path) -> String {
    let dir = dir.display();
    config(&format!(
        r#"[actuators.pause]
backend = "exec"
program = "/bin/sh"
args = ["-c", "echo pause {{receipt}} >> {dir}/runs.log; i=0; while [ ! -e {dir}/release-{{receipt}} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done"]
timeout_ms = 60000
"#
    ))
}

/// The program's log lines.
fn runs(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    log.lines().map(str::to_owned).collect()
}

fn pause(s: &Sidecar, queue: bool) -> cli_support::Response {
    let body = if queue {
        r#"{"kind":"pause","queue":true}"#
    } else {
        r#"{"kind":"pause"}"#
    };
    s.post("/v1/tenants/acme/actions", body)
}

/// The receipt of the answer to an action request that was dispatched (not queued).
fn dispatched(r: &cli_support::Response) -> u64 {
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert!(answer.get("queued").is_none(), "dispatched: {answer}");
    answer["receipt"].as_u64().expect("receipt")
}

/// The receipt of the answer to an action request that was queued.
fn queued(r: &cli_support::Response) -> u64 {
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!(answer["queued"], true, "queued: {answer}");
    assert_eq!(answer["action"], json!({"kind": "pause"}), "{answer}");
    answer["receipt"].as_u64().expect("receipt")
}

fn receipt_of(ledger: &[Value], seq: u64) -> Value {
    let found = ledger.iter().find(|r| r["seq"] == seq);
    found.cloned().unwrap_or(Value::Null)
}

#[test]
fn a_queued_action_runs_after_the_one_in_flight_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let toml = exec_config(work);
    let home = work.join("sidecar");
    let mut s = Sidecar::start(&home, &toml);
    let activated = s.post("/v1/tenants/acme/activate", r#"{"sku":"pro"}"#);
    assert_eq!(activated.status, 200, "{}", activated.body);

    let first = dispatched(&pause(&s, false));
    let line = format!("pause {first}");
    assert!(
        wait_until(WAIT, || runs(work).contains(&line)),
        "the first program never ran: {}",
        s.stderr_log()
    );
    let waiting = queued(&pause(&s, true));
    let tenant = s.tenant("acme");
    assert_eq!(tenant["action_in_flight"]["receipt"], first, "{tenant}");
    let want = json!([{"receipt": waiting, "action": {"kind": "pause"}}]);
    assert_eq!(tenant["queued"], want, "{tenant}");
    let metrics = s.get("/metrics").body;
    for line in [
        "autonomic_table_used{table=\"queued_actions\"} 1",
        "autonomic_table_capacity{table=\"queued_actions\"} 64",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // A plain action is refused while one is queued: manual actions keep their order.
    let plain = pause(&s, false);
    assert_eq!(plain.status, 409, "{}", plain.body);
    assert!(plain.body.contains("AlreadyExecuting"), "{}", plain.body);

    // The first ends; the queued one is dispatched and its program runs.
    std::fs::write(work.join(format!("release-{first}")), b"").expect("release");
    assert!(
        wait_until(WAIT, || runs(work).len() == 2),
        "the queued program never ran: {:?} {}",
        runs(work),
        s.stderr_log()
    );
    let tenant = s.tenant("acme");
    assert!(tenant.get("queued").is_none(), "{tenant}");
    let second = tenant["action_in_flight"]["receipt"]
        .as_u64()
        .expect("the queued action is in flight");
    assert_eq!(runs(work)[1], format!("pause {second}"));
    let ledger = s.ledger();
    let queued_receipt = receipt_of(&ledger, waiting);
    assert_eq!(
        queued_receipt["event"]["type"], "action_queued",
        "{ledger:?}"
    );
    assert!(second > waiting, "dispatched after it was queued");
    let dispatch = receipt_of(&ledger, second);
    assert_eq!(dispatch["event"]["type"], "action_dispatched", "{dispatch}");
    assert_eq!(dispatch["event"]["manual"], true, "{dispatch}");

    // Queued behind the second, then a crash: the restart keeps it queued.
    let third = queued(&pause(&s, true));
    s.kill9();
    let s = Sidecar::start(&home, &toml);
    let tenant = s.tenant("acme");
    assert_eq!(tenant["action_in_flight"]["receipt"], second, "{tenant}");
    let want = json!([{"receipt": third, "action": {"kind": "pause"}}]);
    assert_eq!(tenant["queued"], want, "{tenant}");
    // Four per tenant at most: the fifth is 409 QueueFull. A queue flag that is not a
    // boolean is 400.
    for _ in 1..4 {
        queued(&pause(&s, true));
    }
    let full = pause(&s, true);
    assert_eq!(full.status, 409, "{}", full.body);
    assert!(full.body.contains("QueueFull"), "{}", full.body);
    let odd = s.post(
        "/v1/tenants/acme/actions",
        r#"{"kind":"pause","queue":"yes"}"#,
    );
    assert_eq!(odd.status, 400, "{}", odd.body);
    assert!(odd.body.contains("MalformedInput"), "{}", odd.body);
    assert_eq!(s.tenant("acme")["queued"].as_array().map(Vec::len), Some(4));
    std::fs::write(work.join(format!("release-{second}")), b"").expect("release");
}

//! Shadow mode and per-plan action percents through the binary (`docs/governor.md#shadow-mode`,
//! `#per-plan-actions`): a `[[tenants]]` entry with `mode = "shadow"` whose governor orders a
//! Throttle gets the action in its signal answer and in a `shadow_action` receipt, both with
//! `"shadow":true`, and its `exec` program never runs; after `POST .../mode
//! {"mode":"enforce"}` the next escalation runs it. `[actions.enterprise] refuse_shed_pct = 10`
//! reaches the Shed program's `{percent}`.

mod cli_support;

use std::path::Path;
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "s3cret-token";

/// An `exec` section for `kind` whose program appends `<kind> <receipt> <percent>` to
/// `runs.log`.
fn exec_section(dir: &Path, kind: &str) -> String {
    let dir = dir.display();
    format!(
        r#"[actuators.{kind}]
backend = "exec"
program = "/bin/sh"
args = ["-c", "echo {kind} {{receipt}} {{percent}} >> {dir}/runs.log"]
"#
    )
}

/// A config: top-level keys `top`, the `exec` section of `kind`, then the tables `tables`.
fn exec_config(work: &Path, top: &str, kind: &str, tables: &str) -> String {
    config(&format!("{top}\n{}\n{tables}", exec_section(work, kind)))
}

/// The program's log lines.
fn runs(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    log.lines().map(str::to_owned).collect()
}

fn of_type<'a>(ledger: &'a [Value], kind: &str) -> Vec<&'a Value> {
    ledger
        .iter()
        .filter(|r| r["event"]["type"] == kind)
        .collect()
}

#[test]
fn a_shadow_tenant_runs_nothing_until_it_is_switched_to_enforce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let top = format!("token = \"{TOKEN}\"");
    let tenant = "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\nmode = \"shadow\"\n";
    let toml = exec_config(work, &top, "throttle", tenant);
    let home = work.join("sidecar");
    let mut s = Sidecar::start(&home, &toml);
    assert_eq!(s.tenant("acme")["mode"], "shadow");

    // The governor decides; the answer and the receipt say the action was shadowed.
    let answer = s.signal("acme", 93.0, now_ms());
    let want = json!({"tenant":"acme","from":"Stable","to":"Intervene","consecutive_high":0,
                      "action":{"kind":"throttle","percent":50},"shadow":true});
    assert_eq!(answer, want);
    let ledger = s.ledger();
    let shadowed = of_type(&ledger, "shadow_action");
    assert_eq!(shadowed.len(), 1, "{ledger:?}");
    assert_eq!(
        shadowed[0]["event"],
        json!({"type":"shadow_action","action":{"kind":"throttle","percent":50},"shadow":true})
    );
    assert!(
        of_type(&ledger, "action_dispatched").is_empty(),
        "{ledger:?}"
    );
    let tenant = s.tenant("acme");
    assert_eq!(tenant["action_in_flight"], Value::Null, "{tenant}");
    assert_eq!(tenant["enforced"], Value::Null, "{tenant}");

    // The mode endpoint: token-protected, typed errors that change nothing.
    let anonymous = cli_support::http(
        &s.addr,
        "POST",
        "/v1/tenants/acme/mode",
        &[],
        br#"{"mode":"enforce"}"#,
    )
    .expect("POST");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let bad = s.post("/v1/tenants/acme/mode", r#"{"mode":"off"}"#);
    assert_eq!(
        (bad.status, bad.json()["error"].clone()),
        (400, json!("InvalidMode"))
    );
    let malformed = s.post("/v1/tenants/acme/mode", r#"{"mood":"enforce"}"#);
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(malformed.json()["error"], "MalformedInput");
    let unknown = s.post("/v1/tenants/nobody/mode", r#"{"mode":"enforce"}"#);
    assert_eq!(
        (unknown.status, unknown.json()["error"].clone()),
        (404, json!("TenantNotFound"))
    );
    assert_eq!(s.tenant("acme")["mode"], "shadow");
    assert_eq!(
        of_type(&s.ledger(), "mode_set").len(),
        1,
        "the configured mode only"
    );

    let set = s.post("/v1/tenants/acme/mode", r#"{"mode":"enforce"}"#);
    assert_eq!(set.status, 200, "{}", set.body);
    let set = set.json();
    assert_eq!(
        (set["tenant"].clone(), set["mode"].clone()),
        (json!("acme"), json!("enforce"))
    );
    let seq = set["receipt"].as_u64().expect("receipt");
    let ledger = s.ledger();
    let receipt = ledger
        .iter()
        .find(|r| r["seq"] == seq)
        .expect("its receipt");
    assert_eq!(
        receipt["event"],
        json!({"type":"mode_set","mode":"enforce"})
    );
    assert_eq!(s.tenant("acme")["mode"], "enforce");

    // Nothing retroactive: the next escalation runs, and it is the only run.
    assert_eq!(s.signal("acme", 60.0, now_ms())["to"], "Warn");
    // 94, not 93: a second 93 within the same 5 s window would be a duplicate.
    let answer = s.signal("acme", 94.0, now_ms());
    assert_eq!(
        answer["action"],
        json!({"kind":"throttle","percent":50}),
        "{answer}"
    );
    assert!(answer.get("shadow").is_none(), "{answer}");
    let dispatched = of_type(&s.ledger(), "action_dispatched")
        .first()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .expect("a dispatch");
    let line = format!("throttle {dispatched} 50");
    assert!(
        wait_until(WAIT, || runs(work).contains(&line)),
        "the program never ran: {}",
        s.stderr_log()
    );
    assert_eq!(runs(work), [line]);

    let metrics = s.get("/metrics").body;
    for line in [
        "autonomic_actions_shadowed_total{kind=\"throttle\"} 1",
        "autonomic_transitions_total{from=\"stable\",to=\"intervene\",mode=\"shadow\"} 1",
        "autonomic_transitions_total{from=\"warn\",to=\"intervene\",mode=\"enforce\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}\n{metrics}"
        );
    }

    // The ledger's mode wins over the config's at a restart.
    assert!(s.stop().success());
    let s = Sidecar::start(&home, &toml);
    assert_eq!(s.tenant("acme")["mode"], "enforce");
}

#[test]
fn an_enterprise_shed_percent_reaches_the_exec_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let tables = "[actions.enterprise]\nrefuse_shed_pct = 10\n[[tenants]]\nid = \"big\"\nsku = \"enterprise\"\n";
    let toml = exec_config(work, "", "shed", tables);
    let s = Sidecar::start(&work.join("sidecar"), &toml);
    let ts = now_ms();
    for (i, value) in [80.0, 81.0, 82.0].into_iter().enumerate() {
        s.signal("big", value, ts + i as u64);
    }
    assert_eq!(s.tenant("big")["state"], "Degrade");
    let answer = s.signal("big", 97.0, ts + 3);
    assert_eq!(answer["to"], "Refuse");
    assert_eq!(answer["action"], json!({"kind":"shed","percent":10}));
    assert!(
        wait_until(WAIT, || runs(work)
            .iter()
            .any(|l| l.starts_with("shed ") && l.ends_with(" 10"))),
        "the shed program never ran with 10: {:?}\n{}",
        runs(work),
        s.stderr_log()
    );
}

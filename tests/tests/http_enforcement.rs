//! Through the real binary on 127.0.0.1: the signal age bound (`docs/signals.md#timestamps`; a
//! stale reading is refused and changes nothing, an accepted one redelivered is a duplicate)
//! and enforcement following outcomes (a failed manual Pause stops refusing admissions; a reset
//! ends a Pause by a receipt, and a restart rebuilds the same state from the ledger).

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};

const WAIT: Duration = Duration::from_secs(20);

fn tenants(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("[[tenants]]\nid = \"{id}\"\nsku = \"pro\"\n"))
        .collect()
}

fn admit(s: &Sidecar, tenant: &str) -> cli_support::Response {
    s.post(
        &format!("/v1/tenants/{tenant}/admit"),
        r#"{"resource":"requests","amount":1}"#,
    )
}

fn governor_receipts(s: &Sidecar, tenant: &str) -> usize {
    let r = s.get(&format!("/v1/ledger?tail=1000&tenant={tenant}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["event"]["type"] == "governor")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_stale_signal_is_refused_and_a_redelivery_is_a_duplicate() {
    // Proves the age bound over HTTP: stamped 10 minutes ago → InvalidTimestamp, the tenant and the
    // ledger unchanged; stamped now → governed, and the same reading again → duplicate.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(&dir.path().join("s"), &config(&tenants(&["acme"])));
    let before = (s.tenant("acme"), s.get("/v1/ledger?tail=1000").body);
    let now = now_ms();
    let stale = s.signal("acme", 92.0, now - 600_000);
    assert_eq!(stale["error"], "InvalidTimestamp", "{stale}");
    let after = s.tenant("acme");
    assert_eq!(
        (
            &after["state"],
            &after["consecutive_high"],
            &after["action_in_flight"]
        ),
        (
            &before.0["state"],
            &before.0["consecutive_high"],
            &before.0["action_in_flight"]
        ),
        "a refused signal changes nothing"
    );
    assert_eq!(s.get("/v1/ledger?tail=1000").body, before.1, "no receipt");
    let fresh = s.signal("acme", 78.0, now);
    assert_eq!(
        (&fresh["from"], &fresh["to"]),
        (&"Stable".into(), &"Warn".into()),
        "{fresh}"
    );
    let again = s.signal("acme", 78.0, now);
    assert_eq!(again, serde_json::json!({"tenant":"acme","duplicate":true}));
    assert_eq!(s.tenant("acme")["consecutive_high"], 1, "governed once");
}

#[test]
fn a_failed_manual_pause_no_longer_refuses_admission() {
    // Proves a manual Pause whose exec program exits 1 is not enforced once its outcome is in:
    // admit answers 200, not 429 RefusedByAction.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fail = d.join("fail.sh");
    std::fs::write(&fail, "#!/bin/sh\nexit 1\n").expect("script");
    std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let toml = format!(
        "{}[actuators.pause]\nbackend = \"exec\"\nprogram = \"{}\"\nargs = [\"{{tenant}}\"]\n",
        tenants(&["acme"]),
        fail.display()
    );
    let s = Sidecar::start(&d.join("s"), &config(&toml));
    let manual = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(manual.status, 200, "{}", manual.body);
    let receipt = manual.json()["receipt"].as_u64().expect("receipt");
    assert!(
        wait_until(WAIT, || s.tenant("acme")["action_in_flight"].is_null()),
        "the program's outcome did not arrive: {}",
        s.stderr_log()
    );
    let failed = s.get("/v1/ledger?tail=1000").json();
    assert!(
        failed.as_array().expect("array").iter().any(|r| {
            r["event"]["type"] == "action_completed"
                && r["event"]["receipt"] == receipt
                && r["event"]["outcome"] == "Failed"
                && r["event"]["undo"] == ""
        }),
        "{failed}"
    );
    assert!(s.tenant("acme")["enforced"].is_null());
    let r = admit(&s, "acme");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_reset_ends_a_manual_pause_and_a_restart_agrees() {
    // Proves a succeeded (dry-run) manual Pause refuses admission with 429 RefusedByAction;
    // POST /reset answers 200, writes a governor receipt (Stable → Stable) and admission is
    // 200 again; after a restart of the sidecar admission is still 200.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("s");
    let mut s = Sidecar::start(&home, &config(&tenants(&["acme"])));
    let manual = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(manual.status, 200, "{}", manual.body);
    assert!(wait_until(WAIT, || s.tenant("acme")["action_in_flight"].is_null()));
    assert_eq!(s.tenant("acme")["enforced"]["kind"], "pause");
    let refused = admit(&s, "acme");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["error"], "RefusedByAction");
    let governors = governor_receipts(&s, "acme");
    let reset = s.post("/v1/tenants/acme/reset", "");
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        governor_receipts(&s, "acme"),
        governors + 1,
        "reset receipt"
    );
    assert!(s.tenant("acme")["enforced"].is_null());
    let r = admit(&s, "acme");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(s.stop().success());

    let s = Sidecar::start(&home, &config(&tenants(&["acme"])));
    let view = s.tenant("acme");
    assert!(view["enforced"].is_null(), "restored: {view}");
    assert_eq!(
        (&view["state"], &view["consecutive_high"]),
        (&"Stable".into(), &0.into())
    );
    let r = admit(&s, "acme");
    assert_eq!(r.status, 200, "after a restart: {}", r.body);
}

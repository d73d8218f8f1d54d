//! Bounded Refuse through the binary (`docs/governor.md#timing`): with `[governor]
//! refuse_max_ms`, a tenant driven into Refuse leaves it by itself after that long — a
//! governor receipt with the cause `refuse_expired`, the tenant in Degrade — with no input.

mod cli_support;

use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_tenant_in_refuse_steps_down_to_degrade_after_refuse_max_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml =
        config("[governor]\nrefuse_max_ms = 1500\n[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n");
    let mut s = Sidecar::start(dir.path(), &toml);
    let now = now_ms();
    for v in [80.0, 81.0, 82.0] {
        s.signal("acme", v, now);
    }
    let refused = s.signal("acme", 96.0, now);
    assert_eq!(refused["to"], "Refuse", "{refused}");
    let entered = std::time::Instant::now();
    assert_eq!(s.tenant("acme")["state"], "Refuse");
    let metrics = s.get("/metrics").body;
    for line in [
        "autonomic_table_used{table=\"governor_timers\"} 1",
        "autonomic_table_capacity{table=\"governor_timers\"} 128",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }

    let degraded = wait_until(WAIT, || s.tenant("acme")["state"] == "Degrade");
    assert!(degraded, "still {}", s.tenant("acme"));
    assert!(
        entered.elapsed() >= Duration::from_millis(1400),
        "left Refuse before refuse_max_ms"
    );
    let ledger = s.ledger();
    let expired: Vec<_> = ledger
        .iter()
        .filter(|r| r["event"]["cause"]["type"] == "refuse_expired")
        .collect();
    assert_eq!(expired.len(), 1, "{ledger:#?}");
    let event = &expired[0]["event"];
    assert_eq!(
        (&event["type"], &event["from"], &event["to"]),
        (&"governor".into(), &"Refuse".into(), &"Degrade".into()),
        "{event}"
    );
    let refuse_entered = ledger
        .iter()
        .find(|r| r["event"]["to"] == "Refuse")
        .expect("the receipt into Refuse");
    let waited = expired[0]["ts_ms"].as_u64().unwrap() - refuse_entered["ts_ms"].as_u64().unwrap();
    assert!(waited >= 1500, "expired after {waited} ms");
    assert!(s.stop().success());
}

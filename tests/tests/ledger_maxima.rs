//! The ledger at the maxima a valid config allows: the largest `ledger_capacity`, the largest
//! batch, many concurrent clients. Valid input never poisons the ledger: receipts go to the
//! file in bounded chunks (one commit frame each), and every answer is acknowledged.

mod cli_support;

use std::sync::Arc;

use cli_support::{Sidecar, config, now_ms};

/// A config activating `tenants` tenants `t0..` at the given ledger capacity.
fn config_with(tenants: usize, ledger_capacity: usize) -> String {
    let mut toml = format!("ledger_capacity = {ledger_capacity}\n");
    for i in 0..tenants {
        toml.push_str(&format!("[[tenants]]\nid = \"t{i}\"\nsku = \"pro\"\n"));
    }
    config(&toml)
}

/// A JSON array of `count` signals for `tenant_of(i)`, alternating 80 and 60 in separate
/// 5 s windows, so that every signal changes its tenant's governor (one receipt each).
fn batch(count: usize, tenants: usize, first_tenant: usize, base: u64) -> String {
    let signals: Vec<String> = (0..count)
        .map(|i| {
            let tenant = first_tenant + i % tenants;
            let round = (i / tenants) as u64;
            let value = if round.is_multiple_of(2) { 80 } else { 60 };
            let ts = base + round * 5_000;
            format!(r#"{{"tenant":"t{tenant}","metric":"cpu","value":{value},"ts_ms":{ts}}}"#)
        })
        .collect();
    format!("[{}]", signals.join(","))
}

/// Counts results by their `to` state or error.
fn governed(results: &serde_json::Value) -> usize {
    let array = results.as_array().expect("array");
    for r in array {
        assert!(r.get("error").is_none(), "{r}");
    }
    array.iter().filter(|r| r.get("to").is_some()).count()
}

#[test]
fn the_largest_batch_at_the_largest_capacity_is_acknowledged_whole() {
    // Proves: ledger_capacity = 65536 (allowed) and one POST of 10 000 state-changing signals
    // → 200 with 10 000 governed results, /readyz stays green, the file verifies, and a
    // restart restores every receipt (main answered 503 LedgerUnavailable and poisoned).
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sidecar");
    let mut s = Sidecar::start(&home, &config_with(50, 65_536));
    let response = s.post("/v1/signals", &batch(10_000, 50, 0, now_ms()));
    assert_eq!(
        response.status,
        200,
        "{}",
        &response.body[..200.min(response.body.len())]
    );
    assert_eq!(governed(&response.json()), 10_000);
    assert_eq!(s.get("/readyz").status, 200);
    let ledger = s.get("/v1/ledger?tail=1").json();
    let head = ledger[0]["seq"].as_u64().expect("seq");
    assert_eq!(
        head,
        50 + 10_000 - 1,
        "50 activations and 10 000 governor receipts"
    );
    assert!(s.stop().success());
    let data = s.data_dir.to_str().expect("utf-8").to_owned();
    let verify = cli_support::run(&["verify", "--data-dir", &data], None);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    assert!(stdout.starts_with("ok: 10050 receipts"), "{stdout}");
    assert!(!stdout.contains("torn"), "{stdout}");
}

#[test]
fn many_concurrent_batches_at_a_small_capacity_are_acknowledged() {
    // Proves: 64 clients × 150-signal batches with ledger_capacity = 2048 (more receipts per
    // round than the ring and the file buffer hold) are all acknowledged, never poisoning.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("sidecar");
    let s = Arc::new(Sidecar::start(&home, &config_with(64 * 3, 2_048)));
    let base = now_ms();
    let clients: Vec<_> = (0..64)
        .map(|c| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let response = s.post("/v1/signals", &batch(150, 3, c * 3, base));
                (response.status, response.body)
            })
        })
        .collect();
    let mut total = 0;
    for client in clients {
        let (status, body) = client.join().expect("client");
        assert_eq!(status, 200, "{body}");
        total += governed(&serde_json::from_str(&body).expect("json"));
    }
    assert_eq!(total, 64 * 150);
    assert_eq!(s.get("/readyz").status, 200);
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.lines().any(|l| l == "autonomic_ledger_poisoned 0"),
        "{metrics}"
    );
}

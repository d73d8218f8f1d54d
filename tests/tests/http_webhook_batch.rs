//! Webhook batching through the binary: the Throttle actions of three tenants, dispatched by
//! one batch of signals, reach a real HTTP receiver on 127.0.0.1 as ONE POST, and each tenant's
//! action still completes with its own receipt.

mod cli_support;

use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until, webhook_server};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

#[test]
fn actions_of_several_tenants_share_one_post_with_their_own_receipts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hook, bodies) = webhook_server();
    let mut toml = String::new();
    for id in TENANTS {
        toml.push_str(&format!("[[tenants]]\nid = \"{id}\"\nsku = \"pro\"\n"));
    }
    toml.push_str(&format!(
        "[actuators.throttle]\nbackend = \"webhook\"\nurl = \"http://{hook}/throttle\"\nbatch_ms = 500\n"
    ));
    let s = Sidecar::start(&dir.path().join("sidecar"), &config(&toml));

    let ts = now_ms();
    let signals: Vec<String> = TENANTS
        .iter()
        .map(|t| format!(r#"{{"tenant":"{t}","metric":"cpu","value":92,"ts_ms":{ts}}}"#))
        .collect();
    let answer = s.post("/v1/signals", &format!("[{}]", signals.join(",")));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let results = answer.json();
    for (i, tenant) in TENANTS.iter().enumerate() {
        assert_eq!(results[i]["to"], "Intervene", "{tenant}: {}", results[i]);
        assert_eq!(results[i]["action"]["kind"], "throttle");
    }
    // Each dispatch's receipt id is its seq in the ledger.
    let ledger = s.ledger();
    let receipts: Vec<Value> = TENANTS
        .iter()
        .map(|t| {
            let dispatched = ledger
                .iter()
                .find(|r| r["tenant"] == *t && r["event"]["type"] == "action_dispatched")
                .expect("a dispatch receipt");
            dispatched["seq"].clone()
        })
        .collect();

    let completed = |s: &Sidecar| -> Vec<Value> {
        s.ledger()
            .into_iter()
            .filter(|r| r["event"]["type"] == "action_completed")
            .collect()
    };
    assert!(
        wait_until(WAIT, || completed(&s).len() == TENANTS.len()),
        "actions did not complete: {}",
        s.stderr_log()
    );
    let posts = bodies.lock().expect("lock").clone();
    assert_eq!(posts.len(), 1, "one POST for the window: {posts:?}");
    let body: Value = serde_json::from_str(&posts[0]).expect("JSON body");
    let batch = body["batch"].as_array().expect("a batch");
    let mut posted: Vec<(String, Value)> = batch
        .iter()
        .map(|a| {
            (
                a["tenant"].as_str().unwrap_or("").to_owned(),
                a["receipt"].clone(),
            )
        })
        .collect();
    posted.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Value)> = TENANTS
        .iter()
        .zip(&receipts)
        .map(|(t, r)| ((*t).to_owned(), r.clone()))
        .collect();
    assert_eq!(posted, expected, "each tenant once, with its own receipt");
    for r in completed(&s) {
        assert_eq!(r["event"]["outcome"], "Succeeded", "{r}");
        let i = TENANTS
            .iter()
            .position(|t| r["tenant"] == *t)
            .expect("a known tenant");
        assert_eq!(r["event"]["receipt"], receipts[i], "{r}");
    }
}

//! Ledger reads off the write path, through the binary: pages of at most 1 000 receipts with
//! an `after_seq` cursor, read from the committed file (not through the engine thread), and a
//! verification that only checks what was committed since the last call.

mod cli_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cli_support::{Sidecar, config, now_ms};
use serde_json::Value;

/// A sidecar with tenants t0..t9 that has written `2 500 + 10` receipts.
fn sidecar_with_receipts(dir: &std::path::Path) -> Sidecar {
    let mut toml = String::new();
    for i in 0..10 {
        toml.push_str(&format!("[[tenants]]\nid = \"t{i}\"\nsku = \"pro\"\n"));
    }
    let s = Sidecar::start(dir, &config(&toml));
    let base = now_ms();
    let signals: Vec<String> = (0..2_500_u64)
        .map(|i| {
            let round = i / 10;
            let v = if round.is_multiple_of(2) { 80 } else { 60 };
            let ts = base + round * 5_000;
            format!(
                r#"{{"tenant":"t{}","metric":"cpu","value":{v},"ts_ms":{ts}}}"#,
                i % 10
            )
        })
        .collect();
    let r = s.post("/v1/signals", &format!("[{}]", signals.join(",")));
    assert_eq!(r.status, 200, "{}", &r.body[..200.min(r.body.len())]);
    s
}

fn seqs(page: &Value) -> Vec<u64> {
    page.as_array()
        .expect("array")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect()
}

#[test]
fn pages_with_an_after_seq_cursor_cover_the_ledger_exactly_once() {
    // Proves: forward pages of at most 1 000 receipts, each starting after the cursor the
    // previous one named, list every receipt once, in order, and end with an empty page.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sidecar_with_receipts(dir.path());
    let mut all = Vec::new();
    let mut after = None::<u64>;
    for _ in 0..10 {
        let path = match after {
            None => "/v1/ledger?after_seq=0&limit=1000".to_owned(),
            Some(a) => format!("/v1/ledger?after_seq={a}&limit=1000"),
        };
        let r = s.get(&path);
        assert_eq!(r.status, 200, "{}", r.body);
        let page = seqs(&r.json());
        assert!(page.len() <= 1000);
        if page.is_empty() {
            break;
        }
        after = page.last().copied();
        all.extend(page);
    }
    // after_seq=0 starts at seq 1; seq 0 is the first page of a tail read.
    let expected: Vec<u64> = (1..2_510).collect();
    assert_eq!(all, expected);
    let first = seqs(&s.get("/v1/ledger?tail=1000").json());
    assert_eq!(
        first,
        (1_510..2_510).collect::<Vec<u64>>(),
        "tail: the newest 1 000"
    );
    let acme = s.get("/v1/ledger?tail=5&tenant=t3").json();
    assert_eq!(acme.as_array().expect("array").len(), 5);
    assert!(
        acme.as_array()
            .expect("array")
            .iter()
            .all(|r| r["tenant"] == "t3")
    );
    let sparse = s.get("/v1/ledger?after_seq=2000&limit=3&tenant=t7");
    let cursor = sparse
        .header("autonomic-next-after-seq")
        .expect("cursor header");
    let page = sparse.json();
    assert!(
        page.as_array()
            .expect("array")
            .iter()
            .all(|r| r["tenant"] == "t7")
    );
    assert_eq!(
        cursor,
        page[2]["seq"].to_string(),
        "the cursor is the last seq looked at"
    );
}

#[test]
fn pages_are_bounded() {
    // Proves: a page larger than 1 000, or an unknown or contradictory query, is refused with
    // 400 MalformedInput (main answered up to 65 536 receipts per request).
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(
        dir.path(),
        &config("[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n"),
    );
    for path in [
        "/v1/ledger?tail=1001",
        "/v1/ledger?tail=65536",
        "/v1/ledger?after_seq=1&limit=1001",
        "/v1/ledger?after_seq=1&tail=5",
        "/v1/ledger?limit=5",
        "/v1/ledger?after_seq=-1",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "MalformedInput", "{path}");
    }
}

#[test]
fn verification_checks_only_what_was_committed_since_the_last_call() {
    // Proves: the first verify reads every receipt, the next one none, and after one more
    // signal exactly its receipt (main re-read the whole file on every call).
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sidecar_with_receipts(dir.path());
    let first = s.get("/v1/ledger/verify").json();
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["file"]["records"], 2_510);
    assert_eq!(first["file"]["checked_records"], 2_510);
    let second = s.get("/v1/ledger/verify").json();
    assert_eq!(second["file"]["checked_records"], 0, "{second}");
    s.signal("t0", 95.0, now_ms() + 3_000_000);
    let third = s.get("/v1/ledger/verify").json();
    assert!(
        third["file"]["checked_records"].as_u64().expect("n") >= 1,
        "{third}"
    );
    assert_eq!(
        third["file"]["records"].as_u64(),
        Some(2_510 + third["file"]["checked_records"].as_u64().expect("n"))
    );
}

#[test]
fn readers_looping_on_large_pages_never_block_writes() {
    // Proves (functionally; the latency figures are in BENCHMARKS.md): 16 clients looping on
    // 1 000-receipt pages while signals are written: every write is acknowledged and every page
    // is a run of consecutive committed receipts.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(sidecar_with_receipts(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut pages = 0;
                while !stop.load(Ordering::SeqCst) && pages < 200 {
                    let page = seqs(&s.get("/v1/ledger?tail=1000").json());
                    assert_eq!(page.len(), 1000);
                    assert!(page.windows(2).all(|w| w[1] == w[0] + 1), "consecutive");
                    pages += 1;
                }
                pages
            })
        })
        .collect();
    let base = now_ms();
    for i in 0..200_u64 {
        let v = if i.is_multiple_of(2) { 80.0 } else { 60.0 };
        let result = s.signal("t1", v, base + 2_000_000 + i * 5_000);
        assert!(result.get("to").is_some(), "{result}");
    }
    stop.store(true, Ordering::SeqCst);
    let pages: usize = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert!(pages >= 16, "readers ran: {pages}");
}

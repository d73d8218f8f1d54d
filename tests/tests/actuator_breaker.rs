//! The circuit breaker of an actuator, end to end through the binary
//! (`docs/actions.md#circuit-breakers`): a webhook backend pointed at a closed port on
//! 127.0.0.1 fails five times, its circuit opens (receipt, `/readyz`, metric), further
//! actions fail at once with "circuit open" while a listener bound on that very port sees no
//! connection, the open circuit survives a restart (rebuilt from the ledger), and after the
//! cool-down one trial call reaches the listener and closes the circuit.

mod cli_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const FAILURES: u64 = 5;
/// Long enough for the refusals and a restart to happen inside it on a slow machine.
const COOLDOWN_MS: u64 = 8_000;

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Listens on `port`, counting connections; answers each request 200.
fn counting_listener(port: u16) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the webhook's port");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut line, mut length) = (String::new(), 0);
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    count
}

fn toml(port: u16) -> String {
    config(&format!(
        r#"[actuators.pause]
backend = "webhook"
url = "http://127.0.0.1:{port}/hook"
timeout_ms = 5000
breaker_failures = {FAILURES}
breaker_cooldown_ms = {COOLDOWN_MS}
[[tenants]]
id = "acme"
sku = "pro"
"#
    ))
}

/// A manual Pause for acme; returns its receipt id.
fn pause(s: &Sidecar) -> u64 {
    let r = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["receipt"].as_u64().expect("receipt")
}

/// How the action `receipt` ended, from the ledger (`None`: not yet).
fn outcome(s: &Sidecar, receipt: u64) -> Option<String> {
    s.ledger().iter().find_map(|r| {
        let e = &r["event"];
        (e["type"] == "action_completed" && e["receipt"] == receipt)
            .then(|| e["outcome"].as_str().unwrap_or_default().to_owned())
    })
}

fn wait_outcome(s: &Sidecar, receipt: u64) -> String {
    let mut got = None;
    let ended = wait_until(WAIT, || {
        got = outcome(s, receipt);
        got.is_some()
    });
    assert!(ended, "action {receipt} never ended: {}", s.stderr_log());
    got.unwrap_or_default()
}

/// The circuit receipts of pause, as (seq, ts_ms, to).
fn circuits(s: &Sidecar) -> Vec<(u64, u64, String)> {
    let ledger = s.ledger();
    let pause = ledger
        .iter()
        .filter(|r| r["event"]["type"] == "circuit" && r["event"]["kind"] == "pause");
    pause
        .map(|r| {
            let to = r["event"]["to"].as_str().unwrap_or_default().to_owned();
            (
                r["seq"].as_u64().unwrap_or(0),
                r["ts_ms"].as_u64().unwrap_or(0),
                to,
            )
        })
        .collect()
}

fn readyz_pause(s: &Sidecar) -> Value {
    let r = s.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["circuits"]["pause"].clone()
}

fn metric(s: &Sidecar, series: &str) -> Option<String> {
    let text = s.get("/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(series).map(|v| v.trim().to_owned()))
}

#[test]
fn five_refused_connections_open_the_circuit_until_a_trial_call_closes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let home = dir.path().join("sidecar");
    let mut s = Sidecar::start(&home, &toml(port));
    assert_eq!(readyz_pause(&s), "closed");
    let open_gauge = r#"autonomic_actuator_circuit_open{kind="pause"}"#;
    assert_eq!(metric(&s, open_gauge).as_deref(), Some("0"));

    // Five connection refusals: each a failed action, the fifth opens the circuit.
    for i in 0..FAILURES {
        let receipt = pause(&s);
        assert_eq!(wait_outcome(&s, receipt), "Failed", "attempt {i}");
    }
    let opened = circuits(&s);
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].2, "open");
    let opened_at_ms = opened[0].1;
    assert_eq!(readyz_pause(&s), "open");
    assert_eq!(metric(&s, open_gauge).as_deref(), Some("1"));

    // Something now listens on the port, but no call is made while the circuit is open.
    let connections = counting_listener(port);
    let refused = pause(&s);
    assert_eq!(outcome(&s, refused).as_deref(), Some("CircuitOpen"));
    assert!(s.tenant("acme")["action_in_flight"].is_null());
    assert!(
        s.stderr_log().contains("circuit open"),
        "{}",
        s.stderr_log()
    );

    // A restart rebuilds the open circuit from the ledger.
    assert!(s.stop().success());
    let s = Sidecar::start(&home, &toml(port));
    assert_eq!(readyz_pause(&s), "open");
    assert_eq!(metric(&s, open_gauge).as_deref(), Some("1"));
    let refused = pause(&s);
    assert_eq!(outcome(&s, refused).as_deref(), Some("CircuitOpen"));
    assert!(
        now_ms() < opened_at_ms + COOLDOWN_MS,
        "the refusals above must have come inside the cool-down"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no call while open");

    // After the cool-down: one trial call reaches the listener, succeeds, closes the circuit.
    assert!(wait_until(
        Duration::from_millis(COOLDOWN_MS + 5_000),
        || now_ms() >= opened_at_ms + COOLDOWN_MS
    ));
    let trial = pause(&s);
    assert_eq!(wait_outcome(&s, trial), "Succeeded");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "exactly the trial");
    let changes: Vec<String> = circuits(&s).into_iter().map(|(_, _, to)| to).collect();
    assert_eq!(changes, ["open", "half_open", "closed"]);
    assert_eq!(readyz_pause(&s), "closed");
    assert_eq!(metric(&s, open_gauge).as_deref(), Some("0"));
    let closed = r#"autonomic_actuator_circuit_transitions_total{kind="pause",to="closed"}"#;
    assert_eq!(metric(&s, closed).as_deref(), Some("1"));
}

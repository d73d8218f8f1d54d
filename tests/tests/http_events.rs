//! State-change notifications through the binary: receipts as CloudEvents POSTed to a real
//! `[[notify]]` receiver on 127.0.0.1 (with retries), and streamed by `GET /v1/events` as
//! Server-Sent Events, resumable with `Last-Event-ID`.

mod cli_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cli_support::{Sidecar, config, http, now_ms, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// What a receiver saw of one POST: its content type and JSON body.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// An HTTP receiver on 127.0.0.1 that answers 503 to its first `fail_first` requests, then
/// 204, recording every request (failed ones too).
fn receiver(fail_first: usize) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(256).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut length, mut content_type) = (0, String::new());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    } else if k.eq_ignore_ascii_case("content-type") {
                        content_type = v.trim().to_owned();
                    }
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            record.lock().expect("lock").push((content_type, json));
            let answer: &[u8] = if n < fail_first {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
            } else {
                b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(answer);
        }
    });
    (addr, seen)
}

fn tenant_config(extra: &str) -> String {
    config(&format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n{extra}"
    ))
}

/// The CloudEvents a receiver accepted, i.e. bodies after the first `failed` ones.
fn bodies(seen: &Seen) -> Vec<(String, Value)> {
    seen.lock().expect("lock").clone()
}

#[test]
fn receipts_reach_a_subscriber_as_cloudevents_in_seq_order_after_retries() {
    // Proves: every committed receipt is POSTed as a structured-mode CloudEvent (specversion,
    // id = seq, source naming the ledger, type by receipt, subject, time, data = the receipt);
    // two 503s are retried with backoff and counted; order is the ledger's.
    let dir = tempfile::tempdir().expect("tempdir");
    let (hook, seen) = receiver(2);
    let toml = config(&format!("[[notify]]\nurl = \"http://{hook}/events\"\n"));
    let s = Sidecar::start(&dir.path().join("sidecar"), &toml);
    // Activated after start: a subscriber gets the receipts committed from its start on.
    let activated = s.post("/v1/tenants/acme/activate", r#"{"sku":"pro"}"#);
    assert_eq!(activated.status, 200, "{}", activated.body);
    let warn = s.signal("acme", 80.0, now_ms());
    assert_eq!(warn["to"], "Warn");

    let ledger = s.ledger();
    let want = ledger.len();
    assert!(
        want >= 2,
        "an entitlement and a governor receipt: {ledger:?}"
    );
    assert!(
        wait_until(WAIT, || bodies(&seen).len() >= want + 2),
        "events not delivered: {:?}\n{}",
        bodies(&seen),
        s.stderr_log()
    );
    let got = bodies(&seen);
    // The first two attempts (both of seq of the first receipt) were refused and retried.
    assert_eq!(got[0].1, got[1].1, "a retry repeats the same event");
    assert_eq!(got[1].1, got[2].1);
    let delivered: Vec<&Value> = got[2..].iter().map(|(_, v)| v).collect();
    for (i, (event, receipt)) in delivered.iter().zip(&ledger).enumerate() {
        assert_eq!(got[i + 2].0, "application/cloudevents+json");
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["id"], receipt["seq"].to_string(), "{event}");
        assert_eq!(event["subject"], "acme");
        assert_eq!(event["datacontenttype"], "application/json");
        assert_eq!(
            event["data"], *receipt,
            "data is the receipt as GET /v1/ledger shows it"
        );
        let source = event["source"].as_str().expect("source");
        assert!(source.starts_with("urn:autonomic:ledger:"), "{source}");
        let time = event["time"].as_str().expect("time");
        assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    }
    let types: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types[..2],
        [
            "autonomic.entitlement.changed",
            "autonomic.governor.transition"
        ]
    );
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("autonomic_notify_retries_total{subscriber=\"0\"} 2"),
        "{metrics}"
    );
    let delivered_line = format!(
        "autonomic_notify_events_total{{subscriber=\"0\",outcome=\"delivered\"}} {}",
        delivered.len()
    );
    assert!(metrics.contains(&delivered_line), "{metrics}");
}

#[test]
fn an_unreachable_subscriber_drops_after_its_attempts_and_counts_it() {
    // Proves: a subscriber whose port is closed gets 5 attempts per event, then the event is
    // dropped and counted; the sidecar's answers never wait for it.
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let toml = tenant_config(&format!(
        "[[notify]]\nurl = \"http://127.0.0.1:{port}/x\"\ntimeout_ms = 500\n"
    ));
    let s = Sidecar::start(&dir.path().join("sidecar"), &toml);
    let started = Instant::now();
    s.signal("acme", 80.0, now_ms());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the answer waited"
    );
    let dropped = "autonomic_notify_events_total{subscriber=\"0\",outcome=\"dropped\"} 1";
    assert!(
        wait_until(WAIT, || s.get("/metrics").body.contains(dropped)),
        "{}",
        s.get("/metrics").body
    );
    assert!(
        s.get("/metrics")
            .body
            .contains("autonomic_notify_retries_total{subscriber=\"0\"} 4")
    );
}

/// An open `GET /v1/events` stream.
struct EventStream {
    stream: TcpStream,
    text: String,
}

impl EventStream {
    fn open(addr: &str, last_event_id: Option<u64>) -> EventStream {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        let head = format!("GET /v1/events HTTP/1.1\r\nHost: {addr}\r\n{resume}\r\n");
        stream.write_all(head.as_bytes()).expect("write");
        EventStream {
            stream,
            text: String::new(),
        }
    }

    /// Reads until `needle` has arrived or `WAIT` passes; whether it did.
    fn wait_for(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while !self.text.contains(needle) && Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
        self.text.contains(needle)
    }

    /// Whether the server closes the stream within `WAIT`.
    fn ends(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => {}
            }
        }
        false
    }
}

#[test]
fn the_event_stream_sends_new_receipts_and_resumes_from_last_event_id() {
    // Proves: GET /v1/events answers text/event-stream; a transition made after connecting
    // arrives as `id: <seq>` / `event: autonomic.governor.transition` / `data: <CloudEvent>`;
    // a second client with Last-Event-ID: 0 gets the receipts after seq 0 from the ledger,
    // starting with seq 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(&dir.path().join("sidecar"), &tenant_config(""));
    let mut live = EventStream::open(&s.addr, None);
    assert!(live.wait_for("\r\n\r\n"), "no response head");
    assert!(live.text.starts_with("HTTP/1.1 200"), "{}", live.text);
    assert!(
        live.text
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream")
    );

    let warn = s.signal("acme", 80.0, now_ms());
    assert_eq!(warn["to"], "Warn");
    let seq = s.ledger().last().expect("a receipt")["seq"]
        .as_u64()
        .expect("seq");
    let frame = format!("id: {seq}\nevent: autonomic.governor.transition\ndata: {{");
    assert!(live.wait_for(&frame), "no event in {:?}", live.text);
    assert!(
        !live.text.contains("autonomic.entitlement.changed"),
        "only new receipts"
    );

    let mut resumed = EventStream::open(&s.addr, Some(0));
    assert!(resumed.wait_for(&frame), "{:?}", resumed.text);
    assert!(resumed.text.contains("id: 1\n"), "{:?}", resumed.text);
    assert!(!resumed.text.contains("id: 0\n"), "{:?}", resumed.text);

    // Open streams end at shutdown instead of holding it up (the drain allows 5 s).
    let mut s = s;
    let stopping = Instant::now();
    assert!(s.stop().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopping.elapsed()
    );
    assert!(live.ends(), "the stream did not end: {:?}", live.text);
}

#[test]
fn a_bad_last_event_id_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(&dir.path().join("sidecar"), &tenant_config(""));
    let r = http(
        &s.addr,
        "GET",
        "/v1/events",
        &[("Last-Event-ID", "seven")],
        b"",
    )
    .expect("GET");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "MalformedInput");
}

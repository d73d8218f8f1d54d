//! Hostile clients on the same host: browser-shaped requests (CSRF, DNS rebinding), an idle
//! flood past the file-descriptor limit, clients trickling their bodies, loose tokens,
//! duplicate JSON keys, and clap errors that lose the argument's name. Every flood targets
//! 127.0.0.1, is bounded in count and time, and stops by itself.

mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cli_support::{Response, Sidecar, config, http, http_raw, now_ms, run};
use serde_json::Value;

fn expect(r: &Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["error"], error, "{}", r.body);
}

/// The ledger file's head and the tenant (minus its clock-driven field).
fn snapshot(s: &Sidecar, tenant: &str) -> Value {
    let verify = s.get("/v1/ledger/verify");
    assert_eq!(verify.status, 200, "{}", verify.body);
    let mut t = s.tenant(tenant);
    t.as_object_mut().map(|o| o.remove("time_in_state_ms"));
    let file = verify.json()["file"].clone();
    let head = serde_json::json!([file["records"], file["head_seq"], file["head_hash"]]);
    serde_json::json!({ "file": head, "tenant": t })
}

/// A request with exactly these header lines (no Host unless given), `Connection: close`.
fn raw(s: &Sidecar, request_line: &str, headers: &[&str], body: &str) -> Response {
    let mut text = format!("{request_line}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    http_raw(&s.addr, text.as_bytes()).expect("request")
}

#[test]
fn browser_shaped_requests_are_refused_and_dispatch_nothing() {
    // Proves a cross-site form POST (text/plain, foreign Origin), a body-less POST, and a
    // DNS-rebound GET (Host: evil.example) are refused with 415/403/421 and change nothing,
    // while allowed origins and hosts, and localhost/loopback names, pass. On the code
    // before this change the text/plain POST dispatched a Pause and the GET answered.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config(
        "allowed_origins = [\"http://dashboard.local:3000\"]\n\
         allowed_hosts = [\"sidecar.internal\"]\n\
         [[tenants]]\nid = \"acme\"\nsku = \"pro\"\n",
    );
    let s = Sidecar::start(&dir.path().join("s"), &toml);
    let host = format!("Host: {}", s.addr);
    let before = snapshot(&s, "acme");

    let pause = r#"{"kind":"pause"}"#;
    let post = "POST /v1/tenants/acme/actions HTTP/1.1";
    let evil = "Origin: http://evil.example";
    let text = "Content-Type: text/plain";
    let json = "Content-Type: application/json";
    // The exact request of the report: a foreign page's text/plain POST.
    expect(
        &raw(&s, post, &[&host, text, evil], pause),
        403,
        "ForbiddenOrigin",
    );
    // No Origin (an old browser, a form from a file): still not JSON.
    expect(
        &raw(&s, post, &[&host, text], pause),
        415,
        "UnsupportedMediaType",
    );
    expect(
        &raw(
            &s,
            post,
            &[&host, "Content-Type: application/x-www-form-urlencoded"],
            pause,
        ),
        415,
        "UnsupportedMediaType",
    );
    expect(&raw(&s, post, &[&host], pause), 415, "UnsupportedMediaType");
    expect(
        &raw(&s, post, &[&host, "Content-Type: application/jsonx"], pause),
        415,
        "UnsupportedMediaType",
    );
    // JSON but from a foreign page (a preflight would have been needed; refuse anyway).
    expect(
        &raw(&s, post, &[&host, json, evil], pause),
        403,
        "ForbiddenOrigin",
    );
    expect(
        &raw(&s, post, &[&host, json, "Origin: null"], pause),
        403,
        "ForbiddenOrigin",
    );
    // Body-less POSTs a browser sends cross-site without a preflight.
    let bodyless = "POST /v1/tenants/acme/pause HTTP/1.1";
    expect(
        &raw(&s, bodyless, &[&host], ""),
        415,
        "UnsupportedMediaType",
    );
    expect(
        &raw(&s, bodyless, &[&host, evil], ""),
        403,
        "ForbiddenOrigin",
    );
    let rollback = "POST /v1/actions/0/rollback HTTP/1.1";
    expect(
        &raw(&s, rollback, &[&host, text], ""),
        415,
        "UnsupportedMediaType",
    );
    // DNS rebinding: the page's own name in Host, on any method.
    let ledger = "GET /v1/ledger HTTP/1.1";
    for bad in [
        "Host: evil.example",
        "Host: evil.example:7411",
        "Host: localhost.evil.example",
        "Host: 127.0.0.1.evil.example",
        "Host: 10.1.2.3",
        "Host: ",
    ] {
        expect(&raw(&s, ledger, &[bad], ""), 421, "MisdirectedRequest");
    }
    expect(&raw(&s, ledger, &[], ""), 421, "MisdirectedRequest");
    let two = raw(&s, ledger, &[&host, "Host: evil.example"], "");
    assert!(matches!(two.status, 400 | 421), "{two:?}");
    let absolute = "GET http://evil.example/v1/ledger HTTP/1.1";
    expect(&raw(&s, absolute, &[&host], ""), 421, "MisdirectedRequest");
    expect(
        &raw(&s, post, &["Host: evil.example", json], pause),
        421,
        "MisdirectedRequest",
    );
    assert_eq!(
        snapshot(&s, "acme"),
        before,
        "a refused request changed state"
    );

    // What passes: every name of this server, an allowed host and an allowed origin.
    let port = s.addr.rsplit(':').next().expect("port");
    for good in [
        host.clone(),
        "Host: localhost".to_owned(),
        format!("Host: LocalHost:{port}"),
        "Host: 127.0.0.1".to_owned(),
        "Host: 127.8.9.10:1".to_owned(),
        format!("Host: [::1]:{port}"),
        "Host: sidecar.internal".to_owned(),
        format!("Host: SIDECAR.internal:{port}"),
    ] {
        let r = raw(&s, "GET /v1/tenants/acme HTTP/1.1", &[&good], "");
        assert_eq!(r.status, 200, "{good}: {}", r.body);
    }
    let allowed = "Origin: http://dashboard.local:3000";
    let charset = "Content-Type: Application/JSON; charset=utf-8";
    let r = raw(&s, "GET /healthz HTTP/1.1", &[&host, allowed], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = raw(&s, post, &[&host, charset, allowed], pause);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        cli_support::wait_until(Duration::from_secs(10), || {
            s.tenant("acme")["action_in_flight"].is_null()
        }),
        "the allowed pause did not finish"
    );
    assert_ne!(
        snapshot(&s, "acme"),
        before,
        "the allowed request changed nothing"
    );
}

#[test]
fn bearer_is_case_insensitive_and_wrong_tokens_of_any_length_fail() {
    // Proves RFC 7235's case-insensitive scheme (`bearer`, `BEARER`) is accepted, and a
    // wrong token, shorter, longer, empty, or under another scheme, is 401. Before this
    // change `bearer <token>` was 401.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config("token = \"s3cret\"\n[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n");
    let s = Sidecar::start(&dir.path().join("s"), &toml);
    let post = |auth: &str| {
        let body = format!(
            r#"{{"tenant":"acme","metric":"cpu","value":10,"ts_ms":{}}}"#,
            now_ms()
        );
        http(
            &s.addr,
            "POST",
            "/v1/signals",
            &[("Authorization", auth)],
            body.as_bytes(),
        )
        .expect("POST")
    };
    for good in [
        "bearer s3cret",
        "BEARER s3cret",
        "Bearer s3cret",
        "bEaReR  s3cret",
    ] {
        let r = post(good);
        assert_eq!(r.status, 200, "{good}: {}", r.body);
    }
    for bad in [
        "Bearer s3cre",
        "Bearer s3cret-and-more-bytes",
        "Bearer S3CRET",
        "Bearer ",
        "Bearer",
        "s3cret",
        "Basic s3cret",
        "Bearers3cret",
    ] {
        expect(&post(bad), 401, "Unauthorized");
    }
}

#[test]
fn duplicate_json_keys_are_malformed_input_and_change_nothing() {
    // Proves a key named twice in one object, anywhere in a body, is 400 MalformedInput
    // and applies nothing. Before this change `"value":1,"value":99` was taken as 99.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config("[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n");
    let s = Sidecar::start(&dir.path().join("s"), &toml);
    let before = snapshot(&s, "acme");
    let now = now_ms();
    for (path, body) in [
        (
            "/v1/signals",
            format!(r#"{{"tenant":"acme","metric":"cpu","value":1,"ts_ms":{now},"value":99}}"#),
        ),
        (
            "/v1/signals",
            format!(r#"[{{"tenant":"acme","metric":"cpu","value":99,"ts_ms":{now},"x":1,"x":2}}]"#),
        ),
        (
            "/v1/signals",
            format!(
                r#"{{"tenant":"acme","metric":"cpu","value":99,"ts_ms":{now},"m":{{"k":1,"\u006b":2}}}}"#
            ),
        ),
        (
            "/v1/tenants/acme/actions",
            r#"{"kind":"throttle","percent":10,"percent":90}"#.to_owned(),
        ),
        (
            "/v1/tenants/acme/activate",
            r#"{"sku":"pro","note":1,"note":2}"#.to_owned(),
        ),
        (
            "/v1/tenants/acme/admit",
            r#"{"resource":"requests","amount":1,"amount":1}"#.to_owned(),
        ),
    ] {
        let r = s.post(path, &body);
        expect(&r, 400, "MalformedInput");
        assert!(
            r.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("duplicate")),
            "{}",
            r.body
        );
    }
    assert_eq!(snapshot(&s, "acme"), before);
}

#[test]
fn clap_and_config_errors_keep_their_names_on_one_line() {
    // Proves a missing argument's name survives the one-line usage error (before: "the
    // following required arguments were not provided:" and nothing more), and that the new
    // config keys are validated like the others (file and key named, exit 2).
    let out = run(&["verify"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    for (toml, key) in [
        ("idle_timeout_ms = 0\n", "idle_timeout_ms"),
        (
            "header_read_timeout_ms = 999999999\n",
            "header_read_timeout_ms",
        ),
        ("body_read_timeout_ms = 10\n", "body_read_timeout_ms"),
        ("max_connections = 0\n", "max_connections"),
        (
            "allowed_origins = [\"http://a.example/path\"]\n",
            "allowed_origins[0]",
        ),
        (
            "allowed_hosts = [\"ok.example\", \"a.example:80\"]\n",
            "allowed_hosts[1]",
        ),
    ] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("config");
        let path = path.display().to_string();
        let out = run(&["run", "--config", &path], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&path) && stderr.contains(&format!("{key}:")),
            "{stderr}"
        );
    }
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_within(mut stream: &TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(10))));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// GET /healthz; (status, seconds taken), status 0 on no answer within 10 s.
fn healthz(addr: &str) -> (u16, f64) {
    let started = Instant::now();
    let status = (|| {
        let mut stream =
            TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(10)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let head = String::from_utf8_lossy(&raw).into_owned();
        head.split(' ').nth(1)?.parse().ok()
    })()
    .unwrap_or(0);
    (status, started.elapsed().as_secs_f64())
}

#[test]
fn an_idle_flood_past_the_descriptor_limit_leaves_healthz_answering() {
    // Proves that under `nofile 256` (cap 256 - reserve = 32 connections), 300 idle
    // connections neither exhaust descriptors nor block /healthz, that idle connections and
    // a half-sent head are closed by their timeouts, and that the sidecar still stops
    // cleanly. Before this change accept() hit EMFILE, /healthz got no answer and no idle
    // connection was ever closed.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config("idle_timeout_ms = 1500\nheader_read_timeout_ms = 1000\n");
    let wrapper = ["prlimit", "--nofile=256:256"];
    let mut s = Sidecar::start_wrapped(&dir.path().join("s"), &toml, &wrapper);
    assert!(
        s.stderr_log().contains("max_connections=32"),
        "{}",
        s.stderr_log()
    );
    assert_eq!(healthz(&s.addr).0, 200);

    let flood_started = Instant::now();
    let flood: Vec<TcpStream> = (0..300)
        .filter_map(|_| {
            TcpStream::connect_timeout(&s.addr.parse().expect("addr"), Duration::from_secs(2)).ok()
        })
        .collect();
    assert!(flood.len() > 256, "only {} connections opened", flood.len());
    // A head sent in part, then nothing: the header read timeout closes it.
    let mut half = TcpStream::connect(&s.addr).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .expect("write");
    let half_sent = Instant::now();

    let (status, took) = healthz(&s.addr);
    eprintln!(
        "healthz during a flood of {} idle connections: {status} in {took:.3} s",
        flood.len()
    );
    assert_eq!(status, 200, "healthz during the flood: {}", s.stderr_log());
    assert!(took < 3.0, "healthz took {took:.3} s during the flood");

    assert!(
        closed_within(&half, Duration::from_secs(4)),
        "half-sent head kept open"
    );
    let half_took = half_sent.elapsed().as_secs_f64();
    assert!(
        half_took < 3.5,
        "half-sent head closed after {half_took:.3} s"
    );
    // Right after the flood most were evicted at the cap; the rest go at the idle timeout.
    let open = flood
        .iter()
        .filter(|c| !closed_within(c, Duration::from_millis(10)))
        .count();
    let deadline = Instant::now() + Duration::from_secs(5);
    let still = flood
        .iter()
        .filter(|c| {
            let left = deadline.saturating_duration_since(Instant::now());
            !closed_within(c, left.max(Duration::from_millis(10)))
        })
        .count();
    let flood_took = flood_started.elapsed().as_secs_f64();
    eprintln!(
        "flood closed: {open} open after the first pass, {still} at the end, {flood_took:.1} s"
    );
    assert_eq!(still, 0, "idle connections never closed");
    let (status, took) = healthz(&s.addr);
    assert_eq!(status, 200);
    assert!(took < 1.0, "healthz after the flood took {took:.3} s");
    drop(flood);
    let status = s.stop();
    assert!(status.success(), "{status}: {}", s.stderr_log());
}

#[test]
fn clients_trickling_their_bodies_hold_no_slot_and_are_cut_off() {
    // Proves 50 clients sending one body byte per 500 ms, with 8 concurrency slots, neither
    // delay a normal signal POST (answered within 2 s) nor /healthz, and each is answered
    // 408 at the body read timeout (2 s). Before this change they held every slot and the
    // signal waited for the 30 s request timeout.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = config(
        "max_concurrent_requests = 8\nbody_read_timeout_ms = 2000\n\
         [[tenants]]\nid = \"acme\"\nsku = \"pro\"\n",
    );
    let mut s = Sidecar::start(&dir.path().join("s"), &toml);
    let tricklers: Vec<_> = (0..50)
        .map(|_| {
            let addr = s.addr.clone();
            std::thread::spawn(move || -> (u16, f64) {
                let started = Instant::now();
                let Ok(mut stream) = TcpStream::connect(&addr) else {
                    return (0, 0.0);
                };
                let head = format!(
                    "POST /v1/signals HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                );
                let mut writer = stream.try_clone().expect("clone");
                let sender = std::thread::spawn(move || {
                    if writer.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    for _ in 0..20 {
                        if writer.write_all(b" ").is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                    }
                });
                let _ = stream.set_read_timeout(Some(Duration::from_secs(12)));
                let mut raw = Vec::new();
                let _ = stream.read_to_end(&mut raw);
                let took = started.elapsed().as_secs_f64();
                drop(stream);
                let _ = sender.join();
                let status = String::from_utf8_lossy(&raw)
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                (status, took)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    let body = format!(
        r#"{{"tenant":"acme","metric":"cpu","value":10,"ts_ms":{}}}"#,
        now_ms()
    );
    let r = s.post("/v1/signals", &body);
    let signal_took = started.elapsed().as_secs_f64();
    assert_eq!(r.status, 200, "{}", r.body);
    let (health, health_took) = healthz(&s.addr);
    eprintln!(
        "signal POST during the trickle: {signal_took:.3} s; healthz {health} in {health_took:.3} s"
    );
    assert!(signal_took < 2.0, "signal POST took {signal_took:.3} s");
    assert_eq!(health, 200);
    let results: Vec<(u16, f64)> = tricklers
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let slowest = results.iter().map(|r| r.1).fold(0.0, f64::max);
    eprintln!(
        "tricklers: {:?} statuses, slowest cut off after {slowest:.2} s",
        {
            let mut codes: Vec<u16> = results.iter().map(|r| r.0).collect();
            codes.dedup();
            codes
        }
    );
    for (status, took) in &results {
        assert_eq!(
            *status, 408,
            "a trickling client was not cut off: {results:?}"
        );
        assert!(*took < 4.5, "cut off only after {took:.2} s");
    }
    let status = s.stop();
    assert!(status.success(), "{status}: {}", s.stderr_log());
}

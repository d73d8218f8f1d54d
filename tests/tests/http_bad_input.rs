//! Bad input over HTTP: malformed and oversized bodies, unknown tenants and receipts, missing
//! and wrong tokens, and every validation error; none of them changes any state.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use cli_support::{Sidecar, config, http, now_ms, wait_until};
use serde_json::Value;

const TOKEN: &str = "s3cret";

/// Everything observable that a bad request could change: the ledger file's head and
/// every tenant (minus the clock-driven `time_in_state_ms`).
fn snapshot(s: &Sidecar) -> Value {
    let verify = s.get("/v1/ledger/verify");
    assert_eq!(verify.status, 200, "{}", verify.body);
    let mut tenants = Vec::new();
    for id in ["acme", "p", "old", "slow"] {
        let mut t = s.tenant(id);
        t.as_object_mut().map(|o| o.remove("time_in_state_ms"));
        tenants.push(t);
    }
    let file = verify.json()["file"].clone();
    let head = serde_json::json!([file["records"], file["head_seq"], file["head_hash"]]);
    serde_json::json!({ "file": head, "tenants": tenants })
}

fn expect(r: &cli_support::Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.body);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
}

#[test]
fn bad_requests_are_refused_with_typed_errors_and_change_nothing() {
    // Proves every bad request gets its status and error name, and the ledger head and
    // every tenant are identical before and after all of them.
    let dir = tempfile::tempdir().expect("tempdir");
    let sleeper = dir.path().join("sleep.sh");
    std::fs::write(&sleeper, "#!/bin/sh\nsleep 20\n").expect("script");
    std::fs::set_permissions(&sleeper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let toml = config(&format!(
        "token = \"{TOKEN}\"\n[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n\
         [[tenants]]\nid = \"p\"\nsku = \"starter\"\n\
         [[tenants]]\nid = \"old\"\nsku = \"starter\"\nexpires_at_ms = 1\n\
         [[tenants]]\nid = \"slow\"\nsku = \"pro\"\n\
         [actuators.pause]\nbackend = \"exec\"\nprogram = \"{}\"\n",
        sleeper.display()
    ));
    let s = Sidecar::start(&dir.path().join("sidecar"), &toml);
    // Set-up that does change state: a paused tenant, a long action in flight.
    assert_eq!(s.post("/v1/tenants/p/pause", "").status, 200);
    let manual = s.post("/v1/tenants/slow/actions", r#"{"kind":"pause"}"#);
    assert_eq!(manual.status, 200, "{}", manual.body);
    assert!(wait_until(Duration::from_secs(10), || {
        !s.tenant("slow")["action_in_flight"].is_null()
    }));
    let before = snapshot(&s);

    // Bodies.
    expect(&s.post("/v1/signals", "{not json"), 400, "MalformedInput");
    expect(
        &s.post("/v1/signals", r#"{"tenant":"acme","metric":"cpu"}"#),
        400,
        "MalformedInput",
    );
    expect(
        &s.post(
            "/v1/signals",
            r#"{"tenant":"acme","metric":"cpu","value":"90","ts_ms":1}"#,
        ),
        400,
        "MalformedInput",
    );
    let half_good = r#"[{"tenant":"acme","metric":"cpu","value":95,"ts_ms":1}, 5]"#;
    expect(&s.post("/v1/signals", half_good), 400, "MalformedInput");
    let big = format!(
        r#"{{"tenant":"acme","metric":"cpu","value":95,"ts_ms":1,"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    expect(&s.post("/v1/signals", &big), 413, "PayloadTooLarge");

    // Tokens: a valid signal that would change state is refused without the right one.
    let valid = format!(
        r#"{{"tenant":"acme","metric":"cpu","value":95,"ts_ms":{}}}"#,
        now_ms()
    );
    let post = |path: &str, auth: Option<&str>, body: &str| {
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        http(&s.addr, "POST", path, &headers, body.as_bytes()).expect("POST")
    };
    expect(&post("/v1/signals", None, &valid), 401, "Unauthorized");
    expect(
        &post("/v1/signals", Some("Bearer wrong"), &valid),
        401,
        "Unauthorized",
    );
    expect(
        &post("/v1/signals", Some(TOKEN), &valid),
        401,
        "Unauthorized",
    );
    expect(
        &post("/v1/tenants/acme/revoke", Some("Bearer s3cre"), ""),
        401,
        "Unauthorized",
    );
    expect(
        &post("/v1/tenants/acme/reset", None, ""),
        401,
        "Unauthorized",
    );

    // Every signal validation error is that signal's result (200), in order.
    let now = now_ms();
    let signals = format!(
        r#"[{{"tenant":"a b","metric":"cpu","value":95,"ts_ms":{now}}},
            {{"tenant":"acme","metric":"gpu","value":95,"ts_ms":{now}}},
            {{"tenant":"acme","metric":"cpu","value":100.5,"ts_ms":{now}}},
            {{"tenant":"acme","metric":"cpu","value":95,"ts_ms":{}}},
            {{"tenant":"ghost","metric":"cpu","value":95,"ts_ms":{now}}},
            {{"tenant":"p","metric":"cpu","value":95,"ts_ms":{now}}},
            {{"tenant":"old","metric":"cpu","value":95,"ts_ms":{now}}}]"#,
        now + 7_200_000
    );
    let r = s.post("/v1/signals", &signals);
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<Value> = r
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["error"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "InvalidTenantId",
            "InvalidMetricName",
            "ValueOutOfBounds",
            "InvalidTimestamp",
            "TenantNotFound",
            "EntitlementNotActive",
            "EntitlementExpired"
        ]
    );

    // Lookups and entitlement commands.
    expect(&s.get("/v1/tenants/ghost"), 404, "TenantNotFound");
    expect(
        &s.post("/v1/tenants/acme/activate", r#"{"sku":"gold"}"#),
        400,
        "InvalidSku",
    );
    expect(
        &s.post("/v1/tenants/acme/activate", "{}"),
        400,
        "MalformedInput",
    );
    expect(
        &s.post("/v1/tenants/bad%20id/activate", r#"{"sku":"pro"}"#),
        400,
        "InvalidTenantId",
    );
    expect(
        &s.post("/v1/tenants/acme/resume", ""),
        409,
        "InvalidStateTransition",
    );
    expect(
        &s.post("/v1/tenants/ghost/pause", ""),
        404,
        "TenantNotFound",
    );
    expect(
        &s.post("/v1/tenants/ghost/reset", ""),
        404,
        "TenantNotFound",
    );

    // Actions and rollbacks.
    expect(
        &s.post(
            "/v1/tenants/acme/actions",
            r#"{"kind":"throttle","percent":101}"#,
        ),
        400,
        "InvalidAction",
    );
    expect(
        &s.post("/v1/tenants/acme/actions", r#"{"kind":"explode"}"#),
        400,
        "MalformedInput",
    );
    expect(
        &s.post(
            "/v1/tenants/slow/actions",
            r#"{"kind":"shed","percent":10}"#,
        ),
        409,
        "AlreadyExecuting",
    );
    expect(
        &s.post("/v1/tenants/ghost/actions", r#"{"kind":"pause"}"#),
        404,
        "TenantNotFound",
    );
    expect(
        &s.post("/v1/actions/999/rollback", ""),
        404,
        "ReceiptNotFound",
    );
    expect(
        &s.post("/v1/actions/abc/rollback", ""),
        400,
        "MalformedInput",
    );

    // Admission.
    expect(
        &s.post("/v1/tenants/acme/admit", r#"{"resource":"cpu","amount":9}"#),
        429,
        "QuotaExceeded",
    );
    // Its numbers are fields, and the message says the same in the same words.
    let quota = s
        .post("/v1/tenants/acme/admit", r#"{"resource":"cpu","amount":9}"#)
        .json();
    assert_eq!(quota["resource"], "cpu", "{quota}");
    assert_eq!(quota["requested"], 9, "{quota}");
    let (in_use, limit) = (
        quota["in_use"].as_u64().unwrap(),
        quota["limit"].as_u64().unwrap(),
    );
    assert!(in_use + 9 > limit, "{quota}");
    assert_eq!(
        quota["message"],
        format!("cpu: {in_use} in use + 9 requested exceeds the limit of {limit}"),
    );
    expect(
        &s.post("/v1/tenants/acme/admit", r#"{"resource":"gpu"}"#),
        400,
        "UnknownResource",
    );
    expect(
        &s.post("/v1/tenants/acme/admit", r#"{"resource":"cpu","amount":0}"#),
        400,
        "InvalidAmount",
    );
    expect(
        &s.post("/v1/tenants/ghost/admit", r#"{"resource":"cpu"}"#),
        404,
        "TenantNotFound",
    );
    expect(
        &s.post("/v1/tenants/p/admit", r#"{"resource":"cpu"}"#),
        403,
        "EntitlementNotActive",
    );
    expect(
        &s.post(
            "/v1/tenants/acme/release",
            r#"{"resource":"cpu","amount":1}"#,
        ),
        400,
        "ReleaseExceedsUsage",
    );

    // Queries and unknown endpoints.
    expect(&s.get("/v1/ledger?tail=abc"), 400, "MalformedInput");
    expect(&s.get("/v1/nope"), 404, "NotFound");

    assert_eq!(snapshot(&s), before, "no bad request may change state");
    assert_eq!(s.get("/readyz").status, 200);
}

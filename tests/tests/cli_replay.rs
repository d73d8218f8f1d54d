//! `autonomic replay` against exact expected output: the seed's demo, a trace covering every
//! row of the governor table, every error name replay can produce, duplicates and
//! malformed lines, admission lines (the `rate` bucket); determinism; stdin and file input.

mod cli_support;

use cli_support::run;

/// The seed's scenario as replay input, and its exact output.
const SEED: [(&str, &str); 7] = [
    (
        r#"{"type":"activate","tenant":"acme","sku":"pro"}"#,
        r#"{"line":1,"tenant":"acme","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":45.0,"ts_ms":1000}"#,
        r#"{"line":2,"tenant":"acme","from":"Stable","to":"Stable","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":78.0,"ts_ms":6000}"#,
        r#"{"line":3,"tenant":"acme","from":"Stable","to":"Warn","consecutive_high":1,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":78.0,"ts_ms":11000}"#,
        r#"{"line":4,"tenant":"acme","from":"Warn","to":"Warn","consecutive_high":2,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":92.0,"ts_ms":16000}"#,
        r#"{"line":5,"tenant":"acme","from":"Warn","to":"Intervene","consecutive_high":0,"action":{"kind":"throttle","percent":50}}"#,
    ),
    (
        r#"{"type":"action_succeeded","tenant":"acme","now_ms":16100}"#,
        r#"{"line":6,"tenant":"acme","from":"Intervene","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"acme","metric":"cpu","value":55.0,"ts_ms":21000}"#,
        r#"{"line":7,"tenant":"acme","from":"Warn","to":"Stable","consecutive_high":0,"action":null}"#,
    ),
];

/// Every table row (line numbers in brackets): Stable v<75 [2], 75<=v<90 [3], v>=90 [7];
/// Warn c+1<3 [4, 13, 14], 70<=v<75 [5, 25], v<70 [6], v>=90 [11], c+1>=3 [15];
/// Intervene v>=75 [8], v<75 [9], ActionSucceeded [12], ActionFailed [18];
/// Degrade 70<=v<=95 [16], v<70 [17], v>95 [19]; Refuse any signal [20];
/// outcome outside Intervene [10, 21]; Reset [22]. Rounding half up and a duplicate
/// [23-25]; every validation, entitlement and lookup error [26-46]; MalformedInput for a
/// missing field, non-JSON, an unknown type and a wrongly typed field [47-50].
const TRACE: [(&str, &str); 50] = [
    (
        r#"{"type":"activate","tenant":"t","sku":"pro"}"#,
        r#"{"line":1,"tenant":"t","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":50,"ts_ms":5000}"#,
        r#"{"line":2,"tenant":"t","from":"Stable","to":"Stable","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":80,"ts_ms":10000}"#,
        r#"{"line":3,"tenant":"t","from":"Stable","to":"Warn","consecutive_high":1,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"memory","value":80,"ts_ms":15000}"#,
        r#"{"line":4,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":2,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":72,"ts_ms":20000}"#,
        r#"{"line":5,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":60,"ts_ms":25000}"#,
        r#"{"line":6,"tenant":"t","from":"Warn","to":"Stable","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":95,"ts_ms":30000}"#,
        r#"{"line":7,"tenant":"t","from":"Stable","to":"Intervene","consecutive_high":0,"action":{"kind":"throttle","percent":50}}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":80,"ts_ms":35000}"#,
        r#"{"line":8,"tenant":"t","from":"Intervene","to":"Intervene","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":74,"ts_ms":40000}"#,
        r#"{"line":9,"tenant":"t","from":"Intervene","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"action_succeeded","tenant":"t"}"#,
        r#"{"line":10,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":91,"ts_ms":45000}"#,
        r#"{"line":11,"tenant":"t","from":"Warn","to":"Intervene","consecutive_high":0,"action":{"kind":"throttle","percent":50}}"#,
    ),
    (
        r#"{"type":"action_succeeded","tenant":"t"}"#,
        r#"{"line":12,"tenant":"t","from":"Intervene","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":76,"ts_ms":50000}"#,
        r#"{"line":13,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":1,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":77,"ts_ms":55000}"#,
        r#"{"line":14,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":2,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":78,"ts_ms":60000}"#,
        r#"{"line":15,"tenant":"t","from":"Warn","to":"Degrade","consecutive_high":0,"action":{"kind":"throttle","percent":25}}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":80,"ts_ms":65000}"#,
        r#"{"line":16,"tenant":"t","from":"Degrade","to":"Degrade","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":65,"ts_ms":70000}"#,
        r#"{"line":17,"tenant":"t","from":"Degrade","to":"Intervene","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"action_failed","tenant":"t"}"#,
        r#"{"line":18,"tenant":"t","from":"Intervene","to":"Degrade","consecutive_high":0,"action":{"kind":"pause"}}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":96,"ts_ms":75000}"#,
        r#"{"line":19,"tenant":"t","from":"Degrade","to":"Refuse","consecutive_high":0,"action":{"kind":"shed","percent":50}}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":10,"ts_ms":80000}"#,
        r#"{"line":20,"tenant":"t","from":"Refuse","to":"Refuse","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"action_failed","tenant":"t"}"#,
        r#"{"line":21,"tenant":"t","from":"Refuse","to":"Refuse","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"reset","tenant":"t"}"#,
        r#"{"line":22,"tenant":"t","from":"Refuse","to":"Stable","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":74.5,"ts_ms":85000}"#,
        r#"{"line":23,"tenant":"t","from":"Stable","to":"Warn","consecutive_high":1,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":74.5,"ts_ms":86000}"#,
        r#"{"line":24,"tenant":"t","duplicate":true}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":74.49,"ts_ms":87000}"#,
        r#"{"line":25,"tenant":"t","from":"Warn","to":"Warn","consecutive_high":0,"action":null}"#,
    ),
    (
        r#"{"type":"signal","tenant":"","metric":"cpu","value":50,"ts_ms":88000}"#,
        r#"{"line":26,"error":"InvalidTenantId","message":"tenant id must be 1..=256 visible-ASCII bytes"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"gpu","value":50,"ts_ms":88000}"#,
        r#"{"line":27,"error":"InvalidMetricName","message":"metric must be one of cpu memory latency error_rate disk network connections (at most 128 bytes)"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":100.5,"ts_ms":88000}"#,
        r#"{"line":28,"error":"ValueOutOfBounds","message":"value must be a finite number within 0.0..=100.0"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":50,"ts_ms":3690001,"now_ms":90000}"#,
        r#"{"line":29,"error":"InvalidTimestamp","message":"ts_ms is more than 3600000 ms after or more than 60000 ms before the receiver's clock"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"ghost","metric":"cpu","value":50,"ts_ms":90000}"#,
        r#"{"line":30,"error":"TenantNotFound","message":"no entitlement for this tenant"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"u","sku":"starter","expires_at_ms":95000}"#,
        r#"{"line":31,"tenant":"u","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"u","metric":"cpu","value":50,"ts_ms":100000}"#,
        r#"{"line":32,"error":"EntitlementExpired","message":"the entitlement has expired"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"u","sku":"pro"}"#,
        r#"{"line":33,"tenant":"u","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"v","sku":"enterprise"}"#,
        r#"{"line":34,"tenant":"v","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"pause","tenant":"v"}"#,
        r#"{"line":35,"tenant":"v","entitlement":"Paused"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"v","metric":"cpu","value":50,"ts_ms":100000}"#,
        r#"{"line":36,"error":"EntitlementNotActive","message":"the entitlement is not active"}"#,
    ),
    (
        r#"{"type":"pause","tenant":"v"}"#,
        r#"{"line":37,"error":"InvalidStateTransition","message":"Pause is not allowed from Paused"}"#,
    ),
    (
        r#"{"type":"resume","tenant":"v"}"#,
        r#"{"line":38,"tenant":"v","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"revoke","tenant":"v"}"#,
        r#"{"line":39,"tenant":"v","entitlement":"Terminated"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"v","sku":"pro"}"#,
        r#"{"line":40,"error":"InvalidStateTransition","message":"Activate is not allowed from Terminated"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"v","metric":"cpu","value":50,"ts_ms":100000}"#,
        r#"{"line":41,"error":"EntitlementNotActive","message":"the entitlement is not active"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"w","sku":"gold"}"#,
        r#"{"line":42,"error":"InvalidSku","message":"sku must be starter, pro or enterprise"}"#,
    ),
    (
        r#"{"type":"activate","tenant":"bad tenant","sku":"pro"}"#,
        r#"{"line":43,"error":"InvalidTenantId","message":"tenant id must be 1..=256 visible-ASCII bytes"}"#,
    ),
    (
        r#"{"type":"reset","tenant":"ghost"}"#,
        r#"{"line":44,"error":"TenantNotFound","message":"no entitlement for this tenant"}"#,
    ),
    (
        r#"{"type":"action_succeeded","tenant":"ghost"}"#,
        r#"{"line":45,"error":"TenantNotFound","message":"no entitlement for this tenant"}"#,
    ),
    (
        r#"{"type":"pause","tenant":"ghost"}"#,
        r#"{"line":46,"error":"TenantNotFound","message":"no entitlement for this tenant"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t"}"#,
        r#"{"line":47,"error":"MalformedInput","message":"missing field `metric`"}"#,
    ),
    (
        r#"not json"#,
        r#"{"line":48,"error":"MalformedInput","message":"expected ident at line 1 column 2"}"#,
    ),
    (
        r#"{"type":"explode","tenant":"t"}"#,
        r#"{"line":49,"error":"MalformedInput","message":"unknown variant `explode`, expected one of `activate`, `pause`, `resume`, `revoke`, `signal`, `action_succeeded`, `action_failed`, `reset` at line 1 column 17"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"t","metric":"cpu","value":"high","ts_ms":1}"#,
        r#"{"line":50,"error":"MalformedInput","message":"invalid type: string \"high\", expected f64"}"#,
    ),
];

fn input_of(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(i, _)| format!("{i}\n")).collect()
}

fn check(pairs: &[(&str, &str)], stdout: &[u8]) {
    let out = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        pairs.len(),
        "one output line per input line:\n{out}"
    );
    for (n, ((input, want), got)) in pairs.iter().zip(&lines).enumerate() {
        assert_eq!(got, want, "line {} (input {input})", n + 1);
    }
}

/// Replays the inputs of `pairs` from stdin and checks every output line.
fn replay_stdin(pairs: &[(&str, &str)]) {
    let out = run(&["replay"], Some(input_of(pairs).as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(pairs, &out.stdout);
}

#[test]
fn replay_reproduces_the_seed_demo() {
    // Proves the seed's scenario replays to exactly the expected lines, from stdin.
    replay_stdin(&SEED);
}

#[test]
fn replay_covers_every_table_row_and_error() {
    // Proves every governor table row, every replayable error name and duplicates come out
    // exactly as expected, line by line, and replay goes on past bad lines (file input).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trace.jsonl");
    std::fs::write(&path, input_of(&TRACE)).expect("write trace");
    let out = run(&["replay", path.to_str().expect("utf-8 path")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&TRACE, &out.stdout);
}

#[test]
fn replay_is_byte_for_byte_deterministic() {
    // Proves identical input gives identical output, whether from a file, `-` or stdin.
    let input = input_of(&TRACE);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trace.jsonl");
    std::fs::write(&path, &input).expect("write trace");
    let from_file = run(&["replay", path.to_str().expect("utf-8 path")], None);
    let from_dash = run(&["replay", "-"], Some(input.as_bytes()));
    let from_stdin = run(&["replay"], Some(input.as_bytes()));
    assert!(from_file.status.success());
    assert_eq!(from_file.stdout, from_dash.stdout);
    assert_eq!(from_file.stdout, from_stdin.stdout);
}

#[test]
fn replay_answers_blank_and_oversized_lines_and_a_missing_final_newline() {
    // Proves a blank line and an over-long line each get one MalformedInput line, and a last
    // line without a newline is still answered.
    let long = format!(
        r#"{{"type":"reset","tenant":"{}"}}"#,
        "a".repeat(1024 * 1024 + 10)
    );
    let input = format!("\n{long}\n{}", SEED[0].0);
    let out = run(&["replay"], Some(input.as_bytes()));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(r#"{"line":1,"error":"MalformedInput""#),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        r#"{"line":2,"error":"MalformedInput","message":"line longer than 1048576 bytes"}"#
    );
    assert_eq!(
        lines[2],
        r#"{"line":3,"tenant":"acme","entitlement":"Active"}"#
    );
}

#[test]
fn replay_of_a_missing_file_is_a_usage_error() {
    // Proves an unreadable input exits 2 with one line on stderr.
    let out = run(&["replay", "/nonexistent/trace.jsonl"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/trace.jsonl"), "{stderr}");
}

/// Admission lines ([1-18]): a starter tenant's `rate` bucket (10/s, burst 20) emptied at
/// once [2], refused until its refill [3], refilled by `now_ms` [4]; a clock going back
/// refills nothing [5]; more than the burst [6]; a release of rate [7]; the quota resources
/// answer `in_use` [8, 9]; an unknown resource, tenant and a missing field [10-12]. Then a
/// signal dispatches Throttle(50) [13]: the refill since the last admission runs at the rate
/// in force (3 900 ms at 5/s: 19.5 tokens) [14-16]; a paused tenant is refused [17, 18].
const RATE_TRACE: [(&str, &str); 18] = [
    (
        r#"{"type":"activate","tenant":"s","sku":"starter","now_ms":1000}"#,
        r#"{"line":1,"tenant":"s","entitlement":"Active"}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":20}"#,
        r#"{"line":2,"tenant":"s","resource":"rate","tokens_left":0}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate"}"#,
        r#"{"line":3,"error":"RateLimited","message":"rate: 1 requested, not in the bucket yet; retry in 100 ms","retry_after_ms":100}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":1,"now_ms":1100}"#,
        r#"{"line":4,"tenant":"s","resource":"rate","tokens_left":0}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":1,"now_ms":900}"#,
        r#"{"line":5,"error":"RateLimited","message":"rate: 1 requested, not in the bucket yet; retry in 100 ms","retry_after_ms":100}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":21}"#,
        r#"{"line":6,"error":"ExceedsBurst","message":"rate: 21 requested, more than the burst of 20"}"#,
    ),
    (
        r#"{"type":"release","tenant":"s","resource":"rate","amount":1}"#,
        r#"{"line":7,"error":"NothingToRelease","message":"rate: tokens are not released; the bucket refills with time"}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"cpu","amount":2}"#,
        r#"{"line":8,"tenant":"s","resource":"cpu","in_use":2}"#,
    ),
    (
        r#"{"type":"release","tenant":"s","resource":"cpu","amount":1}"#,
        r#"{"line":9,"tenant":"s","resource":"cpu","in_use":1}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"gpu"}"#,
        r#"{"line":10,"error":"UnknownResource","message":"resource must be cpu, memory, requests, storage or rate"}"#,
    ),
    (
        r#"{"type":"admit","tenant":"ghost","resource":"rate"}"#,
        r#"{"line":11,"error":"TenantNotFound","message":"no entitlement for this tenant"}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","amount":1}"#,
        r#"{"line":12,"error":"MalformedInput","message":"missing field `resource`"}"#,
    ),
    (
        r#"{"type":"signal","tenant":"s","metric":"cpu","value":92,"ts_ms":5000}"#,
        r#"{"line":13,"tenant":"s","from":"Stable","to":"Intervene","consecutive_high":0,"action":{"kind":"throttle","percent":50}}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":20}"#,
        r#"{"line":14,"error":"RateLimited","message":"rate: 20 requested, not in the bucket yet; retry in 100 ms","retry_after_ms":100}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":1}"#,
        r#"{"line":15,"tenant":"s","resource":"rate","tokens_left":18}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":1,"now_ms":5200}"#,
        r#"{"line":16,"tenant":"s","resource":"rate","tokens_left":18}"#,
    ),
    (
        r#"{"type":"pause","tenant":"s","now_ms":5300}"#,
        r#"{"line":17,"tenant":"s","entitlement":"Paused"}"#,
    ),
    (
        r#"{"type":"admit","tenant":"s","resource":"rate","amount":1}"#,
        r#"{"line":18,"error":"EntitlementNotActive","message":"the entitlement is not active"}"#,
    ),
];

#[test]
fn replay_answers_admission_lines_with_the_rate_bucket() {
    // Proves admit and release lines (rate and quota resources, with and without now_ms)
    // replay to exactly the expected lines, RateLimited carrying retry_after_ms.
    replay_stdin(&RATE_TRACE);
}

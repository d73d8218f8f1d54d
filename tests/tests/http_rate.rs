//! Through the real binary on 127.0.0.1: the `rate` resource
//! (`docs/entitlements.md#rate-limits`) — a starter tenant's bucket emptied, refused with 429
//! `RateLimited` and `Retry-After` (counted in `autonomic_admissions_total`), admitted again
//! after the stated refill; a `[skus.starter]` override; a bad `[skus]` section refused at
//! start.

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::{Response, Sidecar, config};

fn starter(id: &str) -> String {
    format!("[[tenants]]\nid = \"{id}\"\nsku = \"starter\"\n")
}

fn admit_rate(s: &Sidecar, tenant: &str) -> Response {
    s.post(
        &format!("/v1/tenants/{tenant}/admit"),
        r#"{"resource":"rate","amount":1}"#,
    )
}

/// Admits until refused (at most `max` times); the answers.
fn admit_until_refused(s: &Sidecar, tenant: &str, max: usize) -> Vec<Response> {
    let mut answers = Vec::new();
    while answers.len() < max {
        let r = admit_rate(s, tenant);
        let refused = r.status != 200;
        answers.push(r);
        if refused {
            break;
        }
    }
    answers
}

/// Checks a 429 `RateLimited`: its body, and `Retry-After` as whole seconds rounded up.
fn assert_rate_limited(r: &Response, most_ms: u64) -> u64 {
    assert_eq!(r.status, 429, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "RateLimited", "{body}");
    let retry_after_ms = body["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(
        (1..=most_ms).contains(&retry_after_ms),
        "{retry_after_ms} ms"
    );
    let header: u64 = r
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert_eq!(header, retry_after_ms.div_ceil(1000).max(1), "{body}");
    retry_after_ms
}

#[test]
fn a_starter_tenant_gets_its_burst_then_429_then_the_refill() {
    // Proves the default starter bucket (10/s, burst 20): 20 admissions in a row succeed,
    // the next ones are refused with 429 RateLimited and Retry-After once the bucket is empty
    // (allowing for tokens refilled while the requests ran), and after the stated refill time
    // an admission succeeds again. A release of rate is refused and changes nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(&dir.path().join("s"), &config(&starter("acme")));
    let started = Instant::now();
    let answers = admit_until_refused(&s, "acme", 1000);
    for (i, r) in answers.iter().take(20).enumerate() {
        assert_eq!(r.status, 200, "admission {}: {}", i + 1, r.body);
        assert_eq!(r.json()["resource"], "rate", "{}", r.body);
        assert!(r.json()["tokens_left"].as_u64().is_some(), "{}", r.body);
    }
    let refilled = started.elapsed().as_millis() as usize * 10 / 1000 + 1;
    assert!(
        answers.len() > 20 && answers.len() <= 21 + refilled,
        "{} answers in {:?}",
        answers.len(),
        started.elapsed()
    );
    let refused = answers.last().expect("a refusal");
    let retry_after_ms = assert_rate_limited(refused, 100);
    let metrics = s.get("/metrics").body;
    let counted = |result: &str| {
        let prefix = format!("autonomic_admissions_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|n| n.parse::<usize>().expect("a count"))
    };
    assert_eq!(counted("rate_limited"), Some(1), "{metrics}");
    assert_eq!(counted("admitted"), Some(answers.len() - 1), "{metrics}");

    let release = s.post(
        "/v1/tenants/acme/release",
        r#"{"resource":"rate","amount":1}"#,
    );
    assert_eq!(release.status, 400, "{}", release.body);
    assert_eq!(release.json()["error"], "NothingToRelease");

    std::thread::sleep(Duration::from_millis(retry_after_ms + 50));
    let again = admit_rate(&s, "acme");
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        s.tenant("acme")["usage"],
        serde_json::json!({"cpu":0,"memory":0,"requests":0,"storage":0}),
        "rate is not usage"
    );
}

#[test]
fn a_skus_section_overrides_the_burst_and_the_rate() {
    // Proves `[skus.starter] rate_per_s = 1, rate_burst = 3`: three admissions, then 429
    // with a refill time of at most one second and `Retry-After: 1`; other SKUs keep theirs.
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "{}[[tenants]]\nid = \"big\"\nsku = \"pro\"\n[skus.starter]\nrate_per_s = 1\nrate_burst = 3\n",
        starter("small")
    );
    let s = Sidecar::start(&dir.path().join("s"), &config(&toml));
    let answers = admit_until_refused(&s, "small", 10);
    let lefts: Vec<_> = answers
        .iter()
        .take(3)
        .map(|r| r.json()["tokens_left"].clone())
        .collect();
    assert_eq!(lefts, [2, 1, 0], "a fresh bucket of 3 at 1/s");
    assert_eq!(answers.len(), 4, "the fourth is refused");
    let last = answers.last().expect("a refusal");
    assert_rate_limited(last, 1000);
    assert_eq!(last.header("Retry-After"), Some("1"));
    let pro = admit_until_refused(&s, "big", 5);
    assert!(
        pro.iter().all(|r| r.status == 200),
        "pro keeps its burst of 200"
    );
}

#[test]
fn a_bad_skus_section_stops_the_start_with_one_line() {
    // Proves an unknown SKU section and a bound out of range each stop the start with one
    // line on stderr naming the key.
    let dir = tempfile::tempdir().expect("tempdir");
    for (toml, key) in [
        ("[skus.gold]\nrate_per_s = 5\n", "skus.gold"),
        (
            "[skus.pro]\nrate_burst = 0\n",
            "skus.pro.rate_burst: must be within 1..=65535, got 0",
        ),
        (
            "[skus.enterprise]\nrate_per_s = 1000001\n",
            "skus.enterprise.rate_per_s: must be within 1..=1000000, got 1000001",
        ),
    ] {
        let home = dir.path().join(key.replace(['.', ':', ' ', '='], "_"));
        let refusal = match Sidecar::try_start(&home, &config(toml)) {
            Ok(_) => panic!("started with {toml:?}"),
            Err(refusal) => refusal,
        };
        // "exited with exit status: 2: <stderr>"
        let (status, stderr) = refusal.split_once(": error: ").expect("an error line");
        assert!(status.ends_with("exit status: 2"), "{refusal}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{refusal}");
        assert!(stderr.starts_with("config "), "{refusal}");
        assert!(stderr.contains(key), "{refusal}");
    }
}

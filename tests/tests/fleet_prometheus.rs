//! A fleet under a real Prometheus: two sidecars, a `prometheus` scraping both every second
//! with the rules of `deploy/prometheus/` loaded, and PromQL through its HTTP API answering
//! what the test made the sidecars do. Every panel of the Grafana dashboard
//! (`deploy/grafana/autonomic.json`) is run against the same Prometheus.

mod cli_support;
mod deploy_support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cli_support::{Sidecar, config, http, now_ms, wait_until};
use deploy_support::{FLEET_ONLY, dashboard_exprs, program_or_skip, repo_root};
use serde_json::Value;

/// Longest wait for Prometheus to start, or to see a value the sidecars show.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(60);
/// What the dashboard's `$__rate_interval` stands for here (Grafana computes it from the
/// scrape interval, 1 s here, and the panel's width).
const RATE_INTERVAL: &str = "1m";

/// The panels that may answer nothing here, with why: they read metrics a sidecar exports only
/// with `[fleet]` (`FLEET_ONLY`), and these sidecars have none. Every other panel must show data.
const ALLOWED_EMPTY: [(&str, &str); 3] = [
    (
        "Redis up (fleet quotas)",
        "autonomic_fleet_redis_up: only with [fleet]",
    ),
    (
        "Fleet-quota admissions by result",
        "autonomic_fleet_admissions_total: only with [fleet]",
    ),
    (
        "Admissions while Redis was unavailable",
        "autonomic_fleet_unavailable_total: only with [fleet]",
    ),
];

/// The fleet's tenants by governor state at the end (every state is exposed, 0 included).
const TENANTS_BY_STATE: [(&str, f64); 5] = [
    ("stable", 0.0),
    ("warn", 2.0),
    ("intervene", 0.0),
    ("degrade", 0.0),
    ("refuse", 1.0),
];

/// A `prometheus` child, killed (and reaped) when dropped.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `binary` on a free 127.0.0.1 port, scraping `targets` (address, pod) every
    /// second with the deploy rules evaluated every second, and waits until it is ready.
    fn start(binary: &Path, dir: &Path, targets: &[(&str, &str)]) -> Prometheus {
        let mut rule_files = Vec::new();
        for name in ["recording.rules.yml", "alerting.rules.yml"] {
            let rules = std::fs::read_to_string(repo_root().join("deploy/prometheus").join(name))
                .expect("rules");
            // The recording group runs every 30 s; here every second, like the scrapes.
            let fast = rules.replace("    interval: 30s\n", "    interval: 1s\n");
            assert_eq!(name == "recording.rules.yml", fast != rules, "{name}");
            let copy = dir.join(name);
            std::fs::write(&copy, fast).expect("rules copy");
            rule_files.push(format!("  - {}\n", copy.display()));
        }
        let mut scrape = String::new();
        for (target, pod) in targets {
            scrape.push_str(&format!(
                "      - targets: ['{target}']\n        labels: {{namespace: test, pod: {pod}}}\n"
            ));
        }
        let yml = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\
             scrape_configs:\n  - job_name: autonomic\n    static_configs:\n{scrape}",
            rule_files.concat()
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, yml).expect("prometheus.yml");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let prometheus = Prometheus { child, addr };
        let ready = wait_until(PROMETHEUS_WAIT, || {
            http(&prometheus.addr, "GET", "/-/ready", &[], b"").is_ok_and(|r| r.status == 200)
        });
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        assert!(ready, "prometheus did not get ready:\n{log}");
        prometheus
    }

    /// `GET /api/v1/<endpoint>` with `query` (URL-encoded here), asserting a 200 and status
    /// `success`; returns `data`.
    fn api(&self, endpoint: &str, query: &str) -> Value {
        let path = format!("/api/v1/{endpoint}?query={}", url_encoded(query));
        let response = http(&self.addr, "GET", &path, &[], b"").expect("GET prometheus");
        assert_eq!(response.status, 200, "{query}: {}", response.body);
        let body = response.json();
        assert_eq!(body["status"], "success", "{query}: {body}");
        body["data"].clone()
    }

    /// The instant vector of `query`: each sample's labels (without `__name__`) and value.
    fn vector(&self, query: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self.api("query", query);
        assert_eq!(data["resultType"], "vector", "{query}: {data}");
        let samples = data["result"].as_array().expect("result").iter();
        samples
            .map(|sample| {
                let labels = sample["metric"].as_object().expect("metric").iter();
                let labels = labels
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                let value = sample["value"][1].as_str().expect("value");
                (labels, value.parse().expect("a number"))
            })
            .collect()
    }

    /// `query` as a map from the value of `label` to the sample's value.
    fn by(&self, label: &str, query: &str) -> BTreeMap<String, f64> {
        let samples = self.vector(query).into_iter();
        samples
            .map(|(labels, value)| (labels.get(label).cloned().unwrap_or_default(), value))
            .collect()
    }

    /// Polls `query` (every 20 ms, bounded) until its map by `label` is `expected`.
    fn wait_for(&self, label: &str, query: &str, expected: &[(&str, f64)]) {
        let expected: BTreeMap<String, f64> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        let mut seen = BTreeMap::new();
        let matched = wait_until(PROMETHEUS_WAIT, || {
            seen = self.by(label, query);
            seen == expected
        });
        assert!(matched, "{query}: expected {expected:?}, last saw {seen:?}");
    }
}

/// `text` with everything but unreserved characters percent-encoded.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends `value` as a cpu signal of `tenant` and returns the state the governor entered.
fn signal(sidecar: &Sidecar, tenant: &str, value: f64) -> String {
    let result = sidecar.signal(tenant, value, now_ms());
    result["to"].as_str().expect("to").to_owned()
}

/// Waits (bounded) until `tenant` is in `state` with no action in flight.
fn settle(sidecar: &Sidecar, tenant: &str, state: &str) {
    let mut seen = Value::Null;
    let settled = wait_until(Duration::from_secs(30), || {
        seen = sidecar.tenant(tenant);
        seen["state"] == state && seen["action_in_flight"].is_null()
    });
    assert!(settled, "{tenant} did not settle in {state}: {seen}");
}

/// The seq of the newest receipt of `sidecar`'s ledger.
fn head_seq(sidecar: &Sidecar) -> f64 {
    let ledger = sidecar.ledger();
    let last = ledger.last().expect("a receipt");
    last["seq"].as_f64().expect("seq")
}

#[test]
fn prometheus_answers_for_the_fleet_and_every_dashboard_panel_has_data() {
    // Proves what an operator sees: Prometheus scrapes both sidecars, the fleet's counts
    // summed over them are the transitions, tenants, actions and ledger heads the test made,
    // rates rise for what changed, the recording rules record, no alert fires, and every
    // panel of the dashboard answers.
    let Some(binary) = program_or_skip(
        "prometheus",
        "fleet_prometheus.rs",
        "apt-get install -y prometheus",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Sidecar::start(
        &dir.path().join("a"),
        &config("[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n"),
    );
    // Pod b's throttles fail (the program exits 1): a failed throttle escalates to Pause.
    let b_config = "[[tenants]]\nid = \"beta\"\nsku = \"pro\"\n[[tenants]]\nid = \"gamma\"\nsku = \"pro\"\n\
                    [actuators.throttle]\nbackend = \"exec\"\nprogram = \"/bin/false\"\n";
    let b = Sidecar::start(&dir.path().join("b"), &config(b_config));
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("dir");
    let pods = [
        (a.addr.as_str(), "autonomic-0"),
        (b.addr.as_str(), "autonomic-1"),
    ];
    let prometheus = Prometheus::start(&binary, &prom_dir, &pods);

    // Phase 1: one tenant of each pod enters Warn; Prometheus sees both.
    assert_eq!(signal(&a, "acme", 78.0), "Warn");
    assert_eq!(signal(&b, "beta", 78.0), "Warn");
    prometheus.wait_for(
        "pod",
        "sum by (pod) (up)",
        &[("autonomic-0", 1.0), ("autonomic-1", 1.0)],
    );
    let warn = r#"sum by (pod) (autonomic_transitions_total{from="stable",to="warn"})"#;
    prometheus.wait_for("pod", warn, &[("autonomic-0", 1.0), ("autonomic-1", 1.0)]);

    // Phase 2: both go back to Stable and to Warn again (the stable -> warn counters go
    // 1 -> 2), acme's throttle succeeds, gamma's fails, escalating to Pause, then Shed.
    for (sidecar, tenant) in [(&a, "acme"), (&b, "beta")] {
        assert_eq!(signal(sidecar, tenant, 50.0), "Stable");
        assert_eq!(signal(sidecar, tenant, 79.0), "Warn");
    }
    assert_eq!(signal(&a, "acme", 93.0), "Intervene");
    settle(&a, "acme", "Warn");
    assert_eq!(signal(&b, "gamma", 93.0), "Intervene");
    settle(&b, "gamma", "Degrade");
    assert_eq!(signal(&b, "gamma", 97.0), "Refuse");
    settle(&b, "gamma", "Refuse");
    // Admissions on both pods, for the dashboard's admission panel: acme's is admitted; gamma
    // is under Shed(50), so of its two one is refused.
    for (sidecar, tenant) in [(&a, "acme"), (&b, "gamma"), (&b, "gamma")] {
        let body = r#"{"resource":"requests","amount":1}"#;
        let admit = sidecar.post(&format!("/v1/tenants/{tenant}/admit"), body);
        assert!(matches!(admit.status, 200 | 429), "{}", admit.body);
    }
    // Roll back acme's throttle (the receipt of its dispatch).
    let throttle = a
        .ledger()
        .into_iter()
        .find(|r| r["event"]["type"] == "action_dispatched");
    let receipt = throttle.expect("a dispatch")["seq"].as_u64().expect("seq");
    let rollback = a.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    assert!(wait_until(Duration::from_secs(30), || a
        .ledger()
        .iter()
        .any(|r| r["event"]["type"] == "rollback_completed")));

    // Exact counts, summed over the fleet.
    let transitions = "sum by (to) (autonomic_transitions_total)";
    let by_to = [
        ("warn", 5.0),
        ("stable", 2.0),
        ("intervene", 2.0),
        ("degrade", 1.0),
        ("refuse", 1.0),
    ];
    prometheus.wait_for("to", transitions, &by_to);
    let tenants = "sum by (state) (autonomic_tenants)";
    prometheus.wait_for("state", tenants, &TENANTS_BY_STATE);
    let actions = r#"sum by (outcome) (autonomic_actions_total{kind="throttle"})"#;
    prometheus.wait_for("outcome", actions, &[("succeeded", 1.0), ("failed", 1.0)]);
    let kinds = "sum by (kind) (autonomic_actions_total)";
    prometheus.wait_for(
        "kind",
        kinds,
        &[("throttle", 2.0), ("pause", 1.0), ("shed", 1.0)],
    );
    let rollbacks = "sum by (outcome) (autonomic_rollbacks_total)";
    prometheus.wait_for("outcome", rollbacks, &[("succeeded", 1.0)]);
    let heads = [("autonomic-0", head_seq(&a)), ("autonomic-1", head_seq(&b))];
    prometheus.wait_for("pod", "max by (pod) (autonomic_ledger_head_seq)", &heads);
    // The stable -> warn counters changed once each while scraped: exact; the rate of
    // entering Warn is above 0 (its value is extrapolated, so not exact).
    let changes = r#"sum(changes(autonomic_transitions_total{from="stable",to="warn"}[5m]))"#;
    prometheus.wait_for("", changes, &[("", 2.0)]);
    let rate = prometheus.by("to", "sum by (to) (rate(autonomic_transitions_total[5m]))");
    assert!(rate.get("warn").is_some_and(|r| *r > 0.0), "{rate:?}");
    // increase() extrapolates to the window's ends, never below what was counted in it.
    let stable_warn = r#"sum(increase(autonomic_transitions_total{from="stable",to="warn"}[5m]))"#;
    let increase = prometheus.by("", stable_warn);
    assert!(increase.get("").is_some_and(|n| *n >= 2.0), "{increase:?}");

    // The recording rules record the same fleet, and no alert fires.
    prometheus.wait_for("state", "autonomic:tenants:sum", &TENANTS_BY_STATE);
    let failures = "autonomic:action_failures:ratio_rate5m";
    let ratio = wait_until(PROMETHEUS_WAIT, || !prometheus.vector(failures).is_empty());
    assert!(ratio, "{failures} recorded nothing");
    let recorded = wait_until(PROMETHEUS_WAIT, || {
        let rate = prometheus.by("to", "autonomic:transitions:rate1m");
        rate.get("warn").is_some_and(|r| *r > 0.0)
    });
    assert!(recorded, "autonomic:transitions:rate1m");
    let fsync = "autonomic:ledger_fsync_duration_seconds:p99_5m";
    prometheus.wait_for(
        "pod",
        &format!("count by (pod) ({fsync})"),
        &[("autonomic-0", 1.0), ("autonomic-1", 1.0)],
    );
    // A rule's state changes only when it is evaluated (every few seconds): wait for the
    // first evaluation that has seen gamma in Refuse.
    let alert_state = |rules: &Value| {
        let groups = rules["groups"].as_array().into_iter().flatten();
        groups
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .find(|r| r["name"] == "AutonomicTenantsStuckInRefuse")
            .map(|r| r["state"].clone())
    };
    let pending = wait_until(PROMETHEUS_WAIT, || {
        alert_state(&prometheus.api("rules", "")) == Some(Value::from("pending"))
    });
    assert!(
        pending,
        "AutonomicTenantsStuckInRefuse never became pending"
    );
    let rules = prometheus.api("rules", "");
    let groups = rules["groups"].as_array().expect("groups");
    let all: Vec<&Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(all.len(), 10, "{rules}");
    // gamma in Refuse makes its pod's alert pending (it fires after 15 minutes); every other
    // alert but the fsync one stays inactive.
    for rule in &all {
        assert_ne!(rule["health"], "err", "{rule}");
        if rule["name"] == "AutonomicTenantsStuckInRefuse" {
            assert_eq!(rule["state"], "pending", "{rule}");
            let alerts = rule["alerts"].as_array().expect("alerts");
            assert_eq!(alerts.len(), 1, "{rule}");
            assert_eq!(alerts[0]["labels"]["pod"], "autonomic-1", "{rule}");
        } else if rule["name"] == "AutonomicLedgerFsyncSlow" {
            // This machine's disk decides: a loaded one syncs a commit in over 100 ms.
            let state = rule["state"].as_str().expect("state");
            assert!(["inactive", "pending"].contains(&state), "{rule}");
        } else if rule["type"] == "alerting" {
            assert_eq!(rule["state"], "inactive", "{rule}");
        }
    }

    dashboard_panels_answer(&prometheus);
}

/// Every panel's expressions run against the fleet: status success, and a sample, unless the
/// expression reads a metric the sidecars do not export yet.
fn dashboard_panels_answer(prometheus: &Prometheus) {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "{exprs:?}");
    let mut empty_allowed = Vec::new();
    for (title, expr) in &exprs {
        let query = expr.replace("$__rate_interval", RATE_INTERVAL);
        assert!(
            !query.contains('$'),
            "{title}: a variable this test does not know: {expr}"
        );
        if let Some((_, why)) = ALLOWED_EMPTY.iter().find(|(t, _)| t == title) {
            // It runs (status success) and may answer nothing: `why`.
            let _ = prometheus.vector(&query);
            let pending = FLEET_ONLY.iter().any(|(name, _)| expr.contains(name));
            assert!(
                pending,
                "{title} ({why}) reads only exported metrics: {expr}"
            );
            empty_allowed.push(title.as_str());
            continue;
        }
        let mut samples = Vec::new();
        let answered = wait_until(PROMETHEUS_WAIT, || {
            samples = prometheus.vector(&query);
            !samples.is_empty()
        });
        assert!(answered, "panel {title:?}: no data for {query}");
    }
    empty_allowed.sort_unstable();
    let mut listed: Vec<&str> = ALLOWED_EMPTY.iter().map(|(t, _)| *t).collect();
    listed.sort_unstable();
    assert_eq!(empty_allowed, listed);
}

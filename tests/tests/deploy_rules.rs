//! The Prometheus rules of `deploy/prometheus/` pass `promtool check rules` and their unit
//! tests (`promtool test rules deploy/prometheus/tests/*.yml`), and the rules and the Grafana
//! dashboard name only metrics the sidecar documents (or that are being added).

mod cli_support;
mod deploy_support;

use std::path::PathBuf;
use std::process::Command;

use deploy_support::{
    dashboard_exprs, deploy_files, known_metrics, metric_names, output, program_or_skip, repo_root,
    text,
};

/// How to get promtool (CI's `.ci/run` does this).
const INSTALL: &str = "apt-get install -y prometheus";

/// The rule files, in the order Prometheus loads them.
fn rule_files() -> Vec<PathBuf> {
    let dir = repo_root().join("deploy/prometheus");
    vec![
        dir.join("recording.rules.yml"),
        dir.join("alerting.rules.yml"),
    ]
}

/// The unit test files of the rules.
fn rule_tests() -> Vec<PathBuf> {
    deploy_files("prometheus/tests", "yml")
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    // Proves the rules load in Prometheus, and every recording rule computes, and every alert
    // fires (and stays quiet), as its unit test says.
    let Some(promtool) = program_or_skip("promtool", "deploy_rules.rs", INSTALL) else {
        return;
    };
    let check = output(
        Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .args(rule_files()),
    );
    let said = text(&check);
    assert!(check.status.success(), "promtool check rules:\n{said}");
    assert!(said.contains("SUCCESS: 4 rules found"), "{said}");
    assert!(said.contains("SUCCESS: 6 rules found"), "{said}");

    let tests = rule_tests();
    assert_eq!(tests.len(), 2, "{tests:?}");
    let run = output(
        Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .args(&tests),
    );
    let said = text(&run);
    assert!(run.status.success(), "promtool test rules:\n{said}");
    assert_eq!(said.matches("SUCCESS").count(), tests.len(), "{said}");
}

#[test]
fn promtool_refuses_a_broken_rule_and_a_wrong_expectation() {
    // Proves the check above can fail: a rule that does not parse, and a unit test expecting
    // a value the rule does not compute, are refused.
    let Some(promtool) = program_or_skip("promtool", "deploy_rules.rs", INSTALL) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.rules.yml");
    let rule = "groups:\n  - name: g\n    rules:\n      - record: x:y:z\n        expr: sum by (to (autonomic_transitions_total)\n";
    std::fs::write(&broken, rule).expect("write");
    let check = output(
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&broken),
    );
    assert!(!check.status.success(), "{}", text(&check));

    let recording_test = repo_root().join("deploy/prometheus/tests/recording_test.yml");
    let recording = std::fs::read_to_string(recording_test).expect("recording test");
    let wrong = recording
        .replace(
            "../recording.rules.yml",
            &rule_files()[0].display().to_string(),
        )
        .replace("value: 0.5\n", "value: 0.25\n");
    assert_ne!(wrong, recording);
    let wrong_test = dir.path().join("wrong_test.yml");
    std::fs::write(&wrong_test, wrong).expect("write");
    let run = output(
        Command::new(&promtool)
            .args(["test", "rules"])
            .arg(&wrong_test),
    );
    let said = text(&run);
    assert!(!run.status.success(), "{said}");
    assert!(
        said.contains("autonomic:action_failures:ratio_rate5m"),
        "{said}"
    );
}

#[test]
fn rules_and_dashboard_name_only_known_metrics() {
    // Proves a misspelt metric in a rule or a panel is caught: every `autonomic_` name they
    // use is in the sidecar's table of metrics (metrics.rs) or in the list of metrics being
    // added.
    let known = known_metrics();
    let mut used = Vec::new();
    for file in rule_files() {
        let rules = std::fs::read_to_string(&file).expect("rules");
        for name in metric_names(&rules) {
            used.push((file.display().to_string(), name));
        }
    }
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "{exprs:?}");
    for (title, expr) in &exprs {
        for name in metric_names(expr) {
            used.push((format!("panel {title:?}"), name));
        }
    }
    let unknown: Vec<_> = used.iter().filter(|(_, n)| !known.contains(n)).collect();
    assert!(unknown.is_empty(), "unknown metrics: {unknown:?}");
    for name in ["autonomic_transitions_total", "autonomic_ledger_head_seq"] {
        assert!(used.iter().any(|(_, n)| n == name), "{name} unused");
    }
    assert!(
        metric_names("rate(autonomic_transitionz_total[1m])")
            .iter()
            .all(|n| !known.contains(n))
    );
}

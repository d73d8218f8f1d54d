//! The `/metrics` exposition: it parses as Prometheus text (format 0.0.4) and carries every
//! name it carried when it was written by hand.

use std::collections::BTreeMap;
use std::time::Duration;

use autonomic_core::engine::Mode;
use autonomic_tokio::metrics::{EngineGauges, Metrics};

/// Every metric family `/metrics` exposes, with its type.
const FAMILIES: [(&str, &str); 23] = [
    ("autonomic_signals_total", "counter"),
    ("autonomic_transitions_total", "counter"),
    ("autonomic_tenants", "gauge"),
    ("autonomic_tenant_entitlements", "gauge"),
    ("autonomic_actions_total", "counter"),
    ("autonomic_actions_shadowed_total", "counter"),
    ("autonomic_rollbacks_total", "counter"),
    ("autonomic_actions_in_flight", "gauge"),
    ("autonomic_dedup_evictions_total", "counter"),
    ("autonomic_table_capacity", "gauge"),
    ("autonomic_table_used", "gauge"),
    ("autonomic_action_duration_seconds", "histogram"),
    ("autonomic_receipts_total", "counter"),
    ("autonomic_ledger_head_seq", "gauge"),
    ("autonomic_ledger_fsync_duration_seconds", "histogram"),
    ("autonomic_ledger_torn_tails_recovered_total", "counter"),
    ("autonomic_checkpoints_total", "counter"),
    ("autonomic_checkpoint_witness_posts_total", "counter"),
    ("autonomic_ledger_poisoned", "gauge"),
    ("autonomic_ready", "gauge"),
    ("autonomic_requests_rejected_total", "counter"),
    ("autonomic_actuator_circuit_open", "gauge"),
    ("autonomic_actuator_circuit_transitions_total", "counter"),
];

/// Metrics with every family touched once.
fn rendered() -> String {
    let m = Metrics::default();
    m.signal("governed");
    m.set_transitions("Stable", "Warn", Mode::Enforce, 1);
    m.set_actions("throttle", "Succeeded", Mode::Enforce, 1);
    m.set_actions_shadowed("shed", 1);
    m.rollback("throttle", true);
    m.action_duration("throttle", Duration::from_millis(20));
    m.fsync(Duration::from_micros(300));
    m.set_head_seq(Some(0));
    m.torn_tail_recovered();
    m.checkpoint(true);
    m.checkpoint_witness(false);
    m.rejected("queue_full");
    m.set_circuit_transitions("pause", "open", 1);
    let gauges = EngineGauges {
        tenants_by_state: BTreeMap::from([(("Warn", "shadow"), 1)]),
        entitlements_by_state: BTreeMap::from([("Active", 1)]),
        in_flight: 1,
        dedup_evictions: 3,
        tables: vec![("tenants", 1, 1024)],
    };
    m.render(Some(&gauges), true, false)
}

/// The family a sample line belongs to, given the declared families.
fn family_of<'a>(sample_name: &str, declared: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((name, _)) = declared.get_key_value(sample_name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = sample_name.strip_suffix(suffix)?;
        let (name, kind) = declared.get_key_value(base)?;
        (kind == "histogram").then_some(name.as_str())
    })
}

#[test]
fn every_family_parses_has_samples_and_keeps_its_name() {
    // Proves the exposition is well-formed line by line (HELP and TYPE before samples, each
    // sample `name{labels} number`), every TYPE has samples, and the names are the old ones.
    let text = rendered();
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut samples: BTreeMap<String, u32> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                declared.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value: {line}"));
        let name = series.split('{').next().expect("name");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let family = family_of(name, &declared).unwrap_or_else(|| panic!("undeclared: {line}"));
        *samples.entry(family.to_owned()).or_default() += 1;
    }
    let expected: BTreeMap<String, String> = FAMILIES
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
        .collect();
    assert_eq!(declared, expected, "\n{text}");
    for (name, _) in FAMILIES {
        assert!(
            samples.get(name).is_some_and(|n| *n > 0),
            "no samples: {name}"
        );
    }
}

#[test]
fn counters_and_snapshots_show_their_values() {
    // Proves counts land under the old series names, outcomes are listed at 0 from the
    // start, and set_transitions / set_actions set a count to a snapshot's value.
    let m = Metrics::default();
    let text = m.render(None, false, true);
    for line in [
        "autonomic_checkpoints_total{outcome=\"written\"} 0",
        "autonomic_checkpoint_witness_posts_total{outcome=\"failed\"} 0",
        "autonomic_ledger_poisoned 1",
        "autonomic_ready 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    assert!(!text.contains("autonomic_ledger_head_seq"), "{text}");
    m.set_transitions("Warn", "Intervene", Mode::Enforce, 41);
    m.set_transitions("Warn", "Intervene", Mode::Enforce, 42);
    m.set_actions("throttle", "Succeeded", Mode::Enforce, 7);
    m.set_head_seq(Some(9));
    let text = m.render(None, true, false);
    for line in [
        "autonomic_transitions_total{from=\"warn\",to=\"intervene\",mode=\"enforce\"} 42",
        "autonomic_actions_total{kind=\"throttle\",outcome=\"succeeded\",mode=\"enforce\"} 7",
        "autonomic_ledger_head_seq 9",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    m.set_head_seq(None);
    assert!(
        !m.render(None, true, false)
            .contains("autonomic_ledger_head_seq")
    );
}

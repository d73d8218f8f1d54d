//! The Grafana dashboard `deploy/grafana/autonomic.json` imports anywhere: every query reads
//! the data source picked at import (the `datasource` variable, never a fixed uid), panel
//! ids are unique and panels do not overlap on the 24-column grid. What its queries answer is
//! tested against a real Prometheus in `fleet_prometheus.rs`.

mod cli_support;
mod deploy_support;

use std::collections::BTreeSet;

use deploy_support::repo_root;
use serde_json::Value;

/// Columns of Grafana's grid.
const GRID_COLUMNS: u64 = 24;
/// The oldest dashboard schema accepted (Grafana 9.x writes 36 and later).
const MIN_SCHEMA_VERSION: u64 = 36;

fn dashboard() -> Value {
    let path = repo_root().join("deploy/grafana/autonomic.json");
    let text = std::fs::read_to_string(path).expect("dashboard");
    serde_json::from_str(&text).expect("JSON")
}

/// A panel's place: x, y, width, height.
fn grid(panel: &Value) -> [u64; 4] {
    ["x", "y", "w", "h"].map(|k| panel["gridPos"][k].as_u64().expect("gridPos"))
}

#[test]
fn every_query_uses_the_datasource_variable() {
    // Proves the dashboard asks for a Prometheus data source at import and every panel and
    // query uses it: nothing points at a data source of the machine it was made on.
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().expect("schemaVersion") >= MIN_SCHEMA_VERSION);
    assert!(!dashboard["uid"].as_str().expect("uid").is_empty());
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let variable = variables
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(variable["type"], "datasource");
    assert_eq!(variable["query"], "prometheus");
    let wanted = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries = 0;
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().expect("title");
        assert!(
            !panel["description"].as_str().unwrap_or("").is_empty(),
            "{title}"
        );
        assert_eq!(panel["datasource"], wanted, "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        let mut ref_ids = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"], wanted, "{title}");
            assert!(
                ref_ids.insert(target["refId"].as_str().expect("refId")),
                "{title}"
            );
            assert!(target["legendFormat"].is_string(), "{title}");
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries}");
}

#[test]
fn panels_have_unique_ids_and_do_not_overlap() {
    // Proves the layout Grafana shows is the one written: no two panels share an id or a
    // cell, and none runs past the grid's 24 columns.
    let dashboard = dashboard();
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("title");
        assert!(ids.insert(panel["id"].as_u64().expect("id")), "{title}");
        let [x, y, w, h] = grid(panel);
        assert!(
            w > 0 && h > 0 && x + w <= GRID_COLUMNS,
            "{title}: {:?}",
            grid(panel)
        );
        for column in x..x + w {
            for row in y..y + h {
                assert!(
                    cells.insert((column, row)),
                    "{title} overlaps at {column},{row}"
                );
            }
        }
    }
    let rows = panels.iter().filter(|p| p["type"] == "row").count();
    assert_eq!(rows, 5);
}

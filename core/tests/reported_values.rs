//! What the core reports back to a driver, which shows it to users: the capacities an engine
//! was built with (the sidecar's `autonomic_table_capacity` metric) and the governor's
//! thresholds (the config's defaults, `docs/governor.md#thresholds`).

use crate::common;

use autonomic_core::storage::Capacities;
use autonomic_core::{EngineConfig, Resource, Thresholds};

#[test]
fn an_engine_reports_the_capacities_it_was_built_with() {
    // Proves each capacity getter returns its own `Capacities` field (all distinct here).
    let caps = Capacities {
        tenants: 5,
        tenant_id_bytes: 300,
        dedup_ids: 77,
        receipts: 40,
        in_flight: 3,
        rollbackable: 6,
        queued: 9,
        timers: 11,
    };
    let e = common::engine_with(&caps, EngineConfig::default()).unwrap();
    assert_eq!(e.tenant_capacity(), 5);
    assert_eq!(e.tenant_id_bytes(), (0, 300));
    assert_eq!(e.dedup_capacity(), 77);
    assert_eq!(e.ledger().capacity(), 40);
    assert_eq!(e.execution_capacities(), (3, 6));
    assert_eq!(e.queued_len(), (0, 9));
    assert_eq!(e.timers_len(), (0, 11));
}

#[test]
fn thresholds_report_the_values_in_force() {
    // Proves the documented defaults (warn 75, recover 70, intervene 90, refuse 95, sustain 3)
    // and that validated thresholds report what they were given.
    let d = Thresholds::default();
    assert_eq!(
        (
            d.warn(),
            d.recover(),
            d.intervene(),
            d.refuse(),
            d.sustain()
        ),
        (75, 70, 90, 95, 3)
    );
    let t = Thresholds::new(60, 50, 80, 97, 4).unwrap();
    assert_eq!(
        (
            t.warn(),
            t.recover(),
            t.intervene(),
            t.refuse(),
            t.sustain()
        ),
        (60, 50, 80, 97, 4)
    );
}

#[test]
fn the_admission_limit_is_the_skus_and_a_throttle_lowers_it() {
    // Proves `admission_limit`, what a fleet-wide count checks against: a pro tenant's
    // requests limit is 1000, 500 under the Throttle(50) an Intervene dispatches; an unknown
    // tenant has none.
    let mut e = common::active("acme");
    assert_eq!(e.admission_limit("acme", Resource::Requests), Some(1000));
    assert_eq!(e.admission_limit("acme", Resource::Cpu), Some(8));
    assert_eq!(e.admission_limit("nobody", Resource::Requests), None);
    e.handle_signal(1_000, &common::raw("acme", 95.0, 1_000))
        .unwrap();
    let receipt = e.tenant(1_000, "acme").unwrap().in_flight.unwrap().receipt;
    e.handle_outcome(1_100, "acme", Some(receipt), true, b"")
        .unwrap();
    assert_eq!(e.admission_limit("acme", Resource::Requests), Some(500));
}

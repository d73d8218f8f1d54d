//! Reference models and helpers shared by the integration, property, simulation and fuzz
//! suites.
//!
//! The models in [`model`] are written from the documented contract (`docs/`) alone, in plain
//! std Rust, and do not look at how `autonomic-core` implements anything: the suites run the
//! core and a model side by side and compare. [`audit`] holds the invariants that the
//! simulation and the fuzz targets check after every step; [`compare`] puts the core's values
//! in the models' terms; [`rng`] is the simulation's deterministic PRNG.

pub mod audit;
pub mod compare;
pub mod model;
pub mod rng;

/// The large capacities the suites also run at: 100 000 tenants (ids of 32 bytes on average),
/// 1 000 000 dedup ids, 1 024 receipts. Nothing fills in a suite's run.
pub const LARGE: autonomic_core::Capacities = autonomic_core::Capacities {
    tenant_id_bytes: 100_000 * 32,
    dedup_ids: 1_000_000,
    receipts: 1024,
    ..autonomic_core::Capacities::with_tenants(100_000)
};

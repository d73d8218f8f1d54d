//! Reference models and helpers shared by the integration, property, simulation and fuzz
//! suites.
//!
//! The models in [`model`] are written from the documented contract (`docs/`) alone, in plain
//! std Rust, and do not look at how `autonomic-core` implements anything: the suites run the
//! core and a model side by side and compare. [`audit`] holds the invariants that the
//! simulation and the fuzz targets check after every step; [`rng`] is the simulation's
//! deterministic PRNG.

pub mod audit;
pub mod model;
pub mod rng;

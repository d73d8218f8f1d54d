//! Reference models written from the documented contract (`docs/`), independently of
//! `autonomic-core`'s code.
//!
//! Each is plain std Rust and small enough to check against the docs by eye. Names on the
//! wire (`"Warn"`, `"InvalidTenantId"`, ...) are how the suites compare them with the core.

pub mod breaker;
pub mod dedup;
pub mod engine;
pub mod entitlement;
pub mod governor;
pub mod mode;
pub mod rate;
pub mod signal;

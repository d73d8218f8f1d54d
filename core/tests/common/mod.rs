//! Shared arrangements for the core's tests.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::{EntitlementCommand, RawSignal};

/// A small engine: 16 tenants, 64 receipts in 16 KiB, 256 dedup ids.
pub type SmallEngine = Engine<16, 64, 16384, 256, 512>;

pub fn engine() -> SmallEngine {
    SmallEngine::new(EngineConfig::default()).expect("default config is valid")
}

pub fn active(tenant: &str) -> SmallEngine {
    let mut e = engine();
    e.handle_entitlement(
        0,
        tenant,
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    )
    .expect("activate");
    e
}

pub fn raw(tenant: &str, value: f64, ts_ms: u64) -> RawSignal<'_> {
    RawSignal {
        tenant,
        metric: "cpu",
        value,
        ts_ms,
    }
}

/// Drains every pending record, returning copies.
pub fn drain_records<
    const T: usize,
    const N: usize,
    const B: usize,
    const I: usize,
    const S: usize,
>(
    e: &mut Engine<T, N, B, I, S>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(r) = e.poll_record() {
        out.push(r.to_vec());
    }
    out
}

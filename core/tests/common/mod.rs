//! Shared arrangements for the core's tests.
#![allow(dead_code)]

use autonomic_core::engine::{BuildError, Engine, EngineConfig};
use autonomic_core::storage::{Capacities, OwnedStorage, Storage};
use autonomic_core::{EntitlementCommand, Event, RawSignal, Receipt};

/// A small engine: 16 tenants (ids of up to 256 bytes each), 64 receipts, 256 dedup ids.
pub const SMALL: Capacities = Capacities {
    tenant_id_bytes: 16 * 256,
    dedup_ids: 256,
    receipts: 64,
    ..Capacities::with_tenants(16)
};

/// A large engine: 100 000 tenants, 1 000 000 dedup ids (build it in an [`OwnedStorage`] the
/// test owns, not in [`leaked`] storage: it is tens of MiB).
pub const LARGE: Capacities = Capacities {
    tenant_id_bytes: 100_000 * 32,
    dedup_ids: 1_000_000,
    receipts: 1024,
    ..Capacities::with_tenants(100_000)
};

/// An engine in storage that lives as long as the test process (see [`leaked`]).
pub type SmallEngine = Engine<'static>;

/// Storage of `caps` that is never freed, so a helper can return the engine built in it.
/// The test binaries build small engines by the hundred at most: a few MiB in all.
pub fn leaked(caps: &Capacities) -> Storage<'static> {
    Box::leak(Box::new(OwnedStorage::new(caps))).storage()
}

/// An engine of `caps` and `config`, in leaked storage.
pub fn engine_with(caps: &Capacities, config: EngineConfig) -> Result<SmallEngine, BuildError> {
    Engine::new(config, leaked(caps))
}

/// An engine of [`SMALL`] capacities and the default config.
pub fn engine() -> SmallEngine {
    engine_with(&SMALL, EngineConfig::default()).expect("default config is valid")
}

pub fn active(tenant: &str) -> SmallEngine {
    let mut e = engine();
    activate(&mut e, tenant);
    e
}

/// An engine of the default config in `mem`, with `tenant` active.
pub fn active_in<'a>(mem: &'a mut OwnedStorage, tenant: &str) -> Engine<'a> {
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("default config");
    activate(&mut e, tenant);
    e
}

/// Activates `tenant` (pro, never expiring) at 0.
pub fn activate(e: &mut Engine<'_>, tenant: &str) {
    e.handle_entitlement(
        0,
        tenant,
        EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        },
    )
    .expect("activate");
}

/// Pauses and resumes the active `tenant` (one unpolled receipt each) until the ledger ring
/// has no room left for `records` more receipts; at most 10 000 commands.
pub fn fill_ring_below(e: &mut Engine<'_>, tenant: &str, records: usize) {
    for i in 0..10_000 {
        if !e.ledger().can_append(records) {
            return;
        }
        let command = if i % 2 == 0 {
            EntitlementCommand::Pause
        } else {
            EntitlementCommand::Resume
        };
        e.handle_entitlement(0, tenant, command)
            .expect("room for one");
    }
    panic!("the ring fills within 10 000 commands");
}

pub fn raw(tenant: &str, value: f64, ts_ms: u64) -> RawSignal<'_> {
    RawSignal {
        tenant,
        metric: "cpu",
        value,
        ts_ms,
    }
}

/// What a restore must rebuild of each tenant, slot by slot: compare a live engine's with a
/// restored one's.
pub fn restored_views(
    e: &Engine<'_>,
    now_ms: u64,
) -> Vec<impl std::fmt::Debug + PartialEq + use<>> {
    e.tenants(now_ms)
        .map(|v| {
            (
                v.tenant.to_string(),
                v.entitlement,
                v.sku,
                v.expires_at_ms,
                v.state,
                v.consecutive_high,
                v.entered_at_ms,
                v.in_flight.cloned(),
                v.enforced,
            )
        })
        .collect()
}

/// Polls every pending action command.
pub fn actions(e: &mut Engine<'_>) -> Vec<autonomic_core::ActionCommand> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

/// Drains every pending record, returning copies.
pub fn drain_records(e: &mut Engine<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(r) = e.poll_record() {
        out.push(r.to_vec());
    }
    out
}

/// The events of encoded records.
pub fn events(records: &[Vec<u8>]) -> Vec<Event> {
    records
        .iter()
        .map(|r| Receipt::decode(r).unwrap().event)
        .collect()
}

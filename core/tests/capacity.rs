//! Capacities the driver chooses: the execution books and a restore into a smaller table.

use autonomic_core::engine::{CommandError, Engine, EngineConfig, RestoreError};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, EntitlementCommand};

/// Small everywhere, with the two execution books given.
fn caps(tenants: usize, in_flight: usize, rollbackable: usize) -> Capacities {
    Capacities {
        tenants,
        tenant_id_bytes: tenants * 32,
        dedup_ids: 64,
        receipts: 256,
        in_flight,
        rollbackable,
        queued: 4,
        timers: 4,
    }
}

fn activate(e: &mut Engine<'_>, tenant: &str) {
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    e.handle_entitlement(0, tenant, activate).unwrap();
}

/// Every record appended so far, persisted.
fn records(e: &mut Engine<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(record) = e.poll_record() {
        out.push(record.to_vec());
    }
    while e.poll_action().is_some() {}
    out
}

#[test]
fn in_flight_capacity_bounds_actions_engine_wide() {
    // Proves: with max one action in flight, a second tenant's manual action is refused with
    // Busy and changes nothing; once the first completes, it runs.
    let mut mem = OwnedStorage::new(&caps(4, 1, 4));
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b"] {
        activate(&mut e, t);
    }
    assert_eq!(e.execution_capacities(), (1, 4));
    let first = e.handle_action(1, "a", Action::Pause).unwrap();
    let before = e.ledger().next_seq();
    assert_eq!(
        e.handle_action(2, "b", Action::Pause),
        Err(CommandError::Busy)
    );
    assert_eq!(
        e.ledger().next_seq(),
        before,
        "a refused action appends nothing"
    );
    assert!(e.tenant(2, "b").unwrap().in_flight.is_none());
    records(&mut e);
    e.handle_outcome(3, "a", Some(first), true, b"").unwrap();
    assert!(e.handle_action(4, "b", Action::Pause).is_ok());
}

#[test]
fn rollbackable_capacity_forgets_the_oldest_completed_action() {
    // Proves: with one completed action remembered, a rollback of the older one is
    // ReceiptNotFound while the newer one can be rolled back.
    let mut mem = OwnedStorage::new(&caps(4, 4, 1));
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    let mut done = Vec::new();
    for (i, t) in ["a", "b"].into_iter().enumerate() {
        activate(&mut e, t);
        let now = 10 * i as u64 + 1;
        let receipt = e.handle_action(now, t, Action::Pause).unwrap();
        records(&mut e);
        e.handle_outcome(now + 1, t, Some(receipt), true, b"")
            .unwrap();
        done.push(receipt);
    }
    assert_eq!(e.rollbackable().collect::<Vec<_>>(), vec![done[1]]);
    assert_eq!(
        e.handle_rollback(30, done[0]),
        Err(CommandError::ReceiptNotFound(done[0]))
    );
    assert!(e.handle_rollback(31, done[1]).is_ok());
}

#[test]
fn a_restore_into_a_smaller_table_names_the_receipt_that_does_not_fit() {
    // Proves: a ledger of four tenants restores into an engine of four, and into an engine of
    // two it stops at the third tenant's first receipt with TenantTableFull.
    let mut mem = OwnedStorage::new(&caps(4, 4, 4));
    let mut live = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for t in ["a", "b", "c", "d"] {
        activate(&mut live, t);
    }
    let ledger = records(&mut live);
    let mut same = OwnedStorage::new(&caps(4, 4, 4));
    let mut rebuilt = Engine::new(EngineConfig::default(), same.storage()).unwrap();
    for record in &ledger {
        rebuilt.restore(record).unwrap();
    }
    assert_eq!(rebuilt.tenant_count(), 4);
    let mut small = OwnedStorage::new(&caps(2, 4, 4));
    let mut smaller = Engine::new(EngineConfig::default(), small.storage()).unwrap();
    let results: Vec<_> = ledger.iter().map(|r| smaller.restore(r)).collect();
    assert_eq!(results[..2], [Ok(()), Ok(())]);
    assert_eq!(results[2], Err(RestoreError::TenantTableFull(2)));
}

#[test]
#[cfg(target_pointer_width = "64")]
fn storage_element_sizes_are_the_documented_ones() {
    // Proves the per-element figures in core/src/storage.rs, docs/design.md#memory and the
    // README's sizing table (on 64-bit targets).
    use autonomic_core::engine::{InFlight, TenantSlot};
    use autonomic_core::execution::Completed;
    use autonomic_core::ledger::Span;
    use core::mem::size_of;
    assert_eq!(size_of::<TenantSlot>(), 88);
    assert_eq!(size_of::<Span>(), 8);
    assert_eq!(size_of::<InFlight>(), 152);
    assert_eq!(size_of::<Completed>(), 216);
    let caps = Capacities::default();
    assert_eq!(caps.dedup_index_entries(), 1 << 20);
    assert_eq!(caps.tenant_index_entries(), 2048);
}

/// Bytes of every slice of `storage`, element size times length, added up.
fn bytes_of(storage: &autonomic_core::Storage<'_>) -> usize {
    use std::mem::size_of_val;
    size_of_val(storage.tenants)
        + size_of_val(storage.tenant_index)
        + size_of_val(storage.tenant_ids)
        + size_of_val(storage.dedup_arrivals)
        + size_of_val(storage.dedup_arrival_windows)
        + size_of_val(storage.dedup_fingerprints)
        + size_of_val(storage.ledger_spans)
        + size_of_val(storage.ledger_arena)
        + size_of_val(storage.in_flight)
        + size_of_val(storage.rollbackable)
        + size_of_val(storage.queued)
        + size_of_val(storage.timers)
}

#[test]
fn storage_bytes_is_what_the_storage_of_those_capacities_takes() {
    // Proves Capacities::storage_bytes (what a driver budgets before allocating, and what the
    // Cortex-M image prints) equals the bytes of the slices OwnedStorage allocates for the same
    // capacities, at small, mixed and default capacities.
    for capacities in [
        caps(1, 1, 1),
        caps(4, 2, 8),
        Capacities {
            dedup_ids: 5_000,
            ..caps(300, 16, 16)
        },
        Capacities::default(),
    ] {
        let mut owned = OwnedStorage::new(&capacities);
        assert_eq!(
            capacities.storage_bytes(),
            bytes_of(&owned.storage()),
            "{capacities:?}"
        );
    }
}

#[test]
fn storage_that_held_anything_builds_an_empty_engine() {
    // Proves "what the slices hold is ignored": storage whose indexes and arenas are full of
    // leftovers (a driver reusing a static buffer) builds an engine that knows no tenant and
    // no signal, takes every tenant its capacity says, and deduplicates as a fresh one.
    let caps = caps(8, 2, 2);
    let mut mem = OwnedStorage::new(&caps);
    let storage = mem.storage();
    storage.tenant_index.fill(0xA5A5_A5A5_A5A5_A5A5);
    storage.tenant_ids.fill(b'x');
    storage.dedup_fingerprints.fill(u64::MAX);
    storage.dedup_arrivals.fill(u64::MAX);
    storage.dedup_arrival_windows.fill(u32::MAX);
    let mut e = Engine::new(EngineConfig::default(), storage).unwrap();
    assert!(e.tenant(0, "x").is_none());
    for i in 0..8 {
        activate(&mut e, &format!("tenant-{i}"));
    }
    assert_eq!(e.tenant_count(), 8);
    assert_eq!(e.dedup_len(), 0);
    let signal = autonomic_core::RawSignal {
        tenant: "tenant-3",
        metric: "cpu",
        value: 10.0,
        ts_ms: 1_000,
    };
    assert!(matches!(
        e.handle_signal(1_000, &signal),
        Ok(autonomic_core::SignalResult::Governed(_))
    ));
    assert_eq!(
        e.handle_signal(1_000, &signal),
        Ok(autonomic_core::SignalResult::Duplicate)
    );
}

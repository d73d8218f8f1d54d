//! The memory an engine runs in, handed over by the driver at start.
//!
//! The core never allocates: [`crate::engine::Engine::new`] takes a [`Storage`], twelve
//! slices the driver sized from a [`Capacities`] (read from its configuration) and owns for
//! as long as the engine lives. A driver with an allocator makes them once at start
//! ([`OwnedStorage`], behind the `alloc` feature); one without declares them `static`.
//!
//! | capacity | slices | bytes each |
//! |---|---|---|
//! | `tenants` | `tenants`, `tenant_index` | 88 per slot, 8 per index entry |
//! | `tenant_id_bytes` | `tenant_ids` | 1 |
//! | `dedup_ids` | `dedup_arrivals`, `dedup_arrival_windows`, `dedup_fingerprints` | 8 and 4 per id, 8 per index entry |
//! | `receipts` | `ledger_spans`, `ledger_arena` | 8 per span, [`arena_bytes_for`] bytes |
//! | `in_flight` | `in_flight` | `size_of::<InFlight>()` (152 on 64-bit targets) |
//! | `rollbackable` | `rollbackable` | `size_of::<Completed>()` (216 on 64-bit targets) |
//! | `queued` | `queued` | `size_of::<Queued>()` (144 on 64-bit targets) |
//! | `timers` | `timers` | `size_of::<Timer>()` (24) |
//!
//! An index has [`index_slots_for`] entries: the smallest power of two at most 3/4 full.

use crate::engine::{TenantSlot, Timer};
use crate::execution::{Completed, InFlight, Queued};
use crate::ledger::{Span, arena_bytes_for};
use crate::limits::{
    DEDUP_IDS_DEFAULT, IN_FLIGHT_DEFAULT, QUEUED_DEFAULT, RECEIPTS_DEFAULT, ROLLBACKABLE_DEFAULT,
    TENANT_ID_BYTES_PER_TENANT_DEFAULT, TENANTS_DEFAULT, TIMERS_DEFAULT,
};

/// The entries of an open-addressed index over `items` items: the smallest power of two
/// they fill to at most 3/4 (so every probe ends at an empty entry). The one rule both the
/// tenant index and the deduplicator are sized by. Saturates to `usize::MAX` (which no slice
/// meets) when no such `usize` exists.
pub const fn index_slots_for(items: usize) -> usize {
    let Some(quadruple) = items.checked_mul(4) else {
        return usize::MAX;
    };
    match quadruple.div_ceil(3).checked_next_power_of_two() {
        Some(slots) => slots,
        None => usize::MAX,
    }
}

/// Zeroes `slice`, writing only the entries that are not zero already. Storage allocated
/// zeroed is mapped by the operating system only when first written, so an index that starts
/// empty costs no resident memory until it fills.
pub(crate) fn clear<T: Copy + Default + PartialEq>(slice: &mut [T]) {
    let zero = T::default();
    for entry in slice.iter_mut().filter(|entry| **entry != zero) {
        *entry = zero;
    }
}

/// How much an engine holds: what a driver reads from its configuration and sizes a
/// [`Storage`] by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Tenants at once (Terminated tenants' slots are reused when it is reached).
    pub tenants: usize,
    /// Bytes of tenant ids, all tenants together (a tenant costs its id's length).
    pub tenant_id_bytes: usize,
    /// Signal ids the deduplicator remembers.
    pub dedup_ids: usize,
    /// Receipts kept in memory.
    pub receipts: usize,
    /// Actions executing at once, engine-wide.
    pub in_flight: usize,
    /// Completed actions remembered for rollback.
    pub rollbackable: usize,
    /// Manual actions queued behind those in flight, engine-wide.
    pub queued: usize,
    /// The governor's timers held at once, engine-wide (Refuse timers and pending warnings:
    /// 1..=[`crate::limits::TIMERS_MAX`]).
    pub timers: usize,
}

impl Default for Capacities {
    fn default() -> Self {
        Self::with_tenants(TENANTS_DEFAULT)
    }
}

impl Capacities {
    /// The defaults of [`crate::limits`] for `tenants` tenants: 32 id bytes each,
    /// [`DEDUP_IDS_DEFAULT`] dedup ids, [`RECEIPTS_DEFAULT`] receipts, [`IN_FLIGHT_DEFAULT`]
    /// actions in flight, [`ROLLBACKABLE_DEFAULT`] remembered for rollback, [`QUEUED_DEFAULT`]
    /// queued, [`TIMERS_DEFAULT`] timers.
    pub const fn with_tenants(tenants: usize) -> Self {
        Self {
            tenants,
            tenant_id_bytes: tenants.saturating_mul(TENANT_ID_BYTES_PER_TENANT_DEFAULT),
            dedup_ids: DEDUP_IDS_DEFAULT,
            receipts: RECEIPTS_DEFAULT,
            in_flight: IN_FLIGHT_DEFAULT,
            rollbackable: ROLLBACKABLE_DEFAULT,
            queued: QUEUED_DEFAULT,
            timers: TIMERS_DEFAULT,
        }
    }

    /// Entries of the tenant index.
    pub const fn tenant_index_entries(&self) -> usize {
        index_slots_for(self.tenants)
    }

    /// Entries of the deduplicator's index.
    pub const fn dedup_index_entries(&self) -> usize {
        index_slots_for(self.dedup_ids)
    }

    /// Bytes of the ledger's arena.
    pub const fn ledger_arena_bytes(&self) -> usize {
        arena_bytes_for(self.receipts)
    }

    /// Bytes of a [`Storage`] of these capacities, all slices together.
    pub const fn storage_bytes(&self) -> usize {
        use core::mem::size_of;
        let tenants = self.tenants.saturating_mul(size_of::<TenantSlot>())
            + self.tenant_index_entries().saturating_mul(size_of::<u64>())
            + self.tenant_id_bytes;
        let dedup = self
            .dedup_ids
            .saturating_mul(size_of::<u64>() + size_of::<u32>())
            + self.dedup_index_entries().saturating_mul(size_of::<u64>());
        let ledger = self.receipts.saturating_mul(size_of::<Span>()) + self.ledger_arena_bytes();
        let execution = self.in_flight.saturating_mul(size_of::<InFlight>())
            + self.rollbackable.saturating_mul(size_of::<Completed>())
            + self.queued.saturating_mul(size_of::<Queued>())
            + self.timers.saturating_mul(size_of::<Timer>());
        tenants
            .saturating_add(dedup)
            .saturating_add(ledger)
            .saturating_add(execution)
    }
}

/// The slices an engine runs in (see the module doc for their sizes). What they hold on entry
/// is ignored: the engine starts empty.
#[derive(Debug)]
pub struct Storage<'a> {
    /// One slot per tenant: `tenants` of them.
    pub tenants: &'a mut [TenantSlot],
    /// The tenant index: [`Capacities::tenant_index_entries`] entries (or any larger power
    /// of two).
    pub tenant_index: &'a mut [u64],
    /// The tenant id arena: `tenant_id_bytes` bytes.
    pub tenant_ids: &'a mut [u8],
    /// The deduplicator's arrival ring: `dedup_ids` entries.
    pub dedup_arrivals: &'a mut [u64],
    /// The window of each arrival (its low 32 bits): `dedup_ids` entries.
    pub dedup_arrival_windows: &'a mut [u32],
    /// The deduplicator's index: [`Capacities::dedup_index_entries`] fingerprints.
    pub dedup_fingerprints: &'a mut [u64],
    /// The ledger's spans: `receipts` of them.
    pub ledger_spans: &'a mut [Span],
    /// The ledger's arena: [`Capacities::ledger_arena_bytes`] bytes.
    pub ledger_arena: &'a mut [u8],
    /// The actions in flight: `in_flight` of them.
    pub in_flight: &'a mut [InFlight],
    /// The completed actions remembered for rollback: `rollbackable` of them.
    pub rollbackable: &'a mut [Completed],
    /// The manual actions queued: `queued` of them.
    pub queued: &'a mut [Queued],
    /// The governor's timers: `timers` of them.
    pub timers: &'a mut [Timer],
}

#[cfg(feature = "alloc")]
pub use self::owned::OwnedStorage;

#[cfg(feature = "alloc")]
mod owned {
    extern crate alloc;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::{Capacities, Completed, InFlight, Queued, Span, Storage, TenantSlot, Timer};

    /// A [`Storage`] on the heap, allocated once by [`OwnedStorage::new`] (the `alloc`
    /// feature). Zeroed slices are allocated zeroed, so the operating system maps their pages
    /// only as the engine first writes them: an idle engine's memory stays small.
    #[derive(Debug)]
    pub struct OwnedStorage {
        tenants: Vec<TenantSlot>,
        tenant_index: Vec<u64>,
        tenant_ids: Vec<u8>,
        dedup_arrivals: Vec<u64>,
        dedup_arrival_windows: Vec<u32>,
        dedup_fingerprints: Vec<u64>,
        ledger_spans: Vec<Span>,
        ledger_arena: Vec<u8>,
        in_flight: Vec<InFlight>,
        rollbackable: Vec<Completed>,
        queued: Vec<Queued>,
        timers: Vec<Timer>,
    }

    impl OwnedStorage {
        /// Storage of `capacities`.
        pub fn new(capacities: &Capacities) -> Self {
            Self {
                tenants: vec![TenantSlot::default(); capacities.tenants],
                tenant_index: vec![0; capacities.tenant_index_entries()],
                tenant_ids: vec![0; capacities.tenant_id_bytes],
                dedup_arrivals: vec![0; capacities.dedup_ids],
                dedup_arrival_windows: vec![0; capacities.dedup_ids],
                dedup_fingerprints: vec![0; capacities.dedup_index_entries()],
                ledger_spans: vec![Span::default(); capacities.receipts],
                ledger_arena: vec![0; capacities.ledger_arena_bytes()],
                in_flight: vec![InFlight::default(); capacities.in_flight],
                rollbackable: vec![Completed::default(); capacities.rollbackable],
                queued: vec![Queued::default(); capacities.queued],
                timers: vec![Timer::default(); capacities.timers],
            }
        }

        /// The slices, for [`crate::engine::Engine::new`].
        pub fn storage(&mut self) -> Storage<'_> {
            Storage {
                tenants: &mut self.tenants,
                tenant_index: &mut self.tenant_index,
                tenant_ids: &mut self.tenant_ids,
                dedup_arrivals: &mut self.dedup_arrivals,
                dedup_arrival_windows: &mut self.dedup_arrival_windows,
                dedup_fingerprints: &mut self.dedup_fingerprints,
                ledger_spans: &mut self.ledger_spans,
                ledger_arena: &mut self.ledger_arena,
                in_flight: &mut self.in_flight,
                rollbackable: &mut self.rollbackable,
                queued: &mut self.queued,
                timers: &mut self.timers,
            }
        }
    }
}

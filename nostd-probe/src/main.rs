//! Calls into every phase of autonomic-core without std, alloc or a global allocator, then
//! exits 0 if the seed scenario came out right (1 otherwise).
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use autonomic_core::engine::{
    Engine, EngineConfig, InFlight, Queued, SignalResult, TenantSlot, Timer,
};
use autonomic_core::execution::Completed;
use autonomic_core::ledger::Span;
use autonomic_core::storage::{Capacities, Storage};
use autonomic_core::{
    ChainVerifier, EntitlementCommand, GovernorState, RawSignal, Resource, monitor,
};

/// Tiny capacities: the probe's engine lives in the statics below, sized by them.
const CAPS: Capacities = Capacities {
    tenant_id_bytes: 4 * 32,
    dedup_ids: 32,
    receipts: 16,
    ..Capacities::with_tenants(4)
};
const TENANTS: usize = CAPS.tenants;
const TENANT_INDEX: usize = CAPS.tenant_index_entries();
const TENANT_ID_BYTES: usize = CAPS.tenant_id_bytes;
const DEDUP_IDS: usize = CAPS.dedup_ids;
const DEDUP_INDEX: usize = CAPS.dedup_index_entries();
const RECEIPTS: usize = CAPS.receipts;
const LEDGER_ARENA: usize = CAPS.ledger_arena_bytes();
const IN_FLIGHT: usize = CAPS.in_flight;
const ROLLBACKABLE: usize = CAPS.rollbackable;
const QUEUED: usize = CAPS.queued;
const TIMERS: usize = CAPS.timers;

// The engine's storage: no heap, no allocator, plain statics.
static mut SLOTS: [TenantSlot; TENANTS] = [TenantSlot::EMPTY; TENANTS];
static mut TENANT_INDEX_ENTRIES: [u64; TENANT_INDEX] = [0; TENANT_INDEX];
static mut TENANT_IDS: [u8; TENANT_ID_BYTES] = [0; TENANT_ID_BYTES];
static mut DEDUP_ARRIVALS: [u64; DEDUP_IDS] = [0; DEDUP_IDS];
static mut DEDUP_FINGERPRINTS: [u64; DEDUP_INDEX] = [0; DEDUP_INDEX];
static mut DEDUP_ARRIVAL_WINDOWS: [u32; DEDUP_IDS] = [0; DEDUP_IDS];
static mut SPANS: [Span; RECEIPTS] = [Span::EMPTY; RECEIPTS];
static mut LEDGER_BYTES: [u8; LEDGER_ARENA] = [0; LEDGER_ARENA];
static mut IN_FLIGHT_BOOK: [InFlight; IN_FLIGHT] = [InFlight::EMPTY; IN_FLIGHT];
static mut ROLLBACKABLE_BOOK: [Completed; ROLLBACKABLE] = [Completed::EMPTY; ROLLBACKABLE];
static mut QUEUED_BOOK: [Queued; QUEUED] = [Queued::EMPTY; QUEUED];
static mut TIMER_TABLE: [Timer; TIMERS] = [Timer::EMPTY; TIMERS];

/// The statics above, lent to one engine.
///
/// # Safety
///
/// Call at most once: each call hands out `&'static mut` borrows of the same statics.
unsafe fn storage() -> Storage<'static> {
    // SAFETY: the caller calls this once, on one thread, so these are the only references to
    // the statics; the pointers come from `addr_of_mut!`, never from `&mut STATIC`.
    unsafe {
        Storage {
            tenants: &mut *addr_of_mut!(SLOTS),
            tenant_index: &mut *addr_of_mut!(TENANT_INDEX_ENTRIES),
            tenant_ids: &mut *addr_of_mut!(TENANT_IDS),
            dedup_arrivals: &mut *addr_of_mut!(DEDUP_ARRIVALS),
            dedup_fingerprints: &mut *addr_of_mut!(DEDUP_FINGERPRINTS),
            dedup_arrival_windows: &mut *addr_of_mut!(DEDUP_ARRIVAL_WINDOWS),
            ledger_spans: &mut *addr_of_mut!(SPANS),
            ledger_arena: &mut *addr_of_mut!(LEDGER_BYTES),
            in_flight: &mut *addr_of_mut!(IN_FLIGHT_BOOK),
            rollbackable: &mut *addr_of_mut!(ROLLBACKABLE_BOOK),
            queued: &mut *addr_of_mut!(QUEUED_BOOK),
            timers: &mut *addr_of_mut!(TIMER_TABLE),
        }
    }
}

fn scenario(storage: Storage<'static>) -> bool {
    let Ok(mut engine) = Engine::new(EngineConfig::default(), storage) else {
        return false;
    };
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    if engine.handle_entitlement(0, "acme", activate).is_err() {
        return false;
    }
    let mut verifier = ChainVerifier::new();
    let mut last = GovernorState::Stable;
    for (i, value) in [45.0, 78.0, 78.0, 92.0].into_iter().enumerate() {
        let ts_ms = 5_000 * (i as u64 + 1);
        let raw = RawSignal {
            tenant: "acme",
            metric: "cpu",
            value,
            ts_ms,
        };
        match engine.handle_signal(ts_ms, &raw) {
            Ok(SignalResult::Governed(t)) => last = t.to,
            _ => return false,
        }
        while let Some(record) = engine.poll_record() {
            if verifier.push(record).is_err() {
                return false;
            }
        }
    }
    let throttled = engine.admit(30_000, "acme", Resource::Cpu, 5).is_err();
    let Some(receipt) = engine.in_flight().first().map(|f| f.receipt) else {
        return false;
    };
    let _ = engine.poll_action();
    let recovered = engine.handle_outcome(31_000, "acme", Some(receipt), true, &[]);
    let normalized = monitor::normalize(74.5) == Ok(75);
    last == GovernorState::Intervene
        && throttled
        && recovered.is_ok_and(|t| t.to == GovernorState::Warn)
        && engine.ledger().verify().is_ok()
        && normalized
}

unsafe extern "C" {
    fn exit(code: i32) -> !;
}

/// The entry point, called by the C runtime's start files.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // SAFETY: the one call.
    let storage = unsafe { storage() };
    if scenario(storage) { 0 } else { 1 }
}

/// The host's precompiled `core` references the unwinding personality even with
/// `panic = "abort"`; it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: as above.
    unsafe { exit(101) }
}

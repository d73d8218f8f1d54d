//! autonomic-core on a Cortex-M4F: the engine in static storage, the seed scenario (an
//! activation, signals that walk the governor from Stable to Intervene, a throttled admission,
//! the action's outcome), every receipt pushed through a [`ChainVerifier`] and the ring
//! verified on the device. One line per step over semihosting; exits with `EXIT_SUCCESS` only
//! when every expectation held (`EXIT_FAILURE` otherwise, and on panic).
#![no_std]
#![no_main]

use autonomic_core::engine::{
    Engine, EngineConfig, InFlight, Queued, SignalResult, TenantSlot, Timer,
};
use autonomic_core::execution::Completed;
use autonomic_core::ledger::Span;
use autonomic_core::storage::{Capacities, Storage};
use autonomic_core::{
    ActionCommand, ChainVerifier, EntitlementCommand, EntitlementState, GovernorState, RawSignal,
    Resource, monitor,
};
use cortex_m_rt::{STACK_PAINT_VALUE, entry};
use cortex_m_semihosting::{debug, hprintln};

/// The firmware's capacities: small, every bound well above what the scenario needs (8
/// timers: a Refuse timer and a pending warning for each tenant).
#[cfg(not(any(feature = "minimal", feature = "default-tenants")))]
const CAPS: Capacities = Capacities {
    tenants: 4,
    tenant_id_bytes: 256,
    dedup_ids: 64,
    receipts: 32,
    in_flight: 4,
    rollbackable: 4,
    queued: 4,
    timers: 8,
};

/// The smallest useful capacities (the `minimal` feature): one tenant, four dedup ids, the
/// ledger's smallest ring (4 spans and a 2 KiB arena: receipts are overwritten once polled),
/// one action in flight, one remembered for rollback, one queued, and the tenant's two timers.
#[cfg(feature = "minimal")]
const CAPS: Capacities = Capacities {
    tenants: 1,
    tenant_id_bytes: 32,
    dedup_ids: 4,
    receipts: 4,
    in_flight: 1,
    rollbackable: 1,
    queued: 1,
    timers: 2,
};

/// The default capacities (the `default-tenants` feature: 1 024 tenants, 1 024 receipts,
/// 64 in flight, 64 remembered, 64 queued and 128 timers) but 8 192 dedup ids: the default 650 000 need 16.2 MB, more
/// than the board's RAM.
#[cfg(feature = "default-tenants")]
const CAPS: Capacities = Capacities {
    dedup_ids: 8_192,
    ..Capacities::with_tenants(autonomic_core::limits::TENANTS_DEFAULT)
};

/// The tenant the scenario governs.
const TENANT: &str = "acme";

/// The CPU values the scenario sends, one every 5 s, and the state each leaves the governor in.
const STEPS: [(f64, GovernorState); 4] = [
    (45.0, GovernorState::Stable),
    (78.0, GovernorState::Warn),
    (78.0, GovernorState::Warn),
    (92.0, GovernorState::Intervene),
];

/// The engine's storage that starts as zero bytes, sized by [`CAPS`]: a static of it is
/// placed in `.bss` (cleared by the runtime before `main`, no flash).
struct Zeroed {
    tenant_index: [u64; CAPS.tenant_index_entries()],
    tenant_ids: [u8; CAPS.tenant_id_bytes],
    dedup_arrivals: [u64; CAPS.dedup_ids],
    dedup_fingerprints: [u64; CAPS.dedup_index_entries()],
    dedup_arrival_windows: [u32; CAPS.dedup_ids],
    ledger_spans: [Span; CAPS.receipts],
    ledger_arena: [u8; CAPS.ledger_arena_bytes()],
}

/// The engine's storage whose empty entries are not all zero bytes: a static of it is placed
/// in `.data` (its image is in flash too).
struct Slots {
    tenants: [TenantSlot; CAPS.tenants],
    in_flight: [InFlight; CAPS.in_flight],
    rollbackable: [Completed; CAPS.rollbackable],
    queued: [Queued; CAPS.queued],
    timers: [Timer; CAPS.timers],
}

/// Both, lent to one engine.
fn storage<'a>(zeroed: &'a mut Zeroed, slots: &'a mut Slots) -> Storage<'a> {
    Storage {
        tenants: &mut slots.tenants,
        tenant_index: &mut zeroed.tenant_index,
        tenant_ids: &mut zeroed.tenant_ids,
        dedup_arrivals: &mut zeroed.dedup_arrivals,
        dedup_fingerprints: &mut zeroed.dedup_fingerprints,
        dedup_arrival_windows: &mut zeroed.dedup_arrival_windows,
        ledger_spans: &mut zeroed.ledger_spans,
        ledger_arena: &mut zeroed.ledger_arena,
        in_flight: &mut slots.in_flight,
        rollbackable: &mut slots.rollbackable,
        queued: &mut slots.queued,
        timers: &mut slots.timers,
    }
}

#[entry]
fn main() -> ! {
    // cortex-m-rt's `#[entry]` turns each `static mut` declared here into a `&'static mut`
    // handed to this function alone (it is never re-entered): no `unsafe` needed.
    static mut ZEROED: Zeroed = Zeroed {
        tenant_index: [0; CAPS.tenant_index_entries()],
        tenant_ids: [0; CAPS.tenant_id_bytes],
        dedup_arrivals: [0; CAPS.dedup_ids],
        dedup_fingerprints: [0; CAPS.dedup_index_entries()],
        dedup_arrival_windows: [0; CAPS.dedup_ids],
        ledger_spans: [Span::EMPTY; CAPS.receipts],
        ledger_arena: [0; CAPS.ledger_arena_bytes()],
    };
    static mut SLOTS: Slots = Slots {
        tenants: [TenantSlot::EMPTY; CAPS.tenants],
        in_flight: [InFlight::EMPTY; CAPS.in_flight],
        rollbackable: [Completed::EMPTY; CAPS.rollbackable],
        queued: [Queued::EMPTY; CAPS.queued],
        timers: [Timer::EMPTY; CAPS.timers],
    };
    hprintln!(
        "capacities {:?}: storage {} bytes, engine {} bytes (the default capacities would need {})",
        CAPS,
        CAPS.storage_bytes(),
        core::mem::size_of::<Engine<'static>>(),
        Capacities::default().storage_bytes()
    );
    let code = match scenario(storage(ZEROED, SLOTS)) {
        Ok(receipts) => {
            hprintln!("stack high-water: {} bytes", stack_used_bytes());
            hprintln!(
                "chain verified: {} receipts, every expectation held",
                receipts
            );
            debug::EXIT_SUCCESS
        }
        Err(what) => {
            hprintln!("FAILED: {}", what);
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Runs the seed scenario; the number of receipts verified, or the expectation that failed.
fn scenario(storage: Storage<'_>) -> Result<u64, &'static str> {
    let mut engine = Engine::new(EngineConfig::default(), storage).map_err(|_| "engine::new")?;
    let mut verifier = ChainVerifier::new();
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    let state = engine.handle_entitlement(0, TENANT, activate);
    let seq = drain(&mut engine, &mut verifier)?;
    hprintln!("activate {}: {:?}, receipt {:?}", TENANT, state, seq);
    if state != Ok(EntitlementState::Active) {
        return Err("activation");
    }
    for (i, (value, expected)) in STEPS.into_iter().enumerate() {
        let ts_ms = 5_000 * (i as u64 + 1);
        let raw = RawSignal {
            tenant: TENANT,
            metric: "cpu",
            value,
            ts_ms,
        };
        let Ok(SignalResult::Governed(t)) = engine.handle_signal(ts_ms, &raw) else {
            return Err("signal not governed");
        };
        let seq = drain(&mut engine, &mut verifier)?;
        hprintln!(
            "signal cpu={}: {} -> {}, action {:?}, receipt {:?}",
            // Whole percentages: printed as integers, so the image carries no float formatting.
            value as u32,
            t.from.as_str(),
            t.to.as_str(),
            t.dispatched(),
            seq
        );
        if t.to != expected {
            return Err("governor state");
        }
    }
    let admitted = engine.admit(30_000, TENANT, Resource::Cpu, 5);
    hprintln!("admit cpu 5 while throttled: {:?}", admitted);
    if admitted.is_ok() {
        return Err("admission under throttle");
    }
    let Some(ActionCommand::Run {
        receipt, action, ..
    }) = engine.poll_action()
    else {
        return Err("no action to run");
    };
    hprintln!("run {:?} for receipt {}: succeeded", action, receipt);
    let outcome = engine.handle_outcome(31_000, TENANT, Some(receipt), true, &[]);
    let seq = drain(&mut engine, &mut verifier)?;
    let to = outcome.as_ref().map(|t| t.to.as_str());
    hprintln!("outcome: -> {:?}, receipt {:?}", to, seq);
    if to != Ok(GovernorState::Warn.as_str()) {
        return Err("outcome transition");
    }
    if monitor::normalize(74.5) != Ok(75) {
        return Err("normalize");
    }
    engine.ledger().verify().map_err(|_| "ledger verify")?;
    if engine.ledger().next_seq() != seq.map_or(0, |s| s + 1) {
        return Err("verifier behind the ledger");
    }
    Ok(engine.ledger().next_seq())
}

/// Pushes every unpolled receipt through `verifier`; the last one's seq, if any.
fn drain(
    engine: &mut Engine<'_>,
    verifier: &mut ChainVerifier,
) -> Result<Option<u64>, &'static str> {
    let mut last = None;
    while let Some(record) = engine.poll_record() {
        last = Some(verifier.push(record).map_err(|_| "chain verifier")?.seq);
    }
    Ok(last)
}

/// Bytes of stack used so far: from its top down to the deepest word no longer holding the
/// paint cortex-m-rt put there at reset.
fn stack_used_bytes() -> usize {
    unsafe extern "C" {
        /// The stack's lowest address (cortex-m-rt's linker script).
        static _stack_end: u32;
        /// The stack's top, where it starts.
        static _stack_start: u32;
    }
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut deepest = core::ptr::addr_of!(_stack_end) as usize;
    while deepest < top {
        // SAFETY: `deepest` is a word-aligned address in the stack region (between the two
        // linker symbols), which is RAM; a volatile read of it has no other effect.
        if unsafe { (deepest as *const u32).read_volatile() } != STACK_PAINT_VALUE {
            break;
        }
        deepest += 4;
    }
    top - deepest
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

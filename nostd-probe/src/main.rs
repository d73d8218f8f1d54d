//! Calls into every phase of autonomic-core without std, alloc or a global allocator, then
//! exits 0 if the seed scenario came out right (1 otherwise).
#![no_std]
#![no_main]

use autonomic_core::engine::{Engine, EngineConfig, SignalResult};
use autonomic_core::{
    ChainVerifier, EntitlementCommand, GovernorState, RawSignal, Resource, monitor,
};

type Probe = Engine<4, 16, 8192, 32, 64>;

fn scenario() -> bool {
    let Ok(mut engine) = Probe::new(EngineConfig::default()) else {
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
    if scenario() { 0 } else { 1 }
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

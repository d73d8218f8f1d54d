//! Arrangements shared by the governor timing tests (`timing.rs`, `timing_room.rs`).
#![allow(dead_code)]

use autonomic_core::engine::{ActionCommand, Engine, EngineConfig, SignalResult};
use autonomic_core::governor::GovernorTiming;
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, Event, GovernorState, Receipt};

use crate::common::{self, activate, drain_records, engine_with, raw};

/// The clock at the start of each test.
pub const T0: u64 = 1_000_000;

/// The timer table of [`ROOMY`]: small, so a test fills it with a few tenants.
pub const TIMERS: usize = 4;

/// Room for more tenants than the timer table holds.
pub const ROOMY: Capacities = Capacities {
    timers: TIMERS,
    ..common::SMALL
};

pub fn timed(timing: GovernorTiming) -> Engine<'static> {
    timed_in(&common::SMALL, timing)
}

pub fn timed_in(caps: &Capacities, timing: GovernorTiming) -> Engine<'static> {
    let config = EngineConfig {
        timing,
        ..EngineConfig::default()
    };
    let mut e = engine_with(caps, config).unwrap();
    activate(&mut e, "t");
    drain_records(&mut e);
    e
}

/// Sends `value` for `tenant` at `now` (stamped `now`); the transition's end state.
pub fn signal(e: &mut Engine<'_>, tenant: &str, value: f64, now: u64) -> GovernorState {
    match e.handle_signal(now, &raw(tenant, value, now)).unwrap() {
        SignalResult::Governed(t) => t.to,
        SignalResult::Duplicate => panic!("duplicate"),
    }
}

pub fn state(e: &Engine<'_>, tenant: &str) -> GovernorState {
    e.tenant(0, tenant).unwrap().state
}

/// Warn, c 2, then Degrade (Throttle 25), then Refuse (Shed 50), one second apart from `t0`.
pub fn into_refuse(e: &mut Engine<'_>, tenant: &str, t0: u64) {
    for (i, v) in [80.0, 81.0, 82.0, 96.0].into_iter().enumerate() {
        signal(e, tenant, v, t0 + 1000 * i as u64);
    }
    assert_eq!(state(e, tenant), GovernorState::Refuse);
}

/// The actions of the run commands handed out since the last call.
pub fn runs(e: &mut Engine<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    while let Some(command) = e.poll_action() {
        if let ActionCommand::Run { action, .. } = command {
            out.push(action);
        }
    }
    out
}

/// A grace engine with "t" in Refuse, its Shed warned: the warning's receipt id (records
/// and commands drained).
pub fn warned() -> (Engine<'static>, u64) {
    let mut e = timed(grace());
    into_refuse(&mut e, "t", T0);
    let receipt = e.warning("t").unwrap().receipt;
    drain_records(&mut e);
    runs(&mut e);
    (e, receipt)
}

pub fn grace() -> GovernorTiming {
    GovernorTiming {
        grace_ms: 5_000,
        ..GovernorTiming::OFF
    }
}

/// Activates `t0..=tN` (N the timer table's capacity) and drives the first N into Refuse
/// (their Throttle succeeded), each holding one timer: the table is full. Returns the ids.
pub fn fill_timers(e: &mut Engine<'_>) -> Vec<String> {
    let capacity = e.timers_len().1;
    let ids: Vec<String> = (0..=capacity).map(|i| format!("t{i}")).collect();
    for id in &ids {
        activate(e, id);
    }
    for id in &ids[..capacity] {
        into_refuse(e, id, T0);
        e.handle_outcome(T0 + 3000, id, None, true, b"").unwrap();
        drain_records(e);
        runs(e);
    }
    assert_eq!(e.timers_len(), (capacity, capacity));
    ids
}

/// The next record after `prev` (its seq + 1, 1 ms later, same tenant), hashed and chained.
pub fn next_record(prev: &[u8], event: Event) -> Vec<u8> {
    let prev = Receipt::decode(prev).unwrap();
    let (seq, ts_ms, prev_hash) = (prev.seq + 1, prev.ts_ms + 1, prev.hash);
    let tenant = prev.tenant;
    let mut r = Receipt {
        seq,
        ts_ms,
        tenant,
        event,
        prev_hash,
        hash: [0; 32],
    };
    r.seal_into(&mut [0u8; RECORD_MAX_BYTES]).unwrap().to_vec()
}

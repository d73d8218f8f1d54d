//! The C ABI and the Rust engine, fed the same random traces (signals, entitlement commands,
//! outcomes, resets, manual actions, rollbacks, timeouts, modes, configurations), agree on
//! every status code, every output struct and every receipt, byte for byte.

use autonomic_c::memory::Layout;
use std::sync::atomic::{AtomicU64, Ordering};

use autonomic_c::*;
use autonomic_core::RawSignal;
use autonomic_core::engine::{Engine, EngineConfig, SignalResult};
use autonomic_core::storage::{Capacities, OwnedStorage};

/// Small enough that tables fill, queues refuse with Busy and slots are reused.
const CAPS: Capacities = Capacities {
    tenant_id_bytes: 4 * 8,
    dedup_ids: 64,
    receipts: 16,
    in_flight: 3,
    rollbackable: 4,
    ..Capacities::with_tenants(4)
};
const INPUTS: usize = 4_000;
const SEEDS: [u64; 5] = [1, 7, 42, 0xDEAD_BEEF, 2024];
const TENANTS: [&str; 7] = ["acme", "beta", "gamma", "delta", "epsilon-x", "", "bad id"];
const METRICS: [&str; 4] = ["cpu", "memory", "latency", "bogus"];
const SKUS: [&str; 4] = ["starter", "pro", "enterprise", "gold"];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }
}

/// An engine behind the C ABI, in a block from the global allocator.
struct CEngine {
    e: *mut AutonomicEngine,
    block: *mut u8,
    layout: std::alloc::Layout,
}

impl CEngine {
    fn new(caps: &Capacities) -> CEngine {
        let caps = AutonomicCapacities::from(*caps);
        let (mut size, mut align) = (0usize, 0usize);
        let status = unsafe { autonomic_storage_size(&caps, &mut size, &mut align) };
        assert_eq!(status, 0);
        assert_eq!(
            Some((size, align)),
            Layout::of(&caps.into()).map(|l| (l.size, l.align))
        );
        let layout = std::alloc::Layout::from_size_align(size, align)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let block = unsafe { std::alloc::alloc(layout) };
        assert!(!block.is_null());
        let mut e = std::ptr::null_mut();
        let status = unsafe { autonomic_engine_init(block, size, &caps, &mut e) };
        assert_eq!(status, 0, "{:?}", autonomic_error_name(status));
        CEngine { e, block, layout }
    }
}

impl Drop for CEngine {
    fn drop(&mut self) {
        unsafe {
            assert_eq!(autonomic_engine_fini(self.e), 0);
            std::alloc::dealloc(self.block, self.layout);
        }
    }
}

/// The codes the Rust engine answered with, as a bit set (to check the traces reach them).
static SEEN: AtomicU64 = AtomicU64::new(0);

/// The status code of the Rust engine's answer.
fn code<T, E: Into<AutonomicStatus> + Copy>(result: &Result<T, E>) -> i32 {
    let code = match result {
        Ok(_) => 0,
        Err(e) => (*e).into().code(),
    };
    SEEN.fetch_or(1 << code, Ordering::Relaxed);
    code
}

/// Feeds one random input to both engines and compares what they answer.
fn step(rng: &mut XorShift, now_ms: u64, c: &CEngine, rust: &mut Engine<'_>) {
    let tenant = rng.pick(&TENANTS);
    let (tp, tl) = (tenant.as_ptr(), tenant.len());
    match rng.below(10) {
        0..=2 => {
            let metric = rng.pick(&METRICS);
            let value = match rng.below(20) {
                0 => f64::NAN,
                1 => 120.0,
                _ => (rng.below(1_000) as f64) / 10.0,
            };
            let ts_ms = (now_ms + rng.below(5_000)).saturating_sub(rng.below(70_000));
            let mut out = AutonomicSignalResult::default();
            let status = unsafe {
                autonomic_signal(
                    c.e,
                    now_ms,
                    tp,
                    tl,
                    metric.as_ptr(),
                    metric.len(),
                    value,
                    ts_ms,
                    &mut out,
                )
            };
            let raw = RawSignal {
                tenant,
                metric,
                value,
                ts_ms,
            };
            let result = rust.handle_signal(now_ms, &raw);
            assert_eq!(status, code(&result), "signal {raw:?}");
            if let Ok(r) = result {
                let expected = match r {
                    SignalResult::Duplicate => AutonomicSignalResult {
                        duplicate: true,
                        transition: Default::default(),
                    },
                    SignalResult::Governed(t) => AutonomicSignalResult {
                        duplicate: false,
                        transition: (&t).into(),
                    },
                };
                assert_eq!(out, expected);
            }
        }
        3 => {
            let command = rng.below(6) as u32;
            let sku = rng.pick(&SKUS);
            let expires_at_ms = match rng.below(3) {
                0 => now_ms + rng.below(20_000),
                _ => AUTONOMIC_NONE,
            };
            let mut state = u32::MAX;
            let status = unsafe {
                autonomic_entitlement(
                    c.e,
                    now_ms,
                    tp,
                    tl,
                    command,
                    sku.as_ptr(),
                    sku.len(),
                    expires_at_ms,
                    &mut state,
                )
            };
            match entitlement_command(command, sku, expires_at_ms) {
                Err(e) => assert_eq!(status, e.code()),
                Ok(cmd) => {
                    let result = rust.handle_entitlement(now_ms, tenant, cmd);
                    assert_eq!(status, code(&result), "entitlement {cmd:?}");
                    if let Ok(s) = result {
                        assert_eq!(state, s as u32);
                    }
                }
            }
        }
        4 => {
            let in_flight = rust
                .tenant(now_ms, tenant)
                .and_then(|v| v.in_flight.map(|f| f.receipt));
            let receipt = match rng.below(3) {
                0 => None,
                1 => in_flight,
                _ => Some(rng.below(40)),
            };
            let succeeded = rng.below(2) == 0;
            let undo = vec![0xA5; rng.below(70) as usize];
            let mut out = AutonomicTransition::default();
            let status = unsafe {
                autonomic_outcome(
                    c.e,
                    now_ms,
                    tp,
                    tl,
                    receipt.unwrap_or(AUTONOMIC_NONE),
                    succeeded,
                    undo.as_ptr(),
                    undo.len(),
                    &mut out,
                )
            };
            let result = rust.handle_outcome(now_ms, tenant, receipt, succeeded, &undo);
            assert_eq!(status, code(&result), "outcome");
            if let Ok(t) = result {
                assert_eq!(out, (&t).into());
            }
        }
        5 => {
            let mut out = AutonomicTransition::default();
            let status = unsafe { autonomic_reset(c.e, now_ms, tp, tl, &mut out) };
            let result = rust.handle_reset(now_ms, tenant);
            assert_eq!(status, code(&result), "reset");
            if let Ok(t) = result {
                assert_eq!(out, (&t).into());
            }
        }
        6 => {
            let kind = rng.below(6) as u32;
            let percent = rng.below(120) as u8;
            let revision = rng.pick(&["v1", "", "r 2"]);
            let mut receipt = 0;
            let status = unsafe {
                autonomic_action(
                    c.e,
                    now_ms,
                    tp,
                    tl,
                    kind,
                    percent,
                    revision.as_ptr(),
                    revision.len(),
                    &mut receipt,
                )
            };
            match action_of(kind, percent, revision) {
                Err(e) => assert_eq!(status, e.code()),
                Ok(action) => {
                    let result = rust.handle_action(now_ms, tenant, action);
                    assert_eq!(status, code(&result), "action");
                    if let Ok(r) = result {
                        assert_eq!(receipt, r);
                    }
                }
            }
        }
        7 => {
            let receipt = rng.below(40);
            if rng.below(2) == 0 {
                let mut seq = 0;
                let status = unsafe { autonomic_rollback(c.e, now_ms, receipt, &mut seq) };
                let result = rust.handle_rollback(now_ms, receipt);
                assert_eq!(status, code(&result), "rollback");
                if let Ok(s) = result {
                    assert_eq!(seq, s);
                }
            } else {
                let succeeded = rng.below(2) == 0;
                let status = unsafe { autonomic_rollback_outcome(c.e, now_ms, receipt, succeeded) };
                let result = rust.handle_rollback_outcome(now_ms, receipt, succeeded);
                assert_eq!(status, code(&result), "rollback outcome");
            }
        }
        8 => mode_or_config(rng, now_ms, c, rust, tenant),
        _ => {
            let mut count = usize::MAX;
            let status = unsafe { autonomic_timeout(c.e, now_ms, &mut count) };
            assert_eq!(status, 0);
            assert_eq!(count, rust.handle_timeout(now_ms));
        }
    }
}

/// A tenant's mode (a value from 0 to 2: 2 is refused), or a configuration: the default, a
/// lower warn, breakers on, the governor's timing on, or an invalid one.
fn mode_or_config(
    rng: &mut XorShift,
    now_ms: u64,
    c: &CEngine,
    rust: &mut Engine<'_>,
    tenant: &str,
) {
    let mut seq = u64::MAX;
    if rng.below(2) == 0 {
        let mode = rng.below(3) as u32;
        let status =
            unsafe { autonomic_mode(c.e, now_ms, tenant.as_ptr(), tenant.len(), mode, &mut seq) };
        match mode_of(mode) {
            Err(e) => assert_eq!(status, e.code()),
            Ok(mode) => {
                let result = rust.handle_mode(now_ms, tenant, mode);
                assert_eq!(status, code(&result), "mode {mode:?}");
                assert_eq!(seq, result.unwrap_or(u64::MAX));
            }
        }
        return;
    }
    let mut config = AutonomicConfig::from(&EngineConfig::default());
    match rng.below(5) {
        0 => {}
        1 => (config.warn, config.recover) = (50, 45),
        2 => config.breaker_failures = [2, 1, 3, 1],
        3 => (config.grace_ms, config.refuse_max_ms) = (2_000, 8_000),
        _ => config.refuse_shed_pct[1] = 0,
    }
    let hash = [rng.below(256) as u8; 32];
    let status = unsafe { autonomic_config(c.e, now_ms, &config, hash.as_ptr(), &mut seq) };
    match EngineConfig::try_from(&config) {
        Err(e) => assert_eq!(status, e.code()),
        Ok(config) => {
            let result = rust.handle_config(now_ms, config, hash);
            assert_eq!(status, code(&result), "config {config:?}");
            assert_eq!(seq, result.unwrap_or(u64::MAX));
        }
    }
}

/// Drains both engines' receipts and actions (sometimes only part), comparing each.
fn drain(rng: &mut XorShift, c: &CEngine, rust: &mut Engine<'_>, receipts: &mut u64) {
    let mut buf = [0u8; AUTONOMIC_RECORD_MAX_BYTES];
    let mut limit = rng.below(8);
    while limit > 0 {
        limit -= 1;
        let mut len = 0;
        // A one-byte buffer is too small and consumes nothing.
        let status = unsafe { autonomic_poll_record(c.e, buf.as_mut_ptr(), 1, &mut len) };
        let status = if status == AutonomicStatus::BufferTooSmall.code() {
            unsafe { autonomic_poll_record(c.e, buf.as_mut_ptr(), buf.len(), &mut len) }
        } else {
            status
        };
        match rust.poll_record() {
            Some(record) => {
                assert_eq!(status, 0);
                assert_eq!(buf.get(..len), Some(record), "receipt {receipts}");
                *receipts += 1;
            }
            None => {
                assert_eq!(status, AutonomicStatus::Empty.code());
                break;
            }
        }
    }
    loop {
        let mut action = AutonomicAction::ZERO;
        let status = unsafe { autonomic_poll_action(c.e, &mut action) };
        match rust.poll_action() {
            Some(command) => {
                assert_eq!(status, 0);
                assert_eq!(action, AutonomicAction::from(&command));
            }
            None => {
                assert_eq!(status, AutonomicStatus::Empty.code());
                break;
            }
        }
    }
    let mut deadline_ms = 0;
    let status = unsafe { autonomic_poll_timeout(c.e, &mut deadline_ms) };
    match rust.poll_timeout() {
        Some(d) => assert_eq!((status, deadline_ms), (0, d)),
        None => assert_eq!(status, AutonomicStatus::Empty.code()),
    }
}

fn compare_tenants(now_ms: u64, c: &CEngine, rust: &Engine<'_>) {
    for tenant in TENANTS {
        let mut view = AutonomicTenantView::default();
        let status =
            unsafe { autonomic_tenant(c.e, now_ms, tenant.as_ptr(), tenant.len(), &mut view) };
        match rust.tenant(now_ms, tenant) {
            Some(v) => assert_eq!((status, view), (0, AutonomicTenantView::from(&v))),
            None => assert_eq!(status, AutonomicStatus::TenantNotFound.code()),
        }
    }
}

#[test]
fn the_c_abi_and_the_rust_engine_write_the_same_receipts() {
    let mut total = 0;
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        let c = CEngine::new(&CAPS);
        let mut storage = OwnedStorage::new(&CAPS);
        let mut rust = Engine::new(EngineConfig::default(), storage.storage()).unwrap();
        let mut now_ms = 100_000;
        let mut receipts = 0;
        for _ in 0..INPUTS {
            now_ms += rng.below(3_000);
            step(&mut rng, now_ms, &c, &mut rust);
            drain(&mut rng, &c, &mut rust, &mut receipts);
            compare_tenants(now_ms, &c, &rust);
        }
        assert!(receipts > 200, "seed {seed}: only {receipts} receipts");
        total += receipts;
    }
    let seen = SEEN.load(Ordering::Relaxed);
    let names: Vec<_> = AutonomicStatus::ALL
        .into_iter()
        .filter(|s| seen & (1 << s.code()) != 0)
        .map(|s| s.name().to_str().unwrap())
        .collect();
    eprintln!(
        "same trace: {total} receipts identical over {} inputs; codes seen: {names:?}",
        INPUTS * SEEDS.len()
    );
    for status in [
        AutonomicStatus::Busy,
        AutonomicStatus::TenantTableFull,
        AutonomicStatus::StaleOutcome,
        AutonomicStatus::InvalidStateTransition,
        AutonomicStatus::EntitlementNotActive,
        AutonomicStatus::InvalidTimestamp,
        AutonomicStatus::InvalidActionPercent,
    ] {
        assert!(seen & (1 << status.code()) != 0, "{status:?} never reached");
    }
}

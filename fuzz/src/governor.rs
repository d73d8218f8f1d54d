//! `governor_ops`: an `arbitrary` list of operations through a small engine, with the
//! invariants of the simulation checked whenever the driver drains (and at the end):
//! the `Auditor` of `autonomic-tests` (chain, governor table rows, one action in flight per tenant,
//! one outcome per dispatch), no `Busy` right after a full drain, admissions within the
//! effective quota, and an engine rebuilt from the records equal to the live one.
//!
//! The clock only moves forward; signal timestamps reach up to about 4 minutes back, so
//! stale signals (older than the 60 s age bound = the dedup retention: InvalidTimestamp) are
//! covered, and every governed signal is redelivered at once, which must be a duplicate.
//! Outcomes carry undo tokens of 0..=70 bytes (over 64 is UndoTooLarge and changes nothing);
//! every rollback must hand back the token its action's success carried. Circuit breakers
//! are on for three inputs in four (`breakers % 4` failures, a 16-receipt ring), so circuits
//! open, refuse, half-open and close, and the restored engine's circuits equal the live ones.

use arbitrary::Arbitrary;
use autonomic_core::breaker::BreakerConfig;
use autonomic_core::engine::{ActionCommand, Engine, EngineConfig};
use autonomic_core::entitlement::AdmitError;
use autonomic_core::ledger::SPANS_MIN;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Action, ActionKind, EntitlementCommand, EntitlementState, RawSignal, Resource, Thresholds,
};
use autonomic_tests::audit::Auditor;
use autonomic_tests::model::entitlement::{quotas, throttled};
use autonomic_tests::model::governor::Th;

/// 4 tenants, a ring of at most 16 receipts, 64 dedup ids: small, so every limit is reached
/// (five tenant ids fill the table: TenantTableFull, and reuse of revoked tenants' slots,
/// which the final restore comparison checks).
const CAPS: Capacities = Capacities {
    tenant_id_bytes: 4 * 32,
    dedup_ids: 64,
    receipts: 16,
    ..Capacities::with_tenants(4)
};

const TENANTS: [&str; 5] = ["a", "b", "c", "d", "e"];
const METRICS: [&str; 4] = ["cpu", "memory", "LATENCY", "nope"];
const SKUS: [&str; 4] = ["starter", "pro", "enterprise", "gold"];

/// One operation.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// A signal: value `value % 101` plus `half` × 0.5, stamped `back_ms` × 4 ms ago.
    Signal {
        tenant: u8,
        metric: u8,
        value: u8,
        half: bool,
        back_ms: u16,
    },
    /// A signal with an arbitrary value and names.
    Odd {
        tenant: String,
        metric: String,
        value: f64,
    },
    /// An actuator's report for the action in flight (`stale`: for a wrong id), with an
    /// undo token of `undo % 71` bytes.
    Outcome {
        tenant: u8,
        ok: bool,
        stale: bool,
        quote: bool,
        undo: u8,
    },
    /// An operator's reset.
    Reset { tenant: u8 },
    /// A manual action.
    Manual { tenant: u8, kind: u8, percent: u8 },
    /// A rollback of a remembered (or a random) receipt.
    Rollback { pick: u8 },
    /// A rollback's outcome.
    RollbackOutcome { pick: u8, ok: bool },
    /// An entitlement command.
    Entitlement {
        tenant: u8,
        cmd: u8,
        sku: u8,
        expires_in: Option<u16>,
    },
    /// Admit or release units.
    Admit {
        tenant: u8,
        resource: u8,
        amount: u8,
        release: bool,
    },
    /// The clock moves forward; what is due times out.
    Tick { dt: u16, big: bool },
    /// Drain the records and commands and check every invariant.
    Drain,
}

/// The target's input.
#[derive(Debug, Arbitrary)]
pub struct Input {
    thresholds: [u8; 5],
    timeouts: [u16; 4],
    capacity: u8,
    breakers: u8,
    ops: Vec<Op>,
}

struct Driver<'a> {
    engine: Engine<'a>,
    config: EngineConfig,
    caps: Capacities,
    auditor: Auditor,
    now: u64,
    drained: bool,
    rollbacks: Vec<u64>,
    /// Undo tokens accepted with successes, by receipt id.
    undos: std::collections::HashMap<u64, Vec<u8>>,
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

fn thresholds(t: [u8; 5]) -> Th {
    // Any five bytes become valid thresholds: recover <= warn < intervene <= refuse <= 100.
    let intervene = 1 + t[0] % 100;
    let warn = t[1] % intervene;
    let recover = t[2] % (warn + 1);
    let refuse = intervene + t[3] % (101 - intervene);
    let sustain = 1 + t[4] % 6;
    Th {
        warn,
        recover,
        intervene,
        refuse,
        sustain,
    }
}

/// The capacities of one run: [`CAPS`], with a ring of `capacity` receipts (4..=16; 16 with
/// breakers on, the longest chain an input may then append needs it).
fn capacities(input: &Input) -> Capacities {
    let receipts = if breaker(input.breakers).failures > 0 {
        CAPS.receipts
    } else {
        usize::from(input.capacity).clamp(SPANS_MIN, CAPS.receipts)
    };
    Capacities { receipts, ..CAPS }
}

/// Every kind's breaker: `b % 4` failures (0: off), a cool-down of 1..=8 s.
fn breaker(b: u8) -> BreakerConfig {
    BreakerConfig {
        failures: u32::from(b % 4),
        cooldown_ms: 1_000 * (1 + u64::from(b / 4 % 8)),
    }
}

impl<'a> Driver<'a> {
    fn new(input: &Input, mem: &'a mut OwnedStorage) -> Self {
        let th = thresholds(input.thresholds);
        let config = EngineConfig {
            thresholds: Thresholds::new(th.warn, th.recover, th.intervene, th.refuse, th.sustain)
                .expect("valid by construction"),
            action_timeout_ms: input.timeouts.map(|t| 1 + u64::from(t)),
            breakers: [breaker(input.breakers); 4],
            ..EngineConfig::default()
        };
        Self {
            engine: Engine::new(config, mem.storage()).expect("valid config"),
            config,
            caps: capacities(input),
            auditor: Auditor::new(th),
            now: 1_000_000_000,
            drained: true,
            rollbacks: Vec::new(),
            undos: std::collections::HashMap::new(),
        }
    }

    fn busy(&self, what: &str, busy: bool) {
        assert!(
            !(busy && self.drained),
            "{what}: Busy right after a full drain"
        );
    }

    fn drain(&mut self) {
        if let Err(e) = self.auditor.drain(&mut self.engine) {
            panic!("audit: {e}");
        }
        while let Some(cmd) = self.engine.poll_action() {
            if let ActionCommand::Rollback { receipt, undo, .. } = cmd {
                let reported = self.undos.get(&receipt).map_or(&[][..], Vec::as_slice);
                assert_eq!(
                    undo.as_slice(),
                    reported,
                    "rollback of {receipt}: wrong undo"
                );
                self.rollbacks.push(receipt);
            }
        }
        if let Err(e) = self.auditor.check(&self.engine, self.now) {
            panic!("check: {e}");
        }
        self.drained = true;
    }

    fn step(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Signal {
                tenant,
                metric,
                value,
                half,
                back_ms,
            } => {
                let value = f64::from(value % 101)
                    + if *half && *value % 101 < 100 {
                        0.5
                    } else {
                        0.0
                    };
                let ts_ms = now - u64::from(*back_ms) * 4;
                let raw = RawSignal {
                    tenant: pick(&TENANTS, *tenant),
                    metric: pick(&METRICS, *metric),
                    value,
                    ts_ms,
                };
                let r = self.engine.handle_signal(now, &raw);
                self.busy("signal", matches!(r, Err(e) if e.name() == "Busy"));
                // Tenant and value are always valid here; the metric may not be (checked first).
                let stale = ts_ms < now.saturating_sub(60_000);
                if stale && raw.metric != "nope" {
                    let name = r.as_ref().err().map(|e| e.name());
                    assert_eq!(name, Some("InvalidTimestamp"), "stale signal {raw:?}");
                }
                if matches!(r, Ok(autonomic_core::SignalResult::Governed(_))) {
                    let again = self.engine.handle_signal(now, &raw);
                    assert_eq!(
                        again,
                        Ok(autonomic_core::SignalResult::Duplicate),
                        "redelivery of {raw:?} not a duplicate"
                    );
                }
            }
            Op::Odd {
                tenant,
                metric,
                value,
            } => {
                let raw = RawSignal {
                    tenant,
                    metric,
                    value: *value,
                    ts_ms: now,
                };
                let r = self.engine.handle_signal(now, &raw);
                if let Err(e) = autonomic_core::Signal::parse(&raw, now) {
                    let got = r.as_ref().err().map(|e| e.name());
                    assert_eq!(got, Some(e.name()), "engine and parse disagree");
                }
                self.busy("odd signal", matches!(r, Err(e) if e.name() == "Busy"));
            }
            Op::Outcome {
                tenant,
                ok,
                stale,
                quote,
                undo,
            } => {
                let t = pick(&TENANTS, *tenant);
                let flying = self
                    .engine
                    .tenant(now, t)
                    .and_then(|v| v.in_flight.map(|f| f.receipt));
                let receipt = match (quote, stale) {
                    (false, _) => None,
                    (true, false) => flying,
                    (true, true) => Some(flying.map_or(7, |r| r + 1)),
                };
                let undo: Vec<u8> = (0..undo % 71).collect();
                let seq = self.engine.ledger().next_seq();
                let r = self.engine.handle_outcome(now, t, receipt, *ok, &undo);
                self.busy("outcome", matches!(r, Err(e) if e.name() == "Busy"));
                if undo.len() > autonomic_core::limits::UNDO_BYTES_MAX {
                    let known = self.engine.tenant(now, t).is_some();
                    assert!(
                        r.is_err() && self.engine.ledger().next_seq() == seq,
                        "an undo of {} bytes applied: {r:?} (tenant known {known})",
                        undo.len()
                    );
                }
                if let (Ok(_), true, Some(done)) = (&r, *ok, flying) {
                    self.undos.insert(done, undo);
                }
                if receipt.is_some() && receipt != flying {
                    assert!(
                        r.is_err(),
                        "an outcome for {receipt:?} applied while {flying:?} is in flight"
                    );
                }
            }
            Op::Reset { tenant } => {
                let r = self.engine.handle_reset(now, pick(&TENANTS, *tenant));
                self.busy("reset", matches!(r, Err(e) if e.name() == "Busy"));
            }
            Op::Manual {
                tenant,
                kind,
                percent,
            } => {
                let action = match kind % 4 {
                    0 => Action::throttle(*percent).ok(),
                    1 => Some(Action::Pause),
                    2 => Action::shed(*percent).ok(),
                    _ => Action::rollback("r1").ok(),
                };
                if let Some(action) = action {
                    let t = pick(&TENANTS, *tenant);
                    let flying = self
                        .engine
                        .tenant(now, t)
                        .and_then(|v| v.in_flight.map(|f| f.receipt));
                    let r = self.engine.handle_action(now, t, action);
                    self.busy("manual", matches!(r, Err(e) if e.name() == "Busy"));
                    if flying.is_some() {
                        assert!(
                            r.is_err(),
                            "manual action accepted while {flying:?} is in flight"
                        );
                    }
                }
            }
            Op::Rollback { pick: p } => {
                let done: Vec<u64> = self.engine.rollbackable().collect();
                let receipt = if done.is_empty() {
                    u64::from(*p)
                } else {
                    pick(&done, *p)
                };
                let r = self.engine.handle_rollback(now, receipt);
                self.busy("rollback", matches!(r, Err(e) if e.name() == "Busy"));
                if !done.contains(&receipt) {
                    assert!(r.is_err(), "rollback of unknown receipt {receipt} accepted");
                }
            }
            Op::RollbackOutcome { pick: p, ok } => {
                if !self.rollbacks.is_empty() {
                    let i = usize::from(*p) % self.rollbacks.len();
                    let receipt = self.rollbacks.remove(i);
                    let r = self.engine.handle_rollback_outcome(now, receipt, *ok);
                    self.busy(
                        "rollback outcome",
                        matches!(r, Err(e) if e.name() == "Busy"),
                    );
                }
            }
            Op::Entitlement {
                tenant,
                cmd,
                sku,
                expires_in,
            } => {
                let sku = pick(&SKUS, *sku);
                let expires_at_ms = expires_in.map(|d| now + u64::from(d) * 10);
                let cmd = match cmd % 5 {
                    0 => EntitlementCommand::Provision { sku },
                    1 => EntitlementCommand::Activate { sku, expires_at_ms },
                    2 => EntitlementCommand::Pause,
                    3 => EntitlementCommand::Resume,
                    _ => EntitlementCommand::Revoke,
                };
                let r = self
                    .engine
                    .handle_entitlement(now, pick(&TENANTS, *tenant), cmd);
                self.busy("entitlement", matches!(r, Err(e) if e.name() == "Busy"));
            }
            Op::Admit {
                tenant,
                resource,
                amount,
                release,
            } => self.admit(*tenant, *resource, *amount, *release),
            Op::Tick { dt, big } => {
                self.now += u64::from(*dt) * if *big { 1000 } else { 1 };
                let due = self.engine.poll_timeout().is_some_and(|d| d <= self.now);
                let done = self.engine.handle_timeout(self.now);
                // One call may stop early when the ring fills; after a drain it progresses.
                let stuck = due && self.drained && done == 0;
                assert!(!stuck, "handle_timeout made no progress after a full drain");
            }
            Op::Drain => self.drain(),
        }
        if !matches!(op, Op::Drain | Op::Admit { .. }) {
            self.drained = false;
        }
    }

    fn admit(&mut self, tenant: u8, resource: u8, amount: u8, release: bool) {
        let t = pick(&TENANTS, tenant);
        let resource = pick(&Resource::ALL, resource);
        let Some(view) = self.engine.tenant(self.now, t) else {
            return;
        };
        let (used, sku, enforced, entitlement) = (
            u32::from(view.usage[resource as usize]),
            view.sku,
            view.enforced,
            view.entitlement,
        );
        if release {
            let r = self.engine.release(t, resource, u32::from(amount));
            if let Ok(left) = r {
                assert_eq!(u32::from(left) + u32::from(amount), used);
            }
            return;
        }
        let r = self.engine.admit(self.now, t, resource, u32::from(amount));
        let sku_limit = quotas(sku.as_str()).expect("known sku")[resource as usize];
        let limit = match enforced.map(|e| (e.kind, e.percent)) {
            Some((ActionKind::Throttle, p)) => throttled(sku_limit, p),
            _ => sku_limit,
        };
        match r {
            Ok(now_used) => {
                assert_eq!(
                    entitlement,
                    EntitlementState::Active,
                    "admitted while {entitlement:?}"
                );
                assert_ne!(
                    enforced.map(|e| e.kind),
                    Some(ActionKind::Pause),
                    "admitted under Pause"
                );
                assert_eq!(u32::from(now_used), used + u32::from(amount));
                assert!(
                    u32::from(now_used) <= limit,
                    "{now_used} in use over the effective limit {limit} ({enforced:?})"
                );
            }
            Err(AdmitError::QuotaExceeded {
                in_use,
                requested,
                limit: l,
                ..
            }) => {
                assert_eq!(u32::from(l), limit);
                assert_eq!(u32::from(in_use), used);
                assert_eq!(requested, u16::from(amount));
                assert!(used + u32::from(amount) > limit);
            }
            Err(_) => {}
        }
    }

    fn finish(mut self) {
        self.drain();
        for _ in 0..8 {
            self.now += 4_000_000;
            while self.engine.poll_timeout().is_some_and(|d| d <= self.now) {
                let done = self.engine.handle_timeout(self.now);
                assert!(done > 0, "handle_timeout made no progress after a drain");
                self.drain();
            }
        }
        assert!(
            self.engine.in_flight().is_empty(),
            "actions left in flight after every deadline"
        );
        assert_eq!(
            self.auditor.open().count(),
            0,
            "dispatched actions without an outcome"
        );
        let mut mem = OwnedStorage::new(&self.caps);
        let mut rebuilt = Engine::new(self.config, mem.storage()).expect("config");
        for (i, r) in self.auditor.records.iter().enumerate() {
            if let Err(e) = rebuilt.restore(r) {
                panic!("restore of record {i}: {e}");
            }
        }
        let strip = |mut v: autonomic_core::TenantView<'_>| {
            v.usage = [0; 4];
            format!("{v:?}")
        };
        let live: Vec<String> = self.engine.tenants(self.now).map(strip).collect();
        let back: Vec<String> = rebuilt.tenants(self.now).map(strip).collect();
        assert_eq!(live, back, "rebuilt engine differs");
        assert_eq!(self.engine.in_flight(), rebuilt.in_flight());
        for kind in ActionKind::ALL {
            assert_eq!(self.engine.circuit(kind), rebuilt.circuit(kind), "{kind:?}");
        }
        assert!(self.engine.rollbackable().eq(rebuilt.rollbackable()));
        assert_eq!(
            self.engine.ledger().head_hash(),
            rebuilt.ledger().head_hash()
        );
    }
}

/// The target's body.
pub fn run(input: &Input) {
    let mut mem = OwnedStorage::new(&capacities(input));
    let mut d = Driver::new(input, &mut mem);
    for op in input.ops.iter().take(512) {
        d.step(op);
    }
    d.finish();
}

//! Model-based properties: the engine and the reference models of `autonomic-tests` run the
//! same random operations (signals, outcomes, timeouts, resets, manual actions, entitlement
//! commands, across four tenants) and are compared after every step: each result (state,
//! consecutive_high, action, receipt id, entitlement state, error name), every tenant's view,
//! the receipt count, the action commands handed out and every kind's circuit (with circuit
//! breakers on in `engine_matches_model_with_breakers`).
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 here).

use autonomic_core::breaker::BreakerConfig;
use autonomic_core::dedup::Dedup;
use autonomic_core::engine::{CommandError, Engine, EngineConfig, Mode, SignalResult, Transition};
use autonomic_core::entitlement::{self as core_ent, CommandKind, EntitlementError};
use autonomic_core::governor::{self as core_gov, GovernorEvent};
use autonomic_core::monitor::{MetricKind, signal_id};
use autonomic_core::storage::{Capacities, OwnedStorage, index_slots_for};
use autonomic_core::{
    Action, ActionKind, EntitlementCommand, EntitlementState, GovernorState, RawSignal,
    SignalError, Thresholds,
};
use autonomic_tests::LARGE;
use autonomic_tests::compare::{commands, gstate, maction};
use autonomic_tests::model::dedup::{DedupModel, Key};
use autonomic_tests::model::engine::{EngineModel, MSignal, MTransition};
use autonomic_tests::model::entitlement::{self as model_ent, ECmd, EState};
use autonomic_tests::model::governor::{self as model_gov, GEvent, MAction, Th};
use autonomic_tests::model::mode::MMode;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest::test_runner::TestCaseError;

/// Small enough that every bound is reached within a case: 4 tenants (the five valid ids
/// below fill the table and revoked tenants' slots are reused) in a 10-byte id arena (three
/// 2-byte ids and "ghost" fill it with a slot still free), 16 dedup ids (evicted early), a
/// ring of 16 receipts (it wraps; the run drains it every step).
const SMALL: Capacities = Capacities {
    tenant_id_bytes: 10,
    dedup_ids: 16,
    receipts: 16,
    ..Capacities::with_tenants(4)
};

/// [`SMALL`] with a ring of 64 receipts: with circuit breakers on, every input keeps room
/// for the longest chain a circuit can add (`limits::BREAKER_RECEIPTS_PER_INPUT_MAX`), which
/// a 16-receipt ring cannot offer to several timeouts in one call. The model has no `Busy`.
const SMALL_WITH_BREAKERS: Capacities = Capacities {
    receipts: 64,
    ..SMALL
};

const TENANTS: [&str; 4] = ["t0", "t1", "t2", "t3"];
const ODD_TENANTS: [&str; 4] = ["", "has space", "ghost", "caf\u{e9}"];
const METRICS: [&str; 7] = ["cpu", "memory", "CPU", "Error_Rate", "latency", "bogus", ""];
const SKUS: [&str; 4] = ["starter", "pro", "enterprise", "gold"];

fn config() -> ProptestConfig {
    config_with_cases(256)
}

/// The suite's config with `cases` cases by default (`PROPTEST_CASES` overrides it).
fn config_with_cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_governor.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn thresholds() -> impl Strategy<Value = Th> {
    let custom = (1u8..=100)
        .prop_flat_map(|intervene| (Just(intervene), 0..intervene, intervene..=100, 1u8..=5))
        .prop_flat_map(|(intervene, warn, refuse, sustain)| {
            (0..=warn).prop_map(move |recover| Th {
                warn,
                recover,
                intervene,
                refuse,
                sustain,
            })
        });
    prop_oneof![1 => Just(Th::DEFAULT), 1 => custom]
}

fn core_th(th: &Th) -> Thresholds {
    Thresholds::new(th.warn, th.recover, th.intervene, th.refuse, th.sustain)
        .expect("the strategy only makes valid thresholds")
}

#[derive(Debug, Clone)]
enum Ts {
    /// `back` windows before now's, at `offset` ms: 0..=12 inside the retained windows (the
    /// 12th straddles the 60 s age bound, so both sides of it come up); 13..=40 a stale
    /// signal, refused with InvalidTimestamp.
    Recent { back: u64, offset: u64 },
    /// Ahead of now by this much (over 3 600 000 is `InvalidTimestamp`).
    Ahead(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Signal {
        tenant: &'static str,
        metric: &'static str,
        value: f64,
        ts: Ts,
    },
    /// Sends an earlier signal again (a duplicate while its window is retained).
    Redeliver(usize),
    /// An outcome: `receipt` 0 = none, 1 = the one in flight, 2 = a stale id; an undo
    /// token of `undo` bytes (over 64 is UndoTooLarge).
    Outcome {
        tenant: &'static str,
        receipt: u8,
        succeeded: bool,
        undo: usize,
    },
    Reset(&'static str),
    Manual {
        tenant: &'static str,
        action: MAction,
    },
    /// A manual action asked to queue behind the one in flight.
    QueuedManual {
        tenant: &'static str,
        action: MAction,
    },
    Entitlement {
        tenant: &'static str,
        cmd: ECmd,
        sku: &'static str,
        expires_in: Option<u64>,
    },
    /// A tenant's mode: shadow or enforce (`model::mode`).
    Mode {
        tenant: &'static str,
        shadow: bool,
    },
    /// Advance the clock, then time out what is due.
    Tick(u64),
    /// Advance the clock to exactly a tenant's expiry (if it lies ahead), then time out.
    TickToExpiry(&'static str),
    /// A hot reload: new thresholds and action timeouts (`docs/config.md#hot-reload`).
    Reload {
        th: Th,
        timeouts: [u64; 3],
    },
}

fn tenant() -> impl Strategy<Value = &'static str> {
    prop_oneof![9 => prop::sample::select(&TENANTS[..]), 1 => prop::sample::select(&ODD_TENANTS[..])]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (0u8..=100).prop_map(f64::from),
        2 => 0.0..=100.0f64,
        2 => (0u8..100).prop_map(|v| f64::from(v) + 0.5),
        1 => prop::sample::select(vec![74.49, 89.4999, f64::NAN, f64::INFINITY, -1.0, 100.5, -0.0]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ts = prop_oneof![
        9 => (0u64..=12, 0u64..5000).prop_map(|(back, offset)| Ts::Recent { back, offset }),
        1 => (13u64..=40, 0u64..5000).prop_map(|(back, offset)| Ts::Recent { back, offset }),
        1 => (0u64..3_700_000).prop_map(Ts::Ahead),
    ];
    let signal = (tenant(), prop::sample::select(&METRICS[..]), value(), ts).prop_map(
        |(tenant, metric, value, ts)| Op::Signal {
            tenant,
            metric,
            value,
            ts,
        },
    );
    let action = prop_oneof![
        (0u8..=100).prop_map(MAction::Throttle),
        Just(MAction::Pause),
        (0u8..=100).prop_map(MAction::Shed),
    ];
    let cmd = prop::sample::select(vec![
        ECmd::Provision,
        ECmd::Activate,
        ECmd::Pause,
        ECmd::Resume,
        ECmd::Revoke,
    ]);
    let expires = prop_oneof![3 => Just(None), 1 => (0u64..120_000).prop_map(Some)];
    let tick = prop_oneof![Just(0u64), 1u64..3000, Just(5000u64), 10_000u64..45_000];
    prop_oneof![
        12 => signal,
        3 => any::<prop::sample::Index>().prop_map(|i| Op::Redeliver(i.index(1 << 20))),
        3 => (tenant(), 0u8..3, any::<bool>(), prop_oneof![3 => Just(0usize), 1 => 0usize..=70])
            .prop_map(|(tenant, receipt, succeeded, undo)| Op::Outcome { tenant, receipt, succeeded, undo }),
        1 => tenant().prop_map(Op::Reset),
        1 => (tenant(), action.clone()).prop_map(|(tenant, action)| Op::Manual { tenant, action }),
        2 => (tenant(), action).prop_map(|(tenant, action)| Op::QueuedManual { tenant, action }),
        3 => (tenant(), cmd, prop::sample::select(&SKUS[..]), expires)
            .prop_map(|(tenant, cmd, sku, expires_in)| Op::Entitlement { tenant, cmd, sku, expires_in }),
        1 => (tenant(), any::<bool>()).prop_map(|(tenant, shadow)| Op::Mode { tenant, shadow }),
        4 => tick.prop_map(Op::Tick),
        1 => prop::sample::select(&TENANTS[..]).prop_map(Op::TickToExpiry),
        1 => (thresholds(), timeouts()).prop_map(|(th, timeouts)| Op::Reload { th, timeouts }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    // Start with everyone active, so most signals are governed.
    let start = TENANTS.iter().map(|t| Op::Entitlement {
        tenant: t,
        cmd: ECmd::Activate,
        sku: "pro",
        expires_in: None,
    });
    let start: Vec<Op> = start.collect();
    prop::collection::vec(op(), 1..160)
        .prop_map(move |rest| start.iter().cloned().chain(rest).collect())
}

fn core_action(a: MAction) -> Action {
    match a {
        MAction::Throttle(p) => Action::throttle(p).expect("0..=100"),
        MAction::Pause => Action::Pause,
        MAction::Shed(p) => Action::shed(p).expect("0..=100"),
    }
}

fn same_transition(t: &Transition, m: &MTransition) -> bool {
    gstate(t.from) == m.from
        && gstate(t.to) == m.to
        && t.consecutive_high == m.c
        && t.dispatched().as_ref().map(maction) == m.action.map(Some)
        && t.receipt == m.receipt
        && t.shadow == m.shadow
}

struct Run<'a> {
    engine: Engine<'a>,
    model: EngineModel,
    now: u64,
    sent: Vec<(String, String, f64, u64)>,
}

impl<'a> Run<'a> {
    fn new(
        th: Th,
        timeouts: [u64; 3],
        breakers: [(u32, u64); 3],
        caps: &Capacities,
        mem: &'a mut OwnedStorage,
    ) -> Self {
        let breaker = |(failures, cooldown_ms)| BreakerConfig {
            failures,
            cooldown_ms,
        };
        let config = EngineConfig {
            thresholds: core_th(&th),
            action_timeout_ms: [timeouts[0], timeouts[1], timeouts[2], 30_000],
            breakers: [
                breaker(breakers[0]),
                breaker(breakers[1]),
                breaker(breakers[2]),
                BreakerConfig::DEFAULT,
            ],
            ..EngineConfig::default()
        };
        Self {
            engine: Engine::new(config, mem.storage()).expect("valid config"),
            model: EngineModel::new(th, timeouts)
                .with_capacities(caps)
                .with_breakers(breakers),
            now: 1_000_000,
            sent: Vec::new(),
        }
    }

    fn signal(
        &mut self,
        tenant: &str,
        metric: &str,
        value: f64,
        ts: u64,
    ) -> Result<(), TestCaseError> {
        let raw = RawSignal {
            tenant,
            metric,
            value,
            ts_ms: ts,
        };
        let got = self.engine.handle_signal(self.now, &raw);
        let want = self.model.signal(self.now, tenant, metric, value, ts);
        let ok = match (&got, &want) {
            (Ok(SignalResult::Duplicate), Ok(MSignal::Duplicate)) => true,
            (Ok(SignalResult::Governed(t)), Ok(MSignal::Governed(m))) => same_transition(t, m),
            (Err(e), Err(m)) => e.name() == *m,
            _ => false,
        };
        prop_assert!(
            ok,
            "signal {raw:?} at {}: engine {got:?}, model {want:?}",
            self.now
        );
        self.sent
            .push((tenant.to_string(), metric.to_string(), value, ts));
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match op {
            Op::Signal {
                tenant,
                metric,
                value,
                ts,
            } => {
                let ts = match ts {
                    Ts::Recent { back, offset } => {
                        ((now / 5000).saturating_sub(*back)) * 5000 + offset
                    }
                    Ts::Ahead(d) => now + d,
                };
                self.signal(tenant, metric, *value, ts)?;
            }
            Op::Redeliver(i) => {
                if !self.sent.is_empty() {
                    let (t, m, v, ts) = self.sent[i % self.sent.len()].clone();
                    self.signal(&t, &m, v, ts)?;
                }
            }
            Op::Outcome {
                tenant,
                receipt,
                succeeded,
                undo,
            } => {
                let flying = self
                    .model
                    .tenant(tenant)
                    .and_then(|t| t.in_flight)
                    .map(|f| f.receipt);
                let receipt = match receipt {
                    0 => None,
                    1 => flying.or(Some(self.model.next_seq + 7)),
                    _ => Some(flying.map_or(self.model.next_seq + 3, |r| r + 1)),
                };
                let bytes = vec![0x5a; *undo];
                let got = self
                    .engine
                    .handle_outcome(now, tenant, receipt, *succeeded, &bytes);
                let want = self.model.outcome(now, tenant, receipt, *succeeded, *undo);
                prop_assert!(
                    same_command(&got, &want),
                    "outcome {tenant} {receipt:?} {succeeded}: engine {got:?}, model {want:?}"
                );
            }
            Op::Reset(tenant) => {
                let got = self.engine.handle_reset(now, tenant);
                let want = self.model.reset(now, tenant);
                prop_assert!(
                    same_command(&got, &want),
                    "reset {tenant}: engine {got:?}, model {want:?}"
                );
            }
            Op::Manual { tenant, action } | Op::QueuedManual { tenant, action } => {
                let queue = matches!(op, Op::QueuedManual { .. });
                let (got, want) = if queue {
                    let got = self
                        .engine
                        .handle_queued_action(now, tenant, core_action(*action));
                    (got, self.model.queued_manual(now, tenant, *action))
                } else {
                    let got = self.engine.handle_action(now, tenant, core_action(*action));
                    (got, self.model.manual(now, tenant, *action))
                };
                let ok = match (&got, &want) {
                    (Ok(a), Ok(b)) => a == b,
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(
                    ok,
                    "manual {action:?} (queue {queue}) for {tenant}: engine {got:?}, model {want:?}"
                );
            }
            Op::Entitlement {
                tenant,
                cmd,
                sku,
                expires_in,
            } => {
                let expires_at_ms = expires_in.map(|d| now + d);
                let command = match cmd {
                    ECmd::Provision => EntitlementCommand::Provision { sku },
                    ECmd::Activate => EntitlementCommand::Activate { sku, expires_at_ms },
                    ECmd::Pause => EntitlementCommand::Pause,
                    ECmd::Resume => EntitlementCommand::Resume,
                    ECmd::Revoke => EntitlementCommand::Revoke,
                };
                let got = self.engine.handle_entitlement(now, tenant, command);
                let want = self
                    .model
                    .entitlement(now, tenant, *cmd, sku, expires_at_ms);
                let ok = match (&got, &want) {
                    (Ok(s), Ok(m)) => s.as_str() == m.name(),
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(
                    ok,
                    "{cmd:?} {tenant} {sku} {expires_at_ms:?} at {now}: engine {got:?}, model {want:?}"
                );
            }
            Op::Mode { tenant, shadow } => {
                let (mode, m_mode) = if *shadow {
                    (Mode::Shadow, MMode::Shadow)
                } else {
                    (Mode::Enforce, MMode::Enforce)
                };
                let got = self.engine.handle_mode(now, tenant, mode);
                let want = self.model.set_mode(tenant, m_mode);
                prop_assert_eq!(
                    got.map_err(|e| e.name()),
                    want,
                    "mode {} {}",
                    tenant,
                    shadow
                );
            }
            Op::Tick(_) | Op::TickToExpiry(_) => {
                self.now = match op {
                    Op::Tick(dt) => self.now + dt,
                    Op::TickToExpiry(t) => {
                        let expiry = self.model.tenant(t).and_then(|t| t.expires_at_ms);
                        expiry.unwrap_or(0).max(self.now)
                    }
                    _ => unreachable!(),
                };
                let got = self.engine.handle_timeout(self.now);
                let want = self.model.timeout(self.now);
                prop_assert_eq!(got, want, "actions timed out at {}", self.now);
            }
            Op::Reload { th, timeouts } => {
                let config = EngineConfig {
                    thresholds: core_th(th),
                    action_timeout_ms: [timeouts[0], timeouts[1], timeouts[2], 30_000],
                    ..*self.engine.config()
                };
                let got = self.engine.handle_config(now, config, [0x5a; 32]);
                prop_assert_eq!(got, Ok(self.model.reload(*th, *timeouts)), "reload");
            }
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<(), TestCaseError> {
        // Drained every step, so the ring never fills and nothing is ever Busy.
        while self.engine.poll_record().is_some() {}
        prop_assert_eq!(
            self.engine.ledger().next_seq(),
            self.model.next_seq,
            "receipts appended"
        );
        let got = commands(&mut self.engine);
        let mut want = self.model.take_commands();
        want.sort();
        prop_assert_eq!(got, want, "action commands");
        for (k, kind) in [ActionKind::Throttle, ActionKind::Pause, ActionKind::Shed]
            .into_iter()
            .enumerate()
        {
            prop_assert_eq!(
                self.engine.circuit(kind).as_str(),
                self.model.circuit(k).name(),
                "{:?} circuit",
                kind
            );
        }
        prop_assert_eq!(
            self.engine.tenant_count(),
            self.model.tenants.len(),
            "tenants"
        );
        let order: Vec<&str> = self.engine.tenants(self.now).map(|v| v.tenant).collect();
        let m_order: Vec<&str> = self.model.tenants.iter().map(|t| t.id.as_str()).collect();
        prop_assert_eq!(order, m_order, "the table, slot for slot");
        prop_assert_eq!(
            self.engine.poll_timeout(),
            self.model.poll_timeout(),
            "poll_timeout"
        );
        for m in &self.model.tenants {
            let got: Vec<u64> = self.engine.queued(&m.id).map(|q| q.receipt).collect();
            prop_assert_eq!(got, self.model.queued_of(&m.id), "{} queued", m.id);
        }
        for m in &self.model.tenants {
            let v = self.engine.tenant(self.now, &m.id);
            prop_assert!(v.is_some(), "engine lost tenant {}", m.id);
            let v = v.unwrap();
            let flight = v
                .in_flight
                .map(|f| (f.receipt, f.deadline_ms, maction(&f.action)));
            let m_flight = m
                .in_flight
                .map(|f| (f.receipt, f.deadline_ms, Some(f.action)));
            let enforced = v.enforced.map(|e| {
                let action = match e.kind {
                    ActionKind::Throttle => MAction::Throttle(e.percent),
                    ActionKind::Shed => MAction::Shed(e.percent),
                    _ => MAction::Pause,
                };
                (e.receipt, action)
            });
            let got = (
                v.entitlement.as_str(),
                v.sku.as_str(),
                v.expires_at_ms,
                gstate(v.state),
                v.consecutive_high,
                v.entered_at_ms,
                flight,
                enforced,
                v.mode.as_str(),
            );
            let want = (
                m.entitlement(self.now).name(),
                m.sku,
                m.expires_at_ms,
                m.state,
                m.c,
                m.entered_at_ms,
                m_flight,
                m.enforced,
                m.mode.name(),
            );
            prop_assert_eq!(
                got,
                want,
                "tenant {} at {} (entitlement, sku, expiry, state, c, entered, in flight, enforced, mode)",
                m.id,
                self.now
            );
        }
        Ok(())
    }
}

/// Breakers off: the core's default.
const NO_BREAKERS: [(u32, u64); 3] = [(0, 30_000); 3];

/// Runs `ops` through an engine of `caps` and the model, comparing them after every step.
fn run_ops(caps: &Capacities, th: Th, timeouts: [u64; 3], ops: &[Op]) -> Result<(), TestCaseError> {
    run_ops_with(caps, th, timeouts, NO_BREAKERS, ops)
}

/// [`run_ops`] with circuit breakers of (failures, cool-down) for Throttle, Pause and Shed.
fn run_ops_with(
    caps: &Capacities,
    th: Th,
    timeouts: [u64; 3],
    breakers: [(u32, u64); 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut mem = OwnedStorage::new(caps);
    let mut run = Run::new(th, timeouts, breakers, caps, &mut mem);
    for (i, op) in ops.iter().enumerate() {
        run.step(op)
            .map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
    }
    Ok(())
}

/// A [`Run`] of the small capacities and default thresholds, in `mem`.
fn small_run(mem: &mut OwnedStorage) -> Run<'_> {
    Run::new(Th::DEFAULT, [30_000; 3], NO_BREAKERS, &SMALL, mem)
}

/// Breakers that open within a case: 0 (off), 1..=3 failures; cool-downs around the ticks.
fn breakers() -> impl Strategy<Value = [(u32, u64); 3]> {
    let one = (
        prop_oneof![1 => Just(0u32), 3 => 1u32..=3],
        prop_oneof![Just(1u64), 1_000u64..20_000],
    );
    [one.clone(), one.clone(), one]
}

/// Action timeouts for Throttle, Pause and Shed.
fn timeouts() -> impl Strategy<Value = [u64; 3]> {
    [1_000u64..60_000, 1_000u64..60_000, 1_000u64..60_000]
}

fn same_command(got: &Result<Transition, CommandError>, want: &Result<MTransition, &str>) -> bool {
    match (got, want) {
        (Ok(t), Ok(m)) => same_transition(t, m),
        (Err(e), Err(m)) => e.name() == *m,
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Proves the engine follows the documented contract (`docs/`) as the reference model
    /// reads it, step by step.
    #[test]
    fn engine_matches_model(
        th in thresholds(),
        timeouts in timeouts(),
        ops in ops(),
    ) {
        run_ops(&SMALL, th, timeouts, &ops)?;
    }

    /// Proves the circuit breakers follow the documented table (`docs/actions.md#circuit-breakers`)
    /// as the model reads it: failures and timeouts open circuits, refusals make no run and
    /// escalate the governor, trials half-open and close or reopen them.
    #[test]
    fn engine_matches_model_with_breakers(
        th in thresholds(),
        timeouts in timeouts(),
        breakers in breakers(),
        ops in ops(),
    ) {
        run_ops_with(&SMALL_WITH_BREAKERS, th, timeouts, breakers, &ops)?;
    }

    /// Proves `governor::step` is the documented table for any valid thresholds: every state,
    /// every c up to sustain + 2, every value 0..=100 and every other event.
    #[test]
    fn governor_step_is_the_table(th in thresholds()) {
        let core = core_th(&th);
        let events = (0..=100).map(GEvent::Signal).chain([GEvent::Succeeded, GEvent::Failed, GEvent::Reset]);
        for event in events {
            let core_event = match event {
                GEvent::Signal(v) => GovernorEvent::Signal(v),
                GEvent::Succeeded => GovernorEvent::ActionSucceeded,
                GEvent::Failed => GovernorEvent::ActionFailed,
                GEvent::Reset => GovernorEvent::Reset,
            };
            for state in GovernorState::ALL {
                for c in 0..=th.sustain.saturating_add(2) {
                    let got = core_gov::step(&core, state, c, core_event);
                    let want = model_gov::step(&th, gstate(state), c, event);
                    let got = (gstate(got.to), got.consecutive_high, got.action.and_then(|o| maction(&o.action())));
                    prop_assert_eq!(got, want, "{:?} c={} {:?} with {:?}", state, c, event, th);
                }
            }
        }
    }

    /// Proves the deduplicator's rule: an id is a duplicate exactly when it was remembered
    /// before, its window is retained (windows up to 16 back, so the retention boundary is
    /// crossed both ways) and a full memory has not pushed it out (capacities of 32, which
    /// fills, and 512, which does not).
    #[test]
    fn dedup_matches_model(
        ids in prop_oneof![Just(32usize), Just(512)],
        steps in prop::collection::vec((0usize..3, 0usize..3, 0u64..=16, 0u8..4, 0u64..4000), 1..300),
    ) {
        let slots = index_slots_for(ids);
        let (mut fingerprints, mut arrivals, mut windows) = (vec![0; slots], vec![0; ids], vec![0; ids]);
        let mut core = Dedup::new(&mut fingerprints, &mut arrivals, &mut windows).expect("shape");
        let mut model = DedupModel::with_capacity(ids);
        let mut now = 100 * 5000;
        for (tenant, metric, back, value, dt) in steps {
            now += dt;
            let tenant = TENANTS[tenant];
            let kind = MetricKind::ALL[metric];
            let window = now / 5000 - back;
            let id = signal_id(tenant, kind, window, value);
            let key: Key = (tenant.to_string(), kind.as_str(), window, value);
            let dup = core.contains(&id, window, now);
            prop_assert_eq!(dup, model.is_duplicate(&key, now), "{:?} at {}", key, now);
            if !dup {
                // A new id is always taken (one outside the retention is simply not kept).
                prop_assert!(core.insert(&id, window, now), "insert of a new id refused: {:?}", key);
                model.remember(key, now);
            }
            prop_assert_eq!(core.len(), model.len());
            prop_assert_eq!(core.evictions(), model.evictions());
        }
    }
}

#[test]
fn entitlement_table_matches_model() {
    // Proves the core's lifecycle table equals the model's for every (state, command).
    let states = [
        None,
        Some(EntitlementState::Pending),
        Some(EntitlementState::Active),
        Some(EntitlementState::Paused),
        Some(EntitlementState::Expired),
        Some(EntitlementState::Terminated),
    ];
    let cmds = [
        (CommandKind::Provision, ECmd::Provision),
        (CommandKind::Activate, ECmd::Activate),
        (CommandKind::Pause, ECmd::Pause),
        (CommandKind::Resume, ECmd::Resume),
        (CommandKind::Revoke, ECmd::Revoke),
    ];
    let to_model = |s: EntitlementState| match s {
        EntitlementState::Pending => EState::Pending,
        EntitlementState::Active => EState::Active,
        EntitlementState::Paused => EState::Paused,
        EntitlementState::Expired => EState::Expired,
        EntitlementState::Terminated => EState::Terminated,
    };
    for from in states {
        for (core_cmd, model_cmd) in cmds {
            let got = core_ent::transition(from, core_cmd)
                .map(to_model)
                .map_err(EntitlementError::name);
            let want = model_ent::transition(from.map(to_model), model_cmd);
            assert_eq!(got, want, "{from:?} {model_cmd:?}");
        }
    }
}

#[test]
fn odd_inputs_are_named_errors() {
    // Proves a few fixed edge cases through both: unknown tenant, Busy never, invalid SKU first.
    let mut mem = OwnedStorage::new(&SMALL);
    let mut run = small_run(&mut mem);
    for op in [
        Op::Outcome {
            tenant: "ghost",
            receipt: 0,
            succeeded: true,
            undo: 0,
        },
        Op::Entitlement {
            tenant: "t0",
            cmd: ECmd::Pause,
            sku: "pro",
            expires_in: None,
        },
        Op::Entitlement {
            tenant: "t0",
            cmd: ECmd::Activate,
            sku: "gold",
            expires_in: None,
        },
        Op::Entitlement {
            tenant: "t0",
            cmd: ECmd::Provision,
            sku: "pro",
            expires_in: None,
        },
        Op::Signal {
            tenant: "t0",
            metric: "cpu",
            value: 99.0,
            ts: Ts::Recent { back: 0, offset: 0 },
        },
        Op::Entitlement {
            tenant: "t0",
            cmd: ECmd::Activate,
            sku: "pro",
            expires_in: Some(10),
        },
        Op::Signal {
            tenant: "t0",
            metric: "cpu",
            value: 99.0,
            ts: Ts::Recent { back: 0, offset: 0 },
        },
        Op::Tick(10),
        Op::Signal {
            tenant: "t0",
            metric: "cpu",
            value: 99.0,
            ts: Ts::Recent { back: 0, offset: 1 },
        },
        Op::Entitlement {
            tenant: "t0",
            cmd: ECmd::Pause,
            sku: "pro",
            expires_in: None,
        },
        Op::Outcome {
            tenant: "t0",
            receipt: 1,
            succeeded: true,
            undo: 65,
        },
        Op::Outcome {
            tenant: "t0",
            receipt: 1,
            succeeded: false,
            undo: 3,
        },
    ] {
        run.step(&op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

#[test]
fn late_signal_delivered_twice_is_refused_twice() {
    // Proves a signal stamped before the dedup retention is refused (InvalidTimestamp) every
    // time it comes, in the engine and the model alike, and never governed.
    let mut mem = OwnedStorage::new(&SMALL);
    let mut run = small_run(&mut mem);
    let now = run.now;
    run.step(&Op::Entitlement {
        tenant: "t0",
        cmd: ECmd::Activate,
        sku: "pro",
        expires_in: None,
    })
    .unwrap();
    run.signal("t0", "cpu", 10.0, now).unwrap();
    for _ in 0..2 {
        run.signal("t0", "cpu", 20.0, now - 100_000).unwrap();
        assert_eq!(
            run.engine.handle_signal(
                now,
                &RawSignal {
                    tenant: "t0",
                    metric: "cpu",
                    value: 20.0,
                    ts_ms: now - 60_001
                }
            ),
            Err(autonomic_core::engine::IngestError::Invalid(
                SignalError::InvalidTimestamp
            ))
        );
    }
}

proptest! {
    #![proptest_config(config())]

    /// Proves the promise of `docs/signals.md#timestamps`: a redelivery is a duplicate or
    /// refused, never governed twice.
    /// A signal first accepted anywhere in its 60 s age bound (the exact edges weighted in)
    /// is redelivered at random later instants around ts + 60 000: each is Duplicate while
    /// ts + 60 000 has not passed and InvalidTimestamp after; the governor moved once.
    #[test]
    fn a_redelivery_is_a_duplicate_or_refused(
        ts_offset in prop_oneof![Just(0u64), Just(4_999), Just(5_000), 0u64..10_000],
        first_age in prop_oneof![Just(0u64), Just(60_000), 0u64..=60_000],
        later in prop::collection::vec(prop_oneof![Just(0u64), Just(1), 0u64..70_000], 1..20),
    ) {
        let mut mem = OwnedStorage::new(&SMALL);
        let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("valid config");
        e.handle_entitlement(0, "t0", EntitlementCommand::Activate { sku: "pro", expires_at_ms: None })
            .expect("activate");
        let ts = 1_000_000 + ts_offset;
        let raw = RawSignal { tenant: "t0", metric: "cpu", value: 80.0, ts_ms: ts };
        let mut now = ts + first_age;
        prop_assert!(matches!(e.handle_signal(now, &raw), Ok(SignalResult::Governed(_))));
        for dt in later {
            now += dt;
            let got = e.handle_signal(now, &raw);
            if now <= ts + 60_000 {
                prop_assert_eq!(got, Ok(SignalResult::Duplicate), "at {} (ts {})", now, ts);
            } else {
                prop_assert_eq!(
                    got,
                    Err(autonomic_core::engine::IngestError::Invalid(SignalError::InvalidTimestamp)),
                    "at {} (ts {})", now, ts
                );
            }
        }
        prop_assert_eq!(e.tenant(now, "t0").map(|v| v.consecutive_high), Some(1), "governed once");
    }
}

proptest! {
    #![proptest_config(config_with_cases(32))]

    /// Proves the engine follows the model with large capacities too (100 000 tenants,
    /// 1 000 000 dedup ids; fewer cases: each allocates and clears tens of MiB).
    #[test]
    fn engine_matches_model_large(
        th in thresholds(),
        timeouts in timeouts(),
        ops in ops(),
    ) {
        run_ops(&LARGE, th, timeouts, &ops)?;
    }
}

//! Model-based properties of the governor's timing (`docs/governor.md#timing`): the engine
//! and the reference model (`autonomic_tests::model::engine`, its `timing` part) run the same
//! random operations — signals, outcomes, resets, manual actions, pauses and resumes of the
//! tenant, clock ticks, shadow and enforce modes — under random `min_dwell_ms`, `cooldown_ms`, `refuse_max_ms` and
//! `grace_ms` (each 0, off, a third of the time; all four off in a quarter of the cases,
//! where no timing receipt may appear), and are compared after every step: each answer, the
//! receipt count, the action commands, `poll_timeout`, and every tenant's state, `c`, time of
//! entry, action in flight and pending warning. At the end an engine rebuilt from the records
//! equals the live one, pending warnings and Refuse timers included.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256).

use autonomic_core::engine::{Engine, EngineConfig, Mode, SignalResult, Transition};
use autonomic_core::governor::{GovernorTiming, Order};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, Cause, EntitlementCommand, Event, RawSignal, Receipt};
use autonomic_tests::compare::{commands, gstate};
use autonomic_tests::model::engine::{EngineModel, MSignal, MTiming, MTransition};
use autonomic_tests::model::entitlement::ECmd;
use autonomic_tests::model::governor::{MAction, Th};
use autonomic_tests::model::mode::MMode;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

const TENANTS: [&str; 3] = ["t0", "t1", "t2"];
const CAPS: Capacities = Capacities {
    receipts: 64,
    ..Capacities::with_tenants(4)
};

#[derive(Debug, Clone)]
enum Op {
    Signal(usize, &'static str, u8),
    Outcome(usize, bool),
    Reset(usize),
    Manual(usize, MAction),
    Pause(usize),
    Resume(usize),
    Tick(u64),
    /// Shadow (true) or enforce mode: a shadow tenant's orders, and the actions of its
    /// warnings at their deadlines, are recorded and not dispatched.
    Mode(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TENANTS.len();
    let value = prop_oneof![0u8..=100, 60u8..=100, Just(96u8), Just(50u8)];
    let action = prop_oneof![
        (0u8..=100).prop_map(MAction::Throttle),
        Just(MAction::Pause),
        (0u8..=100).prop_map(MAction::Shed),
    ];
    prop_oneof![
        12 => (t.clone(), prop::sample::select(vec!["cpu", "memory", "latency"]), value)
            .prop_map(|(t, m, v)| Op::Signal(t, m, v)),
        3 => (t.clone(), any::<bool>()).prop_map(|(t, ok)| Op::Outcome(t, ok)),
        1 => t.clone().prop_map(Op::Reset),
        1 => (t.clone(), action).prop_map(|(t, a)| Op::Manual(t, a)),
        1 => t.clone().prop_map(Op::Pause),
        1 => t.clone().prop_map(Op::Resume),
        2 => (t, any::<bool>()).prop_map(|(t, shadow)| Op::Mode(t, shadow)),
        6 => prop_oneof![Just(0u64), 1u64..3_000, 3_000u64..25_000].prop_map(Op::Tick),
    ]
}

fn timing() -> impl Strategy<Value = MTiming> {
    let ms = |hi: u64| prop_oneof![1 => Just(0u64), 2 => 1..hi];
    let on = (ms(15_000), ms(15_000), ms(60_000), ms(15_000)).prop_map(|(d, c, r, g)| MTiming {
        min_dwell_ms: d,
        cooldown_ms: c,
        refuse_max_ms: r,
        grace_ms: g,
    });
    prop_oneof![1 => Just(MTiming::default()), 3 => on]
}

fn core_timing(m: &MTiming) -> GovernorTiming {
    GovernorTiming {
        min_dwell_ms: m.min_dwell_ms,
        cooldown_ms: m.cooldown_ms,
        refuse_max_ms: m.refuse_max_ms,
        grace_ms: m.grace_ms,
    }
}

fn core_action(a: MAction) -> Action {
    match a {
        MAction::Throttle(percent) => Action::Throttle { percent },
        MAction::Pause => Action::Pause,
        MAction::Shed(percent) => Action::Shed { percent },
    }
}

fn model_order(o: Order) -> MAction {
    match o {
        Order::Throttle(p) => MAction::Throttle(p),
        Order::Pause => MAction::Pause,
        Order::Shed(p) => MAction::Shed(p),
    }
}

fn same(t: &Transition, m: &MTransition) -> bool {
    (gstate(t.from), gstate(t.to), t.consecutive_high, t.receipt) == (m.from, m.to, m.c, m.receipt)
        && t.action.map(model_order) == m.action
        && t.shadow == m.shadow
}

struct Run<'a> {
    engine: Engine<'a>,
    model: EngineModel,
    now: u64,
    records: Vec<Vec<u8>>,
}

impl Run<'_> {
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        let name = |t: usize| TENANTS[t];
        match *op {
            Op::Signal(t, metric, value) => {
                let raw = RawSignal {
                    tenant: name(t),
                    metric,
                    value: f64::from(value),
                    ts_ms: now,
                };
                let got = self.engine.handle_signal(now, &raw);
                let want = self
                    .model
                    .signal(now, name(t), metric, f64::from(value), now);
                let ok = match (&got, &want) {
                    (Ok(SignalResult::Governed(a)), Ok(MSignal::Governed(b))) => same(a, b),
                    (Ok(SignalResult::Duplicate), Ok(MSignal::Duplicate)) => true,
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(ok, "signal {raw:?}: engine {got:?}, model {want:?}");
            }
            Op::Outcome(t, ok) => {
                let got = self.engine.handle_outcome(now, name(t), None, ok, b"");
                let want = self.model.outcome(now, name(t), None, ok, 0);
                let same = match (&got, &want) {
                    (Ok(a), Ok(b)) => same(a, b),
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(same, "outcome {t} {ok}: engine {got:?}, model {want:?}");
            }
            Op::Reset(t) => {
                let got = self.engine.handle_reset(now, name(t)).map(|t| gstate(t.to));
                let want = self.model.reset(now, name(t)).map(|m| m.to);
                prop_assert_eq!(got.ok(), want.ok(), "reset");
            }
            Op::Manual(t, a) => {
                let got = self.engine.handle_action(now, name(t), core_action(a));
                let want = self.model.manual(now, name(t), a);
                prop_assert_eq!(got.map_err(|e| e.name()), want, "manual");
            }
            Op::Pause(t) | Op::Resume(t) => {
                let (command, cmd) = match op {
                    Op::Pause(_) => (EntitlementCommand::Pause, ECmd::Pause),
                    _ => (EntitlementCommand::Resume, ECmd::Resume),
                };
                let got = self.engine.handle_entitlement(now, name(t), command);
                let want = self.model.entitlement(now, name(t), cmd, "", None);
                prop_assert_eq!(got.is_ok(), want.is_ok(), "{:?}", op);
            }
            Op::Tick(dt) => {
                self.now += dt;
                let got = self.engine.handle_timeout(self.now);
                prop_assert_eq!(got, self.model.timeout(self.now), "timed out");
            }
            Op::Mode(t, shadow) => {
                let (mode, mmode) = match shadow {
                    true => (Mode::Shadow, MMode::Shadow),
                    false => (Mode::Enforce, MMode::Enforce),
                };
                let got = self.engine.handle_mode(now, name(t), mode);
                let want = self.model.set_mode(name(t), mmode);
                prop_assert_eq!(got.map_err(|e| e.name()), want, "mode");
            }
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<(), TestCaseError> {
        while let Some(r) = self.engine.poll_record() {
            self.records.push(r.to_vec());
        }
        prop_assert_eq!(
            self.engine.ledger().next_seq(),
            self.model.next_seq,
            "receipts"
        );
        let mut want = self.model.take_commands();
        want.sort();
        prop_assert_eq!(commands(&mut self.engine), want, "commands");
        prop_assert_eq!(
            self.engine.poll_timeout(),
            self.model.poll_timeout(),
            "poll_timeout"
        );
        for m in &self.model.tenants {
            let v = self.engine.tenant(self.now, &m.id).expect("known tenant");
            let warning = self.engine.warning(&m.id);
            let got = (
                gstate(v.state),
                v.consecutive_high,
                v.entered_at_ms,
                v.in_flight.map(|f| f.receipt),
                warning.map(|w| (w.receipt, model_order(w.order), w.deadline_ms)),
            );
            let want = (
                m.state,
                m.c,
                m.entered_at_ms,
                m.in_flight.map(|f| f.receipt),
                m.warning.map(|w| (w.receipt, w.action, w.deadline_ms)),
            );
            prop_assert_eq!(got, want, "tenant {} at {}", m.id, self.now);
        }
        Ok(())
    }
}

/// An engine rebuilt from `records` under `config` equals `live`.
fn restored_equals_live(
    config: EngineConfig,
    records: &[Vec<u8>],
    live: &Engine<'_>,
    now: u64,
) -> Result<(), TestCaseError> {
    let mut mem = OwnedStorage::new(&CAPS);
    let mut back = Engine::new(config, mem.storage()).expect("valid config");
    for r in records {
        back.restore(r)
            .map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
    }
    let view = |e: &Engine<'_>| {
        let tenants: Vec<String> = e.tenants(now).map(|v| format!("{v:?}")).collect();
        let warnings: Vec<_> = TENANTS.iter().map(|t| e.warning(t)).collect();
        (
            tenants,
            warnings,
            e.poll_timeout(),
            e.timers_len(),
            e.ledger().head_hash(),
        )
    };
    prop_assert_eq!(view(&back), view(live), "restored against live");
    Ok(())
}

/// proptest's defaults (256 cases, `PROPTEST_CASES` overrides), failures saved for replay.
fn config() -> ProptestConfig {
    let regressions = FileFailurePersistence::Direct("proptest-regressions/prop_timing.txt");
    ProptestConfig {
        failure_persistence: Some(Box::new(regressions)),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Proves the engine's timing follows the documented rules as the model reads them, step
    /// by step, and that restore rebuilds its timers; with every timing 0 nothing new appears.
    #[test]
    fn timing_matches_model_and_restores(
        timing in timing(),
        timeouts in [1_000u64..40_000, 1_000u64..40_000, 1_000u64..40_000],
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let config = EngineConfig {
            action_timeout_ms: [timeouts[0], timeouts[1], timeouts[2], 30_000],
            timing: core_timing(&timing),
            ..EngineConfig::default()
        };
        let mut mem = OwnedStorage::new(&CAPS);
        let mut run = Run {
            engine: Engine::new(config, mem.storage()).expect("valid config"),
            model: EngineModel::new(Th::DEFAULT, timeouts).with_capacities(&CAPS).with_timing(timing),
            now: 1_000_000,
            records: Vec::new(),
        };
        for t in TENANTS {
            let activate = EntitlementCommand::Activate { sku: "pro", expires_at_ms: None };
            run.engine.handle_entitlement(run.now, t, activate).expect("activate");
            run.model.entitlement(run.now, t, ECmd::Activate, "pro", None).expect("activate");
        }
        for (i, op) in ops.iter().enumerate() {
            run.step(op).map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        }
        restored_equals_live(config, &run.records, &run.engine, run.now)?;
        if timing == MTiming::default() {
            for r in &run.records {
                let event = Receipt::decode(r).expect("decodes").event;
                let timed = matches!(event, Event::Warning { .. } | Event::WarningCancelled { .. })
                    || matches!(event, Event::Governor { cause: Cause::RefuseExpired, .. });
                prop_assert!(!timed, "timing off, yet {:?}", event);
            }
        }
    }
}

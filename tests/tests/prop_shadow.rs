//! Shadow mode and per-plan action percents (`docs/governor.md#shadow-mode`,
//! `#per-plan-actions`) against the reference model (`model::mode`):
//!
//! - the engine and the model run the same random operations (signals, outcomes, timeouts,
//!   resets, manual actions, mode switches and plan changes across three tenants, one per SKU,
//!   with random percents per SKU) and agree after every step; an engine rebuilt from the
//!   receipts then equals the live one, modes included;
//! - a shadow tenant's governor goes through exactly the states of an enforce tenant fed the
//!   same signals and resets whose dispatched actions are never reported (no outcome, no
//!   timeout): same from, to, `consecutive_high` and ordered action at every step; the shadow
//!   tenant never has an action in flight or enforced;
//! - the default percents are today's table, and any percents are the model's table.
//!
//! `PROPTEST_CASES` raises the number of cases (default 128 here).

use autonomic_core::engine::{
    ActionCommand, CommandError, Engine, EngineConfig, Mode, SignalResult, Transition,
};
use autonomic_core::governor::{self as core_gov, ActionPercents, GovernorEvent, SkuActions};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, EntitlementCommand, GovernorState, RawSignal, Thresholds};
use autonomic_tests::audit::{gstate, maction};
use autonomic_tests::model::engine::{EngineModel, MSignal, MTransition};
use autonomic_tests::model::entitlement::ECmd;
use autonomic_tests::model::governor::{self as model_gov, GEvent, GState, MAction, Th};
use autonomic_tests::model::mode::{self as model_mode, MMode, MPercents, SKUS};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest::test_runner::TestCaseError;

/// Room for every receipt of a case (the ring is drained every step, never full).
const CAPS: Capacities = Capacities {
    receipts: 1024,
    ..Capacities::with_tenants(4)
};
const TENANTS: [&str; 3] = ["t0", "t1", "t2"];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(128),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_shadow.txt",
        ))),
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Signal { tenant: usize, value: u8 },
    Outcome { tenant: usize, succeeded: bool },
    Reset(usize),
    Manual(usize),
    Mode { tenant: usize, shadow: bool },
    Plan { tenant: usize, sku: usize },
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TENANTS.len();
    prop_oneof![
        10 => (t.clone(), prop_oneof![0u8..=100, 70u8..=100]).prop_map(|(tenant, value)| Op::Signal { tenant, value }),
        3 => (t.clone(), any::<bool>()).prop_map(|(tenant, succeeded)| Op::Outcome { tenant, succeeded }),
        1 => t.clone().prop_map(Op::Reset),
        1 => t.clone().prop_map(Op::Manual),
        3 => (t.clone(), any::<bool>()).prop_map(|(tenant, shadow)| Op::Mode { tenant, shadow }),
        1 => (t, 0..SKUS.len()).prop_map(|(tenant, sku)| Op::Plan { tenant, sku }),
        2 => prop_oneof![1u64..3000, 20_000u64..40_000].prop_map(Op::Tick),
    ]
}

fn percents() -> impl Strategy<Value = MPercents> {
    prop_oneof![
        1 => Just(MPercents::DEFAULT),
        2 => (1u8..=100, 1u8..=100, 1u8..=100).prop_map(|(i, d, r)| MPercents {
            intervene_throttle_pct: i,
            degrade_throttle_pct: d,
            refuse_shed_pct: r,
        }),
    ]
}

fn core_pct(p: &MPercents) -> ActionPercents {
    ActionPercents {
        intervene_throttle_pct: p.intervene_throttle_pct,
        degrade_throttle_pct: p.degrade_throttle_pct,
        refuse_shed_pct: p.refuse_shed_pct,
    }
}

fn core_th(th: &Th) -> Thresholds {
    Thresholds::new(th.warn, th.recover, th.intervene, th.refuse, th.sustain).expect("valid")
}

fn same(t: &Transition, m: &MTransition) -> bool {
    gstate(t.from) == m.from
        && gstate(t.to) == m.to
        && t.consecutive_high == m.c
        && t.dispatched().as_ref().map(maction) == m.action.map(Some)
        && t.receipt == m.receipt
        && t.shadow == m.shadow
}

fn same_result(got: &Result<Transition, CommandError>, want: &Result<MTransition, &str>) -> bool {
    match (got, want) {
        (Ok(t), Ok(m)) => same(t, m),
        (Err(e), Err(m)) => e.name() == *m,
        _ => false,
    }
}

fn mode_of(m: MMode) -> Mode {
    match m {
        MMode::Enforce => Mode::Enforce,
        MMode::Shadow => Mode::Shadow,
    }
}

struct Run<'a> {
    engine: Engine<'a>,
    model: EngineModel,
    now: u64,
    records: Vec<Vec<u8>>,
}

impl<'a> Run<'a> {
    fn new(actions: [MPercents; 3], mem: &'a mut OwnedStorage) -> Self {
        let config = EngineConfig {
            actions: SkuActions {
                starter: core_pct(&actions[0]),
                pro: core_pct(&actions[1]),
                enterprise: core_pct(&actions[2]),
            },
            ..EngineConfig::default()
        };
        let mut run = Self {
            engine: Engine::new(config, mem.storage()).expect("valid config"),
            model: EngineModel::new(Th::DEFAULT, [30_000; 3])
                .with_capacities(&CAPS)
                .with_actions(actions),
            now: 1_000_000,
            records: Vec::new(),
        };
        for (i, _) in TENANTS.iter().enumerate() {
            run.step(&Op::Plan { tenant: i, sku: i }).expect("activate");
        }
        run
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        match *op {
            Op::Signal { tenant, value } => {
                let tenant = TENANTS[tenant];
                let raw = RawSignal {
                    tenant,
                    metric: "cpu",
                    value: f64::from(value),
                    ts_ms: now,
                };
                let got = self.engine.handle_signal(now, &raw);
                let want = self.model.signal(now, tenant, "cpu", f64::from(value), now);
                let ok = match (&got, &want) {
                    (Ok(SignalResult::Duplicate), Ok(MSignal::Duplicate)) => true,
                    (Ok(SignalResult::Governed(t)), Ok(MSignal::Governed(m))) => same(t, m),
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(
                    ok,
                    "signal {tenant} {value}: engine {got:?}, model {want:?}"
                );
            }
            Op::Outcome { tenant, succeeded } => {
                let tenant = TENANTS[tenant];
                let got = self
                    .engine
                    .handle_outcome(now, tenant, None, succeeded, &[]);
                let want = self.model.outcome(now, tenant, None, succeeded, 0);
                prop_assert!(same_result(&got, &want), "outcome: {got:?} vs {want:?}");
            }
            Op::Reset(tenant) => {
                let got = self.engine.handle_reset(now, TENANTS[tenant]);
                let want = self.model.reset(now, TENANTS[tenant]);
                prop_assert!(same_result(&got, &want), "reset: {got:?} vs {want:?}");
            }
            Op::Manual(tenant) => {
                let got = self
                    .engine
                    .handle_action(now, TENANTS[tenant], Action::Pause);
                let want = self.model.manual(now, TENANTS[tenant], MAction::Pause);
                let ok = match (&got, &want) {
                    (Ok(a), Ok(b)) => a == b,
                    (Err(e), Err(m)) => e.name() == *m,
                    _ => false,
                };
                prop_assert!(ok, "manual: engine {got:?}, model {want:?}");
            }
            Op::Mode { tenant, shadow } => {
                let mode = if shadow {
                    MMode::Shadow
                } else {
                    MMode::Enforce
                };
                let got = self.engine.handle_mode(now, TENANTS[tenant], mode_of(mode));
                let want = self.model.set_mode(TENANTS[tenant], mode);
                prop_assert_eq!(got.ok(), want.ok(), "mode");
            }
            Op::Plan { tenant, sku } => {
                let command = EntitlementCommand::Activate {
                    sku: SKUS[sku],
                    expires_at_ms: None,
                };
                let got = self
                    .engine
                    .handle_entitlement(now, TENANTS[tenant], command);
                let want =
                    self.model
                        .entitlement(now, TENANTS[tenant], ECmd::Activate, SKUS[sku], None);
                prop_assert_eq!(
                    got.map(|s| s.as_str()).map_err(|e| e.name()),
                    want.map(|s| s.name()),
                    "activate"
                );
            }
            Op::Tick(dt) => {
                self.now += dt;
                let got = self.engine.handle_timeout(self.now);
                let want = self.model.timeout(self.now);
                prop_assert_eq!(got, want, "timeouts");
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
        let mut got: Vec<(u64, bool)> = std::iter::from_fn(|| self.engine.poll_action())
            .map(|c| match c {
                ActionCommand::Run { receipt, .. } => (receipt, true),
                ActionCommand::Cancel { receipt, .. } => (receipt, false),
                ActionCommand::Rollback { receipt, .. } => (receipt, false),
            })
            .collect();
        let mut want: Vec<(u64, bool)> = self
            .model
            .take_commands()
            .into_iter()
            .map(|c| match c {
                autonomic_tests::model::engine::MCommand::Run { receipt, .. } => (receipt, true),
                autonomic_tests::model::engine::MCommand::Cancel { receipt, .. } => {
                    (receipt, false)
                }
            })
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want, "commands");
        for m in &self.model.tenants {
            let v = self.engine.tenant(self.now, &m.id).expect("tenant");
            let got = (
                gstate(v.state),
                v.consecutive_high,
                v.in_flight.map(|f| f.receipt),
                v.enforced.map(|e| e.receipt),
                v.mode.as_str(),
                v.sku.as_str(),
            );
            let want = (
                m.state,
                m.c,
                m.in_flight.map(|f| f.receipt),
                m.enforced.map(|(r, _)| r),
                m.mode.name(),
                m.sku,
            );
            prop_assert_eq!(got, want, "tenant {}", m.id);
        }
        Ok(())
    }

    /// An engine rebuilt from every receipt so far shows what the live one shows.
    fn restored_equals_live(&self, actions: &SkuActions) -> Result<(), TestCaseError> {
        let config = EngineConfig {
            actions: *actions,
            ..EngineConfig::default()
        };
        let mut mem = OwnedStorage::new(&CAPS);
        let mut rebuilt = Engine::new(config, mem.storage()).expect("valid config");
        for r in &self.records {
            rebuilt
                .restore(r)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let live: Vec<_> = self.engine.tenants(self.now).collect();
        let back: Vec<_> = rebuilt.tenants(self.now).collect();
        prop_assert_eq!(back, live, "restored tenants");
        prop_assert_eq!(rebuilt.in_flight(), self.engine.in_flight(), "in flight");
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    /// Proves the engine follows the model with modes and per-plan percents, and that
    /// restore rebuilds the live state, modes included.
    #[test]
    fn engine_matches_model_with_modes_and_percents(
        actions in [percents(), percents(), percents()],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut mem = OwnedStorage::new(&CAPS);
        let mut run = Run::new(actions, &mut mem);
        for (i, op) in ops.iter().enumerate() {
            run.step(op).map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        }
        let config = *run.engine.config();
        run.restored_equals_live(&config.actions)?;
    }

    /// Proves a shadow tenant's governor goes through the same states as an enforce tenant
    /// fed the same signals and resets whose actions are never reported (no outcome, no
    /// timeout call): at every step the same from, to, c and ordered action; the shadow one
    /// never has anything in flight or enforced.
    #[test]
    fn shadow_governor_equals_enforce_governor_with_outcomes_never_reported(
        inputs in prop::collection::vec(prop_oneof![20 => (0u8..=100).prop_map(Some), 1 => Just(None)], 1..80),
        sku in 0..SKUS.len(),
    ) {
        let mut mem = OwnedStorage::new(&CAPS);
        let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("default");
        for t in ["shadow", "enforce"] {
            let command = EntitlementCommand::Activate { sku: SKUS[sku], expires_at_ms: None };
            e.handle_entitlement(0, t, command).expect("activate");
        }
        e.handle_mode(0, "shadow", Mode::Shadow).expect("mode");
        let mut now = 10_000;
        for input in inputs {
            now += 5_000;
            let step = |e: &mut Engine<'_>, t: &str| match input {
                Some(v) => {
                    let raw = RawSignal { tenant: t, metric: "cpu", value: f64::from(v), ts_ms: now };
                    match e.handle_signal(now, &raw).expect("governed") {
                        SignalResult::Governed(tr) => tr,
                        SignalResult::Duplicate => panic!("a new window each step"),
                    }
                }
                None => e.handle_reset(now, t).expect("reset"),
            };
            let s = step(&mut e, "shadow");
            let n = step(&mut e, "enforce");
            prop_assert_eq!((s.from, s.to, s.consecutive_high, s.action), (n.from, n.to, n.consecutive_high, n.action));
            prop_assert_eq!(s.shadow, s.action.is_some());
            prop_assert!(!n.shadow);
            while e.poll_record().is_some() {}
            while e.poll_action().is_some() {}
            let v = e.tenant(now, "shadow").expect("shadow");
            prop_assert!(v.in_flight.is_none() && v.enforced.is_none());
        }
    }

    /// Proves the default percents are today's table (written independently, before percents
    /// were configurable), and any percents are the model's table.
    #[test]
    fn default_actions_are_todays_table_and_any_percents_the_models(pct in percents(), c in 0u8..5) {
        let th = Th::DEFAULT;
        for state in GovernorState::ALL {
            for event in [GEvent::Succeeded, GEvent::Failed, GEvent::Reset]
                .into_iter()
                .chain((0..=100).map(GEvent::Signal))
            {
                let core_event = match event {
                    GEvent::Signal(v) => GovernorEvent::Signal(v),
                    GEvent::Succeeded => GovernorEvent::ActionSucceeded,
                    GEvent::Failed => GovernorEvent::ActionFailed,
                    GEvent::Reset => GovernorEvent::Reset,
                };
                let to_model = |s: core_gov::Step| -> (GState, u8, Option<MAction>) {
                    (gstate(s.to), s.consecutive_high, s.action.and_then(|o| maction(&o.action())))
                };
                let default = core_gov::step_with(&core_th(&th), &ActionPercents::DEFAULT, state, c, core_event);
                prop_assert_eq!(to_model(default), model_gov::step(&th, gstate(state), c, event));
                let any = core_gov::step_with(&core_th(&th), &core_pct(&pct), state, c, core_event);
                prop_assert_eq!(to_model(any), model_mode::step_with(&th, &pct, gstate(state), c, event));
            }
        }
        prop_assert_eq!(EngineConfig::default().actions, SkuActions::DEFAULT);
    }
}

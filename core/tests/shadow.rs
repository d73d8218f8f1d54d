//! Shadow mode (`docs/governor.md#shadow-mode`) and per-plan action percents
//! (`docs/governor.md#per-plan-actions`) through the engine.

use crate::common;

use autonomic_core::engine::{Engine, EngineConfig, EngineConfigError, Mode, ModeError};
use autonomic_core::governor::{ActionPercents, SkuActions};
use autonomic_core::storage::OwnedStorage;
use autonomic_core::{
    Action, ActionCommand, EntitlementCommand, Event, GovernorState as S, Resource, SignalResult,
    Sku, Transition,
};
use common::{LARGE, SMALL, actions, active, drain_records, engine_with, events, raw};

fn governed(e: &mut Engine<'_>, now: u64, value: f64) -> Transition {
    match e.handle_signal(now, &raw("t", value, now)).unwrap() {
        SignalResult::Governed(t) => t,
        SignalResult::Duplicate => panic!("duplicate"),
    }
}

fn shadow_tenant() -> common::SmallEngine {
    let mut e = active("t");
    e.handle_mode(0, "t", Mode::Shadow).unwrap();
    drain_records(&mut e);
    e
}

#[test]
fn a_shadow_tenants_governor_action_is_a_receipt_and_nothing_runs() {
    // Proves the governor decides as usual, the ordered action is recorded in a
    // ShadowAction receipt whose seq the transition carries, and no command, no action in
    // flight and no enforcement follow.
    let mut e = shadow_tenant();
    let t = governed(&mut e, 1_000, 93.0);
    assert_eq!((t.from, t.to), (S::Stable, S::Intervene));
    assert_eq!(t.dispatched(), Some(Action::throttle(50).unwrap()));
    assert!(t.shadow);
    let records = drain_records(&mut e);
    let ev = events(&records);
    assert!(matches!(ev[0], Event::Governor { .. }));
    assert_eq!(
        ev[1],
        Event::ShadowAction {
            action: Action::throttle(50).unwrap()
        }
    );
    assert_eq!(ev.len(), 2);
    let shadow_seq = autonomic_core::receipt::seq_of(&records[1]);
    assert_eq!(t.receipt, shadow_seq);
    assert!(actions(&mut e).is_empty());
    assert!(e.in_flight().is_empty());
    let v = e.tenant(1_000, "t").unwrap();
    assert_eq!((v.enforced, v.mode), (None, Mode::Shadow));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_shadow_tenant_is_not_refused_admission_by_the_governor() {
    // Proves Refuse with its Shed only recorded refuses no admission: only quotas apply.
    let mut e = shadow_tenant();
    let mut now = 1_000;
    for v in [80.0, 80.0, 80.0, 97.0] {
        now += 5_000;
        governed(&mut e, now, v);
    }
    assert_eq!(e.tenant(now, "t").unwrap().state, S::Refuse);
    for _ in 0..4 {
        assert!(e.admit(now, "t", Resource::Cpu, 1).is_ok());
    }
    // pro's cpu quota is 8: the entitlement still applies.
    assert!(e.admit(now, "t", Resource::Cpu, 5).is_err());
}

#[test]
fn intervene_in_shadow_stays_until_a_signal_leaves_it() {
    // Proves no outcome ever reaches a shadow tenant's governor for its own orders: it stays
    // in Intervene (an enforce tenant would go back to Warn on the action's success) until a
    // reading below warn.
    let mut e = shadow_tenant();
    governed(&mut e, 1_000, 93.0);
    let t = governed(&mut e, 6_000, 80.0);
    assert_eq!((t.from, t.to, t.action), (S::Intervene, S::Intervene, None));
    let t = governed(&mut e, 11_000, 60.0);
    assert_eq!((t.from, t.to), (S::Intervene, S::Warn));
}

#[test]
fn manual_actions_still_run_in_shadow() {
    // Proves an operator's action on a shadow tenant is dispatched and enforced.
    let mut e = shadow_tenant();
    let receipt = e.handle_action(1, "t", Action::Pause).unwrap();
    let cmds = actions(&mut e);
    assert!(matches!(&cmds[..], [ActionCommand::Run { receipt: r, .. }] if *r == receipt));
    assert_eq!(e.tenant(1, "t").unwrap().enforced.unwrap().receipt, receipt);
}

#[test]
fn switching_to_shadow_undoes_nothing_and_shadows_what_follows() {
    // Proves an action in flight and its enforcement survive the switch, its outcome still
    // reaches the governor, and the governor's next order is shadowed.
    let mut e = active("t");
    let t = governed(&mut e, 1_000, 93.0);
    let flying = t.receipt.unwrap();
    actions(&mut e);
    e.handle_mode(2_000, "t", Mode::Shadow).unwrap();
    assert_eq!(e.in_flight()[0].receipt, flying);
    assert_eq!(
        e.tenant(2_000, "t").unwrap().enforced.unwrap().receipt,
        flying
    );
    let failed = e
        .handle_outcome(3_000, "t", Some(flying), false, &[])
        .unwrap();
    assert_eq!((failed.from, failed.to), (S::Intervene, S::Degrade));
    assert!(failed.shadow, "the Pause the failure orders is shadowed");
    assert!(actions(&mut e).is_empty());
    assert!(e.in_flight().is_empty());
}

#[test]
fn switching_back_to_enforce_runs_the_next_order_only() {
    // Proves nothing shadowed is dispatched retroactively, and the next escalation runs.
    let mut e = shadow_tenant();
    governed(&mut e, 1_000, 93.0);
    drain_records(&mut e);
    let seq = e.handle_mode(2_000, "t", Mode::Enforce).unwrap();
    assert_eq!(
        events(&drain_records(&mut e)),
        [Event::ModeSet {
            mode: Mode::Enforce
        }]
    );
    assert_eq!(Some(seq), e.ledger().next_seq().checked_sub(1));
    assert!(actions(&mut e).is_empty());
    governed(&mut e, 6_000, 60.0);
    let t = governed(&mut e, 11_000, 93.0);
    assert!(!t.shadow);
    let cmds = actions(&mut e);
    assert!(
        matches!(&cmds[..], [ActionCommand::Run { receipt, .. }] if Some(*receipt) == t.receipt)
    );
}

#[test]
fn setting_a_mode_is_always_a_receipt_and_an_unknown_tenant_is_refused() {
    // Proves the same mode twice writes two receipts, and an unknown tenant changes nothing.
    let mut e = active("t");
    drain_records(&mut e);
    e.handle_mode(1, "t", Mode::Enforce).unwrap();
    e.handle_mode(2, "t", Mode::Enforce).unwrap();
    assert_eq!(drain_records(&mut e).len(), 2);
    assert_eq!(
        e.handle_mode(3, "nobody", Mode::Shadow),
        Err(ModeError::TenantNotFound)
    );
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(Mode::parse("shadow"), Some(Mode::Shadow));
    assert_eq!(Mode::parse("Shadow"), None);
}

#[test]
fn restore_rebuilds_modes() {
    // Proves an engine rebuilt from the receipts has every tenant's mode and governor.
    let mut e = active("t");
    let mut records = drain_records(&mut e);
    e.handle_mode(0, "t", Mode::Shadow).unwrap();
    governed(&mut e, 1_000, 93.0);
    e.handle_action(1_000, "t", Action::Pause).unwrap();
    records.extend(drain_records(&mut e));
    let mut mem = OwnedStorage::new(&SMALL);
    let mut rebuilt = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for r in &records {
        rebuilt.restore(r).unwrap();
    }
    assert_eq!(rebuilt.tenant(1_000, "t"), e.tenant(1_000, "t"));
    assert_eq!(rebuilt.mode("t"), Some(Mode::Shadow));
    assert_eq!(rebuilt.in_flight(), e.in_flight());
}

fn engine_with_actions(actions: SkuActions) -> common::SmallEngine {
    let config = EngineConfig {
        actions,
        ..EngineConfig::default()
    };
    engine_with(&LARGE, config).unwrap()
}

#[test]
fn each_sku_orders_its_own_percents() {
    // Proves the three ordering rows take the tenant's SKU's percents, and a plan change
    // switches them.
    let actions = SkuActions {
        enterprise: ActionPercents {
            intervene_throttle_pct: 30,
            degrade_throttle_pct: 15,
            refuse_shed_pct: 10,
        },
        ..SkuActions::DEFAULT
    };
    let mut e = engine_with_actions(actions);
    let activate = |e: &mut Engine<'_>, sku| {
        e.handle_entitlement(
            0,
            "t",
            EntitlementCommand::Activate {
                sku,
                expires_at_ms: None,
            },
        )
        .unwrap();
    };
    activate(&mut e, "enterprise");
    let mut now = 0;
    let mut orders = Vec::new();
    for v in [80.0, 80.0, 80.0, 97.0] {
        now += 5_000;
        let t = governed(&mut e, now, v);
        orders.extend(t.dispatched());
        for c in common::actions(&mut e) {
            if let ActionCommand::Run { receipt, .. } = c {
                e.handle_outcome(now, "t", Some(receipt), true, &[])
                    .unwrap();
            }
        }
    }
    assert_eq!(
        orders,
        [Action::throttle(15).unwrap(), Action::shed(10).unwrap()]
    );
    e.handle_reset(now, "t").unwrap();
    now += 5_000;
    assert_eq!(
        governed(&mut e, now, 93.0).dispatched(),
        Some(Action::throttle(30).unwrap())
    );
    activate(&mut e, "starter");
    e.handle_reset(now, "t").unwrap();
    now += 5_000;
    assert_eq!(
        governed(&mut e, now, 93.0).dispatched(),
        Some(Action::throttle(50).unwrap())
    );
}

#[test]
fn a_percent_out_of_bounds_is_refused_naming_the_sku_and_key() {
    // Proves 0 and 101 are refused at build, naming the first offending SKU and key.
    for bad in [0, 101] {
        let actions = SkuActions {
            pro: ActionPercents {
                refuse_shed_pct: bad,
                ..ActionPercents::DEFAULT
            },
            ..SkuActions::DEFAULT
        };
        let config = EngineConfig {
            actions,
            ..EngineConfig::default()
        };
        let err = engine_with(&SMALL, config).unwrap_err();
        assert!(matches!(
            err,
            autonomic_core::engine::BuildError::Config(EngineConfigError::ActionPercent {
                sku: Sku::Pro,
                ..
            })
        ));
        assert_eq!(
            err.to_string(),
            format!("pro actions: refuse_shed_pct must be 1..=100, got {bad}")
        );
    }
}

#[test]
fn stats_split_by_mode_and_count_shadowed_actions() {
    // Proves a shadow tenant's transitions and completions are counted under shadow, an
    // enforce tenant's under enforce, the totals are their sums, and every ShadowAction
    // receipt is counted by kind.
    use autonomic_core::{ActionKind as K, ActionOutcome as O};
    let mut e = shadow_tenant();
    governed(&mut e, 1_000, 93.0);
    let manual = e.handle_action(1_000, "t", Action::Pause).unwrap();
    e.handle_outcome(2_000, "t", Some(manual), true, &[])
        .unwrap();
    e.handle_mode(2_000, "t", Mode::Enforce).unwrap();
    governed(&mut e, 6_000, 60.0);
    let t = governed(&mut e, 11_000, 94.0);
    e.handle_outcome(12_000, "t", t.receipt, true, &[]).unwrap();
    let s = e.stats();
    assert_eq!(s.transitions_in(Mode::Shadow, S::Stable, S::Intervene), 1);
    assert_eq!(s.transitions_in(Mode::Enforce, S::Stable, S::Intervene), 1);
    assert_eq!(s.transitions(S::Stable, S::Intervene), 2);
    assert_eq!(
        s.transitions_in(Mode::Shadow, S::Intervene, S::Warn),
        1,
        "the manual success"
    );
    assert_eq!(s.transitions_in(Mode::Enforce, S::Warn, S::Stable), 1);
    assert_eq!(s.transitions_in(Mode::Shadow, S::Warn, S::Stable), 0);
    assert_eq!(s.transitions_in(Mode::Enforce, S::Intervene, S::Warn), 1);
    assert_eq!(s.transitions(S::Intervene, S::Warn), 2);
    assert_eq!(
        s.actions_completed_in(Mode::Shadow, K::Pause, O::Succeeded),
        1
    );
    assert_eq!(
        s.actions_completed_in(Mode::Enforce, K::Pause, O::Succeeded),
        0
    );
    assert_eq!(
        s.actions_completed_in(Mode::Enforce, K::Throttle, O::Succeeded),
        1
    );
    assert_eq!(s.actions_completed(K::Pause, O::Succeeded), 1);
    assert_eq!(s.actions_shadowed(K::Throttle), 1);
    assert_eq!(s.actions_shadowed(K::Pause), 0);
}

#[test]
fn defaults_and_names() {
    // Proves the Default values are the documented ones and each error has its wire name.
    assert_eq!(
        ActionPercents::default(),
        ActionPercents {
            intervene_throttle_pct: 50,
            degrade_throttle_pct: 25,
            refuse_shed_pct: 50,
        }
    );
    assert_eq!(SkuActions::default(), SkuActions::DEFAULT);
    assert_eq!(SkuActions::DEFAULT.of(Sku::Pro), ActionPercents::DEFAULT);
    assert_eq!(Mode::default(), Mode::Enforce);
    assert_eq!(
        Mode::ALL.map(Mode::index).map(|i| Mode::ALL[i].as_str()),
        ["enforce", "shadow"]
    );
    assert_eq!(ModeError::TenantNotFound.name(), "TenantNotFound");
    assert_eq!(ModeError::Busy.name(), "Busy");
}

#[test]
fn a_shadow_step_needs_room_for_its_two_receipts() {
    // Proves a shadow tenant's ordering step is Busy, changing nothing, when the ring has
    // room for the governor receipt but not the shadow_action one; with room it applies.
    let mut e = shadow_tenant();
    for i in 0..SMALL.receipts - 1 {
        e.handle_mode(i as u64, "t", Mode::Shadow).unwrap();
    }
    let refused = e.handle_signal(1_000, &raw("t", 93.0, 1_000));
    assert_eq!(refused, Err(autonomic_core::engine::IngestError::Busy));
    assert_eq!(e.tenant(1_000, "t").unwrap().state, S::Stable);
    drain_records(&mut e);
    assert!(governed(&mut e, 1_000, 93.0).shadow);
}

//! Queued manual actions (`docs/actions.md#queued-actions`): an action that waits for the one
//! in flight, runs after it (success, failure or timeout) in FIFO order, one per tenant per
//! `handle_timeout`, bounded per tenant and in all, and rebuilt by `restore`.

use crate::common;

use autonomic_core::breaker::{BreakerConfig, CircuitState};
use autonomic_core::engine::{CommandError, Engine, EngineConfig};
use autonomic_core::limits::{ACTION_TIMEOUT_MS_DEFAULT, QUEUED_PER_TENANT_MAX};
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, ActionCommand, ActionKind, ActionOutcome, Event};
use common::{SMALL, activate, drain_records, engine_with, events};

fn engine(caps: &Capacities, config: EngineConfig) -> Engine<'static> {
    let mut e = engine_with(caps, config).unwrap();
    activate(&mut e, "t");
    activate(&mut e, "u");
    drain_records(&mut e);
    e
}

fn small() -> Engine<'static> {
    engine(&SMALL, EngineConfig::default())
}

fn throttle(percent: u8) -> Action {
    Action::throttle(percent).unwrap()
}

/// The receipts of the Run commands waiting, and the actions they run.
fn runs(e: &mut Engine<'_>) -> Vec<(u64, Action)> {
    std::iter::from_fn(|| e.poll_action())
        .filter_map(|c| match c {
            ActionCommand::Run {
                receipt, action, ..
            } => Some((receipt, action)),
            _ => None,
        })
        .collect()
}

/// The receipts and actions queued for `tenant`, first to run first.
fn queued(e: &Engine<'_>, tenant: &str) -> Vec<(u64, Action)> {
    e.queued(tenant)
        .map(|q| (q.receipt, q.action.clone()))
        .collect()
}

/// The receipt of `tenant`'s action in flight.
fn flying(e: &Engine<'_>, tenant: &str) -> Option<u64> {
    e.tenant(0, tenant)
        .and_then(|v| v.in_flight.map(|f| f.receipt))
}

#[test]
fn nothing_in_flight_dispatches_at_once_like_a_plain_action() {
    let mut e = small();
    let r = e.handle_queued_action(1, "t", Action::Pause).unwrap();
    assert_eq!(flying(&e, "t"), Some(r));
    assert_eq!(runs(&mut e), vec![(r, Action::Pause)]);
    let ev = events(&drain_records(&mut e));
    assert!(matches!(
        ev[..],
        [Event::ActionDispatched { manual: true, .. }]
    ));
    assert!(queued(&e, "t").is_empty());
}

#[test]
fn an_action_queued_while_one_is_in_flight_waits_and_runs_after_it() {
    let mut e = small();
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    runs(&mut e);
    let q = e.handle_queued_action(2, "t", throttle(10)).unwrap();
    assert_eq!(
        events(&drain_records(&mut e)),
        vec![
            Event::ActionDispatched {
                action: Action::Pause,
                deadline_ms: 1 + ACTION_TIMEOUT_MS_DEFAULT,
                manual: true,
            },
            Event::ActionQueued {
                action: throttle(10)
            },
        ]
    );
    assert_eq!(queued(&e, "t"), vec![(q, throttle(10))]);
    assert!(runs(&mut e).is_empty(), "a queued action does not run yet");
    assert_eq!(flying(&e, "t"), Some(first));
    assert_eq!(e.poll_timeout(), Some(1 + ACTION_TIMEOUT_MS_DEFAULT));
    // Not inside the outcome: the head is due now, and runs at the next handle_timeout.
    e.handle_outcome(3, "t", Some(first), true, b"").unwrap();
    assert!(runs(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), Some(0), "due now");
    e.handle_timeout(4);
    let [(dispatched, ref action)] = runs(&mut e)[..] else {
        panic!("one run");
    };
    assert_eq!(action, &throttle(10));
    assert_eq!(flying(&e, "t"), Some(dispatched));
    assert!(queued(&e, "t").is_empty());
    assert_eq!(e.poll_timeout(), Some(4 + ACTION_TIMEOUT_MS_DEFAULT));
}

#[test]
fn queued_actions_run_in_order_after_success_failure_and_timeout() {
    let mut e = small();
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    let wanted = [throttle(10), Action::shed(20).unwrap(), throttle(30)];
    for action in &wanted {
        e.handle_queued_action(2, "t", action.clone()).unwrap();
    }
    runs(&mut e);
    e.handle_outcome(3, "t", Some(first), true, b"").unwrap();
    e.handle_timeout(3);
    let [(a, ref action)] = runs(&mut e)[..] else {
        panic!("one run")
    };
    assert_eq!(action, &wanted[0]);
    e.handle_outcome(4, "t", Some(a), false, b"").unwrap();
    e.handle_timeout(4);
    let [(b, ref action)] = runs(&mut e)[..] else {
        panic!("one run")
    };
    assert_eq!(action, &wanted[1]);
    // A timeout and the next dispatch in one call: the timeout first.
    let deadline = 4 + ACTION_TIMEOUT_MS_DEFAULT;
    assert_eq!(e.handle_timeout(deadline), 1);
    let [(c, ref action)] = runs(&mut e)[..] else {
        panic!("one run")
    };
    assert_eq!(action, &wanted[2]);
    let ev = events(&drain_records(&mut e));
    let timed_out = ev.iter().position(|e| {
        matches!(e, Event::ActionCompleted { receipt, outcome: ActionOutcome::TimedOut, .. } if *receipt == b)
    });
    let dispatched = ev.iter().position(|e| {
        matches!(e, Event::ActionDispatched { action, manual: true, .. } if *action == wanted[2])
    });
    assert!(timed_out.unwrap() < dispatched.unwrap());
    assert_eq!(flying(&e, "t"), Some(c));
    assert!(queued(&e, "t").is_empty());
}

#[test]
fn a_full_queue_is_refused_and_nothing_changes() {
    let caps = Capacities { queued: 6, ..SMALL };
    let mut e = engine(&caps, EngineConfig::default());
    e.handle_action(1, "t", Action::Pause).unwrap();
    e.handle_action(1, "u", Action::Pause).unwrap();
    for _ in 0..QUEUED_PER_TENANT_MAX {
        e.handle_queued_action(2, "t", throttle(10)).unwrap();
    }
    drain_records(&mut e);
    let before = (e.ledger().next_seq(), queued(&e, "t"));
    // Per tenant.
    let r = e.handle_queued_action(3, "t", throttle(20));
    assert_eq!(r, Err(CommandError::QueueFull));
    assert_eq!((e.ledger().next_seq(), queued(&e, "t")), before);
    // In all: 4 + 2 fill the table of 6.
    e.handle_queued_action(3, "u", throttle(10)).unwrap();
    e.handle_queued_action(3, "u", throttle(10)).unwrap();
    let next = e.ledger().next_seq();
    let r = e.handle_queued_action(4, "u", throttle(20));
    assert_eq!(r, Err(CommandError::QueueFull));
    assert_eq!(e.ledger().next_seq(), next);
    assert_eq!(queued(&e, "u").len(), 2);
    assert_eq!(e.queued_len(), (6, 6));
}

#[test]
fn a_plain_action_is_refused_while_anything_is_queued() {
    let mut e = small();
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    let q1 = e.handle_queued_action(2, "t", throttle(10)).unwrap();
    e.handle_queued_action(2, "t", throttle(20)).unwrap();
    // While one is in flight: the first queued receipt, so the caller knows what it waits for.
    let r = e.handle_action(3, "t", Action::Pause);
    assert_eq!(r, Err(CommandError::AlreadyExecuting(q1)));
    // Nothing in flight, the head not yet dispatched: still refused.
    e.handle_outcome(4, "t", Some(first), true, b"").unwrap();
    assert_eq!(flying(&e, "t"), None);
    let r = e.handle_action(5, "t", Action::Pause);
    assert_eq!(r, Err(CommandError::AlreadyExecuting(q1)));
    // And a queued one goes to the back of the line.
    e.handle_queued_action(5, "t", Action::Pause).unwrap();
    let kinds: Vec<_> = queued(&e, "t").iter().map(|(_, a)| a.kind()).collect();
    assert_eq!(
        kinds,
        [
            ActionKind::Throttle,
            ActionKind::Throttle,
            ActionKind::Pause
        ]
    );
}

#[test]
fn handle_timeout_dispatches_at_most_one_per_tenant() {
    let mut e = small();
    for tenant in ["t", "u"] {
        let first = e.handle_action(1, tenant, Action::Pause).unwrap();
        e.handle_queued_action(2, tenant, throttle(10)).unwrap();
        e.handle_queued_action(2, tenant, throttle(20)).unwrap();
        e.handle_outcome(3, tenant, Some(first), false, b"")
            .unwrap();
    }
    runs(&mut e);
    e.handle_timeout(4);
    let ran: Vec<_> = runs(&mut e).into_iter().map(|(_, a)| a).collect();
    assert_eq!(ran, [throttle(10), throttle(10)], "one each");
    assert_eq!(queued(&e, "t").len(), 1);
    assert_eq!(queued(&e, "u").len(), 1);
    // Both are in flight now: nothing is due until their deadlines.
    assert_eq!(e.poll_timeout(), Some(4 + ACTION_TIMEOUT_MS_DEFAULT));
    e.handle_timeout(5);
    assert!(runs(&mut e).is_empty());
}

#[test]
fn a_queued_dispatch_its_circuit_refuses_completes_and_the_next_waits() {
    let mut config = EngineConfig::default();
    config.breakers[ActionKind::Pause.index()] = BreakerConfig {
        failures: 1,
        cooldown_ms: 60_000,
    };
    let mut e = engine(&SMALL, config);
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    e.handle_queued_action(2, "t", Action::Pause).unwrap();
    e.handle_queued_action(2, "t", throttle(10)).unwrap();
    runs(&mut e);
    e.handle_outcome(3, "t", Some(first), false, b"").unwrap();
    assert_eq!(e.circuit(ActionKind::Pause), CircuitState::Open);
    drain_records(&mut e);
    e.handle_timeout(4);
    assert!(runs(&mut e).is_empty(), "the refused Pause does not run");
    let ev = events(&drain_records(&mut e));
    assert!(matches!(
        ev[..],
        [
            Event::ActionDispatched { manual: true, .. },
            Event::ActionCompleted {
                outcome: ActionOutcome::CircuitOpen,
                ..
            }
        ]
    ));
    assert_eq!(flying(&e, "t"), None);
    assert_eq!(queued(&e, "t").len(), 1, "the next head waits");
    assert_eq!(e.poll_timeout(), Some(0));
    e.handle_timeout(5);
    let ran: Vec<_> = runs(&mut e).into_iter().map(|(_, a)| a).collect();
    assert_eq!(ran, [throttle(10)]);
}

/// What must survive a restart, per tenant: the action in flight and the queue; and when
/// the engine wants to be called.
#[derive(Debug, PartialEq, Eq)]
struct Books {
    in_flight: Vec<Option<u64>>,
    queued: Vec<Vec<(u64, Action)>>,
    poll_timeout: Option<u64>,
}

fn books(e: &Engine<'_>) -> Books {
    let tenants = ["t", "u"];
    Books {
        in_flight: tenants.iter().map(|t| flying(e, t)).collect(),
        queued: tenants.iter().map(|t| queued(e, t)).collect(),
        poll_timeout: e.poll_timeout(),
    }
}

fn rebuilt(records: &[Vec<u8>]) -> Engine<'static> {
    let mut e = engine_with(&SMALL, EngineConfig::default()).unwrap();
    for r in records {
        e.restore(r).unwrap();
    }
    e
}

#[test]
fn restore_rebuilds_the_queue_and_equals_live() {
    let mut e = engine_with(&SMALL, EngineConfig::default()).unwrap();
    activate(&mut e, "t");
    activate(&mut e, "u");
    let mut records = drain_records(&mut e);
    let first = e.handle_action(1, "t", Action::Pause).unwrap();
    e.handle_queued_action(2, "t", throttle(10)).unwrap();
    e.handle_queued_action(2, "t", throttle(20)).unwrap();
    e.handle_action(2, "u", Action::Pause).unwrap();
    e.handle_queued_action(2, "u", throttle(30)).unwrap();
    records.extend(drain_records(&mut e));
    assert_eq!(books(&rebuilt(&records)), books(&e));
    // The head dispatched (and popped) restores too, and so does a head due now.
    e.handle_outcome(3, "t", Some(first), true, b"").unwrap();
    records.extend(drain_records(&mut e));
    assert_eq!(books(&rebuilt(&records)), books(&e));
    e.handle_timeout(4);
    records.extend(drain_records(&mut e));
    let mut restored = rebuilt(&records);
    assert_eq!(books(&restored), books(&e));
    assert_eq!(restored.ledger().head_hash(), e.ledger().head_hash());
    // Both go on alike.
    runs(&mut e);
    for engine in [&mut e, &mut restored] {
        let r = flying(engine, "t").unwrap();
        engine.handle_outcome(5, "t", Some(r), true, b"").unwrap();
        engine.handle_timeout(6);
    }
    assert_eq!(books(&restored), books(&e));
    assert_eq!(restored.ledger().head_hash(), e.ledger().head_hash());
    assert!(queued(&e, "t").is_empty());
}

#[test]
#[cfg(target_pointer_width = "64")]
fn a_queued_entry_costs_what_the_docs_say() {
    // `core/src/storage.rs` and `docs/design.md#the-execution-books` quote this size.
    assert_eq!(size_of::<autonomic_core::engine::Queued>(), 144);
}

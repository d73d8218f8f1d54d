//! The seed's demo scenario through the engine, with the receipts it leaves.

use crate::common;

use autonomic_core::engine::SignalResult;
use autonomic_core::{Action, ActionCommand, ChainVerifier, Event, GovernorState as S};
use common::{active, drain_records, raw};

fn governed(r: SignalResult) -> autonomic_core::Transition {
    match r {
        SignalResult::Governed(t) => t,
        SignalResult::Duplicate => panic!("unexpected duplicate"),
    }
}

#[test]
fn seed_demo_walks_stable_warn_intervene_warn_stable() {
    // Proves the seed's scenario: 45 → Stable; 78 → Warn c=1; 78 → Warn c=2;
    // 92 → Intervene + Throttle(50); success → Warn; 55 → Stable.
    let mut e = active("acme");

    let t = governed(e.handle_signal(1_000, &raw("acme", 45.0, 1_000)).unwrap());
    assert_eq!((t.to, t.consecutive_high, t.action), (S::Stable, 0, None));
    let t = governed(e.handle_signal(6_000, &raw("acme", 78.0, 6_000)).unwrap());
    assert_eq!((t.to, t.consecutive_high), (S::Warn, 1));
    let t = governed(e.handle_signal(11_000, &raw("acme", 78.0, 11_000)).unwrap());
    assert_eq!((t.to, t.consecutive_high), (S::Warn, 2));
    let t = governed(e.handle_signal(16_000, &raw("acme", 92.0, 16_000)).unwrap());
    assert_eq!((t.to, t.consecutive_high), (S::Intervene, 0));
    assert_eq!(t.dispatched(), Some(Action::Throttle { percent: 50 }));
    let receipt = t.receipt.expect("dispatched");
    match e.poll_action() {
        Some(ActionCommand::Run {
            receipt: r, action, ..
        }) => {
            assert_eq!((r, action), (receipt, Action::Throttle { percent: 50 }));
        }
        other => panic!("expected Run, got {other:?}"),
    }
    let t = e
        .handle_outcome(16_100, "acme", Some(receipt), true, &[])
        .unwrap();
    assert_eq!((t.from, t.to), (S::Intervene, S::Warn));
    let t = governed(e.handle_signal(21_000, &raw("acme", 55.0, 21_000)).unwrap());
    assert_eq!((t.from, t.to), (S::Warn, S::Stable));

    // The receipts: activation, Warn c1, Warn c2, Intervene, dispatch, completion, Warn, Stable.
    let records = drain_records(&mut e);
    let mut verifier = ChainVerifier::new();
    let events: Vec<Event> = records
        .iter()
        .map(|r| verifier.push(r).unwrap().event)
        .collect();
    assert_eq!(events.len(), 8, "{events:#?}");
    assert!(matches!(events[0], Event::Entitlement { .. }));
    assert!(matches!(
        events[1],
        Event::Governor {
            to: S::Warn,
            consecutive_high: 1,
            ..
        }
    ));
    assert!(matches!(
        events[2],
        Event::Governor {
            to: S::Warn,
            consecutive_high: 2,
            ..
        }
    ));
    assert!(matches!(
        events[3],
        Event::Governor {
            to: S::Intervene,
            ..
        }
    ));
    assert!(matches!(
        events[4],
        Event::ActionDispatched { manual: false, .. }
    ));
    assert!(matches!(
        events[5],
        Event::ActionCompleted {
            outcome: autonomic_core::ActionOutcome::Succeeded,
            ..
        }
    ));
    assert!(matches!(events[6], Event::Governor { to: S::Warn, .. }));
    assert!(matches!(events[7], Event::Governor { to: S::Stable, .. }));
    assert_eq!(e.ledger().verify(), Ok(()));
    assert_eq!(verifier.head_hash(), e.ledger().head_hash());
}

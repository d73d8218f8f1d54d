//! Enforcement follows outcomes (`docs/actions.md`): what an action's completion enforces on
//! admissions, what a failure, timeout, supersede or reset leaves, and undo tokens riding the
//! ledger to a rollback; each checked against a restore of the same receipts.

use crate::common;

use autonomic_core::engine::{CommandError, Engine, EngineConfig};
use autonomic_core::entitlement::AdmitError;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Action, ActionCommand, ActionKind, ActionOutcome, Event, GovernorState as S, Resource,
    SignalResult, Undo,
};
use common::{LARGE, SMALL, actions, active, drain_records, events, raw};

/// The views that must survive a restart, plus the rollback bookkeeping and head.
fn assert_restores_equal(
    live: &mut Engine<'_>,
    caps: &Capacities,
    records: &mut Vec<Vec<u8>>,
    now: u64,
) {
    records.extend(drain_records(live));
    let mut mem = OwnedStorage::new(caps);
    let mut rebuilt = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for r in records.iter() {
        rebuilt.restore(r).unwrap();
    }
    let (a, b) = (
        common::restored_views(live, now),
        common::restored_views(&rebuilt, now),
    );
    assert_eq!(a, b, "live == restored");
    assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
}

#[test]
fn a_failed_manual_pause_is_not_enforced() {
    // Proves a Pause whose outcome is failure no longer refuses admission (RefusedByAction),
    // and a restored engine agrees.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e.handle_action(1, "t", Action::Pause).unwrap();
        assert_eq!(
            e.admit(2, "t", Resource::Requests, 1),
            Err(AdmitError::RefusedByAction(ActionKind::Pause)),
            "in flight: enforced"
        );
        e.handle_outcome(3, "t", Some(r), false, &[]).unwrap();
        assert_eq!(e.tenant(3, "t").unwrap().enforced, None);
        assert_eq!(e.admit(4, "t", Resource::Requests, 1), Ok(1));
        assert_restores_equal(&mut e, &caps, &mut records, 5);
    }
}

#[test]
fn a_timed_out_throttle_gives_back_the_skus_limits() {
    // Proves a manual Throttle(10) that times out (Stable, so the governor does not react)
    // stops lowering the limits: pro's 8 cores are admitted again.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        e.handle_action(1, "t", Action::throttle(10).unwrap())
            .unwrap();
        assert!(matches!(
            e.admit(2, "t", Resource::Cpu, 2),
            Err(AdmitError::QuotaExceeded { limit: 1, .. })
        ));
        assert_eq!(e.handle_timeout(1 + 30_000), 1);
        assert_eq!(e.tenant(30_001, "t").unwrap().enforced, None);
        assert_eq!(e.admit(30_002, "t", Resource::Cpu, 8), Ok(8));
        assert_restores_equal(&mut e, &caps, &mut records, 30_003);
    }
}

#[test]
fn a_superseded_action_is_not_enforced_but_its_successor_is() {
    // Proves Superseded clears the old action's enforcement and the new dispatch takes over.
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let manual = e.handle_action(1, "t", Action::Pause).unwrap();
        let SignalResult::Governed(t) = e.handle_signal(2, &raw("t", 95.0, 2)).unwrap() else {
            panic!("governed");
        };
        let enforced = e.tenant(2, "t").unwrap().enforced.unwrap();
        assert_ne!(enforced.receipt, manual);
        assert_eq!(
            (Some(enforced.receipt), enforced.kind),
            (t.receipt, ActionKind::Throttle)
        );
        assert_restores_equal(&mut e, &caps, &mut records, 3);
    }
}

#[test]
fn a_reset_ends_enforcement_by_a_receipt() {
    // Proves a reset of a Stable tenant with an enforced manual Pause (succeeded, or still in
    // flight) writes a governor receipt (cause Reset, Stable → Stable, c 0) and allows
    // admission again; a reset with nothing to end writes nothing; restore agrees.
    for (succeed, caps) in [(true, SMALL), (false, SMALL), (true, LARGE), (false, LARGE)] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e.handle_action(1, "t", Action::Pause).unwrap();
        if succeed {
            e.handle_outcome(2, "t", Some(r), true, &[]).unwrap();
        }
        assert!(e.admit(3, "t", Resource::Requests, 1).is_err());
        records.extend(drain_records(&mut e));
        let t = e.handle_reset(4, "t").unwrap();
        assert_eq!(
            (t.from, t.to, t.consecutive_high),
            (S::Stable, S::Stable, 0)
        );
        let written = drain_records(&mut e);
        assert_eq!(
            events(&written),
            vec![Event::Governor {
                cause: autonomic_core::Cause::Reset,
                from: S::Stable,
                to: S::Stable,
                consecutive_high: 0,
            }]
        );
        records.extend(written);
        assert_eq!(e.admit(5, "t", Resource::Requests, 1), Ok(1));
        e.handle_reset(6, "t").unwrap();
        assert!(
            drain_records(&mut e).is_empty(),
            "nothing enforced: no receipt"
        );
        if !succeed {
            // The pause completes after the reset: still not enforced.
            e.handle_outcome(7, "t", Some(r), true, &[]).unwrap();
            assert_eq!(e.tenant(7, "t").unwrap().enforced, None);
        }
        assert_restores_equal(&mut e, &caps, &mut records, 8);
    }
}

// ----- undo tokens --------------------------------------------------------------------------

#[test]
fn an_undo_token_rides_the_ledger_to_the_rollback() {
    // Proves the undo of a successful outcome is kept in its completion receipt and handed
    // back with the rollback, also by an engine restored from the receipts (a restart).
    for caps in [SMALL, LARGE] {
        let mut mem = OwnedStorage::new(&caps);
        let mut e = common::active_in(&mut mem, "t");
        let mut records = drain_records(&mut e);
        let r = e
            .handle_action(1, "t", Action::throttle(30).unwrap())
            .unwrap();
        let undo = [7u8; autonomic_core::limits::UNDO_BYTES_MAX];
        e.handle_outcome(2, "t", Some(r), true, &undo).unwrap();
        let written = drain_records(&mut e);
        assert!(events(&written).contains(&Event::ActionCompleted {
            receipt: r,
            outcome: ActionOutcome::Succeeded,
            undo: Undo::from_slice(&undo).unwrap(),
        }));
        records.extend(written);
        actions(&mut e);
        let mut rebuilt_mem = OwnedStorage::new(&caps);
        let mut rebuilt = Engine::new(EngineConfig::default(), rebuilt_mem.storage()).unwrap();
        for rec in &records {
            rebuilt.restore(rec).unwrap();
        }
        for engine in [&mut e, &mut rebuilt] {
            engine.handle_rollback(3, r).unwrap();
            let got = actions(engine);
            assert!(
                matches!(got.as_slice(), [ActionCommand::Rollback { receipt, undo: u, .. }] if *receipt == r && u.as_slice() == undo),
                "{got:?}"
            );
        }
    }
}

#[test]
fn an_oversized_undo_is_refused_and_a_failed_ones_is_dropped() {
    // Proves an undo of UNDO_BYTES_MAX + 1 bytes is UndoTooLarge and changes nothing, and an
    // undo reported with a failure is recorded empty.
    let mut e = active("t");
    drain_records(&mut e);
    let r = e.handle_action(1, "t", Action::Pause).unwrap();
    drain_records(&mut e);
    let big = [1u8; autonomic_core::limits::UNDO_BYTES_MAX + 1];
    assert_eq!(
        e.handle_outcome(2, "t", Some(r), true, &big),
        Err(CommandError::UndoTooLarge(big.len()))
    );
    assert_eq!(CommandError::UndoTooLarge(65).name(), "UndoTooLarge");
    assert!(drain_records(&mut e).is_empty());
    assert_eq!(e.in_flight().len(), 1, "still in flight");
    e.handle_outcome(3, "t", Some(r), false, &[9, 9]).unwrap();
    assert_eq!(
        events(&drain_records(&mut e)),
        vec![Event::ActionCompleted {
            receipt: r,
            outcome: ActionOutcome::Failed,
            undo: Undo::new(),
        }]
    );
}

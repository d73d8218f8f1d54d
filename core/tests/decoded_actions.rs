//! A ledger record whose hash chain is right but whose action breaks the action rules (a
//! percent above 100, a revision that is empty or holds a space) is refused as malformed by
//! `restore` and by the chain verifier, at its seq; one whose event does not follow from the
//! state is refused by `restore` as inconsistent. The restored engine (and the verifier) are
//! left as the records before it made them.

use crate::common;

use autonomic_core::action::Revision;
use autonomic_core::breaker::CircuitState;
use autonomic_core::engine::RestoreError;
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::receipt::ChainErrorKind;
use autonomic_core::{
    Action, ActionKind, ActionOutcome, Cause, ChainError, ChainVerifier, Event, GovernorState,
    Receipt, Undo,
};
use common::{active, drain_records, raw};

/// The records of a real engine: `acme` activated (seq 0), then a reading of 78 moving its
/// governor to Warn (seq 1).
fn history() -> Vec<Vec<u8>> {
    let mut e = active("acme");
    e.handle_signal(1_000, &raw("acme", 78.0, 1_000)).unwrap();
    drain_records(&mut e)
}

/// A fresh engine with `records` restored.
fn restored(records: &[Vec<u8>]) -> common::SmallEngine {
    let mut e = common::engine();
    for record in records {
        e.restore(record).unwrap();
    }
    e
}

/// A correctly chained and hashed record after `prev` (its seq + 1), for `acme`.
fn chained(prev: &[u8], event: Event) -> Vec<u8> {
    let prev = Receipt::decode(prev).unwrap();
    let mut r = Receipt {
        seq: prev.seq + 1,
        ts_ms: prev.ts_ms + 1,
        tenant: prev.tenant,
        event,
        prev_hash: prev.hash,
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    r.seal_into(&mut buf).unwrap().to_vec()
}

/// [`chained`]: `acme` dispatches `action` as a manual action.
fn chained_dispatch(prev: &[u8], action: Action) -> Vec<u8> {
    let event = Event::ActionDispatched {
        action,
        deadline_ms: 60_000,
        manual: true,
    };
    chained(prev, event)
}

fn revision(text: &str) -> Action {
    Action::Rollback {
        revision: Revision::try_from(text).unwrap(),
    }
}

/// Actions no constructor builds, each breaking one rule.
fn invalid_actions() -> Vec<Action> {
    vec![
        Action::Throttle { percent: 150 },
        Action::Throttle { percent: 101 },
        Action::Shed { percent: 255 },
        revision("a b"),
        revision(""),
        revision("r\u{1}"),
    ]
}

#[test]
fn restore_refuses_a_well_hashed_invalid_action_at_its_seq_and_keeps_what_came_before() {
    // Proves the decoded action is re-checked: restore names seq 2 as malformed, keeps the
    // two receipts restored before it, and puts nothing in flight.
    let records = history();
    assert_eq!(records.len(), 2);
    for action in invalid_actions() {
        let bad = chained_dispatch(&records[1], action.clone());
        let mut e = restored(&records);
        let refused = e.restore(&bad);
        assert_eq!(
            refused,
            Err(RestoreError::Chain(ChainError {
                position: 2,
                kind: ChainErrorKind::Malformed,
            })),
            "{action:?}"
        );
        assert_eq!(e.ledger().next_seq(), 2, "{action:?}: nothing restored");
        assert_eq!(e.tenant(2_000, "acme").unwrap().state, GovernorState::Warn);
        assert!(e.in_flight().is_empty(), "{action:?}: nothing in flight");
        let acme = e.tenant(2, "acme").unwrap();
        assert!(acme.in_flight.is_none(), "{action:?}");
        assert!(acme.enforced.is_none(), "{action:?}: nothing enforced");
    }
}

#[test]
fn the_chain_verifier_names_the_record_with_an_invalid_action() {
    // Proves verification (the check `autonomic verify` runs on every record) refuses the
    // same records as malformed at seq 2, after accepting seqs 0 and 1, and stays there.
    let records = history();
    for action in invalid_actions() {
        let bad = chained_dispatch(&records[1], action.clone());
        assert_eq!(Receipt::decode(&bad), Err(ChainErrorKind::Malformed));
        let mut verifier = ChainVerifier::new();
        for record in &records {
            verifier.push(record).unwrap();
        }
        let head = verifier.head_hash();
        let err = verifier.push(&bad).unwrap_err();
        assert_eq!(
            (err.position, err.kind),
            (2, ChainErrorKind::Malformed),
            "{action:?}"
        );
        assert_eq!(
            (verifier.next_seq(), verifier.head_hash()),
            (2, head),
            "{action:?}: the verifier did not advance"
        );
    }
}

#[test]
fn the_edges_of_the_rules_restore_and_run() {
    // Proves the re-check refuses only what breaks a rule: percent 0 and 100, a one-byte and
    // a 128-byte visible revision restore, are in flight, and are the action restored.
    let records = history();
    let long = "~".repeat(128);
    for action in [
        Action::Throttle { percent: 100 },
        Action::Shed { percent: 0 },
        Action::Shed { percent: 100 },
        Action::Pause,
        revision("!"),
        revision(&long),
    ] {
        let good = chained_dispatch(&records[1], action.clone());
        let mut e = restored(&records);
        e.restore(&good)
            .unwrap_or_else(|err| panic!("{action:?}: {err}"));
        assert_eq!(e.in_flight().len(), 1, "{action:?}");
        assert_eq!(e.in_flight()[0].action, action);
        assert_eq!(e.in_flight()[0].receipt, 2);
    }
}

#[test]
fn restore_refuses_a_well_hashed_record_that_does_not_follow_from_the_state() {
    // Proves restore's consistency check: after Stable -> Warn, a governor receipt from
    // Intervene, a completion of an action never dispatched, a rollback of one never
    // completed, a circuit closing that never opened, a shadow action of a tenant in enforce
    // mode and an action queued behind nothing are each refused `Inconsistent` at seq 2, with
    // the state left as it was.
    let records = history();
    let not_following = [
        Event::Governor {
            cause: Cause::Reset,
            from: GovernorState::Intervene,
            to: GovernorState::Stable,
            consecutive_high: 0,
        },
        Event::ActionCompleted {
            receipt: 1,
            outcome: ActionOutcome::Failed,
            undo: Undo::new(),
        },
        Event::RollbackRequested { receipt: 1 },
        Event::Circuit {
            kind: ActionKind::Throttle,
            to: CircuitState::Closed,
        },
        Event::ShadowAction {
            action: Action::Pause,
        },
        Event::ActionQueued {
            action: Action::Pause,
        },
    ];
    for event in not_following {
        let bad = chained(&records[1], event.clone());
        let mut e = restored(&records);
        assert_eq!(
            e.restore(&bad),
            Err(RestoreError::Inconsistent(2)),
            "{event:?}"
        );
        assert_eq!(e.ledger().next_seq(), 2, "{event:?}");
        let acme = e.tenant(2_000, "acme").unwrap();
        assert_eq!(
            (acme.state, acme.consecutive_high),
            (GovernorState::Warn, 1)
        );
    }
    let follows = Event::Governor {
        cause: Cause::Reset,
        from: GovernorState::Warn,
        to: GovernorState::Stable,
        consecutive_high: 0,
    };
    let mut e = restored(&records);
    e.restore(&chained(&records[1], follows)).unwrap();
    assert_eq!(
        e.tenant(2_000, "acme").unwrap().state,
        GovernorState::Stable
    );
}

#[test]
fn only_a_successful_completion_carries_an_undo_token() {
    // Proves the decoder's undo rule: a success with an undo token and a failure without
    // one decode; a failure (or a timeout) with an undo token is malformed.
    let records = history();
    let undo = Undo::from_slice(b"restore-v1").unwrap();
    let completed = |outcome, undo| Event::ActionCompleted {
        receipt: 1,
        outcome,
        undo,
    };
    let ok = [
        completed(ActionOutcome::Succeeded, undo.clone()),
        completed(ActionOutcome::Succeeded, Undo::new()),
        completed(ActionOutcome::Failed, Undo::new()),
    ];
    for event in ok {
        let record = chained(&records[1], event.clone());
        assert_eq!(Receipt::decode(&record).map(|r| r.event), Ok(event));
    }
    for outcome in [ActionOutcome::Failed, ActionOutcome::TimedOut] {
        let record = chained(&records[1], completed(outcome, undo.clone()));
        assert_eq!(
            Receipt::decode(&record),
            Err(ChainErrorKind::Malformed),
            "{outcome:?}"
        );
    }
}

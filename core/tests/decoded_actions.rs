//! A ledger record whose hash chain is right but whose action breaks the action rules (a
//! percent above 100, a revision that is empty or holds a space) is refused as malformed by
//! `restore` and by the chain verifier, at its seq, and the restored engine is left as the
//! records before it made it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use autonomic_core::action::Revision;
use autonomic_core::engine::RestoreError;
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::receipt::ChainErrorKind;
use autonomic_core::{Action, ChainError, ChainVerifier, Event, Receipt};
use common::{active, drain_records};

/// The records of a real engine: `acme` activated (seq 0).
fn activation() -> Vec<Vec<u8>> {
    let mut e = active("acme");
    drain_records(&mut e)
}

/// A correctly chained and hashed record after `prev` (its seq + 1), dispatching `action` to
/// `acme` as a manual action.
fn chained_dispatch(prev: &[u8], action: Action) -> Vec<u8> {
    let prev = Receipt::decode(prev).unwrap();
    let mut r = Receipt {
        seq: prev.seq + 1,
        ts_ms: prev.ts_ms + 1,
        tenant: prev.tenant,
        event: Event::ActionDispatched {
            action,
            deadline_ms: 60_000,
            manual: true,
        },
        prev_hash: prev.hash,
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    r.seal_into(&mut buf).unwrap().to_vec()
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
    // Proves the decoded action is re-checked: restore names seq 1 as malformed, keeps the
    // activation restored before it, and puts nothing in flight.
    let records = activation();
    assert_eq!(records.len(), 1);
    for action in invalid_actions() {
        let bad = chained_dispatch(&records[0], action.clone());
        let mut e = common::engine();
        e.restore(&records[0]).unwrap();
        let refused = e.restore(&bad);
        assert_eq!(
            refused,
            Err(RestoreError::Chain(ChainError {
                position: 1,
                kind: ChainErrorKind::Malformed,
            })),
            "{action:?}"
        );
        assert_eq!(e.ledger().next_seq(), 1, "{action:?}: nothing restored");
        assert!(e.in_flight().is_empty(), "{action:?}: nothing in flight");
        let acme = e.tenant(2, "acme").unwrap();
        assert!(acme.in_flight.is_none(), "{action:?}");
        assert!(acme.enforced.is_none(), "{action:?}: nothing enforced");
    }
}

#[test]
fn the_chain_verifier_names_the_record_with_an_invalid_action() {
    // Proves verification (the check `autonomic verify` runs on every record) refuses the
    // same records as malformed at seq 1, after accepting seq 0.
    let records = activation();
    for action in invalid_actions() {
        let bad = chained_dispatch(&records[0], action.clone());
        assert_eq!(Receipt::decode(&bad), Err(ChainErrorKind::Malformed));
        let mut verifier = ChainVerifier::new();
        verifier.push(&records[0]).unwrap();
        let err = verifier.push(&bad).unwrap_err();
        assert_eq!(
            (err.position, err.kind),
            (1, ChainErrorKind::Malformed),
            "{action:?}"
        );
        assert_eq!(
            verifier.next_seq(),
            1,
            "{action:?}: the verifier did not advance"
        );
    }
}

#[test]
fn the_edges_of_the_rules_restore_and_run() {
    // Proves the re-check refuses only what breaks a rule: percent 0 and 100, a one-byte and
    // a 128-byte visible revision restore, are in flight, and are the action restored.
    let records = activation();
    let long = "~".repeat(128);
    for action in [
        Action::Throttle { percent: 100 },
        Action::Shed { percent: 0 },
        Action::Shed { percent: 100 },
        Action::Pause,
        revision("!"),
        revision(&long),
    ] {
        let good = chained_dispatch(&records[0], action.clone());
        let mut e = common::engine();
        e.restore(&records[0]).unwrap();
        e.restore(&good)
            .unwrap_or_else(|err| panic!("{action:?}: {err}"));
        assert_eq!(e.in_flight().len(), 1, "{action:?}");
        assert_eq!(e.in_flight()[0].action, action);
        assert_eq!(e.in_flight()[0].receipt, 1);
    }
}

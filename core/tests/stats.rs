//! `Engine::stats`: a scripted run counted exactly, and restore counting nothing.

use crate::common;

use std::collections::HashMap;
use std::fmt::Debug;

use autonomic_core::engine::{Engine, EngineConfig, IngestError, Stats};
use autonomic_core::stats::{DUPLICATE, GOVERNED, SIGNAL_RESULTS};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    ActionKind as K, ActionOutcome as O, EntitlementCommand, Event, GovernorState as S, RawSignal,
    Receipt, SignalError, SignalResult,
};
use common::{drain_records, raw};

/// Room for the whole script, and a deduplicator of 4 ids so that it evicts.
const TINY: Capacities = Capacities {
    dedup_ids: 4,
    ..common::SMALL
};

type Tiny = common::SmallEngine;

fn activated() -> Tiny {
    let mut e = common::engine_with(&TINY, EngineConfig::default()).unwrap();
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    e.handle_entitlement(0, "t", activate).unwrap();
    e
}

fn governed(e: &mut Tiny, value: f64, ts_ms: u64) {
    let result = e.handle_signal(ts_ms, &raw("t", value, ts_ms)).unwrap();
    assert!(matches!(result, SignalResult::Governed(_)), "{result:?}");
}

/// The script: every governor transition the table has on its escalation path, an action
/// ending in each of the four outcomes, both rollback results, a duplicate, refusals, and six
/// governed signal ids in a deduplicator of four (two early evictions). Returns its records.
fn script(e: &mut Tiny) -> Vec<Vec<u8>> {
    governed(e, 95.0, 1_000); // Stable -> Intervene, Throttle(50) dispatched
    let duplicate = e.handle_signal(1_000, &raw("t", 95.0, 1_000)).unwrap();
    assert_eq!(duplicate, SignalResult::Duplicate);
    let throttle = e.in_flight()[0].receipt;
    e.handle_outcome(1_500, "t", Some(throttle), true, b"old")
        .unwrap(); // Throttle Succeeded; Intervene -> Warn
    e.handle_rollback(1_600, throttle).unwrap();
    e.handle_rollback_outcome(1_700, throttle, false).unwrap();
    e.handle_rollback(1_800, throttle).unwrap();
    e.handle_rollback_outcome(1_900, throttle, true).unwrap();
    governed(e, 95.0, 6_000); // Warn -> Intervene, Throttle(50) (a new 5 s window)
    assert_eq!(e.handle_timeout(40_000), 1); // Throttle TimedOut; Intervene -> Degrade, Pause
    governed(e, 99.0, 40_000); // Degrade -> Refuse; Pause Superseded, Shed(50)
    let shed = e.in_flight()[0].receipt;
    e.handle_outcome(40_500, "t", Some(shed), false, &[])
        .unwrap(); // Shed Failed; the governor stays in Refuse
    e.handle_reset(41_000, "t").unwrap(); // Refuse -> Stable
    for value in [10.0, 11.0, 12.0] {
        governed(e, value, 42_000); // Stable, no receipt; ids 4..=6 evict ids 1 and 2
    }
    let unknown = e.handle_signal(42_000, &raw("ghost", 10.0, 42_000));
    assert_eq!(unknown, Err(IngestError::TenantNotFound));
    let bad = RawSignal {
        metric: "heat",
        ..raw("t", 10.0, 42_000)
    };
    let invalid = e.handle_signal(42_000, &bad);
    assert_eq!(
        invalid,
        Err(IngestError::Invalid(SignalError::InvalidMetricName))
    );
    drain_records(e)
}

/// Asserts that `count` is 1 for the pairs in `once` and 0 for every other pair.
fn exactly_once<A: Copy + PartialEq + Debug, B: Copy + PartialEq + Debug>(
    rows: &[A],
    columns: &[B],
    once: &[(A, B)],
    count: impl Fn(A, B) -> u64,
) {
    for &row in rows {
        for &column in columns {
            let expected = u64::from(once.contains(&(row, column)));
            assert_eq!(count(row, column), expected, "{row:?} {column:?}");
        }
    }
}

#[test]
fn a_scripted_run_is_counted_exactly() {
    // Proves every counter of Stats against a run whose effects are known in advance.
    let mut e = activated();
    let records = script(&mut e);
    let stats = *e.stats();

    assert_eq!(stats.receipts(), records.len() as u64);
    assert_eq!(stats.last_seq(), Some(records.len() as u64 - 1));

    let moves = [
        (S::Stable, S::Intervene),
        (S::Intervene, S::Warn),
        (S::Warn, S::Intervene),
        (S::Intervene, S::Degrade),
        (S::Degrade, S::Refuse),
        (S::Refuse, S::Stable),
    ];
    exactly_once(&S::ALL, &S::ALL, &moves, |from, to| {
        stats.transitions(from, to)
    });
    let ended = [
        (K::Throttle, O::Succeeded),
        (K::Throttle, O::TimedOut),
        (K::Pause, O::Superseded),
        (K::Shed, O::Failed),
    ];
    exactly_once(&K::ALL, &O::ALL, &ended, |kind, outcome| {
        stats.actions_completed(kind, outcome)
    });

    for kind in K::ALL {
        let expected = u64::from(kind == K::Throttle);
        assert_eq!(stats.rollbacks_completed(kind, true), expected, "{kind:?}");
        assert_eq!(stats.rollbacks_completed(kind, false), expected, "{kind:?}");
    }

    assert_eq!(stats.signals_governed(), 6);
    assert_eq!(stats.signals_duplicate(), 1);
    for error in IngestError::ALL {
        let expected = u64::from(matches!(
            error,
            IngestError::TenantNotFound | IngestError::Invalid(SignalError::InvalidMetricName)
        ));
        assert_eq!(stats.signals_refused(error), expected, "{error:?}");
    }

    assert_eq!(stats.dedup_evictions(), 2);
    assert_eq!(e.dedup_evictions(), 2);
}

#[test]
fn stats_agree_with_the_receipts_they_count() {
    // Proves the counters equal a recount from the receipts themselves, the way a driver
    // decoding every record would count them.
    let mut e = activated();
    let records = script(&mut e);
    let mut transitions = HashMap::new();
    let mut completions = HashMap::new();
    let mut kinds = HashMap::new();
    for record in &records {
        let receipt = Receipt::decode(record).unwrap();
        match receipt.event {
            Event::Governor { from, to, .. } => *transitions.entry((from, to)).or_insert(0) += 1,
            Event::ActionDispatched { action, .. } => {
                kinds.insert(receipt.seq, action.kind());
            }
            Event::ActionCompleted {
                receipt, outcome, ..
            } => *completions.entry((kinds[&receipt], outcome)).or_insert(0) += 1,
            _ => {}
        }
    }
    let stats = e.stats();
    for from in S::ALL {
        for to in S::ALL {
            let recount = transitions.get(&(from, to)).copied().unwrap_or(0);
            assert_eq!(stats.transitions(from, to), recount, "{from:?} -> {to:?}");
        }
    }
    for kind in K::ALL {
        for outcome in O::ALL {
            let recount = completions.get(&(kind, outcome)).copied().unwrap_or(0);
            assert_eq!(stats.actions_completed(kind, outcome), recount);
        }
    }
}

#[test]
fn restore_counts_nothing() {
    // Proves counters start at zero in each process: restoring a ledger counts nothing (not
    // even the dedup eviction that rebuilding a smaller memory causes), and counting resumes
    // from zero with the first live input.
    let mut live = activated();
    let mut records = drain_records(&mut live);
    records.extend(script(&mut live));
    // Three of the receipts carry a signal id; this deduplicator holds two.
    let two_ids = Capacities {
        dedup_ids: 2,
        ..TINY
    };
    let mut mem = OwnedStorage::new(&two_ids);
    let mut restored = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    for record in &records {
        restored.restore(record).unwrap();
    }
    assert_eq!(*restored.stats(), Stats::default());
    assert_eq!(restored.dedup_evictions(), 0);
    assert_eq!(restored.dedup_len(), 2);

    let next = restored.ledger().next_seq();
    let result = restored.handle_signal(43_000, &raw("t", 95.0, 43_000));
    assert!(
        matches!(result, Ok(SignalResult::Governed(_))),
        "{result:?}"
    );
    let stats = restored.stats();
    assert_eq!(stats.receipts(), 2); // Stable -> Intervene, Throttle(50) dispatched
    assert_eq!(stats.last_seq(), Some(next + 1));
    assert_eq!(stats.transitions(S::Stable, S::Intervene), 1);
    assert_eq!(stats.signals_governed(), 1);
    assert_eq!(stats.signals_duplicate(), 0);
    assert_eq!(stats.dedup_evictions(), 1);
}

#[test]
fn every_signal_result_has_one_label() {
    // Proves the labels a driver iterates: governed, duplicate, then every IngestError by
    // its wire name, each at the position its index names.
    for (position, error) in IngestError::ALL.into_iter().enumerate() {
        assert_eq!(error.index(), position, "{error:?}");
    }
    let mut e = activated();
    governed(&mut e, 10.0, 1_000);
    e.handle_signal(1_000, &raw("t", 10.0, 1_000)).unwrap();
    let _ = e.handle_signal(1_000, &raw("", 10.0, 1_000));
    let results = e.stats().signal_results();
    assert_eq!(results.len(), SIGNAL_RESULTS);
    let labels: Vec<&str> = results.iter().map(|(label, _)| *label).collect();
    let mut expected = vec![GOVERNED, DUPLICATE];
    expected.extend(IngestError::ALL.iter().map(|e| e.name()));
    assert_eq!(labels, expected);
    assert_eq!(results[0], ("governed", 1));
    assert_eq!(results[1], ("duplicate", 1));
    assert_eq!(results[2], ("InvalidTenantId", 1));
    assert!(results[3..].iter().all(|(_, count)| *count == 0));
}

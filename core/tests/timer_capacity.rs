//! The governor's timer table is as large as `Capacities::timers` says
//! (`docs/governor.md#timing`): an engine of N entries takes exactly N tenants into Refuse
//! while `refuse_max_ms` is on and refuses the next with `Busy`; storage of 0 entries, or more
//! than the limit, is refused at start; a restore into a table too small for the ledger's
//! pending warnings is refused by name.

use crate::common;
use crate::timing_support;

use autonomic_core::engine::{BuildError, Engine, EngineConfig, IngestError, RestoreError};
use autonomic_core::governor::GovernorTiming;
use autonomic_core::limits::TIMERS_MAX;
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{Action, GovernorState};
use common::{activate, drain_records, engine_with, raw};
use timing_support::*;

fn refuse_max() -> GovernorTiming {
    GovernorTiming {
        refuse_max_ms: 60_000,
        ..GovernorTiming::OFF
    }
}

const fn with_timers(timers: usize) -> Capacities {
    Capacities {
        timers,
        ..common::SMALL
    }
}

#[test]
fn an_engine_of_n_timers_takes_exactly_n_tenants_into_refuse_and_refuses_the_next() {
    for n in [1, 3, 7] {
        let mut e = timed_in(&with_timers(n), refuse_max());
        let ids = fill_timers(&mut e); // n tenants in Refuse: (n, n) timers
        let last = &ids[n];
        for (i, v) in [80.0, 81.0, 82.0].into_iter().enumerate() {
            signal(&mut e, last, v, T0 + 10_000 + 1000 * i as u64);
        }
        drain_records(&mut e);
        runs(&mut e);
        let (seq, due) = (e.ledger().next_seq(), e.poll_timeout());
        let refused = e.handle_signal(T0 + 20_000, &raw(last, 96.0, T0 + 20_000));
        assert_eq!(refused, Err(IngestError::Busy), "n {n}");
        assert_eq!(e.ledger().next_seq(), seq, "n {n}: nothing written");
        assert_eq!(state(&e, last), GovernorState::Degrade, "n {n}");
        assert_eq!(e.timers_len(), (n, n));
        assert_eq!(e.poll_timeout(), due, "n {n}");
        assert_eq!(runs(&mut e), vec![], "n {n}: nothing dispatched");
    }
}

#[test]
fn the_default_capacities_hold_128_timers() {
    let mut mem = OwnedStorage::new(&Capacities::default());
    let e = Engine::new(EngineConfig::default(), mem.storage()).unwrap();
    assert_eq!(e.timers_len(), (0, 128));
}

#[test]
fn timer_storage_of_0_entries_or_more_than_the_limit_is_refused_at_start() {
    for timers in [0, TIMERS_MAX + 1] {
        let built = engine_with(&with_timers(timers), EngineConfig::default());
        let err = built.err();
        assert_eq!(err, Some(BuildError::Timers(timers)));
        let said = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            said,
            format!("the timer table's storage has {timers} entries: it needs 1..=65536")
        );
    }
    let e = engine_with(&with_timers(TIMERS_MAX), EngineConfig::default()).unwrap();
    assert_eq!(e.timers_len(), (0, TIMERS_MAX));
}

#[test]
fn a_restore_into_a_table_too_small_for_the_pending_warnings_is_refused_by_name() {
    // Two tenants with a pending warning each: an engine of 2 timers rebuilds both, one of 1
    // refuses the second warning's receipt.
    let config = EngineConfig {
        timing: grace(),
        ..EngineConfig::default()
    };
    let mut e = engine_with(&with_timers(2), config).unwrap();
    let mut records = Vec::new();
    for id in ["t", "u"] {
        activate(&mut e, id);
        into_refuse(&mut e, id, T0);
        records.extend(drain_records(&mut e));
    }
    assert_eq!(e.timers_len(), (2, 2));
    assert_eq!(runs(&mut e).len(), 2, "the two Throttles");
    let second = records
        .iter()
        .rposition(|r| {
            matches!(
                common::events(std::slice::from_ref(r))[0],
                autonomic_core::Event::Warning { .. }
            )
        })
        .unwrap() as u64;
    for timers in [2, 1] {
        let mut r = engine_with(&with_timers(timers), config).unwrap();
        let result = records.iter().try_for_each(|rec| r.restore(rec));
        if timers == 2 {
            assert_eq!(result, Ok(()));
            assert_eq!(r.timers_len(), e.timers_len());
            assert_eq!(r.warning("u"), e.warning("u"));
        } else {
            assert_eq!(result, Err(RestoreError::TimerTableFull(second)));
            let said = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(said.contains("max_timers"), "{said}");
        }
    }
    assert_eq!(
        e.warning("u").map(|w| w.order.action()),
        Some(Action::Shed { percent: 50 })
    );
}

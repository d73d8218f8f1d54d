//! Chain properties (`docs/receipts.md`): tampering with a ledger is detected at the first position
//! whose record differs (any single-bit flip; any receipt deleted, duplicated, swapped or
//! cut out of the middle); valid chains round-trip through encode → decode; eviction from a
//! small ring never breaks verification of the retained window; and an engine rebuilt from
//! its receipts (`Engine::restore`, in order) equals the live one.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 here).

use autonomic_core::engine::{ActionCommand, Engine, EngineConfig};
use autonomic_core::entitlement::CommandKind;
use autonomic_core::ledger::Span;
use autonomic_core::limits::UNDO_BYTES_MAX;
use autonomic_core::receipt::{Cause, GENESIS_HASH, hash_of, prev_hash_of, seq_of};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{
    Action, ActionOutcome, ChainVerifier, EntitlementCommand, EntitlementState, Event,
    GovernorState, Ledger, MetricKind, RawSignal, Receipt, Sku, TenantId, Undo,
};
use autonomic_tests::LARGE;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use sha2::Digest;

fn config() -> ProptestConfig {
    config_with_cases(256)
}

/// The suite's config with `cases` cases by default (`PROPTEST_CASES` overrides it).
fn config_with_cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_chain.txt",
        ))),
        ..ProptestConfig::default()
    }
}

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// One step of a random history through the engine.
#[derive(Debug, Clone)]
enum H {
    Signal(usize, u8),
    Outcome(usize, bool),
    Manual(usize, u8),
    Rollback(usize),
    RollbackOutcome(usize, bool),
    Tick(u64),
    Entitlement(usize, u8),
    Reset(usize),
}

fn history_op() -> impl Strategy<Value = H> {
    let t = 0..TENANTS.len();
    prop_oneof![
        10 => (t.clone(), 0u8..=100).prop_map(|(t, v)| H::Signal(t, v)),
        4 => (t.clone(), any::<bool>()).prop_map(|(t, ok)| H::Outcome(t, ok)),
        2 => (t.clone(), 0u8..4).prop_map(|(t, k)| H::Manual(t, k)),
        2 => any::<prop::sample::Index>().prop_map(|i| H::Rollback(i.index(64))),
        2 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, ok)| H::RollbackOutcome(i.index(64), ok)),
        2 => prop_oneof![0u64..2000, 20_000u64..40_000].prop_map(H::Tick),
        2 => (t.clone(), 0u8..5).prop_map(|(t, c)| H::Entitlement(t, c)),
        1 => t.prop_map(H::Reset),
    ]
}

fn history() -> impl Strategy<Value = Vec<H>> {
    prop::collection::vec(history_op(), 1..120)
}

/// What a history left: every record polled, the clock, the ids of governed signals that
/// left a receipt.
struct Trace {
    records: Vec<Vec<u8>>,
    now: u64,
    signal_ids: Vec<([u8; 32], u64)>,
}

/// Drives `e` through `ops` (after activating every tenant), draining records and actions
/// after each step and calling `check` on the engine.
fn run_history(
    e: &mut Engine<'_>,
    ops: &[H],
    mut check: impl FnMut(&Engine<'_>, usize) -> Result<(), TestCaseError>,
) -> Result<Trace, TestCaseError> {
    let mut trace = Trace {
        records: Vec::new(),
        now: 1_000_000,
        signal_ids: Vec::new(),
    };
    let mut pending_rollbacks: Vec<u64> = Vec::new();
    for t in TENANTS {
        e.handle_entitlement(
            trace.now,
            t,
            EntitlementCommand::Activate {
                sku: "pro",
                expires_at_ms: None,
            },
        )
        .or_else(|err| match err {
            // A table smaller than TENANTS: the rest wait for a revoked tenant's slot.
            autonomic_core::entitlement::EntitlementError::TenantTableFull => {
                Ok(EntitlementState::Active)
            }
            _ => Err(err),
        })
        .map_err(|e| TestCaseError::fail(format!("activate: {e}")))?;
    }
    for (i, op) in ops.iter().enumerate() {
        let now = trace.now;
        match *op {
            H::Signal(t, v) => {
                trace.now += 1;
                let raw = RawSignal {
                    tenant: TENANTS[t],
                    metric: "cpu",
                    value: f64::from(v),
                    ts_ms: trace.now,
                };
                let before = e.ledger().next_seq();
                if e.handle_signal(trace.now, &raw).is_ok() && e.ledger().next_seq() > before {
                    let id = autonomic_core::monitor::signal_id(
                        TENANTS[t],
                        MetricKind::Cpu,
                        trace.now / 5000,
                        v,
                    );
                    trace.signal_ids.push((id, trace.now));
                }
            }
            H::Outcome(t, ok) => {
                let undo = [0xc3; 9];
                let _ = e.handle_outcome(now, TENANTS[t], None, ok, &undo);
            }
            H::Manual(t, k) => {
                let action = match k {
                    0 => Action::Throttle { percent: 10 },
                    1 => Action::Pause,
                    2 => Action::Shed { percent: 30 },
                    _ => Action::rollback("v1.2.3").expect("valid revision"),
                };
                let _ = e.handle_action(now, TENANTS[t], action);
            }
            H::Rollback(i) => {
                let done: Vec<u64> = e.rollbackable().collect();
                if !done.is_empty() {
                    let _ = e.handle_rollback(now, done[i % done.len()]);
                }
            }
            H::RollbackOutcome(i, ok) => {
                if !pending_rollbacks.is_empty() {
                    let r = pending_rollbacks.remove(i % pending_rollbacks.len());
                    let _ = e.handle_rollback_outcome(now, r, ok);
                }
            }
            H::Tick(dt) => {
                trace.now += dt;
                e.handle_timeout(trace.now);
            }
            H::Entitlement(t, c) => {
                let cmd = match c {
                    0 => EntitlementCommand::Pause,
                    1 => EntitlementCommand::Resume,
                    2 => EntitlementCommand::Activate {
                        sku: "starter",
                        expires_at_ms: Some(now + 50_000),
                    },
                    3 => EntitlementCommand::Activate {
                        sku: "enterprise",
                        expires_at_ms: None,
                    },
                    _ => EntitlementCommand::Revoke,
                };
                let _ = e.handle_entitlement(now, TENANTS[t], cmd);
            }
            H::Reset(t) => {
                let _ = e.handle_reset(now, TENANTS[t]);
            }
        }
        while let Some(r) = e.poll_record() {
            trace.records.push(r.to_vec());
        }
        while let Some(c) = e.poll_action() {
            if let ActionCommand::Rollback { receipt, .. } = c {
                pending_rollbacks.push(receipt);
            }
        }
        check(e, i)?;
    }
    Ok(trace)
}

/// Room for every history: 8 tenants, 1024 receipts, 1024 dedup ids.
const BIG: Capacities = Capacities {
    tenant_id_bytes: 8 * 256,
    dedup_ids: 1024,
    receipts: 1024,
    ..Capacities::with_tenants(8)
};

/// A table of 2 slots for the 3 tenants, an id arena of `id_bytes` (10 holds "acme" and
/// "globex" exactly; more leaves room for some replacements and not others), 16 dedup ids and
/// a ring of 16 receipts: every bound is reached within a history.
const fn small(id_bytes: usize) -> Capacities {
    Capacities {
        tenant_id_bytes: id_bytes,
        dedup_ids: 16,
        receipts: 16,
        ..Capacities::with_tenants(2)
    }
}

fn records_of(ops: &[H]) -> Vec<Vec<u8>> {
    let mut mem = OwnedStorage::new(&BIG);
    let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("default config");
    run_history(&mut e, ops, |_, _| Ok(()))
        .expect("history")
        .records
}

/// Proves rebuild-from-receipts in an engine of `caps`: restoring every record, in order,
/// into a fresh engine of the same capacities gives the live engine's tenants (all but
/// `usage`) in the same slots, in-flight actions, rollbackable receipts, ledger head and next
/// deadline; and, while the live deduplicator evicted nothing, remembers every signal that
/// changed something.
fn assert_restore_equals_live(caps: &Capacities, ops: &[H]) -> Result<(), TestCaseError> {
    let mut live_mem = OwnedStorage::new(caps);
    let mut live = Engine::new(EngineConfig::default(), live_mem.storage()).expect("config");
    let trace = run_history(&mut live, ops, |e, i| {
        prop_assert!(e.tenant_count() <= caps.tenants, "after step {}", i);
        Ok(())
    })?;
    let mut rebuilt_mem = OwnedStorage::new(caps);
    let mut rebuilt = Engine::new(EngineConfig::default(), rebuilt_mem.storage()).expect("config");
    for (i, r) in trace.records.iter().enumerate() {
        prop_assert_eq!(rebuilt.restore(r), Ok(()), "record {}", i);
    }
    let now = trace.now;
    let strip = |mut v: autonomic_core::TenantView<'_>| {
        v.usage = [0; 4];
        format!("{v:?}")
    };
    let a: Vec<String> = live.tenants(now).map(strip).collect();
    let b: Vec<String> = rebuilt.tenants(now).map(strip).collect();
    prop_assert_eq!(a, b);
    prop_assert_eq!(live.tenant_id_bytes(), rebuilt.tenant_id_bytes());
    prop_assert_eq!(live.in_flight(), rebuilt.in_flight());
    prop_assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    prop_assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
    prop_assert_eq!(live.ledger().next_seq(), rebuilt.ledger().next_seq());
    prop_assert_eq!(live.poll_timeout(), rebuilt.poll_timeout());
    prop_assert_eq!(
        rebuilt.poll_record(),
        None,
        "restored records are already durable"
    );
    if live.dedup_evictions() > 0 {
        // A full deduplicator forgot ids in arrival order, and the rebuilt one saw only the
        // signals that left a receipt: they may remember different ids.
        return Ok(());
    }
    for (id, ts) in &trace.signal_ids {
        let window = ts / 5000;
        let retained = window + 12 >= now / 5000;
        prop_assert_eq!(
            rebuilt.is_duplicate(id, window, now),
            live.is_duplicate(id, window, now)
        );
        prop_assert_eq!(
            rebuilt.is_duplicate(id, window, now),
            retained,
            "a signal that changed something, stamped {}, at {}",
            ts,
            now
        );
    }
    Ok(())
}

/// Feeds records to a fresh verifier: Ok(count) or the first error's position.
fn verify_all(records: &[Vec<u8>]) -> Result<u64, u64> {
    let mut v = ChainVerifier::new();
    for r in records {
        v.push(r).map_err(|e| e.position)?;
    }
    Ok(v.next_seq())
}

/// The first index where `tampered` differs from `original` (None if it is a prefix of it).
fn first_difference(original: &[Vec<u8>], tampered: &[Vec<u8>]) -> Option<u64> {
    (0..tampered.len())
        .find(|&i| original.get(i) != Some(&tampered[i]))
        .map(|i| i as u64)
}

#[derive(Debug, Clone)]
enum Tamper {
    Flip {
        record: usize,
        bit: usize,
    },
    Delete(usize),
    Duplicate {
        from: usize,
        at: usize,
    },
    Swap(usize, usize),
    CutMiddle {
        start: usize,
        len: usize,
    },
    /// A forgery: flip a bit anywhere but the hash, then recompute the record's own hash.
    Reseal {
        record: usize,
        bit: usize,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let i = || any::<prop::sample::Index>();
    prop_oneof![
        4 => (i(), any::<usize>()).prop_map(|(r, bit)| Tamper::Flip { record: r.index(1 << 16), bit }),
        1 => i().prop_map(|r| Tamper::Delete(r.index(1 << 16))),
        1 => (i(), i()).prop_map(|(a, b)| Tamper::Duplicate { from: a.index(1 << 16), at: b.index(1 << 16) }),
        1 => (i(), i()).prop_map(|(a, b)| Tamper::Swap(a.index(1 << 16), b.index(1 << 16))),
        1 => (i(), 1usize..8).prop_map(|(a, len)| Tamper::CutMiddle { start: a.index(1 << 16), len }),
        3 => (i(), any::<usize>()).prop_map(|(r, bit)| Tamper::Reseal { record: r.index(1 << 16), bit }),
    ]
}

fn apply(records: &[Vec<u8>], t: &Tamper) -> Vec<Vec<u8>> {
    let n = records.len();
    let mut out = records.to_vec();
    match *t {
        Tamper::Flip { record, bit } => {
            let r = &mut out[record % n];
            let bit = bit % (r.len() * 8);
            r[bit / 8] ^= 1 << (bit % 8);
        }
        Tamper::Delete(i) => {
            out.remove(i % n);
        }
        Tamper::Duplicate { from, at } => {
            let copy = out[from % n].clone();
            out.insert(at % (n + 1), copy);
        }
        Tamper::Swap(a, b) => out.swap(a % n, b % n),
        Tamper::CutMiddle { start, len } => {
            let start = start % n;
            let end = (start + len).min(n);
            out.drain(start..end);
        }
        Tamper::Reseal { record, bit } => {
            let r = &mut out[record % n];
            let body = r.len() - 32;
            let bit = bit % (body * 8);
            r[bit / 8] ^= 1 << (bit % 8);
            let hash: [u8; 32] = sha2::Sha256::digest(&r[..body]).into();
            r[body..].copy_from_slice(&hash);
        }
    }
    out
}

/// Where the verifier must stop on `tampered`: at the first record that differs from the
/// original, unless that record is a well-formed forgery that links to its predecessor
/// (resealed with the right seq and prev_hash), in which case at the next one.
fn expected_stop(original: &[Vec<u8>], tampered: &[Vec<u8>]) -> Option<u64> {
    let at = first_difference(original, tampered)?;
    let i = at as usize;
    let r = &tampered[i];
    let prev = if i == 0 {
        Some(GENESIS_HASH)
    } else {
        hash_of(&tampered[i - 1])
    };
    let links = Receipt::decode(r).is_ok()
        && seq_of(r) == Some(at)
        && prev_hash_of(r) == prev
        && hash_of(r) == Some(sha2::Sha256::digest(&r[..r.len() - 32]).into());
    match (links, i + 1 < tampered.len()) {
        (false, _) => Some(at),
        (true, true) => Some(at + 1),
        (true, false) => None,
    }
}

fn ascii(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0x21u8..=0x7E, min..=max)
        .prop_map(|b| String::from_utf8(b).expect("ascii"))
}

fn gov_state() -> impl Strategy<Value = GovernorState> {
    prop::sample::select(GovernorState::ALL.to_vec())
}

fn ent_state() -> impl Strategy<Value = EntitlementState> {
    use EntitlementState::*;
    prop::sample::select(vec![Pending, Active, Paused, Expired, Terminated])
}

fn event() -> impl Strategy<Value = Event> {
    let cause = prop_oneof![
        (
            prop::sample::select(MetricKind::ALL.to_vec()),
            0u8..=100,
            any::<u64>()
        )
            .prop_map(|(metric, value_pct, ts_ms)| Cause::Signal {
                metric,
                value_pct,
                ts_ms
            }),
        Just(Cause::ActionSucceeded),
        Just(Cause::ActionFailed),
        Just(Cause::Reset),
        Just(Cause::RefuseExpired),
    ];
    let action = prop_oneof![
        (0u8..=100).prop_map(|p| Action::Throttle { percent: p }),
        Just(Action::Pause),
        (0u8..=100).prop_map(|p| Action::Shed { percent: p }),
        ascii(1, 128).prop_map(|r| Action::rollback(&r).expect("valid revision")),
    ];
    let outcome = prop::sample::select(vec![
        ActionOutcome::Succeeded,
        ActionOutcome::Failed,
        ActionOutcome::TimedOut,
        ActionOutcome::Superseded,
    ]);
    let command = prop::sample::select(vec![
        CommandKind::Provision,
        CommandKind::Activate,
        CommandKind::Pause,
        CommandKind::Resume,
        CommandKind::Revoke,
    ]);
    prop_oneof![
        (cause, gov_state(), gov_state(), any::<u8>()).prop_map(
            |(cause, from, to, consecutive_high)| Event::Governor {
                cause,
                from,
                to,
                consecutive_high
            }
        ),
        (action, any::<u64>(), any::<bool>()).prop_map(|(action, deadline_ms, manual)| {
            Event::ActionDispatched {
                action,
                deadline_ms,
                manual,
            }
        }),
        (
            any::<u64>(),
            outcome,
            prop::collection::vec(any::<u8>(), 0..=UNDO_BYTES_MAX)
        )
            .prop_map(|(receipt, outcome, undo)| Event::ActionCompleted {
                receipt,
                outcome,
                // Only a success carries an undo token (a receipt otherwise does not decode).
                undo: match outcome {
                    ActionOutcome::Succeeded => Undo::from_slice(&undo).expect("within the limit"),
                    _ => Undo::new(),
                },
            }),
        any::<u64>().prop_map(|receipt| Event::RollbackRequested { receipt }),
        (
            prop_oneof![
                Just(Action::Pause),
                (0u8..=100).prop_map(|p| Action::Shed { percent: p })
            ],
            any::<u64>()
        )
            .prop_map(|(action, deadline_ms)| Event::Warning {
                action,
                deadline_ms
            }),
        any::<u64>().prop_map(|receipt| Event::WarningCancelled { receipt }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(receipt, succeeded)| Event::RollbackCompleted { receipt, succeeded }),
        (
            command,
            prop::option::of(ent_state()),
            ent_state(),
            prop::sample::select(vec![Sku::Starter, Sku::Pro, Sku::Enterprise]),
            prop::option::of(any::<u64>())
        )
            .prop_map(
                |(command, from, to, sku, expires_at_ms)| Event::Entitlement {
                    command,
                    from,
                    to,
                    sku,
                    expires_at_ms
                }
            ),
    ]
}

/// Seals `(tenant, ts, event)` into a chain from genesis with `Receipt::seal_into`.
fn seal_chain(items: &[(String, u64, Event)]) -> (Vec<Receipt>, Vec<Vec<u8>>) {
    let mut prev = GENESIS_HASH;
    let mut receipts = Vec::new();
    let mut records = Vec::new();
    for (seq, (tenant, ts_ms, event)) in items.iter().enumerate() {
        let mut r = Receipt {
            seq: seq as u64,
            ts_ms: *ts_ms,
            tenant: TenantId::try_from(tenant.as_str()).expect("<= 256 bytes"),
            event: event.clone(),
            prev_hash: prev,
            hash: [0; 32],
        };
        let mut buf = [0u8; 512];
        let record = r.seal_into(&mut buf).expect("fits").to_vec();
        prev = r.hash;
        receipts.push(r);
        records.push(record);
    }
    (receipts, records)
}

proptest! {
    #![proptest_config(config())]

    /// Proves tampering (bit flip, deletion, duplication, swap, cut from the middle, a
    /// resealed forgery) is reported by `ChainVerifier` at the first position whose record
    /// differs (for a well-formed forgery, the next one, whose link breaks), and that a chain
    /// which is a prefix of the original still verifies (only the head can tell).
    #[test]
    fn tampering_is_detected_where_it_starts(ops in history(), t in tamper()) {
        let records = records_of(&ops);
        prop_assert_eq!(verify_all(&records), Ok(records.len() as u64));
        let tampered = apply(&records, &t);
        match expected_stop(&records, &tampered) {
            None => prop_assert_eq!(verify_all(&tampered), Ok(tampered.len() as u64)),
            Some(at) => prop_assert_eq!(verify_all(&tampered), Err(at), "{:?}", t),
        }
    }

    /// Proves every single-bit flip of one record is caught at that record (exhaustive over
    /// the bits of one random record of a short random history).
    #[test]
    fn every_bit_flip_is_caught(ops in prop::collection::vec(history_op(), 1..20), pick in any::<prop::sample::Index>()) {
        let records = records_of(&ops);
        let i = pick.index(records.len());
        for bit in 0..records[i].len() * 8 {
            let tampered = apply(&records, &Tamper::Flip { record: i, bit });
            prop_assert_eq!(verify_all(&tampered), Err(i as u64), "bit {} of record {}", bit, i);
        }
    }

    /// Proves any valid chain round-trips: sealed receipts decode to themselves, re-encode
    /// to the same bytes, and verify.
    #[test]
    fn sealed_chains_round_trip(items in prop::collection::vec((ascii(1, 256), any::<u64>(), event()), 1..12)) {
        let (receipts, records) = seal_chain(&items);
        let mut v = ChainVerifier::new();
        for (r, bytes) in receipts.iter().zip(&records) {
            let decoded = Receipt::decode(bytes);
            prop_assert_eq!(decoded.as_ref(), Ok(r));
            let mut buf = [0u8; 512];
            prop_assert_eq!(r.encode_into(&mut buf).expect("fits"), &bytes[..]);
            let pushed = v.push(bytes);
            prop_assert_eq!(pushed.as_ref(), Ok(r));
            prop_assert_eq!(hash_of(bytes), Some(r.hash));
        }
    }

    /// Proves the engine's records round-trip through decode → encode byte for byte.
    #[test]
    fn engine_records_round_trip(ops in history()) {
        for bytes in records_of(&ops) {
            let r = Receipt::decode(&bytes).expect("the engine's records decode");
            let mut buf = [0u8; 512];
            prop_assert_eq!(r.encode_into(&mut buf).expect("fits"), &bytes[..]);
        }
    }

    /// Proves eviction from a small ring (4..=6 records, 2 KiB, tenants up to 256 bytes so
    /// the byte budget evicts too) keeps the retained window verifying from its anchor, keeps
    /// exactly the newest records, and never drops one not yet polled.
    #[test]
    fn small_ring_evicts_without_breaking_the_chain(
        capacity in 4usize..=6,
        steps in prop::collection::vec(prop_oneof![3 => (ascii(1, 256), event()).prop_map(Some), 2 => Just(None)], 1..80),
    ) {
        let (mut arena, mut spans) = (vec![0; 2048], vec![Span::default(); capacity]);
        let mut ring = Ledger::new(&mut arena, &mut spans).expect("ledger shape");
        let mut all: Vec<Vec<u8>> = Vec::new();
        let mut polled = 0usize;
        for (k, step) in steps.iter().enumerate() {
            match step {
                Some((tenant, event)) => {
                    let room = ring.can_append(1);
                    let (seq, head) = (ring.next_seq(), ring.head_hash());
                    match ring.append(k as u64, tenant, event) {
                        Ok(s) => {
                            prop_assert_eq!(s, seq);
                            all.push(ring.get(s).expect("just appended").to_vec());
                        }
                        Err(_) => {
                            prop_assert!(!room, "can_append(1) promised room");
                            prop_assert_eq!((ring.next_seq(), ring.head_hash()), (seq, head), "a refused append changed the ring");
                        }
                    }
                }
                None => {
                    if let Some(r) = ring.poll_record() {
                        prop_assert_eq!(r, &all[polled][..], "polled out of order");
                        polled += 1;
                    }
                }
            }
            prop_assert_eq!(ring.verify(), Ok(()), "after step {}", k);
            let (first, anchor) = ring.anchor();
            let expected_anchor = if first == 0 { GENESIS_HASH } else { hash_of(&all[first as usize - 1]).expect("hash") };
            prop_assert_eq!(anchor, expected_anchor);
            prop_assert!(ring.len() <= capacity);
            prop_assert!(first as usize <= polled, "evicted a record not yet polled");
            for (seq, r) in ring.records() {
                prop_assert_eq!(r, &all[seq as usize][..]);
            }
            prop_assert_eq!(ring.next_seq() as usize, all.len());
        }
        prop_assert_eq!(verify_all(&all), Ok(all.len() as u64));
    }

    /// Proves an engine with a small ring (4..=8 receipts) keeps `ledger().verify()` true
    /// after every step of a random history, while the records it hands out still chain.
    #[test]
    fn small_engine_ring_keeps_verifying(capacity in 4usize..=8, ops in history()) {
        let caps = Capacities { dedup_ids: 256, receipts: capacity, ..Capacities::with_tenants(8) };
        let mut mem = OwnedStorage::new(&caps);
        let mut e = Engine::new(EngineConfig::default(), mem.storage()).expect("config");
        let trace = run_history(&mut e, &ops, |e, i| {
            prop_assert_eq!(e.ledger().verify(), Ok(()), "after step {}", i);
            prop_assert!(e.ledger().len() <= capacity);
            Ok(())
        })?;
        prop_assert_eq!(verify_all(&trace.records), Ok(trace.records.len() as u64));
        prop_assert_eq!(hash_of(trace.records.last().expect("activations")), Some(e.ledger().head_hash()));
    }

    /// Proves rebuild-from-receipts when the tenant table (2 slots, 3 tenants), the id arena,
    /// the deduplicator and the ring fill: revoked tenants' slots are reused in place, and a
    /// new tenant is refused when neither the slot's room nor the arena holds its id.
    #[test]
    fn restore_equals_live_in_a_full_table(id_bytes in 10usize..=24, ops in history()) {
        assert_restore_equals_live(&small(id_bytes), &ops)?;
    }

    /// Proves rebuild-from-receipts with room for every history (see
    /// [`assert_restore_equals_live`]).
    #[test]
    fn restore_equals_live(ops in history()) {
        assert_restore_equals_live(&BIG, &ops)?;
    }
}

proptest! {
    #![proptest_config(config_with_cases(32))]

    /// Proves rebuild-from-receipts with large capacities (100 000 tenants, 1 000 000 dedup
    /// ids; fewer cases: each allocates and clears tens of MiB, twice).
    #[test]
    fn restore_equals_live_large(ops in history()) {
        assert_restore_equals_live(&LARGE, &ops)?;
    }
}

#[test]
fn forged_prev_hash_is_a_broken_link() {
    // Proves a record whose prev_hash was rewritten and whose own hash was recomputed (a
    // forger's splice) is a BrokenLink at its own position, for every record of a history.
    let ops: Vec<H> = (0..12).map(|i| H::Signal(i % 3, 70 + i as u8)).collect();
    let records = records_of(&ops);
    for i in 0..records.len() {
        let mut forged = records.clone();
        let r = &mut forged[i];
        let body = r.len() - 32;
        r[body - 1] ^= 0x01; // the last byte of prev_hash
        let hash: [u8; 32] = sha2::Sha256::digest(&r[..body]).into();
        r[body..].copy_from_slice(&hash);
        let mut v = ChainVerifier::new();
        let err = forged.iter().find_map(|r| v.push(r).err());
        assert_eq!(
            err,
            Some(autonomic_core::ChainError {
                position: i as u64,
                kind: autonomic_core::receipt::ChainErrorKind::BrokenLink
            }),
            "record {i}"
        );
    }
}

#[test]
fn truncating_the_tail_only_changes_the_head() {
    // Proves what the verifier alone cannot see: a chain cut at the end verifies, and only
    // its head (seq, hash) differs — which is why the head is published.
    let ops: Vec<H> = (0..10).map(|i| H::Signal(i % 3, 80 + i as u8)).collect();
    let records = records_of(&ops);
    let cut = &records[..records.len() - 2];
    let mut v = ChainVerifier::new();
    for r in cut {
        v.push(r).expect("prefix verifies");
    }
    assert_eq!(v.next_seq(), cut.len() as u64);
    assert_ne!(Some(v.head_hash()), hash_of(records.last().unwrap()));
}

#[test]
fn non_canonical_records_are_malformed() {
    // Proves (once fixed) the receipt module's promise that only the canonical encoding of a
    // receipt decodes: seq 0 written as the overlong varint 0x80 0x00, resealed, is Malformed.
    let records = records_of(&[H::Reset(0)]);
    let canonical = &records[0];
    assert_eq!(canonical[0], 0x00, "seq 0 is one zero byte");
    let mut body = vec![0x80, 0x00];
    body.extend_from_slice(&canonical[1..canonical.len() - 32]);
    let hash: [u8; 32] = sha2::Sha256::digest(&body).into();
    body.extend_from_slice(&hash);
    assert_eq!(
        Receipt::decode(&body),
        Err(autonomic_core::receipt::ChainErrorKind::Malformed)
    );
    let mut v = ChainVerifier::new();
    assert!(
        v.push(&body).is_err(),
        "the verifier accepted a non-canonical record"
    );
}

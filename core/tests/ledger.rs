//! The receipt chain (`docs/receipts.md`): tamper evidence, eviction, encoding, rebuild and memory.

use crate::common;

use autonomic_core::engine::TENANT_STATE_BYTES;
use autonomic_core::limits::{RECORD_MAX_BYTES, UNDO_BYTES_MAX};
use autonomic_core::receipt::ChainErrorKind as K;
use autonomic_core::{
    Action, ActionOutcome, Cause, ChainVerifier, EntitlementCommand, Event, GovernorState,
    MetricKind, Receipt, Undo,
};
use common::{SmallEngine, active, drain_records, raw};

/// A short history with every event kind: returns the engine and its records.
fn history() -> (SmallEngine, Vec<Vec<u8>>) {
    let mut e = active("acme");
    e.handle_entitlement(
        1,
        "beta",
        EntitlementCommand::Activate {
            sku: "starter",
            expires_at_ms: Some(9_999_999),
        },
    )
    .unwrap();
    for (i, v) in [78.0, 80.0, 92.0].into_iter().enumerate() {
        let ts = 5_000 * (i as u64 + 1);
        e.handle_signal(ts, &raw("acme", v, ts)).unwrap();
    }
    let receipt = e.in_flight()[0].receipt;
    e.handle_outcome(20_000, "acme", Some(receipt), true, b"max 100000")
        .unwrap();
    e.handle_rollback(21_000, receipt).unwrap();
    e.handle_rollback_outcome(22_000, receipt, true).unwrap();
    e.handle_action(23_000, "beta", Action::rollback("v1.2.3").unwrap())
        .unwrap();
    e.handle_timeout(23_000 + 30_000);
    e.handle_reset(60_000, "acme").unwrap();
    let records = drain_records(&mut e);
    (e, records)
}

fn verify(records: &[Vec<u8>]) -> Result<u64, autonomic_core::ChainError> {
    let mut v = ChainVerifier::new();
    for r in records {
        v.push(r)?;
    }
    Ok(v.next_seq())
}

fn reencode(r: &Receipt) -> Vec<u8> {
    let mut buf = [0u8; RECORD_MAX_BYTES];
    r.encode_into(&mut buf).unwrap().to_vec()
}

#[test]
fn history_covers_every_event_kind_and_verifies() {
    // Proves the arrangement: every Event variant appears and the chain verifies from genesis.
    let (e, records) = history();
    let events: Vec<Event> = records
        .iter()
        .map(|r| Receipt::decode(r).unwrap().event)
        .collect();
    let has = |f: fn(&Event) -> bool| events.iter().any(f);
    assert!(has(|e| matches!(e, Event::Governor { .. })));
    assert!(has(|e| matches!(
        e,
        Event::ActionDispatched { manual: true, .. }
    )));
    assert!(has(|e| matches!(
        e,
        Event::ActionCompleted {
            outcome: ActionOutcome::TimedOut,
            ..
        }
    )));
    assert!(has(|e| matches!(e, Event::RollbackRequested { .. })));
    assert!(has(|e| matches!(
        e,
        Event::RollbackCompleted {
            succeeded: true,
            ..
        }
    )));
    assert!(has(|e| matches!(e, Event::Entitlement { .. })));
    assert_eq!(verify(&records), Ok(records.len() as u64));
    assert_eq!(e.ledger().verify(), Ok(()));
}

#[test]
fn tampering_any_field_is_detected_at_its_position() {
    // Proves that changing seq, ts_ms, tenant, event, prev_hash or hash of receipt i (without
    // re-hashing) fails verification at position i, for every i.
    let (_, records) = history();
    type Tamper = fn(&mut Receipt);
    let tampers: [(&str, Tamper); 6] = [
        ("seq", |r| r.seq += 1),
        ("ts_ms", |r| r.ts_ms ^= 1),
        ("tenant", |r| {
            r.tenant.push('x').unwrap();
        }),
        ("event", |r| {
            r.event = Event::RollbackRequested { receipt: 12345 }
        }),
        ("prev_hash", |r| r.prev_hash[0] ^= 1),
        ("hash", |r| r.hash[31] ^= 0x80),
    ];
    for i in 0..records.len() {
        for (field, tamper) in tampers {
            let mut forged = records.clone();
            let mut r = Receipt::decode(&forged[i]).unwrap();
            tamper(&mut r);
            forged[i] = reencode(&r);
            let err = verify(&forged).unwrap_err();
            assert_eq!(err.position, i as u64, "{field} of receipt {i}: {err}");
        }
    }
}

#[test]
fn rehashed_forgery_breaks_the_next_link() {
    // Proves that a forger who recomputes receipt i's hash is caught at i+1 (BrokenLink).
    let (_, records) = history();
    let i = 3;
    let mut r = Receipt::decode(&records[i]).unwrap();
    r.ts_ms += 1;
    let mut buf = [0u8; RECORD_MAX_BYTES];
    let sealed = r.seal_into(&mut buf).unwrap().to_vec();
    let mut forged = records.clone();
    forged[i] = sealed;
    let err = verify(&forged).unwrap_err();
    assert_eq!((err.position, err.kind), (i as u64 + 1, K::BrokenLink));
}

#[test]
fn deleted_swapped_and_duplicated_receipts_are_detected() {
    // Proves deletion, swap and insertion of a copy are all caught at the first bad position.
    let (_, records) = history();
    let mut deleted = records.clone();
    deleted.remove(4);
    assert_eq!(verify(&deleted).unwrap_err().position, 4);
    assert_eq!(
        verify(&deleted).unwrap_err().kind,
        K::SeqMismatch { found: 5 }
    );
    let mut swapped = records.clone();
    swapped.swap(2, 3);
    assert_eq!(verify(&swapped).unwrap_err().position, 2);
    let mut duplicated = records.clone();
    duplicated.insert(5, records[4].clone());
    assert_eq!(verify(&duplicated).unwrap_err().position, 5);
    let truncated_record = records[6][..records[6].len() - 1].to_vec();
    let mut cut = records.clone();
    cut[6] = truncated_record;
    assert_eq!(verify(&cut).unwrap_err().position, 6);
}

#[test]
fn single_bit_flips_anywhere_are_detected() {
    // Proves every single-bit flip in every record is caught, at that record.
    let (_, records) = history();
    for i in 0..records.len() {
        for byte in 0..records[i].len() {
            for bit in 0..8 {
                let mut forged = records.clone();
                forged[i][byte] ^= 1 << bit;
                let err = verify(&forged).unwrap_err();
                assert_eq!(err.position, i as u64, "record {i} byte {byte} bit {bit}");
            }
        }
    }
}

#[test]
fn encode_decode_round_trip_is_exact() {
    // Proves decode → encode reproduces the canonical bytes and the stored hash.
    let (_, records) = history();
    for r in &records {
        let receipt = Receipt::decode(r).unwrap();
        assert_eq!(&reencode(&receipt), r);
        let mut resealed = receipt.clone();
        let mut buf = [0u8; RECORD_MAX_BYTES];
        assert_eq!(resealed.seal_into(&mut buf).unwrap(), &r[..]);
        assert_eq!(resealed.hash, receipt.hash);
    }
    assert!(Receipt::decode(&[]).is_err());
    let mut trailing = records[0].clone();
    trailing.push(0);
    assert_eq!(
        Receipt::decode(&trailing),
        Err(K::Malformed),
        "trailing bytes are refused"
    );
}

#[test]
fn worst_case_receipt_fits_the_record_limit() {
    // Proves a 256-byte tenant dispatching a 128-byte revision with u64::MAX fields fits.
    let mut r = Receipt {
        seq: u64::MAX,
        ts_ms: u64::MAX,
        tenant: "t".repeat(256).as_str().try_into().unwrap(),
        event: Event::ActionDispatched {
            action: Action::rollback(&"r".repeat(128)).unwrap(),
            deadline_ms: u64::MAX,
            manual: true,
        },
        prev_hash: [0xff; 32],
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    let len = r.seal_into(&mut buf).unwrap().len();
    assert!(len <= RECORD_MAX_BYTES, "{len}");
    let mut ent = r.clone();
    ent.event = Event::Governor {
        cause: Cause::Signal {
            metric: MetricKind::Connections,
            value_pct: 100,
            ts_ms: u64::MAX,
        },
        from: GovernorState::Refuse,
        to: GovernorState::Refuse,
        consecutive_high: 255,
    };
    assert!(ent.seal_into(&mut buf).is_ok());
    let mut done = r.clone();
    done.event = Event::ActionCompleted {
        receipt: u64::MAX,
        outcome: ActionOutcome::Succeeded,
        undo: Undo::from_slice(&[0xff; UNDO_BYTES_MAX]).unwrap(),
    };
    let done_len = done.seal_into(&mut buf).unwrap().len();
    assert!(
        done_len < len,
        "a full undo ({done_len} B) is below the worst case ({len} B)"
    );
}

#[test]
fn an_undo_over_the_limit_or_on_a_failure_does_not_decode() {
    // Proves Receipt::decode stays canonical-only with undo tokens: a completion whose undo
    // length prefix says UNDO_BYTES_MAX + 1 (bytes present, hash resealed) is Malformed
    // (heapless refuses it), as is a non-empty undo on a non-success; UNDO_BYTES_MAX decodes.
    use sha2::Digest;
    let seal = |body: &mut Vec<u8>| {
        let hash: [u8; 32] = sha2::Sha256::digest(&body[..]).into();
        body.extend_from_slice(&hash);
    };
    let mut r = Receipt {
        seq: 0,
        ts_ms: 1,
        tenant: "acme".try_into().unwrap(),
        event: Event::ActionCompleted {
            receipt: 3,
            outcome: ActionOutcome::Succeeded,
            undo: Undo::from_slice(&[0xab; UNDO_BYTES_MAX]).unwrap(),
        },
        prev_hash: [0; 32],
        hash: [0; 32],
    };
    let mut buf = [0u8; RECORD_MAX_BYTES];
    let full = r.seal_into(&mut buf).unwrap().to_vec();
    assert_eq!(Receipt::decode(&full), Ok(r.clone()));
    // Postcard: ... outcome byte, undo length (64 = 0x40), 64 bytes, prev_hash, hash.
    let undo_at = full.len() - 64 - UNDO_BYTES_MAX - 1;
    assert_eq!(full[undo_at], UNDO_BYTES_MAX as u8);
    let mut over = full[..full.len() - 64].to_vec();
    over[undo_at] = UNDO_BYTES_MAX as u8 + 1;
    over.push(0xab);
    over.extend_from_slice(&[0; 32]);
    seal(&mut over);
    assert_eq!(Receipt::decode(&over), Err(K::Malformed));
    assert_eq!(
        ChainVerifier::new().push(&over).unwrap_err().kind,
        K::Malformed
    );
    for outcome in [
        ActionOutcome::Failed,
        ActionOutcome::TimedOut,
        ActionOutcome::Superseded,
    ] {
        r.event = Event::ActionCompleted {
            receipt: 3,
            outcome,
            undo: Undo::from_slice(&[1]).unwrap(),
        };
        let bytes = r.seal_into(&mut buf).unwrap().to_vec();
        assert_eq!(Receipt::decode(&bytes), Err(K::Malformed), "{outcome:?}");
    }
}

#[test]
fn queries_by_tenant_kind_and_seq() {
    // Proves tail, by_tenant, by_action_kind and by_seq over the retained window.
    let (e, _) = history();
    let l = e.ledger();
    assert!(l.by_tenant("beta").all(|r| r.tenant.as_str() == "beta"));
    assert_eq!(
        l.by_tenant("beta").count(),
        3,
        "activate, manual dispatch, its timeout"
    );
    let rollbacks: Vec<Receipt> = l
        .by_action_kind(autonomic_core::ActionKind::Rollback)
        .collect();
    assert_eq!(rollbacks.len(), 2, "dispatch and its timeout");
    // Each kind's receipts are its dispatches and what ended them, and nothing else.
    for kind in [
        autonomic_core::ActionKind::Throttle,
        autonomic_core::ActionKind::Rollback,
    ] {
        let of_kind: Vec<Receipt> = l.by_action_kind(kind).collect();
        let dispatches: Vec<u64> = l
            .receipts()
            .filter(|r| {
                matches!(&r.event, Event::ActionDispatched { action, .. } if action.kind() == kind)
            })
            .map(|r| r.seq)
            .collect();
        assert!(!dispatches.is_empty(), "{kind:?}");
        for r in &of_kind {
            let ok = match &r.event {
                Event::ActionDispatched { .. } => dispatches.contains(&r.seq),
                Event::ActionCompleted { receipt, .. }
                | Event::RollbackRequested { receipt }
                | Event::RollbackCompleted { receipt, .. } => dispatches.contains(receipt),
                _ => false,
            };
            assert!(ok, "{kind:?}: {r:?}");
        }
        let ends = of_kind
            .iter()
            .filter(|r| !matches!(r.event, Event::ActionDispatched { .. }))
            .count();
        assert_eq!(of_kind.len(), dispatches.len() + ends, "{kind:?}");
        assert!(
            ends > 0,
            "{kind:?}: completions are matched to their dispatch"
        );
    }
    assert_eq!(l.by_seq(2).map(|r| r.seq), Some(2));
    assert_eq!(l.tail(2).count(), 2);
}

#[test]
fn rebuild_from_receipts_equals_the_live_engine() {
    // Proves restore() of every record, in order, rebuilds tenants, in-flight actions,
    // rollback bookkeeping and the chain head exactly.
    let (mut live, records) = history();
    live.handle_signal(70_000, &raw("acme", 93.0, 70_000))
        .unwrap();
    let mut records = records;
    records.extend(drain_records(&mut live));
    let mut rebuilt = common::engine();
    for r in &records {
        rebuilt.restore(r).unwrap();
    }
    let now = 80_000;
    let (a, b) = (
        common::restored_views(&live, now),
        common::restored_views(&rebuilt, now),
    );
    assert_eq!(a, b);
    assert_eq!(live.in_flight(), rebuilt.in_flight());
    assert_eq!(
        live.rollbackable().collect::<Vec<_>>(),
        rebuilt.rollbackable().collect::<Vec<_>>()
    );
    assert_eq!(live.ledger().head_hash(), rebuilt.ledger().head_hash());
    assert_eq!(live.poll_timeout(), rebuilt.poll_timeout());
    assert!(
        rebuilt.poll_record().is_none(),
        "restored records are already durable"
    );
    // The dedup memory is rebuilt for signals that changed something.
    assert!(matches!(
        rebuilt.handle_signal(now, &raw("acme", 93.0, 70_000)),
        Ok(autonomic_core::SignalResult::Duplicate)
    ));
}

#[test]
fn restore_refuses_a_broken_or_inconsistent_chain() {
    // Proves restore() names the position of a bad link and of a receipt that does not follow.
    let (_, records) = history();
    let mut e = common::engine();
    let err = e.restore(&records[1]).unwrap_err();
    assert!(
        matches!(err, autonomic_core::engine::RestoreError::Chain(c) if c.position == 0),
        "{err}"
    );
    let mut e = common::engine();
    e.restore(&records[0]).unwrap();
    // A sealed governor receipt for a tenant that was never activated.
    let mut forged = Receipt::decode(&records[2]).unwrap();
    assert!(matches!(forged.event, Event::Governor { .. }));
    forged.seq = 1;
    forged.tenant = "ghost".try_into().unwrap();
    forged.prev_hash = e.ledger().head_hash();
    let mut buf = [0u8; RECORD_MAX_BYTES];
    let bytes = forged.seal_into(&mut buf).unwrap().to_vec();
    assert_eq!(
        e.restore(&bytes),
        Err(autonomic_core::engine::RestoreError::Inconsistent(1))
    );
}

#[test]
#[allow(clippy::assertions_on_constants)] // the guard is a constant on purpose
fn memory_per_tenant_and_receipt_stay_within_the_documented_figures() {
    // Proves the figures of docs/design.md#memory: 80 B of state per tenant beside its id,
    // and a typical receipt (short tenant, governor change) well under 160 B in the ring,
    // span included.
    assert!(
        TENANT_STATE_BYTES <= 80,
        "per-tenant state grew to {TENANT_STATE_BYTES} B"
    );
    let (e, records) = history();
    let max = records.iter().map(Vec::len).max().unwrap();
    let avg = records.iter().map(Vec::len).sum::<usize>() / records.len();
    assert!(avg + 8 <= 120, "average ring cost {} B", avg + 8);
    assert!(max <= 160, "largest record in the history {max} B");
    assert!(e.ledger().len() == records.len());
}

#[test]
fn only_the_canonical_encoding_decodes() {
    // Proves an overlong varint (seq 0 as 0x80 0x00), even resealed with a matching hash, is
    // Malformed: one receipt has exactly one byte string.
    use sha2::Digest;
    let (_, records) = history();
    let canonical = &records[0];
    assert_eq!(canonical[0], 0x00);
    let mut body = vec![0x80, 0x00];
    body.extend_from_slice(&canonical[1..canonical.len() - 32]);
    let hash: [u8; 32] = sha2::Sha256::digest(&body).into();
    body.extend_from_slice(&hash);
    assert_eq!(Receipt::decode(&body), Err(K::Malformed));
    assert_eq!(
        ChainVerifier::new().push(&body).unwrap_err().kind,
        K::Malformed
    );
}

//! `ledger_bytes`: arbitrary bytes as a ledger. The verifier classifies every record and
//! never panics, and it never accepts a record whose seq, prev_hash or hash does not link —
//! checked independently here with SHA-256. Whatever it accepts restores into a fresh
//! `Ledger` and a fresh `Engine` without panicking.
//!
//! Input: a mode byte, then frames `u16 LE length | bytes` ([`crate::frames`]). Mode bit 0
//! set: each frame is a record *body* and the harness appends the correct `prev_hash` and
//! `hash`, so the links hold and decoding is what gets explored; bit 2 set: record
//! `mode >> 3` is sealed with a wrong `prev_hash` (a forger's splice: its own hash is right,
//! its link is not); bit 1 set: then flip the bit named by that record's first byte.
//! Otherwise frames are records as they are.

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::ledger::Span;
use autonomic_core::receipt::{GENESIS_HASH, hash_of, prev_hash_of, seq_of, verify_records};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{ChainVerifier, Ledger, Receipt};
use sha2::{Digest, Sha256};

fn seal(body: &[u8], prev: &[u8; 32]) -> Vec<u8> {
    let mut record = body.to_vec();
    record.extend_from_slice(prev);
    let hash: [u8; 32] = Sha256::digest(&record).into();
    record.extend_from_slice(&hash);
    record
}

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let frames = crate::frames(rest);
    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut prev = GENESIS_HASH;
    let target = usize::from(mode >> 3);
    for (i, f) in frames.iter().enumerate() {
        let record = match (mode & 1 == 1, mode & 4 == 4 && i == target) {
            (true, false) => seal(f, &prev),
            (true, true) => seal(f, &Sha256::digest(prev).into()),
            (false, _) => f.to_vec(),
        };
        prev = hash_of(&record).unwrap_or(GENESIS_HASH);
        records.push(record);
    }
    if mode & 2 == 2 && !records.is_empty() {
        let i = target % records.len();
        let len = records[i].len();
        if len > 0 {
            let bit = usize::from(records[i][0]) % (len * 8);
            records[i][bit / 8] ^= 1 << (bit % 8);
        }
    }
    check(&records);
}

fn check(records: &[Vec<u8>]) {
    let mut verifier = ChainVerifier::new();
    let mut accepted = 0usize;
    let mut head = GENESIS_HASH;
    for (i, r) in records.iter().enumerate() {
        match verifier.push(r) {
            Ok(receipt) => {
                // Independently: the position, the link and the hash.
                assert_eq!(
                    receipt.seq, i as u64,
                    "accepted seq {} at position {i}",
                    receipt.seq
                );
                assert_eq!(seq_of(r), Some(i as u64));
                assert_eq!(
                    prev_hash_of(r),
                    Some(head),
                    "accepted a record that does not link at {i}"
                );
                let body_hash: [u8; 32] = Sha256::digest(&r[..r.len() - 32]).into();
                assert_eq!(
                    hash_of(r),
                    Some(body_hash),
                    "accepted a record whose hash is wrong at {i}"
                );
                assert_eq!(Receipt::decode(r).as_ref(), Ok(&receipt));
                head = body_hash;
                accepted += 1;
            }
            Err(e) => {
                assert_eq!(
                    e.position, i as u64,
                    "error names position {} at {i}",
                    e.position
                );
                // Nothing changed.
                assert_eq!(verifier.next_seq(), i as u64);
                assert_eq!(verifier.head_hash(), head);
                break;
            }
        }
    }
    // The fast path (no decoding) accepts at least what the full verifier accepted.
    let fast = verify_records(0, GENESIS_HASH, records.iter().map(Vec::as_slice));
    if let Err(e) = fast {
        assert!(
            e.position as usize >= accepted,
            "verify_records failed at {} but ChainVerifier accepted {accepted}",
            e.position
        );
    }
    // What verified restores, into a small ring and into an engine; restore never panics.
    let (mut arena, mut spans) = (vec![0; 4096], [Span::default(); 8]);
    let mut ring = Ledger::new(&mut arena, &mut spans).expect("ledger shape");
    for r in &records[..accepted] {
        ring.restore(r)
            .expect("a verified record restores into a ledger");
        assert_eq!(ring.verify(), Ok(()));
    }
    let caps = Capacities {
        tenant_id_bytes: 8 * 256,
        dedup_ids: 64,
        receipts: 8,
        ..Capacities::with_tenants(8)
    };
    let mut mem = OwnedStorage::new(&caps);
    let mut engine = Engine::new(EngineConfig::default(), mem.storage()).expect("config");
    for r in records {
        if engine.restore(r).is_err() {
            break;
        }
        assert_eq!(engine.ledger().verify(), Ok(()));
    }
}

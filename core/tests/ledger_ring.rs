//! The in-memory ledger ring when its records tile the arena exactly: after a wrap the write
//! position meets the oldest record, and the next record must evict it, not overwrite it. And
//! the storage a ring takes: the least it works with, and how a driver sizes its arena; the
//! room it promises, eviction oldest first, and the window it keeps verifiable.

use autonomic_core::ledger::{
    ARENA_BYTES_PER_RECEIPT, ARENA_MIN_BYTES, Ledger, LedgerShapeError as E, SPANS_MIN, Span,
    arena_bytes_for,
};
use autonomic_core::limits::RECORD_MAX_BYTES;
use autonomic_core::receipt::{ChainErrorKind as K, verify_records};
use autonomic_core::{ChainVerifier, Event};

/// A record for seq `i` (< 128: every varint one byte, so every record has the same length).
fn append(ring: &mut Ledger<'_>, i: u64) -> Vec<u8> {
    ring.append(i, "acme", &Event::RollbackRequested { receipt: i })
        .unwrap();
    ring.poll_record().unwrap().to_vec()
}

#[test]
fn records_that_fill_the_arena_exactly_are_evicted_oldest_first_never_overwritten() {
    // Proves the ring keeps every retained record byte for byte when records fill the arena
    // with no gap (the write position wraps onto the oldest record).
    let len = {
        let (mut arena, mut spans) = ([0u8; 2048], [Span::default(); 8]);
        let mut probe = Ledger::new(&mut arena, &mut spans).unwrap();
        append(&mut probe, 0).len()
    };
    let per_arena = 2048 / len + 1;
    let mut arena = vec![0u8; per_arena * len];
    let mut spans = vec![Span::default(); per_arena + 2];
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let mut written = Vec::new();
    for i in 0..(3 * per_arena as u64) {
        let record = append(&mut ring, i);
        assert_eq!(record.len(), len);
        written.push(record);
        assert_eq!(ring.verify(), Ok(()), "after seq {i}");
        // Once full, the arena holds exactly its share: each record evicts exactly one.
        let kept = (i as usize + 1).min(per_arena);
        assert_eq!(ring.len(), kept, "after seq {i}");
        for (seq, bytes) in ring.records() {
            assert_eq!(bytes, written[seq as usize], "seq {seq} after seq {i}");
        }
    }
    assert!(ring.len() < per_arena + 1, "old records were evicted");
}

#[test]
fn a_ring_takes_at_least_its_fewest_spans_and_records_one_error_per_rule() {
    // Proves the documented least storage: SPANS_MIN spans and an arena of SPANS_MIN records of
    // the largest size are accepted; one span or one byte fewer is refused with that rule's
    // error; an arena a u32 offset cannot address is refused too.
    let least_bytes = SPANS_MIN * RECORD_MAX_BYTES;
    let mut spans = vec![Span::default(); SPANS_MIN];
    let mut arena = vec![0u8; least_bytes];
    assert!(Ledger::new(&mut arena, &mut spans).is_ok());
    let mut few = vec![Span::default(); SPANS_MIN - 1];
    assert_eq!(
        Ledger::new(&mut arena, &mut few).err(),
        Some(E::TooFewSpans(SPANS_MIN - 1))
    );
    let mut small = vec![0u8; least_bytes - 1];
    assert_eq!(
        Ledger::new(&mut small, &mut spans).err(),
        Some(E::ArenaTooSmall(least_bytes - 1))
    );
    // Zeroed pages the ring never touches before refusing: no memory is used.
    let too_large = u32::MAX as usize + 1;
    let mut huge = vec![0u8; too_large];
    assert_eq!(
        Ledger::new(&mut huge, &mut spans).err(),
        Some(E::ArenaTooLarge(too_large))
    );
}

#[test]
fn arena_bytes_for_never_sizes_below_the_least_arena() {
    // Proves the sizing rule drivers use: ARENA_BYTES_PER_RECEIPT bytes a receipt, never less
    // than the least arena a ring takes, saturating instead of overflowing.
    let least = ARENA_MIN_BYTES / ARENA_BYTES_PER_RECEIPT;
    for receipts in [0, 1, SPANS_MIN, least - 1, least] {
        assert_eq!(arena_bytes_for(receipts), ARENA_MIN_BYTES, "{receipts}");
    }
    assert_eq!(
        arena_bytes_for(least + 1),
        ARENA_MIN_BYTES + ARENA_BYTES_PER_RECEIPT
    );
    assert_eq!(arena_bytes_for(10_000), 10_000 * ARENA_BYTES_PER_RECEIPT);
    assert_eq!(arena_bytes_for(usize::MAX), usize::MAX);
}

#[test]
fn can_append_is_exactly_the_room_beside_the_unpolled_records() {
    // Proves can_append's two limits, exactly, as records are appended and polled round the
    // arena (the unpolled run wrapping its end): a span for each record beside the unpolled
    // ones, and the unpolled records' bytes plus one largest record of waste per record and
    // one more. Same-length records that tile the arena make the unpolled bytes exact, up to
    // an arena all unpolled. Also is_empty and unpolled as they change.
    let record = |seq: u64| Event::RollbackRequested { receipt: seq };
    let len = {
        let (mut arena, mut spans) = ([0u8; 2048], [Span::default(); 8]);
        let mut probe = Ledger::new(&mut arena, &mut spans).unwrap();
        probe.append(0, "acme", &record(0)).unwrap();
        probe.poll_record().unwrap().len()
    };
    let per_arena = ARENA_MIN_BYTES / len + 1;
    let arena_bytes = per_arena * len;
    let spans_max = per_arena + 2;
    let mut arena = vec![0u8; arena_bytes];
    let mut spans = vec![Span::default(); spans_max];
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    assert!(ring.is_empty());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut unpolled = 0;
    // Seqs stay below 128: every record has the same length.
    while ring.next_seq() < 120 {
        for k in 0..=spans_max + 1 {
            let spans_fit = unpolled + k <= spans_max;
            let bytes_fit = unpolled * len + (k + 1) * RECORD_MAX_BYTES <= arena_bytes;
            assert_eq!(
                ring.can_append(k),
                spans_fit && bytes_fit,
                "k {k}, {unpolled} unpolled, seq {}",
                ring.next_seq()
            );
        }
        assert_eq!(ring.unpolled(), unpolled);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if !seed.is_multiple_of(3) {
            // Appended whether or not there is room: a full ring refuses, never evicting an
            // unpolled record, and room promised is room given.
            let promised = ring.can_append(1);
            let seq = ring.next_seq();
            match ring.append(seq, "acme", &record(seq)) {
                Ok(_) => unpolled += 1,
                Err(_) => assert!(!promised, "room was promised at seq {seq}"),
            }
            assert!(!ring.is_empty(), "a ring that took a record keeps one");
        } else if let Some(polled) = ring.poll_record() {
            assert_eq!(polled.len(), len);
            unpolled -= 1;
        }
    }
}

#[test]
fn can_append_counts_one_span_for_each_record_beside_the_unpolled_ones() {
    // Proves the span limit where it binds (4 spans, an arena of 64 largest records): a ring
    // takes as many records as it has spans, less those not yet polled.
    let mut arena = vec![0u8; 64 * RECORD_MAX_BYTES];
    let mut spans = vec![Span::default(); 4];
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    assert!(ring.can_append(4) && !ring.can_append(5));
    ring.append(0, "acme", &Event::RollbackRequested { receipt: 0 })
        .unwrap();
    assert!(ring.can_append(3) && !ring.can_append(4));
    ring.poll_record().unwrap();
    assert!(ring.can_append(4) && !ring.can_append(5));
}

/// A record that links after `(seq, prev)` with a body of `len - 32` bytes: its seq, filler,
/// `prev`, and the SHA-256 of all that as its hash. Not a receipt: the ring checks links only.
fn linked(seq: u8, prev: [u8; 32], len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut record = vec![seq];
    record.resize(len - 64, 0x42);
    record.extend_from_slice(&prev);
    let hash: [u8; 32] = Sha256::digest(&record).into();
    record.extend_from_slice(&hash);
    record
}

#[test]
fn a_restored_record_may_be_the_largest_size_and_no_larger() {
    // Proves the ring's own size rule on restore (which checks links, not the receipt): a
    // record of RECORD_MAX_BYTES is kept as it is, one byte more is refused as malformed.
    let mut arena = vec![0u8; arena_bytes_for(16)];
    let mut spans = vec![Span::default(); 16];
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let largest = linked(0, [0; 32], RECORD_MAX_BYTES);
    assert_eq!(ring.restore(&largest), Ok(()));
    assert_eq!(
        ring.records().next().map(|(_, r)| r.to_vec()),
        Some(largest.clone())
    );
    let head: [u8; 32] = largest[largest.len() - 32..].try_into().unwrap();
    let over = linked(1, head, RECORD_MAX_BYTES + 1);
    assert_eq!(
        ring.restore(&over).map_err(|e| (e.position, e.kind)),
        Err((1, autonomic_core::receipt::ChainErrorKind::Malformed))
    );
    assert_eq!(ring.next_seq(), 1);
}

#[test]
fn eviction_keeps_the_window_verifiable() {
    // Proves a ring far smaller than the history evicts oldest-first and still verifies from
    // its anchor, while a streaming verifier over every record agrees on the head.
    let (mut arena, mut spans) = ([0u8; 2048], [Span::default(); 8]);
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let mut all = Vec::new();
    let mut v = ChainVerifier::new();
    for i in 0..200u64 {
        let tenant = "t".repeat(1 + (i as usize * 37) % 200);
        let event = Event::RollbackRequested { receipt: i };
        ring.append(i, &tenant, &event).unwrap();
        let record = ring.poll_record().unwrap().to_vec();
        v.push(&record).unwrap();
        all.push(record);
        assert_eq!(ring.verify(), Ok(()), "after {i}");
        assert!(ring.len() <= 8);
    }
    assert_eq!(ring.next_seq(), 200);
    assert_eq!(ring.head_hash(), v.head_hash());
    let (first, anchor) = ring.anchor();
    let retained: Vec<&[u8]> = ring.records().map(|(_, r)| r).collect();
    assert_eq!(retained.last().map(|r| r.to_vec()), all.last().cloned());
    assert_eq!(
        verify_records(first, anchor, retained.iter().copied()),
        Ok(())
    );
    // And the same window refused where it breaks: a wrong anchor, a flipped byte, a gap.
    let at = |position, kind| Err(autonomic_core::ChainError { position, kind });
    assert_eq!(
        verify_records(first, [7; 32], retained.iter().copied()),
        at(first, K::BrokenLink)
    );
    let mut flipped: Vec<Vec<u8>> = retained.iter().map(|r| r.to_vec()).collect();
    flipped[2][5] ^= 0x10;
    assert_eq!(
        verify_records(first, anchor, flipped.iter().map(Vec::as_slice)).map_err(|e| e.position),
        Err(first + 2)
    );
    let gap = retained
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, r)| *r);
    assert_eq!(
        verify_records(first, anchor, gap),
        at(first + 3, K::SeqMismatch { found: first + 4 })
    );
    assert_eq!(
        ring.tail(3).map(|r| r.seq).collect::<Vec<_>>(),
        vec![197, 198, 199]
    );
    assert!(ring.by_seq(first.saturating_sub(1)).is_none() || first == 0);
}

#[test]
fn unpolled_records_are_never_evicted() {
    // Proves that a ring full of unpersisted records refuses to append instead of losing one.
    let (mut arena, mut spans) = ([0u8; 2048], [Span::default(); 4]);
    let mut ring = Ledger::new(&mut arena, &mut spans).unwrap();
    let event = Event::RollbackRequested { receipt: 0 };
    for i in 0..4 {
        ring.append(i, "t", &event).unwrap();
    }
    assert!(!ring.can_append(1));
    assert!(ring.append(5, "t", &event).is_err());
    assert_eq!(ring.next_seq(), 4, "nothing appended");
    assert!(ring.poll_record().is_some());
    assert!(
        ring.append(5, "t", &event).is_ok(),
        "a polled record may be evicted"
    );
}

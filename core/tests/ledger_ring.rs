//! The in-memory ledger ring when its records tile the arena exactly: after a wrap the write
//! position meets the oldest record, and the next record must evict it, not overwrite it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use autonomic_core::Event;
use autonomic_core::ledger::{Ledger, Span};

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
        for (seq, bytes) in ring.records() {
            assert_eq!(bytes, written[seq as usize], "seq {seq} after seq {i}");
        }
    }
    assert!(ring.len() < per_arena + 1, "old records were evicted");
}

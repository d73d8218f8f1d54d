//! The in-memory ledger: a ring of the last receipts, kept as their canonical bytes.
//!
//! Records live back to back in a byte arena the driver provides, each contiguous (a record
//! that does not fit before the end of the arena starts again at offset 0), indexed by a ring
//! of spans (also the driver's). A receipt therefore costs its encoded size (about 90–130 bytes for a
//! short tenant id) plus 8 bytes of span, not a fixed worst case; the ring holds the last
//! `min(capacity, what fits in the arena)` receipts. The canonical bytes are also what the hash
//! covers and what the adapter writes to disk, so verifying the ring is one SHA-256 per
//! record, with no re-encoding.
//!
//! When a record is evicted its hash becomes the *anchor*: the retained window verifies from
//! it. Records not yet handed out by [`Ledger::poll_record`] are never evicted; an append that
//! would need to evict one fails with [`LedgerFull`] instead (the engine checks
//! [`Ledger::can_append`] first, so that surfaces as `Busy` and nothing is half-applied).

use crate::limits::RECORD_MAX_BYTES;
use crate::receipt::{self, ChainError, ChainErrorKind, Event, GENESIS_HASH, Receipt, ReceiptRef};
use crate::ring::Ring;

/// The ring would have to evict a record that has not been persisted yet (or the record is
/// larger than [`RECORD_MAX_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the in-memory ledger is full of receipts not yet persisted")]
pub struct LedgerFull;

/// One record's place in the arena: the storage element of a ledger's spans
/// ([`Ledger::new`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u16,
}

impl Span {
    /// An unused span, for `static` storage (`[Span::EMPTY; N]`).
    pub const EMPTY: Span = Span { start: 0, len: 0 };

    const fn end(self) -> usize {
        self.start as usize + self.len as usize
    }
}

/// The storage a ledger cannot use (see [`Ledger::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerShapeError {
    /// Fewer than [`SPANS_MIN`] spans.
    #[error("the ledger needs at least {SPANS_MIN} spans, got {0}")]
    TooFewSpans(usize),
    /// An arena smaller than [`SPANS_MIN`] records of the largest size.
    #[error("the ledger's arena needs at least {ARENA_MIN_BYTES} bytes, got {0}")]
    ArenaTooSmall(usize),
    /// An arena larger than a `u32` offset can address.
    #[error("the ledger's arena can be at most 4294967295 bytes (a u32 offset), got {0}")]
    ArenaTooLarge(usize),
}

/// The fewest spans (and records of the largest size in the arena) a ledger works with.
pub const SPANS_MIN: usize = 4;
/// The smallest arena: [`SPANS_MIN`] records of the largest size.
pub const ARENA_MIN_BYTES: usize = SPANS_MIN * RECORD_MAX_BYTES;
/// Arena bytes per receipt by which [`arena_bytes_for`] sizes a ring: an average receipt with
/// a short tenant id is 90–130 bytes, so this leaves room for long ids and revisions.
pub const ARENA_BYTES_PER_RECEIPT: usize = 256;

/// The arena that holds `receipts` receipts of average size: the one rule drivers size a
/// ledger's arena by.
pub const fn arena_bytes_for(receipts: usize) -> usize {
    let bytes = receipts.saturating_mul(ARENA_BYTES_PER_RECEIPT);
    if bytes < ARENA_MIN_BYTES {
        ARENA_MIN_BYTES
    } else {
        bytes
    }
}

/// The ring of the last receipts (see the module doc), over a byte arena and a ring of
/// spans that the driver provides.
#[derive(Debug)]
pub struct Ledger<'a> {
    arena: &'a mut [u8],
    spans: Ring<'a, Span>,
    /// seq of `spans[0]`, or of the next record when empty.
    first_seq: u64,
    /// prev_hash of `spans[0]`: the hash of the last evicted record, or genesis.
    anchor_hash: [u8; 32],
    /// The hash of the newest record (the anchor when empty).
    head_hash: [u8; 32],
    /// The newest `unpolled` records have not been handed out by `poll_record`.
    unpolled: usize,
}

impl<'a> Ledger<'a> {
    /// An empty ring at genesis keeping at most `spans.len()` receipts in `arena`. What the
    /// slices hold is ignored.
    pub fn new(arena: &'a mut [u8], spans: &'a mut [Span]) -> Result<Self, LedgerShapeError> {
        if spans.len() < SPANS_MIN {
            return Err(LedgerShapeError::TooFewSpans(spans.len()));
        }
        if arena.len() < ARENA_MIN_BYTES {
            return Err(LedgerShapeError::ArenaTooSmall(arena.len()));
        }
        if u32::try_from(arena.len()).is_err() {
            return Err(LedgerShapeError::ArenaTooLarge(arena.len()));
        }
        Ok(Self {
            arena,
            spans: Ring::new(spans),
            first_seq: 0,
            anchor_hash: GENESIS_HASH,
            head_hash: GENESIS_HASH,
            unpolled: 0,
        })
    }

    /// The most receipts it keeps.
    pub fn capacity(&self) -> usize {
        self.spans.capacity()
    }

    /// The seq the next receipt will get (= receipts ever appended).
    pub fn next_seq(&self) -> u64 {
        self.first_seq.saturating_add(self.spans.len() as u64)
    }

    /// The hash of the newest receipt (genesis zeros before any).
    pub const fn head_hash(&self) -> [u8; 32] {
        self.head_hash
    }

    /// The seq of the oldest retained receipt and the hash it chains from.
    pub const fn anchor(&self) -> (u64, [u8; 32]) {
        (self.first_seq, self.anchor_hash)
    }

    /// Receipts retained.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether none is retained.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Receipts appended but not yet handed out by [`Ledger::poll_record`].
    pub const fn unpolled(&self) -> usize {
        self.unpolled
    }

    /// Whether `records` more records of the largest size are sure to fit without evicting
    /// an unpolled one.
    pub fn can_append(&self, records: usize) -> bool {
        self.fits(self.unpolled, self.unpolled_bytes(), records)
    }

    /// Whether a ring of this shape could ever take `records` more records of the largest
    /// size at once: [`Ledger::can_append`] once every record is polled.
    pub fn could_append(&self, records: usize) -> bool {
        self.fits(0, 0, records)
    }

    /// The one room rule: `records` more records of the largest size fit beside `unpolled`
    /// records taking `unpolled_bytes` of the arena. Placing them needs at most one record's
    /// worth of waste at the arena's end.
    fn fits(&self, unpolled: usize, unpolled_bytes: usize, records: usize) -> bool {
        unpolled + records <= self.spans.capacity()
            && unpolled_bytes + (records + 1) * RECORD_MAX_BYTES <= self.arena.len()
    }

    /// The arena bytes the unpolled records occupy: one circular run (the rest can be freed).
    fn unpolled_bytes(&self) -> usize {
        match self.oldest_unpolled() {
            None => 0,
            Some(span) => {
                let end = self.write_pos();
                let start = span.start as usize;
                if end > start {
                    end - start
                } else {
                    self.arena.len() - start + end
                }
            }
        }
    }

    /// Appends a receipt for `event` and returns its seq. The record is queued for
    /// [`Ledger::poll_record`].
    pub fn append(&mut self, ts_ms: u64, tenant: &str, event: &Event) -> Result<u64, LedgerFull> {
        let seq = self.next_seq();
        let mut buf = [0u8; RECORD_MAX_BYTES];
        let record = ReceiptRef {
            seq,
            ts_ms,
            tenant,
            event,
            prev_hash: self.head_hash,
            hash: [0; 32],
        }
        .seal_into(&mut buf)
        .map_err(|_| LedgerFull)?;
        self.push(record, false)?;
        debug_assert_eq!(self.next_seq(), seq + 1);
        Ok(seq)
    }

    /// Adds a record that is already durable (restored from disk): it must be the next in the
    /// chain. It is not queued for polling.
    pub fn restore(&mut self, record: &[u8]) -> Result<(), ChainError> {
        let position = self.next_seq();
        let at = |kind| ChainError { position, kind };
        receipt::check_link(record, position, &self.head_hash).map_err(at)?;
        self.push(record, true)
            .map_err(|_| at(ChainErrorKind::Malformed))
    }

    fn push(&mut self, record: &[u8], persisted: bool) -> Result<(), LedgerFull> {
        let len = u16::try_from(record.len()).map_err(|_| LedgerFull)?;
        if record.len() > RECORD_MAX_BYTES {
            return Err(LedgerFull);
        }
        if self.spans.is_full() {
            self.evict_oldest()?;
        }
        let start = loop {
            if let Some(start) = self.place(record.len()) {
                break start;
            }
            self.evict_oldest()?;
        };
        let target = self
            .arena
            .get_mut(start..start + record.len())
            .ok_or(LedgerFull)?;
        target.copy_from_slice(record);
        let span = Span {
            start: start as u32,
            len,
        };
        self.spans.push_back(span).map_err(|_| LedgerFull)?;
        self.head_hash = receipt::hash_of(record).unwrap_or(GENESIS_HASH);
        if !persisted {
            self.unpolled += 1;
        }
        debug_assert!(self.unpolled <= self.spans.len());
        Ok(())
    }

    fn write_pos(&self) -> usize {
        self.spans.back().map_or(0, Span::end)
    }

    fn oldest_unpolled(&self) -> Option<Span> {
        if self.unpolled == 0 {
            return None;
        }
        self.spans.get(self.spans.len() - self.unpolled)
    }

    /// Where a record of `len` bytes fits without evicting, if anywhere.
    fn place(&self, len: usize) -> Option<usize> {
        let Some(oldest) = self.spans.front() else {
            return Some(0);
        };
        let head = oldest.start as usize;
        let w = self.write_pos();
        if w > head {
            // Data in [head, w): room after it, else wrap to the front.
            if self.arena.len() - w >= len {
                Some(w)
            } else if head >= len {
                Some(0)
            } else {
                None
            }
        } else if head - w >= len {
            // Wrapped: data in [head, end) and [0, w); room between.
            Some(w)
        } else {
            None
        }
    }

    fn evict_oldest(&mut self) -> Result<(), LedgerFull> {
        if self.spans.len() <= self.unpolled {
            return Err(LedgerFull);
        }
        let Some(span) = self.spans.pop_front() else {
            return Err(LedgerFull);
        };
        self.anchor_hash = self
            .arena
            .get(span.start as usize..span.end())
            .and_then(receipt::hash_of)
            .unwrap_or(self.anchor_hash);
        self.first_seq = self.first_seq.saturating_add(1);
        Ok(())
    }

    /// Hands out the oldest record not yet handed out, to be persisted.
    pub fn poll_record(&mut self) -> Option<&[u8]> {
        if self.unpolled == 0 {
            return None;
        }
        let span = self.spans.get(self.spans.len() - self.unpolled)?;
        self.unpolled -= 1;
        self.arena.get(span.start as usize..span.end())
    }

    /// The encoded record with this seq, if retained.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        let span = self.spans.get(index)?;
        self.arena.get(span.start as usize..span.end())
    }

    /// The retained records, oldest first, with their seqs.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = (u64, &[u8])> + '_ {
        self.spans.iter().enumerate().map(move |(i, span)| {
            let record = self
                .arena
                .get(span.start as usize..span.end())
                .unwrap_or(&[]);
            (self.first_seq + i as u64, record)
        })
    }

    /// The retained receipts, decoded, oldest first.
    pub fn receipts(&self) -> impl DoubleEndedIterator<Item = Receipt> + '_ {
        self.records()
            .filter_map(|(_, record)| Receipt::decode(record).ok())
    }

    /// The last `n` retained receipts, oldest first.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = Receipt> + '_ {
        self.receipts().skip(self.len().saturating_sub(n))
    }

    /// The retained receipts of one tenant, oldest first.
    pub fn by_tenant<'t>(&'t self, tenant: &'t str) -> impl Iterator<Item = Receipt> + 't {
        self.receipts().filter(move |r| r.tenant.as_str() == tenant)
    }

    /// The retained dispatch and completion receipts of one action kind, oldest first
    /// (completions are matched to their dispatch by receipt id while it is retained).
    pub fn by_action_kind(
        &self,
        kind: crate::action::ActionKind,
    ) -> impl Iterator<Item = Receipt> + '_ {
        self.receipts().filter(move |r| match &r.event {
            Event::ActionDispatched { action, .. } => action.kind() == kind,
            Event::ActionCompleted { receipt, .. }
            | Event::RollbackRequested { receipt }
            | Event::RollbackCompleted { receipt, .. } => self
                .get(*receipt)
                .and_then(|d| Receipt::decode(d).ok())
                .is_some_and(|d| {
                    matches!(&d.event, Event::ActionDispatched { action, .. } if action.kind() == kind)
                }),
            _ => false,
        })
    }

    /// The retained receipt with this seq, decoded.
    pub fn by_seq(&self, seq: u64) -> Option<Receipt> {
        self.get(seq).and_then(|r| Receipt::decode(r).ok())
    }

    /// Verifies the retained window from its anchor: seqs, links and hashes.
    pub fn verify(&self) -> Result<(), ChainError> {
        receipt::verify_records(
            self.first_seq,
            self.anchor_hash,
            self.records().map(|(_, r)| r),
        )
    }
}

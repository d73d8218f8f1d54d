//! The deduplicator over caller-provided storage: which signal ids were seen recently.
//!
//! One lookup reads one `u64` of an open-addressed table (almost always one cache line); the
//! windows live beside the arrival order, so expiring the oldest id reads them in sequence.

use crate::limits::DEDUP_EXPIRED_PER_LOOKUP_MAX;
use crate::monitor::{window_of, window_retained};
use crate::ring::Ring;
use crate::storage::{clear, index_slots_for};

/// A fixed-capacity set of recently seen signal ids, over three slices the caller provides.
///
/// * An id (the SHA-256 of a signal, [`crate::monitor::signal_id`]) is stored as its
///   **fingerprint**: its first 8 bytes, little-endian, with 0 (which marks an empty slot)
///   mapped to 1. Fingerprints live in an open-addressed index, `index`, probed linearly from
///   `fingerprint % slots` and compacted by backward-shift deletion (no tombstones).
/// * `arrivals` holds the fingerprints in arrival order and `arrival_windows`, beside each,
///   the low 32 bits of its window. Ids whose window is no longer retained
///   ([`window_retained`]) expire, oldest first, at most [`DEDUP_EXPIRED_PER_LOOKUP_MAX`]
///   per lookup, so no lookup pays for a whole window's ids at once; until removed, an
///   expired id still takes room ([`Dedup::len`]) but is never a duplicate (only an id of its
///   own, expired, window could match it). When full, inserting evicts the id that arrived
///   first; such early evictions (of ids still retained: a lookup that finds the oldest
///   expired removes it) are counted: [`Dedup::evictions`]. It never panics and never grows;
///   an evicted id's redelivery counts as new.
/// * An id's window is part of the id, so a stored fingerprint equal to a new id's stands for
///   an id of the new id's window: whether it is retained is the new id's window's
///   retention. The index needs no windows.
///
/// **Windows in 32 bits.** The full window of a stored arrival is rebuilt from its low 32 bits
/// and the window of `now_ms`: the window with those low bits nearest to it. This is exact
/// while the two are less than 2^31 windows (340 years of 5 s windows) apart.
///
/// **False duplicates.** A new id is taken for a stored one when its fingerprint equals one
/// of the `n` stored: probability about `n / 2^64` per signal. At full capacity that is
/// 3.3e-14 for 600 000 ids (one false duplicate in about 3e13 signals, a century at
/// 10 000 signals/s) and 4.4e-16 for 8 192 ids.
///
/// **Memory.** 8 bytes per index slot and 12 per id (`arrivals` and `arrival_windows`). At
/// the load [`index_slots_for`] picks (between 3/8 and 3/4) that is 22.7 to 33.3 bytes per
/// id: 24.9 for 650 000 ids (2^20 slots, 16.2 MB), 28 for 8 192 ids (16 384 slots, 224 KiB).
#[derive(Debug)]
pub struct Dedup<'a> {
    index: &'a mut [u64],
    /// `index.len() - 1`: the slot count is a power of two.
    mask: usize,
    arrivals: Ring<'a, u64>,
    /// The low 32 bits of each arrival's window, in step with `arrivals`.
    arrival_windows: Ring<'a, u32>,
    /// Ids evicted while still retained (the set was full), saturating.
    evictions: u64,
}

/// Why [`Dedup::new`] refuses its storage: one variant per rule of [`Dedup::check_shape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DedupShapeError {
    /// `arrivals` is empty: the deduplicator would hold no id.
    #[error("arrivals must hold at least one id")]
    NoIds,
    /// `arrivals` is longer than [`Dedup::IDS_MAX`].
    #[error("arrivals may hold at most {max} ids, got {ids}", max = Dedup::IDS_MAX)]
    TooManyIds {
        /// `arrivals.len()`.
        ids: usize,
    },
    /// `arrival_windows` and `arrivals` differ in length.
    #[error("arrival_windows has {windows} entries but arrivals has {ids}")]
    WindowsLengthDiffers {
        /// `arrivals.len()`.
        ids: usize,
        /// `arrival_windows.len()`.
        windows: usize,
    },
    /// The index length is not a power of two.
    #[error("the index must have a power-of-two number of slots, got {slots}")]
    IndexNotPowerOfTwo {
        /// `index.len()`.
        slots: usize,
    },
    /// The index is smaller than [`index_slots_for`] the capacity.
    #[error("{ids} ids need an index of at least {needed} slots, got {slots}")]
    IndexTooSmall {
        /// `arrivals.len()`.
        ids: usize,
        /// `index.len()`.
        slots: usize,
        /// `index_slots_for(ids)`.
        needed: usize,
    },
}

/// Where a fingerprint is in the index, or the empty slot that ends its probe.
/// What [`Dedup::lookup`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The id is remembered and its window retained: a duplicate.
    Seen,
    /// The id is new; [`Dedup::fill`] remembers it.
    New(Vacancy),
}

/// Where [`Dedup::fill`] stores a new id, found by [`Dedup::lookup`]. Opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vacancy {
    fingerprint: u64,
    window: u64,
    /// `None`: the window is not retained, and the id is not stored.
    slot: Option<usize>,
}

enum Probe {
    Found(usize),
    Vacant(usize),
}

impl<'a> Dedup<'a> {
    /// The most ids a deduplicator holds (`arrivals.len()`).
    pub const IDS_MAX: usize = u32::MAX as usize - 1;

    /// Checks the shape [`Dedup::new`] needs, from the slice lengths alone: `ids` (of
    /// `arrivals`) in `1..=IDS_MAX`, as many `windows` (of `arrival_windows`), and an index
    /// of a power-of-two length of at least [`index_slots_for`]`(ids)`.
    pub const fn check_shape(
        index: usize,
        ids: usize,
        windows: usize,
    ) -> Result<(), DedupShapeError> {
        let needed = index_slots_for(ids);
        if ids == 0 {
            Err(DedupShapeError::NoIds)
        } else if ids > Self::IDS_MAX {
            Err(DedupShapeError::TooManyIds { ids })
        } else if windows != ids {
            Err(DedupShapeError::WindowsLengthDiffers { ids, windows })
        } else if !index.is_power_of_two() {
            Err(DedupShapeError::IndexNotPowerOfTwo { slots: index })
        } else if index < needed {
            Err(DedupShapeError::IndexTooSmall {
                ids,
                slots: index,
                needed,
            })
        } else {
            Ok(())
        }
    }

    /// An empty deduplicator holding at most `arrivals.len()` ids (and their windows in
    /// `arrival_windows`), indexed by `index` (see [`Dedup::check_shape`]). What the slices
    /// hold is ignored.
    pub fn new(
        index: &'a mut [u64],
        arrivals: &'a mut [u64],
        arrival_windows: &'a mut [u32],
    ) -> Result<Self, DedupShapeError> {
        Self::check_shape(index.len(), arrivals.len(), arrival_windows.len())?;
        clear(index);
        Ok(Self {
            mask: index.len() - 1,
            index,
            arrivals: Ring::new(arrivals),
            arrival_windows: Ring::new(arrival_windows),
            evictions: 0,
        })
    }

    /// How many ids are held: the remembered ones and expired ones not yet removed.
    pub const fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// Whether no id is remembered.
    pub const fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    /// How many ids were evicted while still inside the retention because the set was
    /// full: each is a signal whose redelivery would be governed again.
    pub const fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The most ids it can hold.
    pub fn capacity(&self) -> usize {
        self.arrivals.capacity()
    }

    /// Whether `id`, of a signal in `window`, is remembered and its window still retained at
    /// `now_ms`.
    pub fn contains(&self, id: &[u8; 32], window: u64, now_ms: u64) -> bool {
        window_retained(window, now_ms) && matches!(self.probe(fingerprint_of(id)), Probe::Found(_))
    }

    /// Remembers `id` (of a signal in `window`), expiring old windows and, when full,
    /// evicting the oldest id. Returns `false` if it was already remembered (and retained).
    ///
    /// An id whose window is already outside the retention is not stored: only retained
    /// windows count, so a late signal is never a duplicate, however often it comes.
    pub fn insert(&mut self, id: &[u8; 32], window: u64, now_ms: u64) -> bool {
        match self.lookup(id, window, now_ms) {
            Lookup::Seen => false,
            Lookup::New(vacancy) => {
                self.fill(vacancy);
                true
            }
        }
    }

    /// [`Dedup::insert`] in two steps, one probe in all: expires old windows, then finds `id`
    /// (`Seen`) or the slot it would take (`New`). Nothing is remembered until the
    /// [`Vacancy`] is passed to [`Dedup::fill`], so a caller can still refuse the signal in
    /// between (the engine's `Busy`). A vacancy is valid until the next call that changes
    /// the set.
    // Inlined into the engine's signal path: the `Lookup` then stays in registers instead
    // of going through memory (a wide read of narrow writes stalls store forwarding).
    #[inline]
    pub fn lookup(&mut self, id: &[u8; 32], window: u64, now_ms: u64) -> Lookup {
        self.expire(now_ms);
        let fingerprint = fingerprint_of(id);
        if !window_retained(window, now_ms) {
            return Lookup::New(Vacancy {
                fingerprint,
                window,
                slot: None,
            });
        }
        match self.probe(fingerprint) {
            Probe::Found(_) => Lookup::Seen,
            Probe::Vacant(slot) => Lookup::New(Vacancy {
                fingerprint,
                window,
                slot: Some(slot),
            }),
        }
    }

    /// Remembers the id of a [`Dedup::lookup`], evicting the oldest id when full. Returns
    /// whether it evicted one (also counted in [`Dedup::evictions`]).
    pub fn fill(&mut self, vacancy: Vacancy) -> bool {
        let Vacancy {
            fingerprint,
            window,
            slot: Some(mut vacant),
        } = vacancy
        else {
            return false;
        };
        let evicts = self.arrivals.is_full();
        if evicts {
            // `lookup` removed at least one expired id if the oldest was one, so a set still
            // full has a retained oldest id: an early eviction.
            self.remove_oldest();
            self.evictions = self.evictions.saturating_add(1);
            // The backward shift may have moved entries of this probe run.
            vacant = match self.probe(fingerprint) {
                Probe::Found(slot) | Probe::Vacant(slot) => slot,
            };
        }
        // Truncation intended: only the low 32 bits of a window are kept.
        let pushed = self.arrivals.push_back(fingerprint).is_ok()
            && self.arrival_windows.push_back(window as u32).is_ok();
        debug_assert!(pushed, "room was made above; both rings move together");
        self.set_slot(vacant, fingerprint);
        evicts
    }

    /// Whether ids of `window` are retained at `now_ms` ([`window_retained`]).
    pub fn retains(&self, window: u64, now_ms: u64) -> bool {
        window_retained(window, now_ms)
    }

    /// Removes the oldest ids while their window is no longer retained, at most
    /// [`DEDUP_EXPIRED_PER_LOOKUP_MAX`].
    fn expire(&mut self, now_ms: u64) {
        let current = window_of(now_ms);
        for _ in 0..DEDUP_EXPIRED_PER_LOOKUP_MAX {
            match self.arrival_windows.front() {
                Some(low) if !window_retained(full_window(low, current), now_ms) => {
                    self.remove_oldest();
                }
                _ => return,
            }
        }
    }

    fn remove_oldest(&mut self) {
        let _ = self.arrival_windows.pop_front();
        if let Some(oldest) = self.arrivals.pop_front()
            && let Probe::Found(slot) = self.probe(oldest)
        {
            self.delete_slot(slot);
        }
    }

    /// Linear probing from the fingerprint's home slot. The index is at most 3/4 full, so an
    /// empty slot always ends the probe; the bound on steps is defence.
    fn probe(&self, fingerprint: u64) -> Probe {
        let mut slot = self.home(fingerprint);
        for _ in 0..self.index.len() {
            match self.fingerprint_at(slot) {
                0 => return Probe::Vacant(slot),
                stored if stored == fingerprint => return Probe::Found(slot),
                _ => slot = (slot + 1) & self.mask,
            }
        }
        Probe::Vacant(slot)
    }

    /// Backward-shift deletion: each later entry of the probe run moves into the hole unless
    /// its home lies cyclically within (hole, j].
    fn delete_slot(&mut self, mut hole: usize) {
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let fingerprint = self.fingerprint_at(j);
            if fingerprint == 0 {
                break;
            }
            let home = self.home(fingerprint);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.set_slot(hole, fingerprint);
                hole = j;
            }
        }
        self.set_slot(hole, 0);
    }

    fn home(&self, fingerprint: u64) -> usize {
        // Only the low bits are kept: truncating on a 32-bit target is intended.
        (fingerprint as usize) & self.mask
    }

    fn fingerprint_at(&self, slot: usize) -> u64 {
        self.index.get(slot).copied().unwrap_or(0)
    }

    fn set_slot(&mut self, slot: usize, fingerprint: u64) {
        if let Some(stored) = self.index.get_mut(slot) {
            *stored = fingerprint;
        }
    }
}

/// The first 8 bytes of `id`, little-endian, with 0 (the empty slot) mapped to 1.
fn fingerprint_of(id: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    for (f, b) in first.iter_mut().zip(id.iter()) {
        *f = *b;
    }
    u64::from_le_bytes(first).max(1)
}

/// The window whose low 32 bits are `low` nearest to `current` (exact while the two are less
/// than 2^31 windows apart).
fn full_window(low: u32, current: u64) -> u64 {
    // Truncations intended: only the low 32 bits, then their signed distance, matter.
    let distance = low.wrapping_sub(current as u32) as i32;
    current.saturating_add_signed(i64::from(distance))
}

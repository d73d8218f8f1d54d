//! The deduplicator over caller-provided storage: which signal ids were seen recently.
//!
//! One lookup reads one `u64` of an open-addressed table (almost always one cache line); the
//! window of an id is read only when its fingerprint matches.

use crate::monitor::{window_of, window_retained};
use crate::ring::Ring;
use crate::storage::{clear, index_slots_for};

/// A fixed-capacity set of recently seen signal ids, over three slices the caller provides.
///
/// * An id (the SHA-256 of a signal, [`crate::monitor::signal_id`]) is stored as its
///   **fingerprint**: its first 8 bytes, little-endian, with 0 (which marks an empty slot)
///   mapped to 1. Fingerprints live in an open-addressed index, `index_fingerprints`, probed
///   linearly from `fingerprint % slots` and compacted by backward-shift deletion (no
///   tombstones). `index_windows[slot]` holds the low 32 bits of the window of the id in that
///   slot.
/// * `arrivals` holds the fingerprints in arrival order. Ids whose window is no longer retained
///   ([`window_retained`]) expire, oldest first. When full, inserting evicts the id that
///   arrived first; such early evictions (of ids still retained) are counted:
///   [`Dedup::evictions`]. It never panics and never grows; an evicted id's redelivery counts
///   as new.
///
/// **Windows in 32 bits.** The full window of a stored id is rebuilt from its low 32 bits and
/// the window of `now_ms`: the window with those low bits nearest to it. This is exact while
/// the two are less than 2^31 windows (340 years of 5 s windows) apart.
///
/// **False duplicates.** A new id is taken for a stored one when its fingerprint equals one
/// of the `n` stored: probability about `n / 2^64` per signal. At full capacity that is
/// 3.3e-14 for 600 000 ids (one false duplicate in about 3e13 signals, a century at
/// 10 000 signals/s) and 4.4e-16 for 8 192 ids.
///
/// **Memory.** 12 bytes per index slot (`u64` + `u32`) and 8 per id (`arrivals`). At the
/// load [`index_slots_for`] picks (between 3/8 and 3/4) that is 24 to 40 bytes per
/// id: 29.0 for 600 000 ids (2^20 slots, 17.4 MB), 32 for 8 192 ids (16 384 slots, 256 KiB).
#[derive(Debug)]
pub struct Dedup<'a> {
    index_fingerprints: &'a mut [u64],
    index_windows: &'a mut [u32],
    /// `index_fingerprints.len() - 1`: the slot count is a power of two.
    mask: usize,
    arrivals: Ring<'a, u64>,
    /// The full window of the oldest arrival, when known (saves a probe per insert).
    oldest_window: Option<u64>,
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
    /// The two index slices differ in length.
    #[error("index_windows has {windows} slots but index_fingerprints has {fingerprints}")]
    IndexLengthsDiffer {
        /// `index_fingerprints.len()`.
        fingerprints: usize,
        /// `index_windows.len()`.
        windows: usize,
    },
    /// The index length is not a power of two.
    #[error("the index must have a power-of-two number of slots, got {slots}")]
    IndexNotPowerOfTwo {
        /// `index_fingerprints.len()`.
        slots: usize,
    },
    /// The index is smaller than [`index_slots_for`] the capacity.
    #[error("{ids} ids need an index of at least {needed} slots, got {slots}")]
    IndexTooSmall {
        /// `arrivals.len()`.
        ids: usize,
        /// `index_fingerprints.len()`.
        slots: usize,
        /// `index_slots_for(ids)`.
        needed: usize,
    },
}

/// Where a fingerprint is in the index, or the empty slot that ends its probe.
enum Probe {
    Found(usize),
    Vacant(usize),
}

impl<'a> Dedup<'a> {
    /// The most ids a deduplicator holds (`arrivals.len()`).
    pub const IDS_MAX: usize = u32::MAX as usize - 1;

    /// Checks the shape [`Dedup::new`] needs, from the slice lengths alone: `ids` (of
    /// `arrivals`) in `1..=IDS_MAX`, and both index slices of one power-of-two length of at
    /// least [`index_slots_for`]`(ids)`.
    pub const fn check_shape(
        fingerprints: usize,
        windows: usize,
        ids: usize,
    ) -> Result<(), DedupShapeError> {
        let needed = index_slots_for(ids);
        if ids == 0 {
            Err(DedupShapeError::NoIds)
        } else if ids > Self::IDS_MAX {
            Err(DedupShapeError::TooManyIds { ids })
        } else if fingerprints != windows {
            Err(DedupShapeError::IndexLengthsDiffer {
                fingerprints,
                windows,
            })
        } else if !fingerprints.is_power_of_two() {
            Err(DedupShapeError::IndexNotPowerOfTwo {
                slots: fingerprints,
            })
        } else if fingerprints < needed {
            Err(DedupShapeError::IndexTooSmall {
                ids,
                slots: fingerprints,
                needed,
            })
        } else {
            Ok(())
        }
    }

    /// An empty deduplicator holding at most `arrivals.len()` ids, indexed by
    /// `index_fingerprints` and `index_windows` (see [`Dedup::check_shape`]). What the slices
    /// hold is ignored.
    pub fn new(
        index_fingerprints: &'a mut [u64],
        index_windows: &'a mut [u32],
        arrivals: &'a mut [u64],
    ) -> Result<Self, DedupShapeError> {
        Self::check_shape(
            index_fingerprints.len(),
            index_windows.len(),
            arrivals.len(),
        )?;
        clear(index_fingerprints);
        Ok(Self {
            mask: index_fingerprints.len() - 1,
            index_fingerprints,
            index_windows,
            arrivals: Ring::new(arrivals),
            oldest_window: None,
            evictions: 0,
        })
    }

    /// How many ids are remembered.
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

    /// Whether `id` is remembered (expired windows are not consulted).
    pub fn contains(&self, id: &[u8; 32], now_ms: u64) -> bool {
        match self.probe(fingerprint_of(id)) {
            Probe::Found(slot) => self.slot_retained(slot, now_ms),
            Probe::Vacant(_) => false,
        }
    }

    /// Remembers `id` (of a signal in `window`), expiring old windows and, when full,
    /// evicting the oldest id. Returns `false` if it was already remembered (and retained).
    ///
    /// An id whose window is already outside the retention is not stored: only retained
    /// windows count, so a late signal is never a duplicate, however often it comes. An id
    /// whose fingerprint matches a stored id that has expired but not yet left (it arrived
    /// after a fresher one) is new but not stored: the slot is taken until that id leaves.
    pub fn insert(&mut self, id: &[u8; 32], window: u64, now_ms: u64) -> bool {
        self.expire(now_ms);
        if !window_retained(window, now_ms) {
            return true;
        }
        let fingerprint = fingerprint_of(id);
        let mut vacant = match self.probe(fingerprint) {
            Probe::Found(slot) => return !self.slot_retained(slot, now_ms),
            Probe::Vacant(slot) => slot,
        };
        if self.arrivals.is_full() {
            // `expire` ran first, so the oldest id is still retained: an early eviction.
            self.remove_oldest();
            self.evictions = self.evictions.saturating_add(1);
            // The backward shift may have moved entries of this probe run.
            vacant = match self.probe(fingerprint) {
                Probe::Found(slot) | Probe::Vacant(slot) => slot,
            };
        }
        if self.arrivals.push_back(fingerprint).is_err() {
            return true;
        }
        if self.arrivals.len() == 1 {
            self.oldest_window = Some(window);
        }
        self.set_slot(vacant, fingerprint, window as u32);
        true
    }

    /// Whether ids of `window` are retained at `now_ms` ([`window_retained`]).
    pub fn retains(&self, window: u64, now_ms: u64) -> bool {
        window_retained(window, now_ms)
    }

    /// Removes the oldest ids while their window is no longer retained.
    fn expire(&mut self, now_ms: u64) {
        while let Some(window) = self.oldest_window(now_ms) {
            if window_retained(window, now_ms) {
                break;
            }
            self.remove_oldest();
        }
    }

    /// The full window of the oldest id, looked up once per oldest id.
    fn oldest_window(&mut self, now_ms: u64) -> Option<u64> {
        if self.oldest_window.is_none() {
            let oldest = self.arrivals.front()?;
            if let Probe::Found(slot) = self.probe(oldest) {
                self.oldest_window = Some(self.slot_window(slot, now_ms));
            }
        }
        self.oldest_window
    }

    fn remove_oldest(&mut self) {
        self.oldest_window = None;
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
        for _ in 0..self.index_fingerprints.len() {
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
        let mut j = (hole + 1) & self.mask;
        loop {
            let fingerprint = self.fingerprint_at(j);
            if fingerprint == 0 {
                break;
            }
            let home = self.home(fingerprint);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                let window = self.index_windows.get(j).copied().unwrap_or(0);
                self.set_slot(hole, fingerprint, window);
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.set_slot(hole, 0, 0);
    }

    fn home(&self, fingerprint: u64) -> usize {
        // Only the low bits are kept: truncating on a 32-bit target is intended.
        (fingerprint as usize) & self.mask
    }

    fn fingerprint_at(&self, slot: usize) -> u64 {
        self.index_fingerprints.get(slot).copied().unwrap_or(0)
    }

    fn set_slot(&mut self, slot: usize, fingerprint: u64, window_low: u32) {
        if let Some(stored) = self.index_fingerprints.get_mut(slot) {
            *stored = fingerprint;
        }
        if let Some(stored) = self.index_windows.get_mut(slot) {
            *stored = window_low;
        }
    }

    fn slot_window(&self, slot: usize, now_ms: u64) -> u64 {
        let low = self.index_windows.get(slot).copied().unwrap_or(0);
        full_window(low, window_of(now_ms))
    }

    fn slot_retained(&self, slot: usize, now_ms: u64) -> bool {
        window_retained(self.slot_window(slot, now_ms), now_ms)
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

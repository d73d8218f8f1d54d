//! Deduplication (`docs/signals.md#deduplication-windows`). A signal's id is (tenant, metric,
//! ts_ms / 5000, normalized value); it is a duplicate iff an equal id was remembered and its
//! window is still retained: the core keeps windows `>= now_window - 12` (60 s). The memory
//! holds at most `capacity` ids in arrival order: the oldest leave first once their window is
//! no longer retained, at most two with each id remembered, and when it is full a new id pushes
//! out the oldest (an early eviction, after which that id's redelivery counts as new).

use std::collections::VecDeque;

/// A signal id, field by field.
pub type Key = (String, &'static str, u64, u8);

/// The ids remembered, oldest first, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct DedupModel {
    seen: VecDeque<Key>,
    capacity: usize,
    evictions: u64,
}

impl Default for DedupModel {
    /// A memory with no capacity limit.
    fn default() -> Self {
        Self::with_capacity(usize::MAX)
    }
}

/// Windows kept before the current one.
pub const RETAIN_WINDOWS: u64 = 12;
/// The window length.
pub const WINDOW_MS: u64 = 5_000;
/// Expired ids removed with each signal at most (`docs/signals.md#deduplication-windows`):
/// until then they are held (they count in [`DedupModel::len`]) but are never duplicates.
pub const EXPIRED_PER_SIGNAL_MAX: usize = 2;

impl DedupModel {
    /// An empty memory of `capacity` ids.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: VecDeque::new(),
            capacity,
            evictions: 0,
        }
    }

    /// Whether `key` is a duplicate at `now_ms`.
    pub fn is_duplicate(&self, key: &Key, now_ms: u64) -> bool {
        Self::window_retained(key.2, now_ms) && self.seen.contains(key)
    }

    /// Remembers a governed signal's id at `now_ms`: the oldest ids whose window has passed
    /// leave first (at most [`EXPIRED_PER_SIGNAL_MAX`]); an id outside the retention is not
    /// kept; when full, the oldest id leaves.
    pub fn remember(&mut self, key: Key, now_ms: u64) {
        for _ in 0..EXPIRED_PER_SIGNAL_MAX {
            if self
                .seen
                .front()
                .is_some_and(|oldest| !Self::window_retained(oldest.2, now_ms))
            {
                self.seen.pop_front();
            }
        }
        if !Self::window_retained(key.2, now_ms) || self.seen.contains(&key) {
            return;
        }
        if self.seen.len() >= self.capacity {
            self.seen.pop_front();
            self.evictions += 1;
        }
        self.seen.push_back(key);
    }

    /// Whether a signal stamped `ts_ms` is still inside the retained windows at `now_ms`.
    pub fn retained(ts_ms: u64, now_ms: u64) -> bool {
        Self::window_retained(ts_ms / WINDOW_MS, now_ms)
    }

    fn window_retained(window: u64, now_ms: u64) -> bool {
        window >= (now_ms / WINDOW_MS).saturating_sub(RETAIN_WINDOWS)
    }

    /// How many ids are held (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Ids pushed out by a full memory while their window was still retained.
    pub const fn evictions(&self) -> u64 {
        self.evictions
    }
}

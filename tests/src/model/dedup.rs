//! Deduplication (`docs/signals.md#deduplication-windows`). A signal's id is (tenant, metric,
//! ts_ms / 5000, normalized value); it is a duplicate iff an equal id was remembered and its
//! window is still retained: the core keeps windows `>= now_window - 12` (60 s). Capacity is
//! unbounded here, so the suites keep workloads under the core's capacity for the rule to be
//! exact.

/// A signal id, field by field.
pub type Key = (String, &'static str, u64, u8);

/// Every id ever remembered, with no capacity limit.
#[derive(Debug, Clone, Default)]
pub struct DedupModel {
    seen: Vec<Key>,
}

/// Windows kept before the current one.
pub const RETAIN_WINDOWS: u64 = 12;
/// The window length.
pub const WINDOW_MS: u64 = 5_000;

impl DedupModel {
    /// Whether `key` is a duplicate at `now_ms`.
    pub fn is_duplicate(&self, key: &Key, now_ms: u64) -> bool {
        let oldest_kept = (now_ms / WINDOW_MS).saturating_sub(RETAIN_WINDOWS);
        key.2 >= oldest_kept && self.seen.contains(key)
    }

    /// Remembers a governed signal's id.
    pub fn remember(&mut self, key: Key) {
        if !self.seen.contains(&key) {
            self.seen.push(key);
        }
    }

    /// Whether a signal stamped `ts_ms` is still inside the retained windows at `now_ms`.
    pub fn retained(ts_ms: u64, now_ms: u64) -> bool {
        ts_ms / WINDOW_MS >= (now_ms / WINDOW_MS).saturating_sub(RETAIN_WINDOWS)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

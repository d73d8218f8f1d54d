//! The deduplicator over caller-provided storage (`autonomic_core::dedup`): the behaviour of
//! the const-generic one, its shape rules, fingerprints, probing and 32-bit windows.

use std::collections::{HashMap, VecDeque};

use autonomic_core::MetricKind;
use autonomic_core::dedup::{Dedup, DedupShapeError as E, Lookup};
use autonomic_core::limits::DEDUP_EXPIRED_PER_LOOKUP_MAX;
use autonomic_core::monitor::{signal_id, window_retained};
use autonomic_core::storage::index_slots_for;

/// Owns the three slices a [`Dedup`] borrows.
struct Storage {
    fingerprints: Vec<u64>,
    arrivals: Vec<u64>,
    windows: Vec<u32>,
}

impl Storage {
    fn new(ids: usize) -> Self {
        Self::with_slots(ids, index_slots_for(ids))
    }

    fn with_slots(ids: usize, slots: usize) -> Self {
        Self {
            fingerprints: vec![0; slots],
            arrivals: vec![0; ids],
            windows: vec![0; ids],
        }
    }

    fn dedup(&mut self) -> Dedup<'_> {
        self.try_dedup().expect("a valid shape")
    }

    fn try_dedup(&mut self) -> Result<Dedup<'_>, E> {
        Dedup::new(
            &mut self.fingerprints,
            &mut self.arrivals,
            &mut self.windows,
        )
    }
}

fn id(value: u8, ts_ms: u64) -> [u8; 32] {
    signal_id("acme", MetricKind::Cpu, ts_ms / 5000, value)
}

/// An id whose fingerprint (its first 8 bytes, little-endian) is `fingerprint`.
fn crafted(fingerprint: u64) -> [u8; 32] {
    let mut id = [0xAB; 32];
    id[..8].copy_from_slice(&fingerprint.to_le_bytes());
    id
}

fn ms(window: u64) -> u64 {
    window * 5000
}

#[test]
fn a_redelivery_is_a_duplicate_within_its_window_only() {
    // Proves a redelivered reading within one 5 s window (5000..=9999) is caught, a new value
    // is not, and 9 999 ms and 10 000 ms fall in different windows: not a duplicate.
    let (reading, other_value) = (id(78, 5_000), id(79, 5_000));
    let next_window = id(78, 10_000);
    let mut s = Storage::new(64);
    let mut d = s.dedup();
    assert!(d.insert(&reading, 1, 5_000));
    assert_eq!(reading, id(78, 9_999), "one window, one id");
    assert!(d.contains(&reading, 1, 9_999) && !d.insert(&reading, 1, 9_999));
    assert!(
        !d.contains(&other_value, 1, 5_000),
        "another value, another reading"
    );
    assert_ne!(next_window, reading);
    assert!(
        !d.contains(&next_window, 2, 10_000),
        "the next window is new"
    );
}

#[test]
fn expires_old_windows() {
    // Proves an id is forgotten once its window is more than 12 windows before now.
    let mut s = Storage::new(64);
    let mut d = s.dedup();
    d.insert(&id(50, 0), 0, 0);
    assert!(
        d.contains(&id(50, 0), 0, ms(12) + 4999),
        "window 0 retained at 12"
    );
    assert!(
        !d.contains(&id(50, 0), 0, ms(13)),
        "window 0 expired at window 13"
    );
    d.insert(&id(51, ms(13)), 13, ms(13));
    assert_eq!(d.len(), 1, "the expired id was evicted on insert");
}

/// Inserts `ids`, all new and of one window, checking after each that exactly the last
/// `d.capacity()` are found (evicted first-arrived first), that the length never exceeds the
/// capacity, that each id pushed out is counted, and that every id of `absent` is not found.
fn keeps_the_last(d: &mut Dedup, ids: &[[u8; 32]], absent: &[[u8; 32]]) {
    for (i, x) in ids.iter().enumerate() {
        assert!(d.insert(x, 7, ms(7)), "id {i} is new");
        let first_kept = (i + 1).saturating_sub(d.capacity());
        assert_eq!(d.len(), i + 1 - first_kept, "never grows past capacity");
        assert_eq!(d.evictions(), first_kept as u64, "step {i}");
        for (j, y) in ids[..=i].iter().enumerate() {
            assert_eq!(
                d.contains(y, 7, ms(7)),
                j >= first_kept,
                "id {j} after step {i}"
            );
        }
        assert!(absent.iter().all(|y| !d.contains(y, 7, ms(7))), "step {i}");
    }
}

#[test]
fn when_full_evicts_oldest_and_never_grows() {
    // Proves the documented policy: at capacity, inserting evicts the first-arrived id.
    let mut s = Storage::new(8);
    let ids: Vec<[u8; 32]> = (0..20u8).map(|v| id(v, 0)).collect();
    keeps_the_last(&mut s.dedup(), &ids, &[]);
}

#[test]
fn survives_heavy_churn() {
    // Proves lookups stay exact through many evictions (backward-shift deletion keeps probes intact).
    let mut s = Storage::new(64);
    let ids: Vec<[u8; 32]> = (0..3_000u64)
        .map(|i| signal_id("t", MetricKind::Cpu, i, 1))
        .collect();
    keeps_the_last(&mut s.dedup(), &ids, &[]);
}

#[test]
fn never_holds_a_late_signal_as_duplicate() {
    // Proves an id of an expired window is never a duplicate and never stored, even while
    // its window's expired id still sits behind a fresher one in the arrivals.
    let (now, late_ms) = (1_000_000, 900_000);
    let late = id(20, late_ms);
    let mut s = Storage::new(64);
    let mut d = s.dedup();
    assert!(d.insert(&id(10, now), now / 5000, now));
    for attempt in 0..3 {
        let new = d.insert(&late, late_ms / 5000, now);
        assert!(
            new && !d.contains(&late, late_ms / 5000, now),
            "attempt {attempt}"
        );
    }
    assert_eq!(d.len(), 1, "the late id is not stored");
}

#[test]
fn a_lookup_remembers_nothing_until_its_vacancy_is_filled() {
    // Proves the engine's two-step path: `lookup` alone stores nothing (a signal then refused
    // with Busy stays new), `fill` stores the id, and reports an eviction only when the set
    // was full.
    let mut s = Storage::new(2);
    let mut d = s.dedup();
    let now = ms(7);
    let Lookup::New(first) = d.lookup(&[1; 32], 7, now) else {
        panic!("a new id")
    };
    assert!(d.is_empty());
    assert!(matches!(d.lookup(&[1; 32], 7, now), Lookup::New(_)));
    assert!(!d.fill(first), "room: nothing evicted");
    assert_eq!(d.lookup(&[1; 32], 7, now), Lookup::Seen);
    assert!(d.insert(&[2; 32], 7, now));
    let Lookup::New(third) = d.lookup(&[3; 32], 7, now) else {
        panic!("a new id")
    };
    assert!(d.fill(third), "full: the oldest is evicted");
    assert_eq!((d.evictions(), d.len()), (1, 2));
    assert!(!d.contains(&[1; 32], 7, now));
    assert!(d.contains(&[3; 32], 7, now));
}

#[test]
fn evictions_inside_the_retention_are_counted_and_expiry_is_not() {
    // Proves Dedup::evictions counts only ids pushed out by a full set while still retained
    // (6 ids into 4: 2, the first two gone): ids that expire (older than 60 s) leave without
    // being counted.
    let mut s = Storage::new(4);
    let mut d = s.dedup();
    let ids: Vec<[u8; 32]> = (0..6u8).map(|i| [i; 32]).collect();
    keeps_the_last(&mut d, &ids, &[]);
    // They are of window 7: all expire at window 20. A lookup removes at most two of them,
    // so a new id finds room without evicting; the two left go with the next lookup.
    assert!(d.insert(&[6; 32], 20, ms(20) + 1));
    assert_eq!((d.evictions(), d.len()), (2, 3));
    assert!(
        !d.contains(&[5; 32], 7, ms(20) + 1),
        "held, but no longer a duplicate"
    );
    assert_eq!(d.lookup(&[6; 32], 20, ms(20) + 1), Lookup::Seen);
    assert_eq!((d.evictions(), d.len()), (2, 1));
}

#[test]
fn retains_is_the_one_window_rule() {
    // Proves Dedup::retains is window_retained: a window is kept for 12 windows after its own
    // and dropped at the first ms of the 13th, at every ms of two windows of timestamps.
    let mut s = Storage::new(4);
    let d = s.dedup();
    for ts in 1_000_000..1_010_000 {
        let window = ts / 5000;
        for now in [ts, ts + 59_999, ts + 60_000] {
            assert!(d.retains(window, now), "ts {ts}: window dropped at {now}");
        }
        let expiry = ms(window + 13);
        assert!(!d.retains(window, expiry) && d.retains(window, expiry - 1));
        assert_eq!(d.retains(window, expiry), window_retained(window, expiry));
    }
}

#[test]
fn shape_errors_one_per_rule() {
    // Proves each broken rule of the storage's shape is refused with its own variant, and
    // that any power of two at least index_slots_for(ids) is accepted.
    assert_eq!(Storage::with_slots(0, 8).try_dedup().err(), Some(E::NoIds));
    let ids = u32::MAX as usize;
    let slots = index_slots_for(ids);
    assert_eq!(
        Dedup::check_shape(slots, ids, ids),
        Err(E::TooManyIds { ids })
    );
    assert_eq!(Dedup::check_shape(slots, ids - 1, ids - 1), Ok(()));
    let mut s = Storage::with_slots(4, 8);
    s.windows.pop();
    let err = s.try_dedup().err();
    assert_eq!(err, Some(E::WindowsLengthDiffers { ids: 4, windows: 3 }));
    assert_eq!(
        Storage::with_slots(4, 12).try_dedup().err(),
        Some(E::IndexNotPowerOfTwo { slots: 12 })
    );
    let too_small = E::IndexTooSmall {
        ids: 7,
        slots: 8,
        needed: 16,
    };
    assert_eq!(Storage::with_slots(7, 8).try_dedup().err(), Some(too_small));
    assert_eq!(
        too_small.to_string(),
        "7 ids need an index of at least 16 slots, got 8"
    );
    assert!(
        Storage::with_slots(7, 64).try_dedup().is_ok(),
        "larger is fine"
    );
    assert!(
        Storage::with_slots(6, 8).try_dedup().is_ok(),
        "3/4 full is fine"
    );
    let expected = [(1, 2), (3, 4), (4, 8), (6, 8), (7, 16), (8, 16), (64, 128)];
    for (ids, slots) in expected {
        assert_eq!(index_slots_for(ids), slots, "{ids} ids");
    }
    assert_eq!(index_slots_for(8192), 16_384);
    assert_eq!(index_slots_for(600_000), 1 << 20);
    assert_eq!(index_slots_for(usize::MAX), usize::MAX);
}

#[test]
fn fingerprint_zero_is_stored_as_one() {
    // Proves an id whose first 8 bytes are zero is stored and found (0 marks an empty slot),
    // that it shares its fingerprint with the id whose first 8 bytes read 1, and that stale
    // contents of the storage are ignored.
    let mut s = Storage::new(4);
    s.fingerprints.fill(0xDEAD);
    let mut d = s.dedup();
    assert!(!d.contains(&[0; 32], 0, 0), "the storage starts empty");
    assert!(d.is_empty());
    assert!(d.insert(&[0; 32], 0, 0));
    assert!(d.contains(&[0; 32], 0, 0));
    assert!(!d.insert(&[0; 32], 0, 0), "a duplicate");
    assert!(
        d.contains(&crafted(1), 0, 0),
        "fingerprint 0 is fingerprint 1"
    );
    assert!(!d.contains(&crafted(2), 0, 0));
    assert_eq!(d.len(), 1);
    assert!(!d.is_empty());
}

#[test]
fn full_table_evicts_oldest_first_with_the_count() {
    // Proves that at capacity each insert pushes out exactly the first-arrived id, in order,
    // and counts it.
    let mut s = Storage::new(4);
    let ids: Vec<[u8; 32]> = (1..=10).map(|i| crafted(i * 0x1_0000_0001)).collect();
    let mut d = s.dedup();
    keeps_the_last(&mut d, &ids, &[]);
    assert_eq!((d.capacity(), d.evictions()), (4, 6));
}

#[test]
fn long_probe_runs_wrap_around_the_end_of_the_index() {
    // Proves one probe run that starts at the last slot and wraps to the front stays exact
    // while its members leave from the middle and the front: 12 ids in 16 slots, all homed
    // at slot 15 or 0; an absent id of either home is not found.
    let mut s = Storage::new(12);
    let at_15 = |k: u64| crafted(15 + 16 * k);
    let at_0 = |k: u64| crafted(16 * k);
    let order: Vec<[u8; 32]> = (1..=40)
        .map(|k| if k % 3 == 0 { at_0(k) } else { at_15(k) })
        .collect();
    let mut d = s.dedup();
    keeps_the_last(&mut d, &order, &[at_15(1000), at_0(1000)]);
    assert_eq!(d.evictions(), 40 - 12);
}

/// The reference semantics, over std collections.
struct Model {
    windows: HashMap<[u8; 32], u64>,
    arrivals: VecDeque<[u8; 32]>,
    capacity: usize,
    evictions: u64,
}

impl Model {
    fn insert(&mut self, id: [u8; 32], window: u64, now_ms: u64) -> bool {
        // At most DEDUP_EXPIRED_PER_LOOKUP_MAX expired ids go per insert.
        for _ in 0..DEDUP_EXPIRED_PER_LOOKUP_MAX {
            match self.arrivals.front() {
                Some(oldest) if !window_retained(self.windows[oldest], now_ms) => {
                    self.windows.remove(oldest);
                    self.arrivals.pop_front();
                }
                _ => break,
            }
        }
        if !window_retained(window, now_ms) {
            return true;
        }
        if self.contains(&id, now_ms) {
            return false;
        }
        if self.arrivals.len() == self.capacity {
            let oldest = self.arrivals.pop_front().unwrap();
            let window = self.windows.remove(&oldest).unwrap();
            assert!(
                window_retained(window, now_ms),
                "an expired oldest went above"
            );
            self.evictions += 1;
        }
        self.arrivals.push_back(id);
        self.windows.insert(id, window);
        true
    }

    fn contains(&self, id: &[u8; 32], now_ms: u64) -> bool {
        self.windows
            .get(id)
            .is_some_and(|w| window_retained(*w, now_ms))
    }

    /// The window an id was stored with.
    fn window_of(&self, id: &[u8; 32]) -> u64 {
        self.windows[id]
    }
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Random inserts and lookups against [`Model`]; `fingerprint` maps (window, value) to a
/// fingerprint, one to one. Windows start just below 2^32 and cross it.
fn agrees_with_the_model(capacity: usize, seed: u64, fingerprint: fn(u64) -> u64) {
    let mut s = Storage::new(capacity);
    let mut d = s.dedup();
    let mut model = Model {
        windows: HashMap::new(),
        arrivals: VecDeque::new(),
        capacity,
        evictions: 0,
    };
    let mut seed = seed;
    let mut now_ms = ms((1 << 32) - 40);
    for step in 0..4_000 {
        let r = xorshift(&mut seed);
        now_ms += r % 3_000;
        let window = now_ms / 5000 + 1 - (r >> 16) % 16;
        let key = (window << 8) | ((r >> 24) % 6);
        let id = crafted(fingerprint(key));
        if (r >> 32).is_multiple_of(4) {
            // One key, one window: a crafted id always comes with the window of its key.
            assert_eq!(d.contains(&id, window, now_ms), model.contains(&id, now_ms));
        } else {
            let new = model.insert(id, window, now_ms);
            assert_eq!(d.insert(&id, window, now_ms), new, "step {step}");
        }
        assert_eq!(d.len(), model.arrivals.len(), "step {step}");
        assert_eq!(d.evictions(), model.evictions, "step {step}");
        for stored in &model.arrivals {
            let window = model.window_of(stored);
            assert_eq!(
                d.contains(stored, window, now_ms),
                model.contains(stored, now_ms)
            );
        }
    }
    assert!(model.evictions > 100, "eviction was exercised");
}

#[test]
fn randomized_inserts_and_lookups_agree_with_a_hashmap_model() {
    // Proves, over thousands of random operations at small capacities (so ids are evicted
    // and expire all the time), that every answer, the length and the eviction count match
    // a HashMap model: with spread fingerprints, and with all of them homed at the last slot
    // (one run wrapping around the end of the index).
    let spread: fn(u64) -> u64 = |key| key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let one_home: fn(u64) -> u64 = |key| (key << 8) | 0xFF;
    for capacity in [1, 2, 3, 5, 8, 12] {
        agrees_with_the_model(capacity, 0x2545_F491_4F6C_DD1D + capacity as u64, spread);
        agrees_with_the_model(capacity, 0x9E37_79B9 + capacity as u64, one_home);
    }
}

#[test]
fn windows_are_rebuilt_from_32_bits_across_2_pow_32() {
    // Proves the window kept as its low 32 bits is rebuilt exactly around the wrap of those
    // bits: an id of window 2^32 - 1 is retained through window 2^32 + 11 and expires at
    // 2^32 + 12; an id one window ahead of the clock, across the wrap, is retained too.
    let last_low = (1u64 << 32) - 1;
    let mut s = Storage::new(4);
    let mut d = s.dedup();
    let (a, b) = (crafted(11), crafted(12));
    assert!(d.insert(&a, last_low, ms(last_low)));
    assert!(d.insert(&b, last_low + 1, ms(last_low)), "one window ahead");
    for window in [last_low, last_low + 1, last_low + 12] {
        assert!(
            d.contains(&a, last_low, ms(window) + 4999),
            "a at window {window}"
        );
        assert!(
            d.contains(&b, last_low + 1, ms(window)),
            "b at window {window}"
        );
    }
    assert!(!d.contains(&a, last_low, ms(last_low + 13)), "a expired");
    assert!(
        d.contains(&b, last_low + 1, ms(last_low + 13)),
        "b retained one window longer"
    );
    assert!(
        !d.insert(&b, last_low + 1, ms(last_low + 13)),
        "b a duplicate"
    );
    assert!(d.insert(&crafted(13), last_low + 13, ms(last_low + 13)));
    assert_eq!(d.len(), 2, "a expired on insert, across the wrap");
    // Exact up to 2^31 windows apart; beyond, the stale low bits read as a future window,
    // which does not expire.
    for (jump, kept) in [((1u64 << 31) - 1, 1), ((1 << 31) + 13, 2)] {
        let mut s = Storage::new(4);
        let mut d = s.dedup();
        assert!(d.insert(&a, 5, ms(5)));
        let now = ms(5 + jump);
        assert!(d.insert(&b, 5 + jump, now));
        assert_eq!(d.len(), kept, "the documented limit, {jump} windows on");
    }
}

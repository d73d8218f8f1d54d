//! Every limit of the core in one place (TigerBeetle's "a limit on everything").
//!
//! Capacities that size memory come from the driver at start ([`crate::storage::Capacities`]);
//! the defaults are below. Limits that are part of the external
//! contract (`docs/signals.md`, `docs/actions.md`) are fixed here and not configurable.

/// A tenant id is 1..=256 bytes of visible ASCII.
pub const TENANT_ID_MAX_BYTES: usize = 256;
/// A metric name longer than this is rejected.
pub const METRIC_NAME_MAX_BYTES: usize = 128;
/// A signal may be stamped at most this far after the receiver's clock.
pub const TIMESTAMP_AHEAD_MAX_MS: u64 = 3_600_000;
/// The deduplication window.
pub const DEDUP_WINDOW_MS: u64 = 5_000;
/// How many 5 s windows before the current one the deduplicator keeps (60 s in all).
pub const DEDUP_RETAIN_WINDOWS: u64 = 12;
/// A signal may be stamped at most this far before the receiver's clock — the
/// dedup retention, derived from it so the two cannot drift apart. The boundary is exact:
/// a signal accepted at `now` (`ts_ms >= now - 60 000`) lies in window `w >= (now - 60 000) /
/// 5000`; a redelivery is accepted at `now'` only while `now' <= ts_ms + 60 000`, so
/// `now' / 5000 <= w + 12` and its window is still retained: a redelivery is a duplicate or
/// refused, never governed twice (while the deduplicator has room).
pub const TIMESTAMP_BEHIND_MAX_MS: u64 = DEDUP_RETAIN_WINDOWS * DEDUP_WINDOW_MS;
const _: () = assert!(TIMESTAMP_BEHIND_MAX_MS == 60_000);
/// The most expired ids one dedup lookup removes. Twice the one id a lookup may add, so a
/// backlog left by a window leaving the retention (50 000 ids at 10 000 signals/s) drains by
/// at least one id per signal, instead of being removed all at once by the first signal of
/// the next window (a stall of milliseconds). Ids waiting to be removed are never taken for a
/// live one's duplicate (`docs/signals.md#deduplication-windows`).
pub const DEDUP_EXPIRED_PER_LOOKUP_MAX: usize = 2;
/// The most bytes of an undo token (the prior state a backend needs to roll an action back,
/// e.g. the old `cpu.max`), kept in the completion receipt so a rollback works after a restart.
pub const UNDO_BYTES_MAX: usize = 64;
/// A rollback revision is 1..=128 visible-ASCII bytes.
pub const REVISION_MAX_BYTES: usize = 128;
/// The default action timeout.
pub const ACTION_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// The longest action timeout the engine accepts (one hour).
pub const ACTION_TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Default number of actions executing at once, engine-wide (one per tenant at most). A
/// signal whose governor step would dispatch one more is refused with `Busy`.
pub const IN_FLIGHT_DEFAULT: usize = 64;
/// Default number of completed actions remembered for rollback by receipt id; the oldest is
/// forgotten first.
pub const ROLLBACKABLE_DEFAULT: usize = 64;
/// Default number of manual actions queued behind the one in flight, engine-wide
/// (`docs/actions.md#queued-actions`).
pub const QUEUED_DEFAULT: usize = 64;
/// The most manual actions one tenant may have queued; one more is refused with `QueueFull`.
pub const QUEUED_PER_TENANT_MAX: usize = 4;
/// Action commands waiting for [`crate::engine::Engine::poll_action`].
pub const ACTION_QUEUE_MAX: usize = 32;
/// The largest encoded receipt (a 256-byte tenant dispatching a 128-byte rollback revision
/// is about 450 bytes; a unit test pins the worst case below this).
pub const RECORD_MAX_BYTES: usize = 512;
/// The most receipts a single `handle_*` call can append (governor change, supersede,
/// dispatch). Inputs are refused with `Busy` unless this many fit. (A step that cancels a
/// pending warning as well writes a warning in place of the supersede and dispatch, unless
/// `grace_ms` was turned off meanwhile; each input's room check counts its own receipts.)
pub const RECEIPTS_PER_INPUT_MAX: usize = 3;

/// The most consecutive failures a circuit breaker may be configured to wait for
/// (`breaker_failures`; 0 disables it).
pub const BREAKER_FAILURES_MAX: u32 = 1_000;
/// The core's default `breaker_failures`: disabled, so replay and embedders see no circuit
/// unless they ask for one (the sidecar's default is 5).
pub const BREAKER_FAILURES_DEFAULT: u32 = 0;
/// The default cool-down of an open circuit before its trial call.
pub const BREAKER_COOLDOWN_MS_DEFAULT: u64 = 30_000;
/// The longest cool-down the engine accepts (one hour); the shortest is 1 ms.
pub const BREAKER_COOLDOWN_MS_MAX: u64 = 3_600_000;
/// Receipts a circuit breaker may add to one input beyond [`RECEIPTS_PER_INPUT_MAX`]: the
/// circuit change after an outcome, a refused action's `CircuitOpen` completion, the
/// governor's reaction to it (Intervene → Degrade) and the Pause that reaction dispatches
/// (a `half_open` and its dispatch, or its dispatch and its refusal). The governor ignores a
/// failure in Degrade, so the chain ends there.
pub const BREAKER_RECEIPTS_PER_INPUT_MAX: usize = 4;
/// Dispatches a circuit may refuse in one input: the action itself, then the Pause the
/// governor orders when that failure meets it in Intervene. The governor's reaction to
/// refusals is a loop bounded by this, never recursion.
pub const BREAKER_REFUSALS_PER_INPUT_MAX: usize = 2;

/// Default tenant capacity ([`crate::storage::Capacities`]).
pub const TENANTS_DEFAULT: usize = 1024;
/// Default id arena bytes per tenant: room for ids of 32 bytes on average.
pub const TENANT_ID_BYTES_PER_TENANT_DEFAULT: usize = 32;
/// Default number of receipts kept in the in-memory ring.
pub const RECEIPTS_DEFAULT: usize = 1024;
/// The signal rate the default deduplicator holds for the whole retention.
pub const DEDUP_SIGNALS_PER_S_DEFAULT: usize = 10_000;
/// Default deduplicator capacity, in signal ids: [`DEDUP_SIGNALS_PER_S_DEFAULT`] for the
/// retention's 13 windows (the 12 retained and the current one: 65 s).
pub const DEDUP_IDS_DEFAULT: usize =
    DEDUP_SIGNALS_PER_S_DEFAULT * ((DEDUP_RETAIN_WINDOWS + 1) * DEDUP_WINDOW_MS / 1000) as usize;
const _: () = assert!(DEDUP_IDS_DEFAULT == 650_000);

/// The fastest a rate limit refills: tokens per second.
pub const RATE_PER_S_MAX: u32 = 1_000_000;
/// The largest burst of a rate limit, in tokens: what one admission can ask for (an amount is
/// 1..=65 535), so the tokens left always fit an admission's answer.
pub const RATE_BURST_MAX: u32 = u16::MAX as u32;

/// Least percent of an action the governor orders (`[actions.<sku>]`): 0 would order an
/// action that does nothing.
pub const ORDERED_ACTION_PCT_MIN: u8 = 1;
/// Greatest percent of an action the governor orders (`[actions.<sku>]`).
pub const ORDERED_ACTION_PCT_MAX: u8 = 100;

/// The longest `min_dwell_ms`, `cooldown_ms`, `refuse_max_ms` and `grace_ms` the engine
/// accepts (one day); 0 turns each off.
pub const GOVERNOR_TIMING_MS_MAX: u64 = 86_400_000;
/// Default size of the governor's timer table ([`crate::storage::Capacities::timers`]): the
/// timers held at once, engine-wide — tenants in Refuse while `refuse_max_ms` is on, and
/// pending warnings while `grace_ms` is on (one of each per tenant at most). A step that would
/// start one more is refused with `Busy` (nothing changes); with both off no timer is ever
/// held. 24 bytes an entry.
pub const TIMERS_DEFAULT: usize = 128;
/// The largest timer table an engine accepts (`Capacities::timers`, 1..=this): the timers
/// held are scanned for a tenant's pending warning on each of its signals, for the next due
/// one on each poll, and once per timer fired.
pub const TIMERS_MAX: usize = 65_536;

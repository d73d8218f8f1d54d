//! Monitor (`docs/signals.md`): raw signals become validated [`Signal`]s, and a fixed-capacity
//! [`crate::dedup::Dedup`] remembers their ids.
//!
//! Validation runs once, at the edge, in the documented order
//! (`docs/signals.md#order-of-checks`); everything downstream trusts the [`Signal`] type:
//!
//! 1. `InvalidTenantId` — empty, longer than 256 bytes, or a byte outside 0x21..=0x7E;
//! 2. `InvalidMetricName` — not one of `cpu memory latency error_rate disk network
//!    connections` (ASCII case-insensitive), or longer than 128 bytes;
//! 3. `ValueOutOfBounds` — not finite, or outside 0.0..=100.0;
//! 4. `InvalidTimestamp` — more than 3 600 000 ms after the receiver's `now_ms`, or more than
//!    60 000 ms before it (older than the dedup retention,
//!    [`crate::limits::TIMESTAMP_BEHIND_MAX_MS`]): a stale reading is refused, never governed,
//!    so a redelivery is either a duplicate or refused.

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

use crate::limits::{
    DEDUP_RETAIN_WINDOWS, DEDUP_WINDOW_MS, TENANT_ID_MAX_BYTES, TIMESTAMP_AHEAD_MAX_MS,
    TIMESTAMP_BEHIND_MAX_MS,
};

/// An owned, validated tenant id (1..=256 visible-ASCII bytes).
pub type TenantId = heapless::String<TENANT_ID_MAX_BYTES, u16>;

/// A signal as it arrives, before validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawSignal<'a> {
    /// The tenant the reading belongs to.
    pub tenant: &'a str,
    /// The metric name, e.g. `cpu`.
    pub metric: &'a str,
    /// The reading, in percent.
    pub value: f64,
    /// When it was measured, Unix milliseconds.
    pub ts_ms: u64,
}

/// The kinds of pressure a signal can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricKind {
    /// `cpu`
    Cpu,
    /// `memory`
    Memory,
    /// `latency`
    Latency,
    /// `error_rate`
    ErrorRate,
    /// `disk`
    Disk,
    /// `network`
    Network,
    /// `connections`
    Connections,
}

impl MetricKind {
    /// Every kind, in the order of their id bytes (`docs/signals.md#metric-kinds`).
    pub const ALL: [MetricKind; 7] = [
        MetricKind::Cpu,
        MetricKind::Memory,
        MetricKind::Latency,
        MetricKind::ErrorRate,
        MetricKind::Disk,
        MetricKind::Network,
        MetricKind::Connections,
    ];

    /// The canonical (lowercase) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Cpu => "cpu",
            MetricKind::Memory => "memory",
            MetricKind::Latency => "latency",
            MetricKind::ErrorRate => "error_rate",
            MetricKind::Disk => "disk",
            MetricKind::Network => "network",
            MetricKind::Connections => "connections",
        }
    }

    /// Parses a metric name, ASCII case-insensitively. (A name longer than
    /// [`crate::limits::METRIC_NAME_MAX_BYTES`] names no kind: the bound needs no check of its own.)
    pub fn parse(name: &str) -> Result<MetricKind, SignalError> {
        MetricKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
            .ok_or(SignalError::InvalidMetricName)
    }

    /// The byte that stands for this kind in a signal id.
    const fn id_byte(self) -> u8 {
        self as u8
    }
}

/// Why a raw signal was rejected, in checking order (`docs/signals.md#order-of-checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Tenant empty, longer than 256 bytes, or not visible ASCII.
    #[error("tenant id must be 1..=256 visible-ASCII bytes")]
    InvalidTenantId,
    /// Metric not one of the known kinds, or longer than 128 bytes.
    #[error(
        "metric must be one of cpu memory latency error_rate disk network connections (at most 128 bytes)"
    )]
    InvalidMetricName,
    /// Value not finite or outside 0.0..=100.0.
    #[error("value must be a finite number within 0.0..=100.0")]
    ValueOutOfBounds,
    /// Timestamp more than an hour after the receiver's clock, or more than 60 s before it.
    #[error(
        "ts_ms is more than 3600000 ms after or more than 60000 ms before the receiver's clock"
    )]
    InvalidTimestamp,
}

impl SignalError {
    /// Every error, in checking order (the order of [`SignalError::index`]).
    pub const ALL: [SignalError; 4] = [
        SignalError::InvalidTenantId,
        SignalError::InvalidMetricName,
        SignalError::ValueOutOfBounds,
        SignalError::InvalidTimestamp,
    ];

    /// The error's position in [`SignalError::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The error's name, as it appears on the wire (`"error":"InvalidTenantId"`).
    pub const fn name(self) -> &'static str {
        match self {
            SignalError::InvalidTenantId => "InvalidTenantId",
            SignalError::InvalidMetricName => "InvalidMetricName",
            SignalError::ValueOutOfBounds => "ValueOutOfBounds",
            SignalError::InvalidTimestamp => "InvalidTimestamp",
        }
    }
}

/// Checks a tenant id: 1..=256 bytes, each within 0x21..=0x7E.
pub fn validate_tenant(tenant: &str) -> Result<(), SignalError> {
    let bytes = tenant.as_bytes();
    let visible = bytes.iter().all(|b| (0x21..=0x7E).contains(b));
    if bytes.is_empty() || bytes.len() > TENANT_ID_MAX_BYTES || !visible {
        return Err(SignalError::InvalidTenantId);
    }
    Ok(())
}

/// A validated signal. Its fields hold what the type promises: a valid tenant, a known
/// metric, a percentage in 0..=100 and a timestamp no more than an hour ahead and no more than
/// the dedup retention (60 s) behind the clock it was parsed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal<'a> {
    /// The tenant (already validated).
    pub tenant: &'a str,
    /// The metric kind.
    pub metric: MetricKind,
    /// The normalized value: integer percent, rounded half up.
    pub value_pct: u8,
    /// When it was measured, Unix milliseconds.
    pub ts_ms: u64,
}

impl<'a> Signal<'a> {
    /// Validates a raw signal against the receiver's clock, in the documented order
    /// (`docs/signals.md#order-of-checks`).
    pub fn parse(raw: &RawSignal<'a>, now_ms: u64) -> Result<Signal<'a>, SignalError> {
        validate_tenant(raw.tenant)?;
        let metric = MetricKind::parse(raw.metric)?;
        let value_pct = normalize(raw.value)?;
        let ahead = raw.ts_ms > now_ms.saturating_add(TIMESTAMP_AHEAD_MAX_MS);
        let stale = raw.ts_ms < now_ms.saturating_sub(TIMESTAMP_BEHIND_MAX_MS);
        if ahead || stale {
            return Err(SignalError::InvalidTimestamp);
        }
        Ok(Signal {
            tenant: raw.tenant,
            metric,
            value_pct,
            ts_ms: raw.ts_ms,
        })
    }

    /// The 5 s window the signal falls in ([`window_of`] its timestamp).
    pub const fn window(&self) -> u64 {
        window_of(self.ts_ms)
    }

    /// The signal's id (`docs/signals.md#the-signal-id`): SHA-256 over (tenant, metric kind,
    /// ts_ms / 5000, normalized value). See [`signal_id`] for the exact bytes.
    pub fn id(&self) -> [u8; 32] {
        signal_id(self.tenant, self.metric, self.window(), self.value_pct)
    }
}

/// The 5 s dedup window (`ts_ms / 5000`) an instant falls in: a signal's by its
/// `ts_ms`, the clock's by `now_ms`.
pub const fn window_of(ts_ms: u64) -> u64 {
    ts_ms / DEDUP_WINDOW_MS
}

/// Whether ids of `window` are still retained at `now_ms`: it is at most
/// [`DEDUP_RETAIN_WINDOWS`] windows before the window of `now_ms`.
pub const fn window_retained(window: u64, now_ms: u64) -> bool {
    window.saturating_add(DEDUP_RETAIN_WINDOWS) >= window_of(now_ms)
}

/// SHA-256 over `len(tenant) as u16 LE | tenant | metric byte | window as u64 LE | value`.
/// The length prefix keeps the encoding unambiguous. The metric byte is the kind's position
/// in [`MetricKind::ALL`].
///
/// The preimage is padded here and handed to the SHA-256 compression function directly
/// (FIPS 180-4 §5.1.1: a 0x80 byte, zeros, the length in bits as u64 BE, to a multiple of
/// 64 bytes): a tenant id of up to 43 bytes makes one block, and no hasher buffers the five
/// small parts (BENCHMARKS.md has the cost of each). A test holds it equal to
/// `Sha256::digest` of the same bytes for every tenant length.
pub fn signal_id(tenant: &str, metric: MetricKind, window: u64, value_pct: u8) -> [u8; 32] {
    let len = u16::try_from(tenant.len()).unwrap_or(u16::MAX);
    // Past validation a tenant id is at most 256 bytes; a longer one (never hashed by the
    // engine) is cut there, so the preimage always fits.
    let tenant = tenant.as_bytes();
    let tenant = tenant.get(..TENANT_ID_MAX_BYTES).unwrap_or(tenant);
    let parts: [&[u8]; 5] = [
        &len.to_le_bytes(),
        tenant,
        &[metric.id_byte()],
        &window.to_le_bytes(),
        &[value_pct],
    ];
    let preimage_len: usize = parts.iter().map(|part| part.len()).sum();
    // The common case, a tenant id of up to 43 bytes, pads to one block: zero only that.
    if preimage_len + 9 <= 64 {
        sha256_padded::<64>(&parts)
    } else {
        sha256_padded::<ID_PADDED_MAX_BYTES>(&parts)
    }
}

/// SHA-256 of the concatenated `parts` (at most `N - 9` bytes), padded in an `N`-byte buffer
/// (`N` a multiple of 64) and compressed block by block.
fn sha256_padded<const N: usize>(parts: &[&[u8]]) -> [u8; 32] {
    let mut padded = [0u8; N];
    let mut at = 0;
    for part in parts {
        if let Some(to) = padded.get_mut(at..at + part.len()) {
            to.copy_from_slice(part);
        }
        at += part.len();
    }
    let blocks = (at + 9).div_ceil(64);
    let bits = (at as u64) * 8;
    if let Some(b) = padded.get_mut(at) {
        *b = 0x80;
    }
    if let Some(tail) = padded.get_mut(blocks * 64 - 8..blocks * 64) {
        tail.copy_from_slice(&bits.to_be_bytes());
    }
    let mut state = SHA256_INITIAL_STATE;
    for block in padded.chunks_exact(64).take(blocks) {
        sha2::compress256(
            &mut state,
            core::slice::from_ref(GenericArray::from_slice(block)),
        );
    }
    let mut id = [0u8; 32];
    for (out, word) in id.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    id
}

/// The longest signal-id preimage (2 + 256 + 1 + 8 + 1 = 268 bytes) with its SHA-256 padding
/// (at least 9 bytes), in whole 64-byte blocks: 277 bytes, five blocks. (A literal: the test
/// of every tenant length up to 256 against `Sha256::digest` fails if it is too small.)
const ID_PADDED_MAX_BYTES: usize = 320;

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Normalizes a percentage: finite and within 0.0..=100.0, then rounded half up to an
/// integer (74.5 → 75, 74.49 → 74).
pub fn normalize(value: f64) -> Result<u8, SignalError> {
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return Err(SignalError::ValueOutOfBounds);
    }
    // In range, so the cast truncates toward zero, which is the floor; `value - floor` is
    // exact for these magnitudes, so the half-up test has no rounding error of its own.
    let floor = value as u8;
    let fraction = value - f64::from(floor);
    let rounded = if fraction >= 0.5 { floor + 1 } else { floor };
    debug_assert!(rounded <= 100);
    Ok(rounded)
}

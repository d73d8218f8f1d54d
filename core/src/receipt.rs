//! Knowledge (`docs/receipts.md`): receipts, their canonical encoding and the hash chain.
//!
//! A receipt's canonical bytes are the postcard encoding of [`Receipt`], whose fields are,
//! in order: `seq`, `ts_ms`, `tenant`, `event`, `prev_hash`, `hash`. postcard writes the two
//! 32-byte arrays raw, so every record ends with `prev_hash | hash`, and
//! `hash = SHA-256(record[..len - 32])` — the encoding of every other field. `seq` is hashed,
//! so a record cannot move; the genesis `prev_hash` is 32 zero bytes.
//!
//! Verification ([`ChainVerifier`], [`verify_records`]) checks, record by record and in this
//! order: the record decodes, canonically (`Malformed`), `seq` is the next one (`SeqMismatch`),
//! `prev_hash` is the previous record's hash (`BrokenLink`), and `hash` is the SHA-256 of the
//! rest (`BadHash`). The first failure names its position: the `seq` expected there.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::action::{Action, ActionKind, ActionOutcome, Undo};
use crate::breaker::CircuitState;
use crate::engine::Mode;
use crate::entitlement::{CommandKind, EntitlementState, Sku};
use crate::governor::GovernorState;
use crate::limits::RECORD_MAX_BYTES;
use crate::monitor::{self, MetricKind, TenantId};

/// 32 zero bytes: the `prev_hash` of receipt 0.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Position in the chain, from 0, no gaps.
    pub seq: u64,
    /// The engine's `now_ms` when it was appended.
    pub ts_ms: u64,
    /// The tenant it concerns.
    pub tenant: TenantId,
    /// What happened.
    pub event: Event,
    /// The previous receipt's hash ([`GENESIS_HASH`] for seq 0).
    pub prev_hash: [u8; 32],
    /// SHA-256 over the encoding of every other field.
    pub hash: [u8; 32],
}

/// What a receipt records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A governor changed its state or its `consecutive_high`.
    Governor {
        /// What made it change.
        cause: Cause,
        /// The state before.
        from: GovernorState,
        /// The state after.
        to: GovernorState,
        /// `consecutive_high` after.
        consecutive_high: u8,
    },
    /// An action was handed to the adapter to run. The receipt's `seq` is the action's
    /// receipt id.
    ActionDispatched {
        /// The action.
        action: Action,
        /// When it times out.
        deadline_ms: u64,
        /// Requested by an operator rather than ordered by the governor.
        manual: bool,
    },
    /// A dispatched action ended.
    ActionCompleted {
        /// The action's receipt id.
        receipt: u64,
        /// How it ended.
        outcome: ActionOutcome,
        /// The backend's undo token (empty unless `outcome` is `Succeeded`); at most
        /// [`crate::limits::UNDO_BYTES_MAX`] bytes, so a longer one does not decode.
        undo: Undo,
    },
    /// A rollback of a completed action was requested.
    RollbackRequested {
        /// The rolled-back action's receipt id.
        receipt: u64,
    },
    /// A rollback ended.
    RollbackCompleted {
        /// The rolled-back action's receipt id.
        receipt: u64,
        /// Whether the backend undid it.
        succeeded: bool,
    },
    /// An entitlement changed.
    Entitlement {
        /// The command that changed it.
        command: CommandKind,
        /// The state before (`None` for a new tenant).
        from: Option<EntitlementState>,
        /// The state after.
        to: EntitlementState,
        /// The tier after.
        sku: Sku,
        /// The expiry after (`None`: never).
        expires_at_ms: Option<u64>,
    },
    /// An action kind's circuit breaker changed state (`docs/actions.md#circuit-breakers`).
    /// The receipt's tenant is the one whose action caused the change. A `HalfOpen` receipt
    /// is followed at once by the trial's `ActionDispatched`.
    Circuit {
        /// The kind whose circuit changed.
        kind: ActionKind,
        /// The state after.
        to: CircuitState,
    },
    /// A manual action was queued behind the tenant's action in flight
    /// (`docs/actions.md#queued-actions`); it is dispatched later as an ordinary manual
    /// `ActionDispatched`. The receipt's `seq` is the queued action's receipt id.
    ActionQueued {
        /// The action.
        action: Action,
    },
    /// A configuration was applied (`docs/receipts.md#system-receipts`): a system receipt,
    /// whose tenant is the empty string ([`SYSTEM_TENANT`]) — no real tenant can be empty.
    ConfigApplied {
        /// The SHA-256 of the applied configuration file's bytes.
        hash: [u8; 32],
    },
    /// An operator set the tenant's mode (`docs/governor.md#shadow-mode`).
    ModeSet {
        /// The mode from now on.
        mode: Mode,
    },
    /// The governor of a tenant in shadow mode ordered an action; it was recorded here and
    /// not dispatched (nothing runs, nothing is enforced). The receipt's `seq` is its id.
    ShadowAction {
        /// The action the governor would have dispatched.
        action: Action,
    },
    /// A governor-ordered Pause or Shed announced `grace_ms` before its dispatch
    /// (`docs/governor.md#grace-before-pause-and-shed`). The receipt's `seq` is the warning's
    /// id; at `deadline_ms` the action is dispatched (a governor `ActionDispatched`, or a
    /// `ShadowAction` for a tenant then in shadow mode) unless a [`Event::WarningCancelled`]
    /// naming it came first.
    Warning {
        /// The action that will be dispatched.
        action: Action,
        /// When.
        deadline_ms: u64,
    },
    /// A pending warning was cancelled: its action will not be dispatched.
    WarningCancelled {
        /// The warning's receipt id.
        receipt: u64,
    },
}

/// The tenant of a system receipt ([`Event::ConfigApplied`]): the empty string, which no
/// tenant id can be, so a system receipt never names a tenant.
pub const SYSTEM_TENANT: &str = "";

impl Event {
    /// Whether this is a system receipt's event: it concerns no tenant, and its receipt's
    /// tenant is [`SYSTEM_TENANT`].
    pub const fn is_system(&self) -> bool {
        matches!(self, Event::ConfigApplied { .. })
    }
}

/// Why a governor changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// A signal. Its id (`docs/signals.md#the-signal-id`) is a function of these fields and
    /// the receipt's tenant — see [`Cause::signal_id`] — so the receipt carries it without
    /// spending 32 bytes on it, and a restart rebuilds the dedup memory from it.
    Signal {
        /// The metric.
        metric: MetricKind,
        /// The normalized value.
        value_pct: u8,
        /// The signal's own timestamp.
        ts_ms: u64,
    },
    /// The action in flight succeeded.
    ActionSucceeded,
    /// The action in flight failed or timed out.
    ActionFailed,
    /// An operator reset it.
    Reset,
    /// It had been in Refuse for `refuse_max_ms`.
    RefuseExpired,
}

impl Cause {
    /// The id of the signal that caused the change, if a signal did.
    pub fn signal_id(&self, tenant: &str) -> Option<[u8; 32]> {
        match *self {
            Cause::Signal {
                metric,
                value_pct,
                ts_ms,
            } => Some(monitor::signal_id(
                tenant,
                metric,
                monitor::window_of(ts_ms),
                value_pct,
            )),
            _ => None,
        }
    }
}

/// The borrowed twin of [`Receipt`], used to encode without copying the tenant. It
/// serializes to the same bytes (a test pins that).
#[derive(Serialize)]
pub(crate) struct ReceiptRef<'a> {
    pub seq: u64,
    pub ts_ms: u64,
    pub tenant: &'a str,
    pub event: &'a Event,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// A record did not fit the buffer (or [`RECORD_MAX_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("receipt does not fit in {RECORD_MAX_BYTES} bytes")]
pub struct EncodeError;

impl ReceiptRef<'_> {
    /// Encodes, computes the hash over everything but the hash, and writes it in place.
    pub(crate) fn seal_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        let len = postcard::to_slice(self, buf)
            .map_err(|_| EncodeError)?
            .len();
        let record = buf.get_mut(..len).ok_or(EncodeError)?;
        let body_len = len.checked_sub(32).ok_or(EncodeError)?;
        let (body, hash) = record.split_at_mut(body_len);
        hash.copy_from_slice(&Sha256::digest(body));
        Ok(record)
    }
}

impl Receipt {
    /// Encodes the receipt exactly as it is (its `hash` is not recomputed).
    pub fn encode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        let used = postcard::to_slice(self, buf).map_err(|_| EncodeError)?;
        Ok(used)
    }

    /// Encodes with a freshly computed `hash` (and updates `self.hash`).
    pub fn seal_into<'b>(&mut self, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        let sealed = ReceiptRef {
            seq: self.seq,
            ts_ms: self.ts_ms,
            tenant: &self.tenant,
            event: &self.event,
            prev_hash: self.prev_hash,
            hash: [0; 32],
        }
        .seal_into(buf)?;
        self.hash = hash_of(sealed).unwrap_or_default();
        Ok(sealed)
    }

    /// Decodes and validates one record: it must be exactly one receipt in its canonical
    /// encoding, with a valid tenant (the empty [`SYSTEM_TENANT`] exactly for a system
    /// receipt) and action, and an undo token (at most
    /// [`crate::limits::UNDO_BYTES_MAX`] bytes) only on a successful completion. Decoding does not check the hash; [`ChainVerifier`] does.
    pub fn decode(record: &[u8]) -> Result<Receipt, ChainErrorKind> {
        let (receipt, rest) =
            postcard::take_from_bytes::<Receipt>(record).map_err(|_| ChainErrorKind::Malformed)?;
        if !rest.is_empty() {
            return Err(ChainErrorKind::Malformed);
        }
        // Only the canonical encoding decodes: postcard also accepts overlong varints, which
        // would let two byte strings (with two hashes) stand for one receipt. A record longer
        // than RECORD_MAX_BYTES fails here too: its canonical form does not fit the buffer.
        let mut canonical = [0u8; RECORD_MAX_BYTES];
        if receipt.encode_into(&mut canonical).ok() != Some(record) {
            return Err(ChainErrorKind::Malformed);
        }
        if receipt.event.is_system() {
            if receipt.tenant.as_str() != SYSTEM_TENANT {
                return Err(ChainErrorKind::Malformed);
            }
        } else {
            monitor::validate_tenant(&receipt.tenant).map_err(|_| ChainErrorKind::Malformed)?;
        }
        match &receipt.event {
            Event::ActionDispatched { action, .. }
            | Event::ActionQueued { action }
            | Event::ShadowAction { action }
            | Event::Warning { action, .. } => {
                action.validate().map_err(|_| ChainErrorKind::Malformed)?;
            }
            // Only a success carries an undo token (the engine records others empty).
            Event::ActionCompleted { outcome, undo, .. }
                if *outcome != ActionOutcome::Succeeded && !undo.is_empty() =>
            {
                return Err(ChainErrorKind::Malformed);
            }
            _ => {}
        }
        Ok(receipt)
    }

    /// The hash as 64 lowercase hex characters.
    pub fn hash_hex(&self) -> HexHash {
        to_hex(&self.hash)
    }
}

/// A hash as 64 lowercase hex characters.
pub type HexHash = heapless::String<64>;

/// 64 lowercase hex characters of a hash.
pub fn to_hex(hash: &[u8; 32]) -> HexHash {
    let mut buf = [0u8; 64];
    let mut out = HexHash::new();
    if hex::encode_to_slice(hash, &mut buf).is_ok() {
        for b in buf {
            let _ = out.push(char::from(b));
        }
    }
    out
}

/// The `hash` field of an encoded record (its last 32 bytes).
pub fn hash_of(record: &[u8]) -> Option<[u8; 32]> {
    let start = record.len().checked_sub(32)?;
    record.get(start..)?.try_into().ok()
}

/// The `prev_hash` field of an encoded record (the 32 bytes before the hash).
pub fn prev_hash_of(record: &[u8]) -> Option<[u8; 32]> {
    let end = record.len().checked_sub(32)?;
    let start = end.checked_sub(32)?;
    record.get(start..end)?.try_into().ok()
}

/// The `seq` field of an encoded record (its leading varint).
pub fn seq_of(record: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, byte) in record.iter().take(10).enumerate() {
        let shift = 7 * i as u32;
        let bits = u64::from(byte & 0x7F);
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// What is wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainErrorKind {
    /// It is not exactly one valid, canonical receipt.
    #[error("record is not a valid receipt")]
    Malformed,
    /// Its `seq` is not the next one.
    #[error("seq {found} where the next seq was expected")]
    SeqMismatch {
        /// The seq the record carries.
        found: u64,
    },
    /// Its `prev_hash` is not the previous record's hash.
    #[error("prev_hash does not match the previous receipt's hash")]
    BrokenLink,
    /// Its `hash` is not the SHA-256 of its other fields.
    #[error("hash does not match the receipt's contents")]
    BadHash,
}

/// The first bad position of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chain broken at position {position}: {kind}")]
pub struct ChainError {
    /// The seq expected at the bad record (for a whole file, its 0-based index).
    pub position: u64,
    /// What is wrong.
    pub kind: ChainErrorKind,
}

/// Checks the structural links of one record: seq, prev_hash and hash (no decoding).
pub fn check_link(
    record: &[u8],
    expected_seq: u64,
    prev_hash: &[u8; 32],
) -> Result<[u8; 32], ChainErrorKind> {
    let seq = seq_of(record).ok_or(ChainErrorKind::Malformed)?;
    let (Some(prev), Some(hash)) = (prev_hash_of(record), hash_of(record)) else {
        return Err(ChainErrorKind::Malformed);
    };
    if seq != expected_seq {
        return Err(ChainErrorKind::SeqMismatch { found: seq });
    }
    if prev != *prev_hash {
        return Err(ChainErrorKind::BrokenLink);
    }
    let body = record
        .get(..record.len() - 32)
        .ok_or(ChainErrorKind::Malformed)?;
    if <[u8; 32]>::from(Sha256::digest(body)) != hash {
        return Err(ChainErrorKind::BadHash);
    }
    Ok(hash)
}

/// A streaming verifier with O(1) memory: feed it every record of a ledger, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainVerifier {
    next_seq: u64,
    head_hash: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting receipt 0 with the genesis `prev_hash`.
    pub const fn new() -> ChainVerifier {
        ChainVerifier {
            next_seq: 0,
            head_hash: GENESIS_HASH,
        }
    }

    /// A verifier that continues after a known anchor: the next seq and the hash before it.
    pub const fn resume(next_seq: u64, head_hash: [u8; 32]) -> ChainVerifier {
        ChainVerifier {
            next_seq,
            head_hash,
        }
    }

    /// Decodes and verifies the next record; on success the verifier advances and hands back
    /// the receipt. On failure nothing changes.
    pub fn push(&mut self, record: &[u8]) -> Result<Receipt, ChainError> {
        let at = |kind| ChainError {
            position: self.next_seq,
            kind,
        };
        let receipt = Receipt::decode(record).map_err(at)?;
        let hash = check_link(record, self.next_seq, &self.head_hash).map_err(at)?;
        debug_assert_eq!(receipt.hash, hash);
        self.next_seq = self.next_seq.saturating_add(1);
        self.head_hash = hash;
        Ok(receipt)
    }

    /// The seq the next record must carry (= records verified, from genesis).
    pub const fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last verified record ([`GENESIS_HASH`] before any).
    pub const fn head_hash(&self) -> [u8; 32] {
        self.head_hash
    }
}

/// Verifies a run of encoded records that follows the anchor `(next_seq, prev_hash)`:
/// seq, links and hashes, without decoding (the fast path of
/// [`crate::ledger::Ledger::verify`]).
pub fn verify_records<'r>(
    next_seq: u64,
    prev_hash: [u8; 32],
    records: impl IntoIterator<Item = &'r [u8]>,
) -> Result<(), ChainError> {
    let mut expected = next_seq;
    let mut prev = prev_hash;
    for record in records {
        prev = check_link(record, expected, &prev).map_err(|kind| ChainError {
            position: expected,
            kind,
        })?;
        expected = expected.saturating_add(1);
    }
    Ok(())
}

//! The status every entry point returns: 0 for success, a stable positive code per error.
//!
//! Codes never change meaning once released; new ones are added at the end. A test pins the
//! table, and `docs/embedding.md` lists it.

use core::ffi::CStr;

use autonomic_core::engine::{
    BuildError, CommandError, EngineConfigError, IngestError, ModeError, ReloadError,
};
use autonomic_core::entitlement::EntitlementError;
use autonomic_core::governor::ThresholdError;
use autonomic_core::receipt::{ChainError, ChainErrorKind};

/// What an entry point did: `AUTONOMIC_STATUS_OK` or why it refused (nothing changed then).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicStatus {
    /// Done.
    Ok = 0,
    /// Nothing to poll (not an error: the queue is empty).
    Empty = 1,
    /// A required pointer was null.
    NullPointer = 2,
    /// The output buffer is too small; nothing was consumed.
    BufferTooSmall = 3,
    /// A pointer is not aligned for what it points to.
    Misaligned = 4,
    /// A string argument is not UTF-8.
    InvalidUtf8 = 5,
    /// An argument is out of range (an unknown enum value, a length over the bound, a size
    /// that overflows).
    InvalidArgument = 6,
    /// A bug inside the library: it panicked, the panic was caught at the boundary. The
    /// engine must not be used again.
    Panicked = 7,
    /// A tenant id is not 1..=256 visible-ASCII bytes.
    InvalidTenantId = 8,
    /// The signal's metric is not a known kind.
    InvalidMetricName = 9,
    /// The signal's value is not finite or outside 0..=100.
    ValueOutOfBounds = 10,
    /// The signal's timestamp is too far from the clock.
    InvalidTimestamp = 11,
    /// No entitlement for this tenant.
    TenantNotFound = 12,
    /// The entitlement has expired.
    EntitlementExpired = 13,
    /// The entitlement is Pending, Paused or Terminated.
    EntitlementNotActive = 14,
    /// The output queues are full: drain them and retry.
    Busy = 15,
    /// Not `starter`, `pro` or `enterprise`.
    InvalidSku = 16,
    /// The entitlement command is not allowed from the current state.
    InvalidStateTransition = 17,
    /// The tenant table is full.
    TenantTableFull = 18,
    /// The outcome names a receipt that is not the action in flight.
    StaleOutcome = 19,
    /// An action is already in flight for the tenant.
    AlreadyExecuting = 20,
    /// No completed action with this receipt id is remembered.
    ReceiptNotFound = 21,
    /// The undo token is longer than 64 bytes.
    UndoTooLarge = 22,
    /// The action's percent is over 100 or its revision not 1..=128 visible-ASCII bytes.
    InvalidAction = 23,
    /// The capacities give storage the engine cannot use (e.g. no tenant slot).
    InvalidCapacities = 24,
    /// A record is not a valid, canonical receipt.
    Malformed = 25,
    /// A record's seq is not the next one.
    SeqMismatch = 26,
    /// A record's prev_hash is not the previous record's hash.
    BrokenLink = 27,
    /// A record's hash is not the SHA-256 of its other fields.
    BadHash = 28,
    /// The configuration's thresholds break `recover <= warn < intervene <= refuse <= 100`
    /// or `sustain >= 1`.
    InvalidThresholds = 29,
    /// A configured action timeout is outside 1..=3 600 000 ms.
    InvalidActionTimeout = 30,
    /// A configured breaker has `breaker_failures` above 1 000 or `breaker_cooldown_ms`
    /// outside 1..=3 600 000.
    InvalidBreaker = 31,
    /// A circuit breaker is on but the receipt ring (`caps.receipts`) has no room for the
    /// longest chain of receipts one input may then append (16 receipts always have).
    BreakerRingTooSmall = 32,
    /// A configured rate limit is outside `rate_per_s` 1..=1 000 000 or `rate_burst`
    /// 1..=65 535.
    InvalidRateLimit = 33,
    /// A configured action percent is outside 1..=100.
    InvalidActionPercent = 34,
    /// A configured governor timing is above 86 400 000 ms.
    InvalidTiming = 35,
}

impl AutonomicStatus {
    /// Every status, in code order.
    ///
    /// cbindgen:ignore
    pub const ALL: [AutonomicStatus; 36] = [
        Self::Ok,
        Self::Empty,
        Self::NullPointer,
        Self::BufferTooSmall,
        Self::Misaligned,
        Self::InvalidUtf8,
        Self::InvalidArgument,
        Self::Panicked,
        Self::InvalidTenantId,
        Self::InvalidMetricName,
        Self::ValueOutOfBounds,
        Self::InvalidTimestamp,
        Self::TenantNotFound,
        Self::EntitlementExpired,
        Self::EntitlementNotActive,
        Self::Busy,
        Self::InvalidSku,
        Self::InvalidStateTransition,
        Self::TenantTableFull,
        Self::StaleOutcome,
        Self::AlreadyExecuting,
        Self::ReceiptNotFound,
        Self::UndoTooLarge,
        Self::InvalidAction,
        Self::InvalidCapacities,
        Self::Malformed,
        Self::SeqMismatch,
        Self::BrokenLink,
        Self::BadHash,
        Self::InvalidThresholds,
        Self::InvalidActionTimeout,
        Self::InvalidBreaker,
        Self::BreakerRingTooSmall,
        Self::InvalidRateLimit,
        Self::InvalidActionPercent,
        Self::InvalidTiming,
    ];

    /// The code returned across the boundary.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status's name: the core's error name where there is one.
    pub const fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"Ok",
            Self::Empty => c"Empty",
            Self::NullPointer => c"NullPointer",
            Self::BufferTooSmall => c"BufferTooSmall",
            Self::Misaligned => c"Misaligned",
            Self::InvalidUtf8 => c"InvalidUtf8",
            Self::InvalidArgument => c"InvalidArgument",
            Self::Panicked => c"Panicked",
            Self::InvalidTenantId => c"InvalidTenantId",
            Self::InvalidMetricName => c"InvalidMetricName",
            Self::ValueOutOfBounds => c"ValueOutOfBounds",
            Self::InvalidTimestamp => c"InvalidTimestamp",
            Self::TenantNotFound => c"TenantNotFound",
            Self::EntitlementExpired => c"EntitlementExpired",
            Self::EntitlementNotActive => c"EntitlementNotActive",
            Self::Busy => c"Busy",
            Self::InvalidSku => c"InvalidSku",
            Self::InvalidStateTransition => c"InvalidStateTransition",
            Self::TenantTableFull => c"TenantTableFull",
            Self::StaleOutcome => c"StaleOutcome",
            Self::AlreadyExecuting => c"AlreadyExecuting",
            Self::ReceiptNotFound => c"ReceiptNotFound",
            Self::UndoTooLarge => c"UndoTooLarge",
            Self::InvalidAction => c"InvalidAction",
            Self::InvalidCapacities => c"InvalidCapacities",
            Self::Malformed => c"Malformed",
            Self::SeqMismatch => c"SeqMismatch",
            Self::BrokenLink => c"BrokenLink",
            Self::BadHash => c"BadHash",
            Self::InvalidThresholds => c"InvalidThresholds",
            Self::InvalidActionTimeout => c"InvalidActionTimeout",
            Self::InvalidBreaker => c"InvalidBreaker",
            Self::BreakerRingTooSmall => c"BreakerRingTooSmall",
            Self::InvalidRateLimit => c"InvalidRateLimit",
            Self::InvalidActionPercent => c"InvalidActionPercent",
            Self::InvalidTiming => c"InvalidTiming",
        }
    }

    /// The status named `name` (a core error's `name()`); `None` for a name it does not have.
    pub fn from_name(name: &str) -> Option<AutonomicStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.name().to_bytes() == name.as_bytes())
    }

    /// The status of a core error, by its name (`InvalidArgument` for a name with no code,
    /// which a test rules out).
    fn named(name: &str) -> AutonomicStatus {
        Self::from_name(name).unwrap_or(Self::InvalidArgument)
    }
}

impl From<IngestError> for AutonomicStatus {
    fn from(e: IngestError) -> Self {
        Self::named(e.name())
    }
}

impl From<EntitlementError> for AutonomicStatus {
    fn from(e: EntitlementError) -> Self {
        Self::named(e.name())
    }
}

impl From<CommandError> for AutonomicStatus {
    fn from(e: CommandError) -> Self {
        Self::named(e.name())
    }
}

impl From<ChainError> for AutonomicStatus {
    fn from(e: ChainError) -> Self {
        match e.kind {
            ChainErrorKind::Malformed => Self::Malformed,
            ChainErrorKind::SeqMismatch { .. } => Self::SeqMismatch,
            ChainErrorKind::BrokenLink => Self::BrokenLink,
            ChainErrorKind::BadHash => Self::BadHash,
        }
    }
}

impl From<BuildError> for AutonomicStatus {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Config(e) => e.into(),
            BuildError::Tenants(_)
            | BuildError::Dedup(_)
            | BuildError::Ledger(_)
            | BuildError::Timers(_) => Self::InvalidCapacities,
        }
    }
}

impl From<EngineConfigError> for AutonomicStatus {
    fn from(e: EngineConfigError) -> Self {
        match e {
            EngineConfigError::ActionTimeout { .. } => Self::InvalidActionTimeout,
            EngineConfigError::Breaker { .. } => Self::InvalidBreaker,
            EngineConfigError::BreakerRingTooSmall { .. } => Self::BreakerRingTooSmall,
            EngineConfigError::RateLimit { .. } => Self::InvalidRateLimit,
            EngineConfigError::ActionPercent { .. } => Self::InvalidActionPercent,
            EngineConfigError::Timing { .. } => Self::InvalidTiming,
        }
    }
}

impl From<ThresholdError> for AutonomicStatus {
    fn from(_: ThresholdError) -> Self {
        Self::InvalidThresholds
    }
}

impl From<ReloadError> for AutonomicStatus {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::Invalid(e) => e.into(),
            ReloadError::Busy => Self::Busy,
        }
    }
}

impl From<ModeError> for AutonomicStatus {
    fn from(e: ModeError) -> Self {
        Self::named(e.name())
    }
}

/// The status of an outcome: `Ok` or the error's.
pub fn status_of<T, E: Into<AutonomicStatus>>(result: Result<T, E>) -> AutonomicStatus {
    match result {
        Ok(_) => AutonomicStatus::Ok,
        Err(e) => e.into(),
    }
}

impl AutonomicStatus {
    /// `Ok(())` for `Ok`, else `Err(self)`.
    pub fn into_result(self) -> Result<(), AutonomicStatus> {
        match self {
            Self::Ok => Ok(()),
            other => Err(other),
        }
    }
}

/// The static, NUL-terminated name of a status code (`"Unknown"` for a code with none).
#[unsafe(no_mangle)]
pub extern "C" fn autonomic_error_name(code: i32) -> *const core::ffi::c_char {
    AutonomicStatus::ALL
        .into_iter()
        .find(|s| s.code() == code)
        .map_or(c"Unknown", AutonomicStatus::name)
        .as_ptr()
}

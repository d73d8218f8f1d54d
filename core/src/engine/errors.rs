//! Why an engine input was refused: one small error enum per kind of input.

use crate::entitlement::AdmitError;
use crate::limits::UNDO_BYTES_MAX;
use crate::monitor::SignalError;
use crate::receipt::ChainError;

/// Why a signal was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Validation of the signal's fields (`docs/signals.md#order-of-checks`).
    #[error(transparent)]
    Invalid(#[from] SignalError),
    /// No entitlement for this tenant.
    #[error("{}", AdmitError::TenantNotFound)]
    TenantNotFound,
    /// The entitlement has expired.
    #[error("{}", AdmitError::EntitlementExpired)]
    EntitlementExpired,
    /// The entitlement is Pending, Paused or Terminated.
    #[error("{}", AdmitError::EntitlementNotActive)]
    EntitlementNotActive,
    /// The output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
}

impl IngestError {
    /// Every error, in index order: each [`SignalError`], then the engine's own.
    pub const ALL: [IngestError; SignalError::ALL.len() + 4] = [
        IngestError::Invalid(SignalError::InvalidTenantId),
        IngestError::Invalid(SignalError::InvalidMetricName),
        IngestError::Invalid(SignalError::ValueOutOfBounds),
        IngestError::Invalid(SignalError::InvalidTimestamp),
        IngestError::TenantNotFound,
        IngestError::EntitlementExpired,
        IngestError::EntitlementNotActive,
        IngestError::Busy,
    ];

    /// The error's position in [`IngestError::ALL`].
    pub const fn index(self) -> usize {
        const OWN: usize = SignalError::ALL.len();
        match self {
            IngestError::Invalid(e) => e.index(),
            IngestError::TenantNotFound => OWN,
            IngestError::EntitlementExpired => OWN + 1,
            IngestError::EntitlementNotActive => OWN + 2,
            IngestError::Busy => OWN + 3,
        }
    }

    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            IngestError::Invalid(e) => e.name(),
            IngestError::TenantNotFound => "TenantNotFound",
            IngestError::EntitlementExpired => "EntitlementExpired",
            IngestError::EntitlementNotActive => "EntitlementNotActive",
            IngestError::Busy => "Busy",
        }
    }
}

/// Why an outcome, a reset, an action request or a rollback was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// The outcome names a receipt that is not the tenant's action in flight.
    #[error("receipt {0} is not the action in flight")]
    StaleOutcome(u64),
    /// An action is already in flight for the tenant (or a rollback for the receipt).
    #[error("action {0} is still executing")]
    AlreadyExecuting(u64),
    /// No completed action with this receipt id is remembered.
    #[error("no completed action with receipt {0}")]
    ReceiptNotFound(u64),
    /// An outcome's undo token is longer than [`UNDO_BYTES_MAX`] bytes (its length).
    #[error("undo token of {0} bytes is longer than {UNDO_BYTES_MAX}")]
    UndoTooLarge(usize),
    /// The output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
    /// A queued action does not fit: the tenant has
    /// [`crate::limits::QUEUED_PER_TENANT_MAX`] queued, or the queue table is full.
    #[error("the action queue is full")]
    QueueFull,
}

impl CommandError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            CommandError::TenantNotFound => "TenantNotFound",
            CommandError::StaleOutcome(_) => "StaleOutcome",
            CommandError::AlreadyExecuting(_) => "AlreadyExecuting",
            CommandError::ReceiptNotFound(_) => "ReceiptNotFound",
            CommandError::UndoTooLarge(_) => "UndoTooLarge",
            CommandError::Busy => "Busy",
            CommandError::QueueFull => "QueueFull",
        }
    }
}

/// Why a record could not be restored; the engine must not be used after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The record does not continue the chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain is intact but the receipt contradicts the state before it (e.g. a governor
    /// change for a tenant with no entitlement).
    #[error("receipt {0} does not follow from the receipts before it")]
    Inconsistent(u64),
    /// The receipt adds a tenant that does not fit: the engine's tenant capacity or id bytes
    /// are smaller than those of the engine that wrote it.
    #[error(
        "receipt {0} adds a tenant that does not fit: the tenant table (max_tenants) or its id bytes (tenant_id_bytes) are smaller than when the ledger was written"
    )]
    TenantTableFull(u64),
    /// The receipt starts a pending warning that does not fit: the engine's timer table is
    /// full (smaller than that of the engine that wrote it, or holding Refuse timers
    /// `refuse_max_ms` did not start then).
    #[error(
        "receipt {0} starts a governor timer that does not fit: the timer table (max_timers) holds fewer timers than the ledger's pending ones need"
    )]
    TimerTableFull(u64),
}

/// Why [`crate::engine::Engine::new`] refused to build an engine; nothing was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] super::EngineConfigError),
    /// The tenant table's storage.
    #[error(transparent)]
    Tenants(#[from] super::TenantShapeError),
    /// The deduplicator's storage.
    #[error(transparent)]
    Dedup(#[from] crate::dedup::DedupShapeError),
    /// The ledger's storage.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerShapeError),
    /// The timer table's storage has this many entries: it needs
    /// 1..=[`crate::limits::TIMERS_MAX`].
    #[error("the timer table's storage has {0} entries: it needs 1..={max}", max = crate::limits::TIMERS_MAX)]
    Timers(usize),
}

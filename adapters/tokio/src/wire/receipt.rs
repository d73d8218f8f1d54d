//! Receipts as JSON lines (`autonomic ledger`, `GET /v1/ledger`), and the in-memory
//! window's verification (`GET /v1/ledger/verify`).

use autonomic_core::entitlement::CommandKind;
use autonomic_core::ledger::Ledger;
use autonomic_core::receipt::to_hex;
use autonomic_core::{Cause, EntitlementState, Event, Receipt};
use serde::Serialize;

use super::ActionJson;

/// A receipt as a JSON line (`autonomic ledger`, `GET /v1/ledger`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptJson {
    /// Position in the chain.
    pub seq: u64,
    /// When it was appended.
    pub ts_ms: u64,
    /// The tenant.
    pub tenant: String,
    /// What happened, tagged by `type`.
    pub event: EventJson,
    /// The previous receipt's hash, 64 lowercase hex.
    pub prev_hash: String,
    /// This receipt's hash, 64 lowercase hex.
    pub hash: String,
}

impl From<&Receipt> for ReceiptJson {
    fn from(r: &Receipt) -> Self {
        Self {
            seq: r.seq,
            ts_ms: r.ts_ms,
            tenant: r.tenant.as_str().to_owned(),
            event: EventJson::from(&r.event),
            prev_hash: to_hex(&r.prev_hash).as_str().to_owned(),
            hash: to_hex(&r.hash).as_str().to_owned(),
        }
    }
}

/// A receipt's event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventJson {
    /// A governor change.
    Governor {
        /// Why.
        cause: CauseJson,
        /// State before.
        from: &'static str,
        /// State after.
        to: &'static str,
        /// c after.
        consecutive_high: u8,
    },
    /// An action dispatched; the receipt's seq is its id.
    ActionDispatched {
        /// The action.
        action: ActionJson,
        /// Its deadline.
        deadline_ms: u64,
        /// Requested by an operator.
        manual: bool,
    },
    /// An action ended.
    ActionCompleted {
        /// The action's receipt id.
        receipt: u64,
        /// `Succeeded`, `Failed`, `ExecutionTimeout`, `Superseded` or `CircuitOpen`.
        outcome: &'static str,
        /// The backend's undo token, lowercase hex (`""` when none).
        undo: String,
    },
    /// A rollback was requested.
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
        /// `provision`, `activate`, `pause`, `resume` or `revoke`.
        command: &'static str,
        /// State before (`null` for a new tenant).
        from: Option<&'static str>,
        /// State after.
        to: &'static str,
        /// SKU after.
        sku: &'static str,
        /// Expiry after (`null`: never).
        expires_at_ms: Option<u64>,
    },
    /// An action kind's circuit breaker changed state.
    Circuit {
        /// The action kind (`throttle`, `pause`, `shed`, `rollback`).
        kind: &'static str,
        /// State after: `closed`, `open` or `half_open`.
        to: &'static str,
    },
    /// A manual action queued behind the one in flight; the receipt's seq is its id.
    ActionQueued {
        /// The action.
        action: ActionJson,
    },
    /// A configuration applied (a system receipt: its tenant is `""`).
    ConfigApplied {
        /// The SHA-256 of the configuration file, 64 lowercase hex.
        hash: String,
    },
    /// An operator set the tenant's mode.
    ModeSet {
        /// `enforce` or `shadow`.
        mode: &'static str,
    },
    /// A shadow tenant's governor ordered this action; it was not dispatched.
    ShadowAction {
        /// The action it would have dispatched.
        action: ActionJson,
        /// Always `true`: nothing ran.
        shadow: bool,
    },
    /// A governor-ordered Pause or Shed announced before its dispatch; the receipt's seq is
    /// the warning's id.
    Warning {
        /// The action that will be dispatched.
        action: ActionJson,
        /// When.
        deadline_ms: u64,
    },
    /// A pending warning was cancelled: its action will not be dispatched.
    WarningCancelled {
        /// The warning's receipt id.
        receipt: u64,
    },
}

/// Why a governor changed, tagged by `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CauseJson {
    /// A signal.
    Signal {
        /// The metric.
        metric: &'static str,
        /// Its normalized value.
        value_pct: u8,
        /// Its timestamp.
        ts_ms: u64,
    },
    /// The action in flight succeeded.
    ActionSucceeded,
    /// The action in flight failed or timed out.
    ActionFailed,
    /// An operator reset.
    Reset,
    /// The tenant had been in Refuse for `refuse_max_ms`.
    RefuseExpired,
}

/// The wire name of an entitlement command.
#[must_use]
pub fn command_name(command: CommandKind) -> &'static str {
    match command {
        CommandKind::Provision => "provision",
        CommandKind::Activate => "activate",
        CommandKind::Pause => "pause",
        CommandKind::Resume => "resume",
        CommandKind::Revoke => "revoke",
    }
}

impl From<&Event> for EventJson {
    fn from(event: &Event) -> Self {
        match event {
            Event::Governor {
                cause,
                from,
                to,
                consecutive_high,
            } => EventJson::Governor {
                cause: match *cause {
                    Cause::Signal {
                        metric,
                        value_pct,
                        ts_ms,
                    } => CauseJson::Signal {
                        metric: metric.as_str(),
                        value_pct,
                        ts_ms,
                    },
                    Cause::ActionSucceeded => CauseJson::ActionSucceeded,
                    Cause::ActionFailed => CauseJson::ActionFailed,
                    Cause::Reset => CauseJson::Reset,
                    Cause::RefuseExpired => CauseJson::RefuseExpired,
                },
                from: from.as_str(),
                to: to.as_str(),
                consecutive_high: *consecutive_high,
            },
            Event::ActionDispatched {
                action,
                deadline_ms,
                manual,
            } => EventJson::ActionDispatched {
                action: ActionJson::from(action),
                deadline_ms: *deadline_ms,
                manual: *manual,
            },
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => EventJson::ActionCompleted {
                receipt: *receipt,
                outcome: outcome.as_str(),
                undo: hex::encode(undo),
            },
            Event::RollbackRequested { receipt } => {
                EventJson::RollbackRequested { receipt: *receipt }
            }
            Event::RollbackCompleted { receipt, succeeded } => EventJson::RollbackCompleted {
                receipt: *receipt,
                succeeded: *succeeded,
            },
            Event::Entitlement {
                command,
                from,
                to,
                sku,
                expires_at_ms,
            } => EventJson::Entitlement {
                command: command_name(*command),
                from: from.map(EntitlementState::as_str),
                to: to.as_str(),
                sku: sku.as_str(),
                expires_at_ms: *expires_at_ms,
            },
            Event::Circuit { kind, to } => EventJson::Circuit {
                kind: kind.as_str(),
                to: to.as_str(),
            },
            Event::ActionQueued { action } => EventJson::ActionQueued {
                action: ActionJson::from(action),
            },
            Event::ConfigApplied { hash } => EventJson::ConfigApplied {
                hash: to_hex(hash).as_str().to_owned(),
            },
            Event::ModeSet { mode } => EventJson::ModeSet {
                mode: mode.as_str(),
            },
            Event::ShadowAction { action } => EventJson::ShadowAction {
                action: ActionJson::from(action),
                shadow: true,
            },
            Event::Warning {
                action,
                deadline_ms,
            } => EventJson::Warning {
                action: ActionJson::from(action),
                deadline_ms: *deadline_ms,
            },
            Event::WarningCancelled { receipt } => {
                EventJson::WarningCancelled { receipt: *receipt }
            }
        }
    }
}

/// The in-memory ledger window's verification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowVerify {
    /// Receipts retained in memory.
    pub retained: u64,
    /// Seq of the oldest retained receipt (or the next seq when none).
    pub first_seq: u64,
    /// Seq of the newest receipt, if any.
    pub head_seq: Option<u64>,
    /// Hash of the newest receipt (genesis zeros before any), 64 hex.
    pub head_hash: String,
    /// The first bad position, if the window does not verify.
    pub error: Option<String>,
}

impl WindowVerify {
    /// Verifies the engine's in-memory window.
    #[must_use]
    pub fn of(ledger: &Ledger<'_>) -> Self {
        let (first_seq, _) = ledger.anchor();
        Self {
            retained: ledger.len() as u64,
            first_seq,
            head_seq: ledger.next_seq().checked_sub(1),
            head_hash: to_hex(&ledger.head_hash()).as_str().to_owned(),
            error: ledger.verify().err().map(|e| e.to_string()),
        }
    }
}

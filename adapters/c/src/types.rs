//! The plain C structs and enum values crossing the boundary, and their conversions from the
//! core's types.

use autonomic_core::engine::{ActionCommand, TenantView, Transition};
use autonomic_core::limits::{REVISION_MAX_BYTES, TENANT_ID_MAX_BYTES, UNDO_BYTES_MAX};
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, ActionKind};

/// Bytes of [`AutonomicAction::tenant`]: the longest tenant id.
pub const AUTONOMIC_TENANT_ID_MAX_BYTES: usize = 256;
/// Bytes of [`AutonomicAction::revision`]: the longest rollback revision.
pub const AUTONOMIC_REVISION_MAX_BYTES: usize = 128;
/// Bytes of [`AutonomicAction::undo`]: the longest undo token.
pub const AUTONOMIC_UNDO_MAX_BYTES: usize = 64;
/// The largest receipt, in bytes: a record buffer of this size always suffices.
pub const AUTONOMIC_RECORD_MAX_BYTES: usize = 512;
/// "Never" for an expiry, and "none" for a receipt id: `UINT64_MAX`.
pub const AUTONOMIC_NONE: u64 = 0xFFFF_FFFF_FFFF_FFFF;

const _: () = assert!(AUTONOMIC_TENANT_ID_MAX_BYTES == TENANT_ID_MAX_BYTES);
const _: () = assert!(AUTONOMIC_REVISION_MAX_BYTES == REVISION_MAX_BYTES);
const _: () = assert!(AUTONOMIC_UNDO_MAX_BYTES == UNDO_BYTES_MAX);
const _: () = assert!(AUTONOMIC_RECORD_MAX_BYTES == autonomic_core::limits::RECORD_MAX_BYTES);
const _: () = assert!(AUTONOMIC_NONE == u64::MAX);

/// How much an engine holds (the core's `Capacities`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutonomicCapacities {
    /// Tenants at once.
    pub tenants: usize,
    /// Bytes of tenant ids, all tenants together.
    pub tenant_id_bytes: usize,
    /// Signal ids the deduplicator remembers.
    pub dedup_ids: usize,
    /// Receipts kept in memory (the unpolled ones among them).
    pub receipts: usize,
    /// Actions executing at once.
    pub in_flight: usize,
    /// Completed actions remembered for rollback.
    pub rollbackable: usize,
    /// Manual actions queued behind those in flight.
    pub queued: usize,
    /// The governor's timers held at once (Refuse timers and pending warnings).
    pub timers: usize,
}

impl From<Capacities> for AutonomicCapacities {
    fn from(c: Capacities) -> Self {
        Self {
            tenants: c.tenants,
            tenant_id_bytes: c.tenant_id_bytes,
            dedup_ids: c.dedup_ids,
            receipts: c.receipts,
            in_flight: c.in_flight,
            rollbackable: c.rollbackable,
            queued: c.queued,
            timers: c.timers,
        }
    }
}

impl From<AutonomicCapacities> for Capacities {
    fn from(c: AutonomicCapacities) -> Self {
        Self {
            tenants: c.tenants,
            tenant_id_bytes: c.tenant_id_bytes,
            dedup_ids: c.dedup_ids,
            receipts: c.receipts,
            in_flight: c.in_flight,
            rollbackable: c.rollbackable,
            queued: c.queued,
            timers: c.timers,
        }
    }
}

/// Governor states, as `uint32_t` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicGovernorState {
    /// Below the warn threshold.
    Stable = 0,
    /// Elevated.
    Warn = 1,
    /// Throttling.
    Intervene = 2,
    /// Sustained or failed intervention.
    Degrade = 3,
    /// Shedding load; only a reset leaves.
    Refuse = 4,
}

/// Entitlement states, as `uint32_t` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicEntitlementState {
    /// Provisioned, not yet active.
    Pending = 0,
    /// Served.
    Active = 1,
    /// Suspended.
    Paused = 2,
    /// Past its expiry.
    Expired = 3,
    /// Revoked for good.
    Terminated = 4,
}

/// Tiers, as `uint32_t` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicSku {
    /// `starter`
    Starter = 0,
    /// `pro`
    Pro = 1,
    /// `enterprise`
    Enterprise = 2,
}

/// Entitlement commands, as the `uint32_t` argument of `autonomic_entitlement`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicEntitlementCommand {
    /// none → Pending (uses `sku`).
    Provision = 0,
    /// none, Pending, Expired → Active; Active → Active (uses `sku`, `expires_at_ms`).
    Activate = 1,
    /// Active → Paused.
    Pause = 2,
    /// Paused → Active.
    Resume = 3,
    /// Anything but Terminated → Terminated.
    Revoke = 4,
}

/// Action kinds, as `uint32_t` values (0: no action).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicActionKind {
    /// No action.
    None = 0,
    /// Throttle to `percent`.
    Throttle = 1,
    /// Pause.
    Pause = 2,
    /// Shed `percent` of admissions.
    Shed = 3,
    /// Roll back to `revision`.
    Rollback = 4,
}

/// What an [`AutonomicAction`] asks of the caller, as `uint32_t` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicCommandKind {
    /// Run the action; report with `autonomic_outcome` quoting `receipt`.
    Run = 0,
    /// Stop the action with `receipt`; report nothing.
    Cancel = 1,
    /// Undo the completed action `receipt` (with `undo`); report with
    /// `autonomic_rollback_outcome`.
    Rollback = 2,
}

/// The C value of an action kind.
pub const fn kind_code(kind: ActionKind) -> u32 {
    kind.index() as u32 + 1
}

/// What one governor event did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutonomicTransition {
    /// The state before (`AutonomicGovernorState`).
    pub from: u32,
    /// The state after (`AutonomicGovernorState`).
    pub to: u32,
    /// `consecutive_high` after.
    pub consecutive_high: u8,
    /// The action dispatched (`AutonomicActionKind`; 0: none).
    pub action_kind: u32,
    /// Its percent (Throttle, Shed; else 0).
    pub action_percent: u8,
    /// Its receipt id (`AUTONOMIC_NONE` when no action).
    pub receipt: u64,
}

impl From<&Transition> for AutonomicTransition {
    fn from(t: &Transition) -> Self {
        let action = t.dispatched();
        let action = action.as_ref();
        Self {
            from: t.from.index() as u32,
            to: t.to.index() as u32,
            consecutive_high: t.consecutive_high,
            action_kind: action.map_or(0, |a| kind_code(a.kind())),
            action_percent: action.and_then(Action::percent).unwrap_or(0),
            receipt: t.receipt.unwrap_or(AUTONOMIC_NONE),
        }
    }
}

/// What became of an accepted signal.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutonomicSignalResult {
    /// Seen before: not governed (`transition` is all zero).
    pub duplicate: bool,
    /// The governor's step, when not a duplicate.
    pub transition: AutonomicTransition,
}

/// An action command for the caller's actuators.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutonomicAction {
    /// `AutonomicCommandKind`.
    pub command: u32,
    /// The action's receipt id.
    pub receipt: u64,
    /// When the engine times a Run out (0 otherwise).
    pub deadline_ms: u64,
    /// `AutonomicActionKind` (0 for a Cancel).
    pub kind: u32,
    /// Throttle's and Shed's percent (else 0).
    pub percent: u8,
    /// Bytes of `tenant` in use.
    pub tenant_len: usize,
    /// The tenant id (not NUL-terminated).
    pub tenant: [u8; AUTONOMIC_TENANT_ID_MAX_BYTES],
    /// Bytes of `revision` in use (a Rollback action's; else 0).
    pub revision_len: usize,
    /// The revision (not NUL-terminated).
    pub revision: [u8; AUTONOMIC_REVISION_MAX_BYTES],
    /// Bytes of `undo` in use (a Rollback command's; else 0).
    pub undo_len: usize,
    /// The undo token the backend returned with the action's success.
    pub undo: [u8; AUTONOMIC_UNDO_MAX_BYTES],
}

/// `src` copied to the front of `dst`, and its length (at most `dst.len()`).
fn copy_into(dst: &mut [u8], src: &[u8]) -> usize {
    let n = src.len().min(dst.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    n
}

impl AutonomicAction {
    /// An all-zero action (a Run of nothing): what C gets for `{0}`.
    pub const ZERO: AutonomicAction = AutonomicAction {
        command: 0,
        receipt: 0,
        deadline_ms: 0,
        kind: 0,
        percent: 0,
        tenant_len: 0,
        tenant: [0; AUTONOMIC_TENANT_ID_MAX_BYTES],
        revision_len: 0,
        revision: [0; AUTONOMIC_REVISION_MAX_BYTES],
        undo_len: 0,
        undo: [0; AUTONOMIC_UNDO_MAX_BYTES],
    };

    fn set_action(&mut self, action: &Action) {
        self.kind = kind_code(action.kind());
        self.percent = action.percent().unwrap_or(0);
        let revision = action.revision().unwrap_or("");
        self.revision_len = copy_into(&mut self.revision, revision.as_bytes());
    }
}

impl From<&ActionCommand> for AutonomicAction {
    fn from(command: &ActionCommand) -> Self {
        let mut out = Self::ZERO;
        let tenant = match command {
            ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            } => {
                out.command = AutonomicCommandKind::Run as u32;
                out.receipt = *receipt;
                out.deadline_ms = *deadline_ms;
                out.set_action(action);
                tenant
            }
            ActionCommand::Cancel { receipt, tenant } => {
                out.command = AutonomicCommandKind::Cancel as u32;
                out.receipt = *receipt;
                tenant
            }
            ActionCommand::Rollback {
                receipt,
                tenant,
                action,
                undo,
            } => {
                out.command = AutonomicCommandKind::Rollback as u32;
                out.receipt = *receipt;
                out.set_action(action);
                out.undo_len = copy_into(&mut out.undo, undo);
                tenant
            }
        };
        out.tenant_len = copy_into(&mut out.tenant, tenant.as_bytes());
        out
    }
}

/// A tenant, as `autonomic_tenant` shows it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutonomicTenantView {
    /// `AutonomicEntitlementState` at the `now_ms` asked about.
    pub entitlement: u32,
    /// `AutonomicSku`.
    pub sku: u32,
    /// When the entitlement expires (`AUTONOMIC_NONE`: never).
    pub expires_at_ms: u64,
    /// `AutonomicGovernorState`.
    pub state: u32,
    /// The governor's consecutive-high count.
    pub consecutive_high: u8,
    /// When the governor entered its state.
    pub entered_at_ms: u64,
    /// Milliseconds in that state at the `now_ms` asked about.
    pub time_in_state_ms: u64,
    /// The action in flight (`AutonomicActionKind`; 0: none).
    pub in_flight_kind: u32,
    /// Its receipt id (`AUTONOMIC_NONE`: none).
    pub in_flight_receipt: u64,
    /// Its deadline (0: none).
    pub in_flight_deadline_ms: u64,
    /// The action enforced at admission (`AutonomicActionKind`; 0: none).
    pub enforced_kind: u32,
    /// Its percent.
    pub enforced_percent: u8,
    /// Its receipt id (`AUTONOMIC_NONE`: none).
    pub enforced_receipt: u64,
    /// Units in use: cpu, memory, requests, storage.
    pub usage: [u16; 4],
}

impl From<&TenantView<'_>> for AutonomicTenantView {
    fn from(v: &TenantView<'_>) -> Self {
        let in_flight = v.in_flight;
        Self {
            entitlement: v.entitlement as u32,
            sku: v.sku as u32,
            expires_at_ms: v.expires_at_ms.unwrap_or(AUTONOMIC_NONE),
            state: v.state.index() as u32,
            consecutive_high: v.consecutive_high,
            entered_at_ms: v.entered_at_ms,
            time_in_state_ms: v.time_in_state_ms,
            in_flight_kind: in_flight.map_or(0, |f| kind_code(f.action.kind())),
            in_flight_receipt: in_flight.map_or(AUTONOMIC_NONE, |f| f.receipt),
            in_flight_deadline_ms: in_flight.map_or(0, |f| f.deadline_ms),
            enforced_kind: v.enforced.map_or(0, |e| kind_code(e.kind)),
            enforced_percent: v.enforced.map_or(0, |e| e.percent),
            enforced_receipt: v.enforced.map_or(AUTONOMIC_NONE, |e| e.receipt),
            usage: v.usage,
        }
    }
}

//! The engine's entry points: sizing, init and fini, the inputs, the drains and the getter.
//!
//! # Safety (all of them)
//!
//! Every pointer argument is null or valid for what its type says for the whole call (reads
//! of `len` bytes for a `(pointer, length)` pair, one write of the struct for an output);
//! `e` came from `autonomic_engine_init` and was not finished; one thread at a time.

use autonomic_core::engine::{EngineConfig, SignalResult};
use autonomic_core::storage::Capacities;
use autonomic_core::{Action, EntitlementCommand, RawSignal};

use crate::memory::{Layout, init, read_caps};
use crate::status::{AutonomicStatus, status_of};
use crate::types::{
    AUTONOMIC_NONE, AutonomicAction, AutonomicActionKind, AutonomicCapacities,
    AutonomicEntitlementCommand, AutonomicSignalResult, AutonomicTenantView, AutonomicTransition,
};
use crate::{AutonomicEngine, engine_mut, guard, optional_out, out, put, str_arg};

/// Writes the default capacities (1 024 tenants, 650 000 dedup ids, 1 024 receipts, 64 in
/// flight, 64 rollbackable, 64 queued, 128 timers) to `out_caps`.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_capacities_default(out_caps: *mut AutonomicCapacities) -> i32 {
    guard(|| {
        let p = out(out_caps)?;
        // SAFETY: checked; valid for a write by the caller's contract.
        unsafe { put(Some(p), Capacities::default().into()) };
        Ok(())
    })
}

/// The size and alignment of the one block an engine of `caps` lives in (the engine value
/// and all its storage).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_storage_size(
    caps: *const AutonomicCapacities,
    out_size: *mut usize,
    out_align: *mut usize,
) -> i32 {
    guard(|| {
        let (size, align) = (out(out_size)?, out(out_align)?);
        let caps = read_caps(caps)?;
        let layout = Layout::of(&caps).ok_or(AutonomicStatus::InvalidArgument)?;
        // SAFETY: both checked; valid for writes by the caller's contract.
        unsafe {
            put(Some(size), layout.size);
            put(Some(align), layout.align);
        }
        Ok(())
    })
}

/// Builds an engine of `caps` (default configuration) in the block `mem[..len]`, aligned as
/// `autonomic_storage_size` says, and writes its handle to `out_engine`. The block must stay
/// valid, unmoved and untouched until `autonomic_engine_fini`.
///
/// # Safety
///
/// See the module doc; `mem` is valid for writes of `len` bytes until the engine is finished.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_engine_init(
    mem: *mut u8,
    len: usize,
    caps: *const AutonomicCapacities,
    out_engine: *mut *mut AutonomicEngine,
) -> i32 {
    // SAFETY: the caller's contract.
    guard(|| unsafe { init(mem, len, caps, EngineConfig::default(), out_engine) })
}

/// Ends an engine (drops it in place); its block may then be freed. Null is ignored.
///
/// # Safety
///
/// See the module doc; `e` is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_engine_fini(e: *mut AutonomicEngine) -> i32 {
    guard(|| {
        let Ok(e) = out(e) else {
            return Ok(());
        };
        // SAFETY: `e` is a live engine the caller gives up.
        unsafe { core::ptr::drop_in_place(e) };
        Ok(())
    })
}

/// A signal: `value` (percent) of `metric` for `tenant`, measured at `ts_ms`.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn autonomic_signal(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    metric: *const u8,
    metric_len: usize,
    value: f64,
    ts_ms: u64,
    out_result: *mut AutonomicSignalResult,
) -> i32 {
    guard(|| {
        let result_out = optional_out(out_result)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant, metric) = unsafe {
            (
                engine_mut(e)?,
                str_arg(tenant, tenant_len)?,
                str_arg(metric, metric_len)?,
            )
        };
        let raw = RawSignal {
            tenant,
            metric,
            value,
            ts_ms,
        };
        let result = match engine.handle_signal(now_ms, &raw)? {
            SignalResult::Duplicate => AutonomicSignalResult {
                duplicate: true,
                transition: AutonomicTransition::default(),
            },
            SignalResult::Governed(t) => AutonomicSignalResult {
                duplicate: false,
                transition: (&t).into(),
            },
        };
        // SAFETY: checked; valid for a write.
        unsafe { put(result_out, result) };
        Ok(())
    })
}

/// An entitlement command (`AutonomicEntitlementCommand`) for `tenant`. `sku` is read by
/// Provision and Activate, `expires_at_ms` by Activate (`AUTONOMIC_NONE`: never). Writes the
/// new `AutonomicEntitlementState` to `out_state` (may be null).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn autonomic_entitlement(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    command: u32,
    sku: *const u8,
    sku_len: usize,
    expires_at_ms: u64,
    out_state: *mut u32,
) -> i32 {
    guard(|| {
        let state_out = optional_out(out_state)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant, sku) = unsafe {
            (
                engine_mut(e)?,
                str_arg(tenant, tenant_len)?,
                str_arg(sku, sku_len)?,
            )
        };
        let command = entitlement_command(command, sku, expires_at_ms)?;
        let state = engine.handle_entitlement(now_ms, tenant, command)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(state_out, state as u32) };
        Ok(())
    })
}

/// The core's command for a C command value.
pub fn entitlement_command(
    command: u32,
    sku: &str,
    expires_at_ms: u64,
) -> Result<EntitlementCommand<'_>, AutonomicStatus> {
    use AutonomicEntitlementCommand as C;
    let expires_at_ms = (expires_at_ms != AUTONOMIC_NONE).then_some(expires_at_ms);
    Ok(match command {
        c if c == C::Provision as u32 => EntitlementCommand::Provision { sku },
        c if c == C::Activate as u32 => EntitlementCommand::Activate { sku, expires_at_ms },
        c if c == C::Pause as u32 => EntitlementCommand::Pause,
        c if c == C::Resume as u32 => EntitlementCommand::Resume,
        c if c == C::Revoke as u32 => EntitlementCommand::Revoke,
        _ => return Err(AutonomicStatus::InvalidArgument),
    })
}

/// An action's outcome for `tenant`: `receipt` must be the action in flight
/// (`AUTONOMIC_NONE`: whatever is in flight). `undo` (at most 64 bytes) is kept for a
/// rollback of a success. The governor's step goes to `out_transition` (may be null).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn autonomic_outcome(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    receipt: u64,
    succeeded: bool,
    undo: *const u8,
    undo_len: usize,
    out_transition: *mut AutonomicTransition,
) -> i32 {
    guard(|| {
        let transition_out = optional_out(out_transition)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant, undo) = unsafe {
            (
                engine_mut(e)?,
                str_arg(tenant, tenant_len)?,
                crate::bytes_arg(undo, undo_len)?,
            )
        };
        let receipt = (receipt != AUTONOMIC_NONE).then_some(receipt);
        let t = engine.handle_outcome(now_ms, tenant, receipt, succeeded, undo)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(transition_out, (&t).into()) };
        Ok(())
    })
}

/// Times out every action due at `now_ms` (how many goes to `out_count`, may be null), then
/// fires the governor timers due (Refuse's `refuse_max_ms`, a warning's `grace_ms`).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_timeout(
    e: *mut AutonomicEngine,
    now_ms: u64,
    out_count: *mut usize,
) -> i32 {
    guard(|| {
        let count_out = optional_out(out_count)?;
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        let count = engine.handle_timeout(now_ms);
        // SAFETY: checked; valid for a write.
        unsafe { put(count_out, count) };
        Ok(())
    })
}

/// An operator's reset of `tenant`'s governor to Stable; the step goes to `out_transition`
/// (may be null).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_reset(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    out_transition: *mut AutonomicTransition,
) -> i32 {
    guard(|| {
        let transition_out = optional_out(out_transition)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant) = unsafe { (engine_mut(e)?, str_arg(tenant, tenant_len)?) };
        let t = engine.handle_reset(now_ms, tenant)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(transition_out, (&t).into()) };
        Ok(())
    })
}

/// A manual action for `tenant`: `kind` (`AutonomicActionKind`, not None) with `percent`
/// (Throttle, Shed) or `revision` (Rollback). Its receipt id goes to `out_receipt` (may be
/// null).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn autonomic_action(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    kind: u32,
    percent: u8,
    revision: *const u8,
    revision_len: usize,
    out_receipt: *mut u64,
) -> i32 {
    guard(|| {
        let receipt_out = optional_out(out_receipt)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant, revision) = unsafe {
            (
                engine_mut(e)?,
                str_arg(tenant, tenant_len)?,
                str_arg(revision, revision_len)?,
            )
        };
        let action = action_of(kind, percent, revision)?;
        let receipt = engine.handle_action(now_ms, tenant, action)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(receipt_out, receipt) };
        Ok(())
    })
}

/// The core's action for a C kind and its arguments.
pub fn action_of(kind: u32, percent: u8, revision: &str) -> Result<Action, AutonomicStatus> {
    use AutonomicActionKind as K;
    let action = match kind {
        k if k == K::Throttle as u32 => Action::throttle(percent),
        k if k == K::Pause as u32 => Ok(Action::Pause),
        k if k == K::Shed as u32 => Action::shed(percent),
        k if k == K::Rollback as u32 => Action::rollback(revision),
        _ => return Err(AutonomicStatus::InvalidArgument),
    };
    action.map_err(|_| AutonomicStatus::InvalidAction)
}

/// Requests the rollback of the completed action `receipt`; the request's receipt id goes to
/// `out_seq` (may be null).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_rollback(
    e: *mut AutonomicEngine,
    now_ms: u64,
    receipt: u64,
    out_seq: *mut u64,
) -> i32 {
    guard(|| {
        let seq_out = optional_out(out_seq)?;
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        let seq = engine.handle_rollback(now_ms, receipt)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(seq_out, seq) };
        Ok(())
    })
}

/// The outcome of a rollback requested with `autonomic_rollback`.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_rollback_outcome(
    e: *mut AutonomicEngine,
    now_ms: u64,
    receipt: u64,
    succeeded: bool,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        status_of(engine.handle_rollback_outcome(now_ms, receipt, succeeded)).into_result()
    })
}

/// Copies the next receipt's canonical bytes to `buf[..cap]` and its length to `out_len`;
/// `AUTONOMIC_STATUS_EMPTY` when there is none. A buffer shorter than the record (at most
/// `AUTONOMIC_RECORD_MAX_BYTES`) is `AUTONOMIC_STATUS_BUFFER_TOO_SMALL` with the needed
/// length in `out_len`, and the record stays next.
///
/// # Safety
///
/// See the module doc; `buf` is valid for writes of `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_poll_record(
    e: *mut AutonomicEngine,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        let len_out = out(out_len)?;
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        let ledger = engine.ledger();
        let unpolled = ledger.unpolled() as u64;
        if unpolled == 0 {
            return Err(AutonomicStatus::Empty);
        }
        let next = ledger.next_seq().saturating_sub(unpolled);
        let needed = ledger.get(next).map_or(0, <[u8]>::len);
        // SAFETY: checked; valid for a write.
        unsafe { put(Some(len_out), needed) };
        if cap < needed {
            return Err(AutonomicStatus::BufferTooSmall);
        }
        if buf.is_null() {
            return Err(AutonomicStatus::NullPointer);
        }
        let record = engine.poll_record().ok_or(AutonomicStatus::Empty)?;
        debug_assert_eq!(record.len(), needed);
        let n = record.len().min(cap);
        // SAFETY: `buf` is non-null and valid for `cap >= n` bytes; the record is the
        // engine's, in its own block, so the two do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(record.as_ptr(), buf, n) };
        Ok(())
    })
}

/// Writes the next action command to `out_action`; `AUTONOMIC_STATUS_EMPTY` when none.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_poll_action(
    e: *mut AutonomicEngine,
    out_action: *mut AutonomicAction,
) -> i32 {
    guard(|| {
        let action_out = out(out_action)?;
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        let command = engine.poll_action().ok_or(AutonomicStatus::Empty)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(Some(action_out), (&command).into()) };
        Ok(())
    })
}

/// Writes the earliest deadline, of an action in flight or of a governor timer (with
/// `refuse_max_ms` or `grace_ms` on), to `out_deadline_ms` (call `autonomic_timeout` then);
/// `AUTONOMIC_STATUS_EMPTY` when there is none.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_poll_timeout(
    e: *mut AutonomicEngine,
    out_deadline_ms: *mut u64,
) -> i32 {
    guard(|| {
        let deadline_out = out(out_deadline_ms)?;
        // SAFETY: the caller's contract (module doc).
        let engine = unsafe { engine_mut(e) }?;
        let deadline_ms = engine.poll_timeout().ok_or(AutonomicStatus::Empty)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(Some(deadline_out), deadline_ms) };
        Ok(())
    })
}

/// Writes `tenant` as of `now_ms` to `out_view`; `AUTONOMIC_STATUS_TENANT_NOT_FOUND` for an
/// unknown one.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_tenant(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    out_view: *mut AutonomicTenantView,
) -> i32 {
    guard(|| {
        let view_out = out(out_view)?;
        // SAFETY: the caller's contract (module doc).
        let (engine, tenant) = unsafe { (engine_mut(e)?, str_arg(tenant, tenant_len)?) };
        let view = engine
            .tenant(now_ms, tenant)
            .ok_or(AutonomicStatus::TenantNotFound)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(Some(view_out), (&view).into()) };
        Ok(())
    })
}

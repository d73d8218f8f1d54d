//! # autonomic-c
//!
//! The sans-IO core of `autonomic` behind a C ABI (`include/autonomic.h`). The caller owns
//! the memory, the clock and the I/O:
//!
//! 1. size one block with `autonomic_storage_size` and allocate it (any way: `malloc`, a
//!    static array, a region);
//! 2. `autonomic_engine_init` builds the engine inside it (no allocation), with the default
//!    configuration; `autonomic_engine_init_config` with an `AutonomicConfig`
//!    (`autonomic_config_default`, then change what you need);
//! 3. feed inputs (`autonomic_signal`, `autonomic_entitlement`, `autonomic_outcome`, a new
//!    configuration with `autonomic_config`, a tenant's mode with `autonomic_mode`, ...),
//!    each with the caller's `now_ms`;
//! 4. drain `autonomic_poll_record` (persist each receipt), `autonomic_poll_action` (run each
//!    action), and call `autonomic_timeout` at `autonomic_poll_timeout`'s deadline;
//! 5. `autonomic_engine_fini`, then free the block.
//!
//! Every entry point returns an `int32_t` status ([`AutonomicStatus`]): 0 is success; on any
//! other, nothing changed. Every pointer is checked for null and alignment, every length is
//! bounded, strings are UTF-8 `(pointer, length)` pairs (not NUL-terminated), and no panic
//! crosses the boundary: one is caught and reported as `AUTONOMIC_STATUS_PANICKED`.
//!
//! The memory rule: the block must stay valid, unmoved and otherwise untouched from
//! `autonomic_engine_init` to `autonomic_engine_fini`; the engine is not thread-safe (one
//! thread at a time).
#![warn(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use autonomic_core::engine::Engine;

mod config;
mod engine;
pub mod memory;
pub mod status;
pub mod types;
mod verifier;

pub use config::*;
pub use engine::*;
pub use status::{AutonomicStatus, autonomic_error_name};
pub use types::*;
pub use verifier::*;

/// The longest string argument, in bytes (longer ones are `AUTONOMIC_STATUS_INVALID_ARGUMENT`).
pub const AUTONOMIC_STRING_MAX_BYTES: usize = 4096;

/// An engine built in a caller's block (opaque to C).
#[derive(Debug)]
pub struct AutonomicEngine {
    engine: Engine<'static>,
}

/// Runs an entry point's body: its status code, `AUTONOMIC_STATUS_PANICKED` if it panicked.
fn guard(body: impl FnOnce() -> Result<(), AutonomicStatus>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => AutonomicStatus::Ok.code(),
        Ok(Err(status)) => status.code(),
        Err(_) => AutonomicStatus::Panicked.code(),
    }
}

/// `p`, checked: not null, aligned for `T`.
fn checked<T>(p: *const T) -> Result<*const T, AutonomicStatus> {
    if p.is_null() {
        return Err(AutonomicStatus::NullPointer);
    }
    if !p.is_aligned() {
        return Err(AutonomicStatus::Misaligned);
    }
    Ok(p)
}

/// An output pointer the caller may leave null: checked for alignment when it is not.
fn optional_out<T>(p: *mut T) -> Result<Option<*mut T>, AutonomicStatus> {
    if p.is_null() {
        return Ok(None);
    }
    checked(p.cast_const()).map(|p| Some(p.cast_mut()))
}

/// A required output pointer, checked.
fn out<T>(p: *mut T) -> Result<*mut T, AutonomicStatus> {
    checked(p.cast_const()).map(<*const T>::cast_mut)
}

/// Writes `value` through an output pointer checked by [`out`] or [`optional_out`].
///
/// # Safety
///
/// `p` is valid for a write of `T`.
unsafe fn put<T>(p: Option<*mut T>, value: T) {
    if let Some(p) = p {
        // SAFETY: checked non-null and aligned; valid for writes by the caller's contract.
        unsafe { p.write(value) };
    }
}

/// The bytes `(ptr, len)`; a null `ptr` is allowed only with `len` 0.
///
/// # Safety
///
/// A non-null `ptr` is valid for reads of `len` bytes for `'a`.
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], AutonomicStatus> {
    if len > AUTONOMIC_STRING_MAX_BYTES {
        return Err(AutonomicStatus::InvalidArgument);
    }
    if len == 0 {
        return Ok(&[]);
    }
    let ptr = checked(ptr)?;
    // SAFETY: non-null, and valid for `len` bytes by the caller's contract (u8 is always
    // aligned).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The UTF-8 string `(ptr, len)`.
///
/// # Safety
///
/// As [`bytes_arg`].
unsafe fn str_arg<'a>(ptr: *const u8, len: usize) -> Result<&'a str, AutonomicStatus> {
    // SAFETY: the caller's contract is bytes_arg's.
    let bytes = unsafe { bytes_arg(ptr, len) }?;
    core::str::from_utf8(bytes).map_err(|_| AutonomicStatus::InvalidUtf8)
}

/// The engine behind `e`.
///
/// # Safety
///
/// `e` is null or came from `autonomic_engine_init` and was not finished; no other reference
/// to it is live.
unsafe fn engine_mut<'a>(
    e: *mut AutonomicEngine,
) -> Result<&'a mut Engine<'static>, AutonomicStatus> {
    let e = out(e)?;
    // SAFETY: by the caller's contract `e` points at a live engine nobody else references.
    Ok(unsafe { &mut (*e).engine })
}

//! Verifying a receipt stream from C: a streaming chain verifier in a caller's block.

use autonomic_core::ChainVerifier;
use core::mem::{align_of, size_of};

use crate::status::AutonomicStatus;
use crate::{bytes_arg, guard, out, put, types::AUTONOMIC_RECORD_MAX_BYTES};

/// A chain verifier built in a caller's block (opaque to C). It holds no resources: the block
/// may be freed without a fini.
#[derive(Debug)]
pub struct AutonomicVerifier {
    verifier: ChainVerifier,
}

/// The size and alignment of a verifier's block.
///
/// # Safety
///
/// The outputs are null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_verifier_size(
    out_size: *mut usize,
    out_align: *mut usize,
) -> i32 {
    guard(|| {
        let (size, align) = (out(out_size)?, out(out_align)?);
        // SAFETY: checked; valid for writes by the caller's contract.
        unsafe {
            put(Some(size), size_of::<AutonomicVerifier>());
            put(Some(align), align_of::<AutonomicVerifier>());
        }
        Ok(())
    })
}

/// Builds a verifier expecting receipt 0 in `mem[..len]` and writes its handle to
/// `out_verifier`.
///
/// # Safety
///
/// `mem` is null or valid for writes of `len` bytes for as long as the verifier is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_verifier_init(
    mem: *mut u8,
    len: usize,
    out_verifier: *mut *mut AutonomicVerifier,
) -> i32 {
    guard(|| {
        let handle = out(out_verifier)?;
        let at = out(mem.cast::<AutonomicVerifier>())?;
        if len < size_of::<AutonomicVerifier>() {
            return Err(AutonomicStatus::BufferTooSmall);
        }
        let verifier = AutonomicVerifier {
            verifier: ChainVerifier::new(),
        };
        // SAFETY: `at` is non-null, aligned, and valid for a write of the verifier (len checked).
        unsafe {
            at.write(verifier);
            put(Some(handle), at);
        }
        Ok(())
    })
}

/// Verifies the next record (`record[..len]`): decodes it and checks seq, prev_hash and hash.
/// On failure (`MALFORMED`, `SEQ_MISMATCH`, `BROKEN_LINK`, `BAD_HASH`) nothing changes.
///
/// # Safety
///
/// `v` came from `autonomic_verifier_init`; `record` is valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_verifier_push(
    v: *mut AutonomicVerifier,
    record: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        let v = out(v)?;
        if len > AUTONOMIC_RECORD_MAX_BYTES {
            return Err(AutonomicStatus::Malformed);
        }
        // SAFETY: the caller's contract.
        let record = unsafe { bytes_arg(record, len) }?;
        // SAFETY: a live verifier nobody else references.
        let verifier = unsafe { &mut (*v).verifier };
        verifier.push(record)?;
        Ok(())
    })
}

/// The records verified so far (= the seq the next must carry) to `out_seq`, and the last
/// one's hash (32 zero bytes before any) to `out_hash[0..32]`.
///
/// # Safety
///
/// `v` came from `autonomic_verifier_init`; `out_hash` is valid for writes of 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_verifier_head(
    v: *mut AutonomicVerifier,
    out_seq: *mut u64,
    out_hash: *mut u8,
) -> i32 {
    guard(|| {
        let (v, seq_out, hash_out) = (out(v)?, out(out_seq)?, out(out_hash)?);
        // SAFETY: a live verifier.
        let verifier = unsafe { (*v).verifier };
        // SAFETY: checked; valid for writes (32 bytes for the hash, u8 is always aligned).
        unsafe {
            put(Some(seq_out), verifier.next_seq());
            core::ptr::copy_nonoverlapping(verifier.head_hash().as_ptr(), hash_out, 32);
        }
        Ok(())
    })
}

//! The binary's exit codes, for every subcommand: 0 ok, 1 the ledger (or a checkpoint) failed
//! verification, 2 bad usage or config, or something needed could not be read or started.

use std::process::ExitCode;

/// Verification failed: the ledger or a checkpoint does not check out.
pub const CORRUPT: u8 = 1;
/// Bad usage or config, an unreadable input, a failed start-up.
pub const USAGE: u8 = 2;

/// `code` as an [`ExitCode`].
#[must_use]
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}

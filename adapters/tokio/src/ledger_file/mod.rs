//! The receipt ledger on disk: an append-only file of checksummed frames with a commit frame
//! after every group commit (the byte layout is `docs/ledger-format.md`).
//!
//! The core hands the adapter each receipt as an opaque byte string (its canonical postcard
//! encoding); this module frames, checksums, writes, syncs and reads those bytes back.
//! Whether a record is a valid receipt that chains onto the previous one is the caller's
//! per-record callback's business (the core's chain verifier), except in [`verify_file`],
//! which runs that verifier itself.
//!
//! - [`frame`]: the header, record frames and commit frames.
//! - The write half, `write`: the appender [`LedgerFile`] — opening (which verifies the file
//!   and truncates a torn tail), buffered appends, group commit, fsync, poisoning on error.
//! - The read half: [`scan`](mod@scan), reading and the rule that tells a torn tail from
//!   corruption: *what was committed decides* — damage covered by a later commit frame is
//!   corruption, and only torn-shaped bytes after the last commit are truncated;
//!   [`read`], committed records of a live ledger from a [`View`]'s resume points; and
//!   `verify`, whole-file reads ([`scan`](fn@scan), [`scan_bytes`], [`verify_file`]).

mod errors;
pub mod frame;
pub mod read;
pub mod scan;
mod verify;
mod write;

pub use errors::{AppendError, CommitError, CommitReport, OpenError, OpenReport, ScanError};
pub use frame::{
    COMMIT_FRAME_BYTES, Commit, FILE_HEADER_BYTES, FrameError, HEADER_BYTES, LedgerId,
    MAX_RECORD_BYTES, MIN_RECORD_BYTES, encode_header, encode_record, record_hash,
};
pub use read::{Records, ResumePoint, View};
pub use scan::{Context, CorruptReason, Corruption, ScanReport, TornReason, TornTail};
pub use verify::{FileReport, scan, scan_bytes, verify_file};
pub use write::{
    BATCH_SYNC_INTERVAL_MS, BATCH_SYNC_RECORDS, BatchRule, FsyncPolicy, LedgerFile, LedgerIo,
    new_ledger_id,
};

/// The ledger file's name inside the data directory.
pub const FILE_NAME: &str = "ledger.log";
/// Most records one commit holds: `append` buffers at most this many, the caller commits
/// when [`LedgerFile::is_full`], and a reader refuses more than this many after a commit.
pub const PENDING_RECORDS_MAX: u32 = 1024;

const READ_BUFFER_BYTES: usize = 64 * 1024;
const _: () = assert!(PENDING_RECORDS_MAX > 0);

//! What the ledger file's operations report: their errors and their reports.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::frame::{FrameError, LedgerId};
use super::read::View;
use super::scan::{Corruption, TornTail};

/// Why [`scan`](fn@super::scan) failed.
#[derive(Debug, Error)]
pub enum ScanError {
    /// There is no ledger file at the path.
    #[error("ledger {}: not found", path.display())]
    NotFound {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// Opening or reading the file failed.
    #[error("ledger {}: {source}", path.display())]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is corrupt (see [`scan`](mod@super::scan)).
    #[error("ledger {}: corrupt {corruption}", path.display())]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// Which record, where, and why.
        corruption: Corruption,
    },
}

/// Why [`LedgerFile::open`](super::LedgerFile::open) failed. On `Corrupt` the file was not modified.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("ledger dir {}: cannot create: {source}", path.display())]
    CreateDir {
        /// The data directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file could not be opened, created or read.
    #[error("ledger {}: {source}", path.display())]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Making the new file's creation durable (fsync of the file or directory) failed.
    #[error("ledger {}: fsync after creation failed: {source}", path.display())]
    SyncCreated {
        /// The file or directory whose fsync failed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Truncating the torn tail (or syncing the truncation) failed.
    #[error("ledger {}: truncating the torn tail failed: {source}", path.display())]
    Truncate {
        /// The ledger file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The caller's check of the scan refused the file (nothing was written).
    #[error("ledger {}: {reason}", path.display())]
    Refused {
        /// The ledger file.
        path: PathBuf,
        /// The check's message.
        reason: String,
    },
    /// The file is corrupt (see [`scan`](mod@super::scan)): refuse to start.
    #[error("ledger {}: corrupt {corruption}", path.display())]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// Which record, where, and why.
        corruption: Corruption,
    },
}

/// Why [`LedgerFile::append`](super::LedgerFile::append) refused a body; nothing was buffered.
#[derive(Debug, Error)]
pub enum AppendError {
    /// An earlier I/O error poisoned the ledger (see the module documentation).
    #[error("ledger is poisoned by an earlier I/O error")]
    Poisoned,
    /// The body cannot be framed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// [`PENDING_RECORDS_MAX`](super::PENDING_RECORDS_MAX) records are buffered: commit first.
    #[error("ledger write buffer is full ({records_max} records): commit first")]
    Full {
        /// [`PENDING_RECORDS_MAX`](super::PENDING_RECORDS_MAX).
        records_max: u32,
    },
}

/// Why [`LedgerFile::commit`](super::LedgerFile::commit) or [`LedgerFile::sync_now`](super::LedgerFile::sync_now) failed. After `Write` or `Sync`
/// the ledger is poisoned.
#[derive(Debug, Error)]
pub enum CommitError {
    /// An earlier I/O error poisoned the ledger (see the module documentation).
    #[error("ledger is poisoned by an earlier I/O error")]
    Poisoned,
    /// Writing the buffered frames failed: an unknown prefix of them may be on disk.
    #[error("ledger write failed: {0}")]
    Write(#[source] io::Error),
    /// `fdatasync` failed: written records may not be durable, and retrying cannot tell.
    #[error("ledger fdatasync failed: {0}")]
    Sync(#[source] io::Error),
}

/// What [`LedgerFile::open`](super::LedgerFile::open) found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The committed end and a sparse index of commits, for readers on other threads.
    pub view: View,
    /// The ledger's id (from its header, or new when the file was created).
    pub ledger_id: LedgerId,
    /// Committed records in the file, all accepted by the callback.
    pub records: u64,
    /// The last committed record's hash (zeros when there is none).
    pub head_hash: [u8; 32],
    /// The file's length after any truncation.
    pub len_bytes: u64,
    /// Bytes of torn tail removed (0 if none).
    pub truncated_bytes: u64,
    /// The torn tail that was removed, if any.
    pub torn_tail: Option<TornTail>,
    /// Whether the file did not exist and was created.
    pub created: bool,
}

/// What one [`LedgerFile::commit`](super::LedgerFile::commit) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitReport {
    /// Records written by this commit.
    pub records: u32,
    /// Whether this commit synced: every record committed so far is durable.
    pub synced: bool,
    /// How long the `fdatasync` took, when there was one.
    pub sync_duration: Option<Duration>,
}

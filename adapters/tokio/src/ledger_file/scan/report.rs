//! What a scan reports: the committed prefix and a torn tail, or the corruption that stops it.

use std::fmt;

use thiserror::Error;

use crate::ledger_file::PENDING_RECORDS_MAX;
use crate::ledger_file::frame::{HeaderError, LedgerId};

/// A callback's rejection message is cut to this length in a [`CorruptReason::Rejected`].
pub const REJECT_MESSAGE_BYTES_MAX: usize = 512;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// The ledger's id from the file header; `None` when the header itself was torn (a
    /// creation interrupted before its first sync).
    pub ledger_id: Option<LedgerId>,
    /// Committed records, all accepted by the callback.
    pub records: u64,
    /// Commit frames read.
    pub commits: u64,
    /// Length of the file's committed prefix: the end of the last commit frame (or of the
    /// header when there is none; 0 when the header is torn).
    pub valid_len_bytes: u64,
    /// The hash of the last committed record (zeros when there is none).
    pub head_hash: [u8; 32],
    /// The torn tail after the committed prefix, if any.
    pub torn_tail: Option<TornTail>,
}

/// Bytes after the last commit that an interrupted append left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where the tail starts (equal to [`ScanReport::valid_len_bytes`]).
    pub offset_bytes: u64,
    /// How many bytes it spans, to the end of the file.
    pub len_bytes: u64,
    /// Valid records in it that had no commit frame yet (never acknowledged).
    pub uncommitted_records: u64,
    /// Which torn-tail rule matched.
    pub reason: TornReason,
}

/// Which torn-tail rule of the module documentation matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TornReason {
    /// The file is shorter than its 32-byte header (creation interrupted).
    #[error("partial file header")]
    PartialFileHeader,
    /// The file ends inside a frame header.
    #[error("partial frame header")]
    PartialHeader,
    /// A frame's body runs past the end of the file.
    #[error("partial body")]
    PartialBody,
    /// Every byte from a frame boundary to the end of the file is zero.
    #[error("zero-filled tail")]
    ZeroFill,
    /// Valid records with no commit frame after them.
    #[error("records without a commit")]
    Uncommitted,
}

/// A damaged byte the reader may not truncate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {index} at byte {offset_bytes}: {reason}{context}")]
pub struct Corruption {
    /// The index the damaged record has (or would have), from 0.
    pub index: u64,
    /// The byte offset of its frame (0 for the file header).
    pub offset_bytes: u64,
    /// What is wrong with it.
    pub reason: CorruptReason,
    /// Where it lies relative to the commits.
    pub context: Context,
}

/// Where a corruption lies relative to the file's commit frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The file header.
    Header,
    /// Inside committed data: a commit frame at `commit_bytes` covers it.
    Committed {
        /// Offset of a commit frame after the damage.
        commit_bytes: u64,
    },
    /// After the last commit, but not shaped like an interrupted append.
    AfterLastCommit {
        /// Where the last commit frame ends: nothing after it was acknowledged.
        committed_bytes: u64,
    },
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::Header => Ok(()),
            Context::Committed { commit_bytes } => write!(
                f,
                " (committed data: the commit frame at byte {commit_bytes} covers it)"
            ),
            Context::AfterLastCommit { committed_bytes } => write!(
                f,
                " (after the last commit, which ends at byte {committed_bytes}, but not the shape \
                 of an interrupted append; nothing after byte {committed_bytes} was acknowledged: \
                 to accept losing it, truncate the file to {committed_bytes} bytes)"
            ),
        }
    }
}

/// What is wrong with a corrupt frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorruptReason {
    /// The file header is not a valid format-2 header.
    #[error("file header: {0}")]
    FileHeader(HeaderError),
    /// The frame's word names no kind and length this format writes.
    #[error("invalid frame word {word:#010x}")]
    BadFrame {
        /// The word as read.
        word: u32,
    },
    /// The frame's checksum (over its word and body) does not match.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the word and body as read.
        computed: u32,
    },
    /// The frame's length runs past the end of the file although a commit follows.
    #[error("length {len_bytes} runs past the end of the file")]
    Overrun {
        /// The length the header claims.
        len_bytes: u32,
    },
    /// A commit frame disagrees with the records before it.
    #[error("commit frame disagrees with the records before it: {0}")]
    BadCommit(&'static str),
    /// More records than one commit may hold follow the last commit frame.
    #[error("more than {PENDING_RECORDS_MAX} records without a commit frame")]
    TooManyUncommitted,
    /// The caller's callback rejected the record (e.g. the hash chain does not verify).
    #[error("rejected: {message}")]
    Rejected {
        /// The callback's message, at most [`REJECT_MESSAGE_BYTES_MAX`] bytes.
        message: String,
    },
}

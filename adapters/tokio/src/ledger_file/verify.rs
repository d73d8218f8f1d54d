//! Reading a whole ledger file from outside its writer, never modifying it.
//!
//! [`scan`](fn@scan) checks every frame and hands each committed record to the caller;
//! [`verify_file`] also checks the receipts' hash chain. `autonomic verify`, `autonomic
//! demo` and `GET /v1/ledger/verify` all verify through [`verify_file`] and only format its
//! [`FileReport`].

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use autonomic_core::ChainVerifier;

use super::READ_BUFFER_BYTES;
use super::errors::ScanError;
use super::read::ResumePoint;
use super::scan::{Context, CorruptReason, Corruption, ScanFailure, ScanReport, scan_stream};

/// What [`verify_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The committed prefix and any torn tail after it; `records` and `head_hash` are the
    /// verified chain's head (every committed record chains onto the one before it).
    pub scan: ScanReport,
    /// Receipts this call read and checked (those after its starting point).
    pub checked_records: u64,
}

/// Reads and checks the ledger file at `path` from `from` (the file's start, or a commit a
/// [`View`](super::View) published) up to `end_bytes` (a committed end; `None`: the whole
/// file), checking every frame and the hash chain from `from`'s head on.
///
/// `observe(index, body)` sees every committed record before its chain check. A torn tail is
/// reported in the [`ScanReport`], not truncated; a broken chain is
/// [`ScanError::Corrupt`] at that record.
pub fn verify_file(
    path: &Path,
    from: ResumePoint,
    end_bytes: Option<u64>,
    mut observe: impl FnMut(u64, &[u8]),
) -> Result<FileReport, ScanError> {
    let mut verifier = ChainVerifier::resume(from.records, from.head_hash);
    let scan = scan_range(path, from, end_bytes, |index, body| {
        observe(index, body);
        verifier.push(body).map(|_| ()).map_err(|e| e.to_string())
    })?;
    Ok(FileReport {
        checked_records: scan.records.saturating_sub(from.records),
        scan,
    })
}

/// Reads and checks the whole ledger file at `path` without modifying it.
///
/// Streams the file with O(1) memory beyond one record, calling `on_record(index, body)` for
/// every valid record in order; a callback error is reported as corruption at that record.
/// A torn tail is reported in the [`ScanReport`], not truncated.
pub fn scan(
    path: &Path,
    on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanReport, ScanError> {
    scan_range(path, ResumePoint::start(), None, on_record)
}

/// [`scan`](fn@scan) of a ledger held in memory (tests and fuzzing): the same classification.
///
/// A read from memory cannot fail, so an I/O error never happens here; were one to, it would
/// be reported as a rejection at the start of the file rather than a panic.
pub fn scan_bytes(
    bytes: &[u8],
    on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanReport, Corruption> {
    let reader = io::Cursor::new(bytes);
    let len = bytes.len() as u64;
    let scanned = scan_stream(reader, len, ResumePoint::start(), on_record, |_| {});
    scanned.map_err(|failure| match failure {
        ScanFailure::Corrupt(corruption) => corruption,
        ScanFailure::Io(e) => Corruption {
            index: 0,
            offset_bytes: 0,
            reason: CorruptReason::Rejected {
                message: format!("read error: {e}"),
            },
            context: Context::Header,
        },
    })
}

/// [`scan`](fn@scan) from `from` up to `end_bytes` (`None`: the end of the file).
fn scan_range(
    path: &Path,
    from: ResumePoint,
    end_bytes: Option<u64>,
    on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanReport, ScanError> {
    let io_error = |source: io::Error| ScanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ScanError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_error(e)),
    };
    let len_bytes = match end_bytes {
        Some(end) => end,
        None => file.metadata().map_err(io_error)?.len(),
    };
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let scanned = scan_stream(reader, len_bytes, from, on_record, |_| {});
    scanned.map_err(|failure| match failure {
        ScanFailure::Io(source) => io_error(source),
        ScanFailure::Corrupt(corruption) => ScanError::Corrupt {
            path: path.to_path_buf(),
            corruption,
        },
    })
}

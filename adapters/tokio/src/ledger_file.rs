//! The receipt ledger on disk: an append-only file of framed records (SPEC section 6).
//!
//! The core hands the adapter each receipt as an opaque byte string (its canonical postcard
//! encoding); this module only frames, checksums, writes, syncs and reads those bytes back.
//! Whether a record is a valid receipt that chains onto the previous one is the caller's
//! per-record callback's business (the core's chain verifier).
//!
//! # Format
//!
//! `<data_dir>/ledger.log` holds frames back to back and nothing else (framing as etcd's WAL):
//!
//! ```text
//! len: u32 little-endian | crc32c: u32 little-endian | body: len bytes
//! ```
//!
//! `crc32c` is CRC-32C (Castagnoli, `CRC_32_ISCSI`) of the body. A frame is valid when
//! `1 <= len <= MAX_RECORD_BYTES` and the checksum matches. Records are numbered from 0.
//!
//! # Reading: torn tail or corruption (a user-visible contract)
//!
//! Reading stops at the first frame that is not valid, and classifies it. A *torn tail* is
//! what an interrupted append leaves behind; `open` truncates it (and says how many bytes):
//!
//! - fewer bytes remain than the 8-byte header: a partial header;
//! - the header's `len` is valid but the body runs past the end of the file: a partial body;
//! - every byte from the frame's start to the end of the file is zero: a zero-filled tail
//!   (preallocated, or a size update that reached the disk before the data did);
//! - the checksum fails on the last frame: its body ends exactly at the end of the file, or
//!   only zero bytes follow it.
//!
//! Anything else is *corruption*, reported with the record's index and byte offset, and
//! `open` refuses to touch the file:
//!
//! - a `len` of 0 or over `MAX_RECORD_BYTES` (unless the whole rest of the file is zero);
//! - a checksum failure on a frame followed by non-zero bytes;
//! - a frame whose body the caller's callback rejects (its message is carried along).
//!
//! One ambiguity is inherent and accepted: a `len` altered so that its body runs past the end
//! of the file looks exactly like a torn append (there is no checksum over the header), so it
//! is truncated as one. A writer's torn appends only ever produce prefixes of valid frames,
//! and `len` is little-endian, so a partially written `len` is never larger than the real one.
//! Truncation of the tail is made visible by the chain head `(seq, hash)` that the adapter
//! publishes, not by this file.
//!
//! # Durability
//!
//! `append` only frames into a bounded in-memory buffer; `commit` writes everything buffered
//! with one `write_all` and then, under [`FsyncPolicy::Always`], one `fdatasync` (group
//! commit: append many, commit once, acknowledge after `commit` returns). Under
//! [`FsyncPolicy::Batch`] a commit syncs only when [`BatchRule`] says so: it risks the receipts
//! acknowledged since the last sync (at most 64 records or 50 ms worth by default) on power
//! failure or kernel crash, never corruption: what is lost is a torn tail at worst. A process
//! crash alone loses nothing once `commit` returned, as the data is in the page cache.
//!
//! Creating the file fsyncs the file and its directory (and the directory's parent when the
//! directory was created too), so that the file's existence is itself durable.
//!
//! # Why an I/O error poisons the ledger
//!
//! After a failed `write` the file's tail is unknown (a prefix may have landed). After a
//! failed `fsync`, Linux may already have dropped the dirty pages and cleared the error, so
//! a retried `fsync` can report success for data that is gone (PostgreSQL's "fsyncgate",
//! TigerBeetle's storage fault model). Retrying would acknowledge receipts that may never
//! reach the disk, so any write, sync or truncate error poisons the [`LedgerFile`]: every
//! later call returns `Poisoned`. The only way forward is a restart, whose `open` reads what
//! is actually on disk and truncates whatever torn tail the failure left.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crc::{CRC_32_ISCSI, Crc, Table};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The ledger file's name inside the data directory.
pub const FILE_NAME: &str = "ledger.log";
/// Largest body one frame may carry (the core's receipt encoding fits in it).
pub const MAX_RECORD_BYTES: u32 = 4096;
/// Size of a frame header: `len` and `crc32c`, both u32 little-endian.
pub const HEADER_BYTES: u32 = 8;
/// `batch` policy: sync once this many records have been written since the last sync.
pub const BATCH_SYNC_RECORDS: u32 = 64;
/// `batch` policy: sync on a commit this long after the last sync.
pub const BATCH_SYNC_INTERVAL_MS: u64 = 50;
/// Most records `append` buffers before a `commit` must drain them.
pub const PENDING_RECORDS_MAX: u32 = 1024;
/// A callback's rejection message is cut to this length in a [`CorruptReason::Rejected`].
pub const REJECT_MESSAGE_BYTES_MAX: usize = 512;

const READ_BUFFER_BYTES: usize = 64 * 1024;
const ZERO_CHECK_CHUNK_BYTES: usize = 8 * 1024;
const HEADER_LEN: usize = HEADER_BYTES as usize;
const _: () = assert!(MAX_RECORD_BYTES > 0 && BATCH_SYNC_RECORDS > 0 && PENDING_RECORDS_MAX > 0);

static CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// CRC-32C (Castagnoli) of `body`: the checksum stored in a frame header.
#[must_use]
pub fn checksum(body: &[u8]) -> u32 {
    CASTAGNOLI.checksum(body)
}

/// When the ledger calls `fdatasync` (config key `fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Every `commit` syncs before it returns: nothing acknowledged is lost by a crash.
    #[default]
    Always,
    /// Group commit: sync per [`BatchRule`]. A power failure may lose the receipts committed
    /// since the last sync (up to 64 records or 50 ms by default), never corrupt the file.
    Batch,
}

/// When a commit under [`FsyncPolicy::Batch`] syncs: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRule {
    /// Sync once this many records are written but not yet synced.
    pub records_max: u32,
    /// Sync on a commit at least this long after the last sync.
    pub interval_ms: u64,
}

impl Default for BatchRule {
    fn default() -> Self {
        Self {
            records_max: BATCH_SYNC_RECORDS,
            interval_ms: BATCH_SYNC_INTERVAL_MS,
        }
    }
}

/// Why a body cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A frame's body must hold at least one byte (len 0 is reserved for zero-filled tails).
    #[error("ledger record body is empty")]
    Empty,
    /// The body is larger than [`MAX_RECORD_BYTES`].
    #[error("ledger record body is {len_bytes} bytes, over the limit of {max_bytes}")]
    TooLarge {
        /// The body's length.
        len_bytes: u64,
        /// [`MAX_RECORD_BYTES`].
        max_bytes: u32,
    },
}

/// Appends one frame (`len | crc32c | body`) for `body` to `out`; on error `out` is unchanged.
pub fn encode_frame(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if len_bytes == 0 {
        return Err(FrameError::Empty);
    }
    if len_bytes > MAX_RECORD_BYTES {
        return Err(FrameError::TooLarge {
            len_bytes: body.len() as u64,
            max_bytes: MAX_RECORD_BYTES,
        });
    }
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&len_bytes.to_le_bytes());
    out.extend_from_slice(&checksum(body).to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// What a complete read of the file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Valid records, all accepted by the callback.
    pub records: u64,
    /// Length of the file's valid prefix: the end of the last valid record.
    pub valid_len_bytes: u64,
    /// The torn tail after the valid prefix, if any.
    pub torn_tail: Option<TornTail>,
}

/// Bytes after the last valid record that an interrupted append left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where the tail starts (equal to [`ScanReport::valid_len_bytes`]).
    pub offset_bytes: u64,
    /// How many bytes it spans, to the end of the file.
    pub len_bytes: u64,
    /// Which of the torn-tail rules matched.
    pub reason: TornReason,
}

/// Which torn-tail rule of the module documentation matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TornReason {
    /// Fewer bytes remain than a frame header.
    #[error("partial header")]
    PartialHeader,
    /// The header is valid but its body runs past the end of the file.
    #[error("partial body")]
    PartialBody,
    /// Every remaining byte is zero.
    #[error("zero-filled tail")]
    ZeroFill,
    /// The last frame's checksum fails (nothing but zero bytes follows it).
    #[error("checksum mismatch on the last record")]
    CrcMismatch,
}

/// A bad record before the tail: the file is not what this program wrote.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {index} at byte {offset_bytes}: {reason}")]
pub struct Corruption {
    /// The record's index, from 0.
    pub index: u64,
    /// The byte offset of its frame header.
    pub offset_bytes: u64,
    /// What is wrong with it.
    pub reason: CorruptReason,
}

/// What is wrong with a corrupt record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorruptReason {
    /// The header's `len` is 0 or over [`MAX_RECORD_BYTES`].
    #[error("invalid length {len_bytes} (allowed 1..={MAX_RECORD_BYTES})")]
    BadLength {
        /// The length the header claims.
        len_bytes: u32,
    },
    /// The body's checksum does not match the header, and more data follows the frame.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the body as read.
        computed: u32,
    },
    /// The caller's callback rejected the record (e.g. the hash chain does not verify).
    #[error("rejected: {message}")]
    Rejected {
        /// The callback's message, at most [`REJECT_MESSAGE_BYTES_MAX`] bytes.
        message: String,
    },
}

/// Why [`scan`] failed.
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
    /// A record before the tail is corrupt.
    #[error("ledger {}: corrupt {corruption}", path.display())]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// Which record, where, and why.
        corruption: Corruption,
    },
}

/// Why [`LedgerFile::open`] failed. On `Corrupt` the file was not modified.
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
    /// A record before the tail is corrupt: refuse to start.
    #[error("ledger {}: corrupt {corruption}", path.display())]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// Which record, where, and why.
        corruption: Corruption,
    },
}

/// Why [`LedgerFile::append`] refused a body; nothing was buffered.
#[derive(Debug, Error)]
pub enum AppendError {
    /// An earlier I/O error poisoned the ledger (see the module documentation).
    #[error("ledger is poisoned by an earlier I/O error")]
    Poisoned,
    /// The body cannot be framed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// [`PENDING_RECORDS_MAX`] records are buffered: commit first.
    #[error("ledger write buffer is full ({records_max} records): commit first")]
    Full {
        /// [`PENDING_RECORDS_MAX`].
        records_max: u32,
    },
}

/// Why [`LedgerFile::commit`] or [`LedgerFile::sync_now`] failed. After `Write` or `Sync`
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

/// What [`LedgerFile::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Valid records in the file, all accepted by the callback.
    pub records: u64,
    /// The file's length after any truncation.
    pub len_bytes: u64,
    /// Bytes of torn tail removed (0 if none).
    pub truncated_bytes: u64,
    /// The torn tail that was removed, if any.
    pub torn_tail: Option<TornTail>,
    /// Whether the file did not exist and was created.
    pub created: bool,
}

/// What one [`LedgerFile::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitReport {
    /// Records written by this commit.
    pub records: u32,
    /// Bytes written by this commit (frames, headers included).
    pub len_bytes: u64,
    /// Whether this commit synced: every record committed so far is durable.
    pub synced: bool,
    /// How long the `fdatasync` took, when there was one.
    pub sync_duration: Option<Duration>,
}

/// The file operations the ledger needs after open, so tests can inject faults.
///
/// Implemented for [`File`] (opened in append mode by [`LedgerFile::open`]).
pub trait LedgerIo: Send {
    /// Writes the whole buffer at the end of the file, or fails.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates the file to `len_bytes`.
    fn set_len(&mut self, len_bytes: u64) -> io::Result<()>;
}

impl LedgerIo for File {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(self, buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len_bytes: u64) -> io::Result<()> {
        File::set_len(self, len_bytes)
    }
}

/// Reads and checks the whole ledger file at `path` without modifying it (`autonomic verify`).
///
/// Streams the file with O(1) memory beyond one record, calling `on_record(index, body)` for
/// every valid record in order; a callback error is reported as corruption at that record.
/// A torn tail is reported in the [`ScanReport`], not truncated.
pub fn scan(
    path: &Path,
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
    let file_len_bytes = file.metadata().map_err(io_error)?.len();
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    scan_stream(reader, file_len_bytes, on_record).map_err(|failure| match failure {
        ScanFailure::Io(source) => io_error(source),
        ScanFailure::Corrupt(corruption) => ScanError::Corrupt {
            path: path.to_path_buf(),
            corruption,
        },
    })
}

enum ScanFailure {
    Io(io::Error),
    Corrupt(Corruption),
}

/// One step of the scan: the next frame, classified.
enum Frame {
    End,
    Record { len_bytes: u32 },
    Torn(TornReason),
    Bad(CorruptReason),
}

fn scan_stream<R: Read>(
    reader: R,
    file_len_bytes: u64,
    mut on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanReport, ScanFailure> {
    // Never read past the length taken at the start, even if a writer appends meanwhile.
    let mut reader = reader.take(file_len_bytes);
    let mut body = vec![0_u8; MAX_RECORD_BYTES as usize];
    let mut offset_bytes = 0_u64;
    let mut index = 0_u64;
    loop {
        let remaining_bytes = file_len_bytes.saturating_sub(offset_bytes);
        let frame = next_frame(&mut reader, remaining_bytes, &mut body).map_err(ScanFailure::Io)?;
        let len_bytes = match frame {
            Frame::Record { len_bytes } => len_bytes,
            Frame::End => {
                return Ok(ScanReport {
                    records: index,
                    valid_len_bytes: offset_bytes,
                    torn_tail: None,
                });
            }
            Frame::Torn(reason) => {
                let tail = TornTail {
                    offset_bytes,
                    len_bytes: remaining_bytes,
                    reason,
                };
                return Ok(ScanReport {
                    records: index,
                    valid_len_bytes: offset_bytes,
                    torn_tail: Some(tail),
                });
            }
            Frame::Bad(reason) => {
                return Err(ScanFailure::Corrupt(Corruption {
                    index,
                    offset_bytes,
                    reason,
                }));
            }
        };
        let record = body.get(..len_bytes as usize).unwrap_or_default();
        debug_assert_eq!(record.len(), len_bytes as usize);
        if let Err(message) = on_record(index, record) {
            return Err(ScanFailure::Corrupt(Corruption {
                index,
                offset_bytes,
                reason: CorruptReason::Rejected {
                    message: cut_message(message),
                },
            }));
        }
        offset_bytes = offset_bytes.saturating_add(u64::from(HEADER_BYTES + len_bytes));
        index = index.saturating_add(1);
    }
}

/// Reads and classifies the frame at the reader's position; `remaining_bytes` is what is left
/// of the file from there. On `Record` the body is in `body[..len_bytes]`.
fn next_frame<R: Read>(reader: &mut R, remaining_bytes: u64, body: &mut [u8]) -> io::Result<Frame> {
    if remaining_bytes == 0 {
        return Ok(Frame::End);
    }
    if remaining_bytes < u64::from(HEADER_BYTES) {
        return Ok(Frame::Torn(TornReason::PartialHeader));
    }
    let mut header = [0_u8; HEADER_LEN];
    reader.read_exact(&mut header)?;
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len_bytes = u32::from_le_bytes([l0, l1, l2, l3]);
    let stored = u32::from_le_bytes([c0, c1, c2, c3]);
    let after_header_bytes = remaining_bytes - u64::from(HEADER_BYTES);
    if len_bytes == 0 || len_bytes > MAX_RECORD_BYTES {
        if header == [0; HEADER_LEN] && rest_is_zero(reader, after_header_bytes)? {
            return Ok(Frame::Torn(TornReason::ZeroFill));
        }
        return Ok(Frame::Bad(CorruptReason::BadLength { len_bytes }));
    }
    if u64::from(len_bytes) > after_header_bytes {
        return Ok(Frame::Torn(TornReason::PartialBody));
    }
    let record = body
        .get_mut(..len_bytes as usize)
        .ok_or_else(|| io::Error::other("ledger record buffer smaller than MAX_RECORD_BYTES"))?;
    reader.read_exact(record)?;
    let computed = checksum(record);
    if computed != stored {
        if rest_is_zero(reader, after_header_bytes - u64::from(len_bytes))? {
            return Ok(Frame::Torn(TornReason::CrcMismatch));
        }
        return Ok(Frame::Bad(CorruptReason::CrcMismatch { stored, computed }));
    }
    Ok(Frame::Record { len_bytes })
}

/// Whether the next `len_bytes` bytes are all zero (reads them all unless one is not).
fn rest_is_zero<R: Read>(reader: &mut R, len_bytes: u64) -> io::Result<bool> {
    let mut chunk = [0_u8; ZERO_CHECK_CHUNK_BYTES];
    let mut left_bytes = len_bytes;
    while left_bytes > 0 {
        let want = usize::try_from(left_bytes.min(ZERO_CHECK_CHUNK_BYTES as u64))
            .unwrap_or(ZERO_CHECK_CHUNK_BYTES);
        let part = chunk.get_mut(..want).unwrap_or_default();
        reader.read_exact(part)?;
        if part.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        left_bytes -= want as u64;
    }
    Ok(true)
}

fn cut_message(mut message: String) -> String {
    if message.len() > REJECT_MESSAGE_BYTES_MAX {
        let mut end = REJECT_MESSAGE_BYTES_MAX;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    message.replace(['\n', '\r'], " ")
}

/// The open, append-only ledger file: buffered appends, group commit, poisoning on error.
///
/// Call order: [`LedgerFile::open`] (verifies every record through the callback, truncates a
/// torn tail), then repeatedly [`append`](LedgerFile::append) any number of bodies and
/// [`commit`](LedgerFile::commit) once; acknowledge the receipts after `commit` returns with
/// `synced` (or after a later sync under `batch`). Under `batch`, call
/// [`sync_now`](LedgerFile::sync_now) when [`sync_deadline`](LedgerFile::sync_deadline)
/// passes and before shutting down.
#[derive(Debug)]
pub struct LedgerFile<Io: LedgerIo = File> {
    io: Io,
    fsync: FsyncPolicy,
    batch: BatchRule,
    pending: Vec<u8>,
    pending_records: u32,
    len_bytes: u64,
    records: u64,
    unsynced_records: u64,
    last_sync: Instant,
    poisoned: bool,
}

impl LedgerFile<File> {
    /// Opens (creating if missing) `<dir>/ledger.log`, verifies it, truncates a torn tail.
    ///
    /// `on_record(index, body)` sees every valid record in order; its error, a bad length or a
    /// checksum failure before the tail is [`OpenError::Corrupt`] and the file is left as is.
    pub fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
    ) -> Result<(Self, OpenReport), OpenError> {
        Self::open_with(dir, fsync, on_record, |file| file)
    }
}

impl<Io: LedgerIo> LedgerFile<Io> {
    /// [`LedgerFile::open`], with the opened file wrapped by `wrap` before any write, so a
    /// test can inject faults into the truncation and every later operation.
    pub fn open_with(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
        wrap: impl FnOnce(File) -> Io,
    ) -> Result<(Self, OpenReport), OpenError> {
        let path = dir.join(FILE_NAME);
        let io_error = |source: io::Error| OpenError::Io {
            path: path.clone(),
            source,
        };
        let dir_created = ensure_dir(dir)?;
        let (file, created) = open_or_create(&path).map_err(io_error)?;
        if created {
            make_creation_durable(&file, dir, dir_created)?;
        }
        let file_len_bytes = file.metadata().map_err(io_error)?.len();
        let scanned = scan_stream(
            BufReader::with_capacity(READ_BUFFER_BYTES, &file),
            file_len_bytes,
            on_record,
        );
        let report = scanned.map_err(|failure| match failure {
            ScanFailure::Io(source) => io_error(source),
            ScanFailure::Corrupt(corruption) => OpenError::Corrupt {
                path: path.clone(),
                corruption,
            },
        })?;
        let mut io = wrap(file);
        if report.torn_tail.is_some() {
            let truncate_error = |source| OpenError::Truncate {
                path: path.clone(),
                source,
            };
            io.set_len(report.valid_len_bytes).map_err(truncate_error)?;
            io.sync_data().map_err(truncate_error)?;
        }
        let ledger = Self::from_io(io, fsync, report.valid_len_bytes, report.records);
        let open_report = OpenReport {
            records: report.records,
            len_bytes: report.valid_len_bytes,
            truncated_bytes: report.torn_tail.map_or(0, |tail| tail.len_bytes),
            torn_tail: report.torn_tail,
            created,
        };
        Ok((ledger, open_report))
    }

    /// Wraps an already verified file (or any [`LedgerIo`]) holding `records` records in
    /// `len_bytes` bytes, positioned to append at its end. Tests use it with fault injectors.
    pub fn from_io(io: Io, fsync: FsyncPolicy, len_bytes: u64, records: u64) -> Self {
        Self {
            io,
            fsync,
            batch: BatchRule::default(),
            pending: Vec::new(),
            pending_records: 0,
            len_bytes,
            records,
            unsynced_records: 0,
            last_sync: Instant::now(),
            poisoned: false,
        }
    }

    /// Replaces the `batch` policy's sync rule (the default is [`BatchRule::default`]).
    #[must_use]
    pub fn with_batch_rule(mut self, batch: BatchRule) -> Self {
        self.batch = batch;
        self
    }

    /// Frames `body` into the write buffer; no system call. Changes nothing on error.
    pub fn append(&mut self, body: &[u8]) -> Result<(), AppendError> {
        if self.poisoned {
            return Err(AppendError::Poisoned);
        }
        if self.pending_records >= PENDING_RECORDS_MAX {
            return Err(AppendError::Full {
                records_max: PENDING_RECORDS_MAX,
            });
        }
        encode_frame(body, &mut self.pending)?;
        self.pending_records += 1;
        Ok(())
    }

    /// Writes every buffered frame with one `write_all`, then syncs as the policy says.
    ///
    /// Any error poisons the ledger; the frames are then neither retried nor acknowledged.
    pub fn commit(&mut self) -> Result<CommitReport, CommitError> {
        if self.poisoned {
            return Err(CommitError::Poisoned);
        }
        let records = self.pending_records;
        let len_bytes = self.pending.len() as u64;
        if records > 0 {
            if let Err(e) = self.io.write_all(&self.pending) {
                self.poisoned = true;
                return Err(CommitError::Write(e));
            }
            self.pending.clear();
            self.pending_records = 0;
            self.len_bytes = self.len_bytes.saturating_add(len_bytes);
            self.records = self.records.saturating_add(u64::from(records));
            self.unsynced_records = self.unsynced_records.saturating_add(u64::from(records));
        }
        debug_assert!(self.pending.is_empty() && self.pending_records == 0);
        let sync_duration = if self.sync_due() {
            Some(self.sync()?)
        } else {
            None
        };
        Ok(CommitReport {
            records,
            len_bytes,
            synced: sync_duration.is_some(),
            sync_duration,
        })
    }

    /// Syncs now, whatever the policy; buffered but uncommitted frames are not written.
    /// Returns how long the `fdatasync` took.
    pub fn sync_now(&mut self) -> Result<Duration, CommitError> {
        if self.poisoned {
            return Err(CommitError::Poisoned);
        }
        self.sync()
    }

    /// When the `batch` policy wants a sync of committed records that no commit has synced
    /// yet (`None` when everything committed is durable).
    #[must_use]
    pub fn sync_deadline(&self) -> Option<Instant> {
        (self.unsynced_records > 0)
            .then(|| self.last_sync + Duration::from_millis(self.batch.interval_ms))
    }

    fn sync_due(&self) -> bool {
        if self.unsynced_records == 0 {
            return false;
        }
        match self.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Batch => {
                self.unsynced_records >= u64::from(self.batch.records_max)
                    || self.last_sync.elapsed() >= Duration::from_millis(self.batch.interval_ms)
            }
        }
    }

    fn sync(&mut self) -> Result<Duration, CommitError> {
        let started = Instant::now();
        if let Err(e) = self.io.sync_data() {
            self.poisoned = true;
            return Err(CommitError::Sync(e));
        }
        self.last_sync = Instant::now();
        self.unsynced_records = 0;
        Ok(self.last_sync.saturating_duration_since(started))
    }

    /// Records in the file, committed (written) ones included, buffered ones not.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The file's length: everything committed, buffered frames not included.
    #[must_use]
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Records appended but not yet committed.
    #[must_use]
    pub fn pending_records(&self) -> u32 {
        self.pending_records
    }

    /// Records committed but not yet synced (always 0 under `always` after a commit).
    #[must_use]
    pub fn unsynced_records(&self) -> u64 {
        self.unsynced_records
    }

    /// Whether an I/O error has poisoned the ledger.
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The fsync policy in force.
    #[must_use]
    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.fsync
    }

    /// The underlying file (or test double), for inspection.
    #[must_use]
    pub fn io(&self) -> &Io {
        &self.io
    }
}

/// Creates `dir` if missing; returns whether it did.
fn ensure_dir(dir: &Path) -> Result<bool, OpenError> {
    let create_error = |source| OpenError::CreateDir {
        path: dir.to_path_buf(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(_) => Err(create_error(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(create_error)?;
            Ok(true)
        }
        Err(e) => Err(create_error(e)),
    }
}

/// Opens the file for reading and appending, creating it if missing; says whether it did.
fn open_or_create(path: &Path) -> io::Result<(File, bool)> {
    let mut options = OpenOptions::new();
    options.read(true).append(true);
    match options.clone().create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((options.open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// fsyncs a new file, its directory, and the directory's parent if the directory is new too.
fn make_creation_durable(file: &File, dir: &Path, dir_created: bool) -> Result<(), OpenError> {
    let sync_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::SyncCreated { path, source }
    };
    file.sync_all().map_err(sync_error(&dir.join(FILE_NAME)))?;
    sync_dir(dir).map_err(sync_error(dir))?;
    if dir_created {
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        sync_dir(parent).map_err(sync_error(parent))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

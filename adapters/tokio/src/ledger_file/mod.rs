//! The receipt ledger on disk: an append-only file of checksummed frames with a commit frame
//! after every group commit (SPEC section 6; the byte layout is `docs/ledger-format.md`).
//!
//! The core hands the adapter each receipt as an opaque byte string (its canonical postcard
//! encoding); this module frames, checksums, writes, syncs and reads those bytes back.
//! Whether a record is a valid receipt that chains onto the previous one is the caller's
//! per-record callback's business (the core's chain verifier).
//!
//! - [`frame`]: the header, record frames and commit frames.
//! - [`scan`](mod@scan): reading, and the rule that tells a torn tail from corruption: *what
//!   was committed decides* — damage covered by a later commit frame is corruption, and only
//!   torn-shaped bytes after the last commit are truncated.
//!
//! # Durability
//!
//! `append` only frames into a bounded in-memory buffer (at most [`PENDING_RECORDS_MAX`]
//! records: the caller commits when [`LedgerFile::is_full`] says so, so any number of records
//! is written in bounded chunks); `commit` adds a commit frame and writes everything buffered
//! with one `write_all`, then, under [`FsyncPolicy::Always`], one `fdatasync` (group commit:
//! append many, commit once, acknowledge after `commit` returns). Under
//! [`FsyncPolicy::Batch`] a commit syncs only when [`BatchRule`] says so: it risks the receipts
//! acknowledged since the last sync (at most 64 records or 50 ms worth by default) on power
//! failure or kernel crash, never corruption: what is lost is a torn tail at worst. A process
//! crash alone loses nothing once `commit` returned, as the data is in the page cache.
//!
//! Creating the file writes its header (with a new random ledger id) and fsyncs the file and
//! its directory (and the directory's parent when the directory was created too), so that
//! the file's existence is itself durable.
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

mod errors;
pub mod frame;
pub mod read;
pub mod scan;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use errors::{AppendError, CommitError, CommitReport, OpenError, OpenReport, ScanError};
pub use frame::{
    COMMIT_FRAME_BYTES, Commit, FILE_HEADER_BYTES, FrameError, HEADER_BYTES, LedgerId,
    MAX_RECORD_BYTES, MIN_RECORD_BYTES, encode_header, encode_record, record_hash,
};
pub use read::{ResumePoint, View};
pub use scan::{Context, CorruptReason, Corruption, ScanReport, TornReason, TornTail};
use scan::{ScanFailure, scan_stream, scan_stream_with};

/// The ledger file's name inside the data directory.
pub const FILE_NAME: &str = "ledger.log";
/// `batch` policy: sync once this many records have been written since the last sync.
pub const BATCH_SYNC_RECORDS: u32 = 64;
/// `batch` policy: sync on a commit this long after the last sync.
pub const BATCH_SYNC_INTERVAL_MS: u64 = 50;
/// Most records one commit holds: `append` buffers at most this many, the caller commits
/// when [`LedgerFile::is_full`], and a reader refuses more than this many after a commit.
pub const PENDING_RECORDS_MAX: u32 = 1024;

const READ_BUFFER_BYTES: usize = 64 * 1024;
const _: () = assert!(BATCH_SYNC_RECORDS > 0 && PENDING_RECORDS_MAX > 0);

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

/// [`scan`](fn@scan) of a ledger held in memory (tests and fuzzing): the same classification.
///
/// A read from memory cannot fail, so an I/O error never happens here; were one to, it would
/// be reported as a rejection at the start of the file rather than a panic.
pub fn scan_bytes(
    bytes: &[u8],
    on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanReport, Corruption> {
    let reader = io::Cursor::new(bytes);
    scan_stream(reader, bytes.len() as u64, on_record).map_err(|failure| match failure {
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

/// The open, append-only ledger file: buffered appends, group commit, poisoning on error.
///
/// Call order: [`LedgerFile::open`] (verifies every record through the callback, truncates a
/// torn tail), then repeatedly [`append`](LedgerFile::append) bodies — committing first
/// whenever [`is_full`](LedgerFile::is_full) — and [`commit`](LedgerFile::commit) once;
/// acknowledge the receipts after `commit` returns with `synced` (or after a later sync under
/// `batch`). Under `batch`, call [`sync_now`](LedgerFile::sync_now) when
/// [`sync_deadline`](LedgerFile::sync_deadline) passes and before shutting down.
#[derive(Debug)]
pub struct LedgerFile<Io: LedgerIo = File> {
    io: Io,
    fsync: FsyncPolicy,
    batch: BatchRule,
    ledger_id: LedgerId,
    pending: Vec<u8>,
    pending_records: u32,
    pending_head: [u8; 32],
    len_bytes: u64,
    records: u64,
    head_hash: [u8; 32],
    unsynced_records: u64,
    last_sync: Instant,
    poisoned: bool,
}

impl LedgerFile<File> {
    /// Opens (creating if missing) `<dir>/ledger.log`, verifies it, truncates a torn tail.
    ///
    /// `on_record(index, body)` sees every committed record in order; its error or any
    /// corruption is [`OpenError::Corrupt`] and the file is left as is.
    pub fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
    ) -> Result<(Self, OpenReport), OpenError> {
        Self::open_with(dir, fsync, on_record, |file| file)
    }

    /// [`LedgerFile::open`], with `check` run on what the scan found before anything is
    /// written: its error is [`OpenError::Refused`] and the file is left exactly as it was
    /// (a torn tail included). The sidecar checks its signed checkpoints here.
    pub fn open_checked(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
        check: impl FnOnce(&ScanReport) -> Result<(), String>,
    ) -> Result<(Self, OpenReport), OpenError> {
        Self::open_inner(dir, fsync, on_record, check, |file| file)
    }
}

impl<Io: LedgerIo> LedgerFile<Io> {
    /// [`LedgerFile::open`], with the opened file wrapped by `wrap` before any write after
    /// creation, so a test can inject faults into the truncation and every later operation.
    pub fn open_with(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
        wrap: impl FnOnce(File) -> Io,
    ) -> Result<(Self, OpenReport), OpenError> {
        Self::open_inner(dir, fsync, on_record, |_| Ok(()), wrap)
    }

    fn open_inner(
        dir: &Path,
        fsync: FsyncPolicy,
        on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
        check: impl FnOnce(&ScanReport) -> Result<(), String>,
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
            write_header(&file).map_err(io_error)?;
            make_creation_durable(&file, dir, dir_created)?;
        }
        let file_len_bytes = file.metadata().map_err(io_error)?.len();
        (&file).seek(SeekFrom::Start(0)).map_err(io_error)?;
        let reader = BufReader::with_capacity(READ_BUFFER_BYTES, &file);
        let mut commits = Vec::new();
        let scanned = scan_stream_with(reader, file_len_bytes, on_record, |c| {
            commits.push(ResumePoint {
                offset_bytes: c.end_bytes,
                records: c.records,
                head_hash: c.head_hash,
            });
        });
        let report = scanned.map_err(|failure| match failure {
            ScanFailure::Io(source) => io_error(source),
            ScanFailure::Corrupt(corruption) => OpenError::Corrupt {
                path: path.clone(),
                corruption,
            },
        })?;
        check(&report).map_err(|reason| OpenError::Refused {
            path: path.clone(),
            reason,
        })?;
        let mut io = wrap(file);
        let truncate_error = |source| OpenError::Truncate {
            path: path.clone(),
            source,
        };
        let ledger_id = match report.ledger_id {
            Some(id) => id,
            None => {
                // The header itself is torn: the file holds nothing; start it afresh.
                let id = new_ledger_id().map_err(truncate_error)?;
                io.set_len(0).map_err(truncate_error)?;
                io.write_all(&encode_header(&id)).map_err(truncate_error)?;
                io.sync_data().map_err(truncate_error)?;
                id
            }
        };
        if report.torn_tail.is_some() && report.ledger_id.is_some() {
            io.set_len(report.valid_len_bytes).map_err(truncate_error)?;
            io.sync_data().map_err(truncate_error)?;
        }
        let len_bytes = report.valid_len_bytes.max(u64::from(FILE_HEADER_BYTES));
        let mut ledger = Self::from_io(io, fsync, ledger_id, len_bytes, report.records);
        ledger.head_hash = report.head_hash;
        ledger.pending_head = report.head_hash;
        let mut view = View::new(ledger_id);
        commits.into_iter().for_each(|point| view.push(point));
        let open_report = OpenReport {
            view,
            ledger_id,
            records: report.records,
            head_hash: report.head_hash,
            len_bytes,
            truncated_bytes: report.torn_tail.map_or(0, |tail| tail.len_bytes),
            torn_tail: report.torn_tail,
            created,
        };
        Ok((ledger, open_report))
    }

    /// Wraps an already verified file (or any [`LedgerIo`]) of ledger `ledger_id` holding
    /// `records` committed records in `len_bytes` bytes, positioned to append at its end.
    /// Tests use it with fault injectors.
    pub fn from_io(
        io: Io,
        fsync: FsyncPolicy,
        ledger_id: LedgerId,
        len_bytes: u64,
        records: u64,
    ) -> Self {
        Self {
            io,
            fsync,
            batch: BatchRule::default(),
            ledger_id,
            pending: Vec::new(),
            pending_records: 0,
            pending_head: [0; 32],
            len_bytes,
            records,
            head_hash: [0; 32],
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
        if self.is_full() {
            return Err(AppendError::Full {
                records_max: PENDING_RECORDS_MAX,
            });
        }
        encode_record(body, &mut self.pending)?;
        self.pending_records += 1;
        self.pending_head = record_hash(body);
        Ok(())
    }

    /// Whether the write buffer holds [`PENDING_RECORDS_MAX`] records: commit before the
    /// next append.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.pending_records >= PENDING_RECORDS_MAX
    }

    /// Adds a commit frame to the buffered records, writes them all with one `write_all`,
    /// then syncs as the policy says.
    ///
    /// Any error poisons the ledger; the frames are then neither retried nor acknowledged.
    pub fn commit(&mut self) -> Result<CommitReport, CommitError> {
        if self.poisoned {
            return Err(CommitError::Poisoned);
        }
        let records = self.pending_records;
        if records > 0 {
            let commit = Commit {
                records: self.records + u64::from(records),
                head_hash: self.pending_head,
                end_bytes: self.len_bytes
                    + self.pending.len() as u64
                    + u64::from(COMMIT_FRAME_BYTES),
            };
            commit.encode(&mut self.pending);
            if let Err(e) = self.io.write_all(&self.pending) {
                self.poisoned = true;
                return Err(CommitError::Write(e));
            }
            debug_assert_eq!(commit.end_bytes, self.len_bytes + self.pending.len() as u64);
            self.pending.clear();
            self.pending_records = 0;
            self.len_bytes = commit.end_bytes;
            self.records = commit.records;
            self.head_hash = commit.head_hash;
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

    /// The ledger's id, from its file header.
    #[must_use]
    pub fn ledger_id(&self) -> LedgerId {
        self.ledger_id
    }

    /// Committed records in the file, buffered ones not included.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The hash of the last committed record (zeros when there is none).
    #[must_use]
    pub fn head_hash(&self) -> [u8; 32] {
        self.head_hash
    }

    /// The state after the last commit: where readers may read up to.
    #[must_use]
    pub fn committed(&self) -> ResumePoint {
        ResumePoint {
            offset_bytes: self.len_bytes,
            records: self.records,
            head_hash: self.head_hash,
        }
    }

    /// The file's length: header and everything committed, buffered frames not included.
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

/// 16 random bytes: a new ledger's id.
pub fn new_ledger_id() -> io::Result<LedgerId> {
    let mut id = [0_u8; 16];
    getrandom::fill(&mut id).map_err(|e| io::Error::other(format!("random ledger id: {e}")))?;
    Ok(id)
}

/// Writes a new file's header (with a fresh ledger id).
fn write_header(mut file: &File) -> io::Result<()> {
    file.write_all(&encode_header(&new_ledger_id()?))
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

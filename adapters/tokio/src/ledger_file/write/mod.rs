//! The write half: the append-only [`LedgerFile`] (buffered appends, group commit, fsync).
//! Opening it — verifying what is on disk and truncating a torn tail — is in [`open`](mod@open).
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

mod open;

use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use open::new_ledger_id;

use super::PENDING_RECORDS_MAX;
use super::errors::{AppendError, CommitError, CommitReport};
use super::frame::{COMMIT_FRAME_BYTES, Commit, LedgerId, encode_record, record_hash};
use super::read::ResumePoint;

/// `batch` policy: sync once this many records have been written since the last sync.
pub const BATCH_SYNC_RECORDS: u32 = 64;
/// `batch` policy: sync on a commit this long after the last sync.
pub const BATCH_SYNC_INTERVAL_MS: u64 = 50;
const _: () = assert!(BATCH_SYNC_RECORDS > 0);

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

impl<Io: LedgerIo> LedgerFile<Io> {
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

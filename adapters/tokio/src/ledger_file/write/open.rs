//! Opening the ledger file: create it durably if missing, scan and verify what is on disk,
//! truncate a torn tail, and hand back a [`LedgerFile`] positioned to append.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use super::{FsyncPolicy, LedgerFile, LedgerIo};
use crate::ledger_file::errors::{OpenError, OpenReport};
use crate::ledger_file::frame::{FILE_HEADER_BYTES, LedgerId, encode_header};
use crate::ledger_file::read::{ResumePoint, View};
use crate::ledger_file::scan::{ScanFailure, ScanReport, scan_stream};
use crate::ledger_file::{FILE_NAME, READ_BUFFER_BYTES};

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
        let start = ResumePoint::start();
        let scanned = scan_stream(reader, file_len_bytes, start, on_record, |c| {
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

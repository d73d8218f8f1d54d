//! Ledger reads off the write path: `GET /v1/ledger` pages and `GET /v1/ledger/verify`.
//!
//! Both read the ledger *file* on a blocking thread, never through the engine thread, so a
//! reader cannot delay an acknowledgement. They read only committed bytes (up to the end the
//! engine thread published after its last commit, [`View`]), start at an indexed commit
//! near what they want, and re-check every frame's checksum and the hash chain from there.
//! Work and memory are bounded: a page holds at most [`PAGE_MAX`] receipts and looks at most
//! [`SCAN_MAX`] receipts; at most [`READERS_MAX`] reads run at once (others wait their turn);
//! verification of the file is incremental — each call checks only what was committed since
//! the last one — and re-reads the whole file at most every [`FULL_VERIFY_INTERVAL_MS`].

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autonomic_core::ChainVerifier;
use autonomic_core::receipt::to_hex;
use tokio::sync::Semaphore;

use crate::daemon::{Shared, WindowVerify};
use crate::ledger_file::{FILE_NAME, Records, ResumePoint, View, verify_file};
use crate::wire::ReceiptJson;

/// Most receipts one page (`tail` or `limit`) returns.
pub const PAGE_MAX: usize = 1000;
/// Receipts a page returns when neither `tail` nor `limit` says.
pub const PAGE_DEFAULT: usize = 100;
/// Most receipts one page looks at (a `tenant` filter skips the others).
pub const SCAN_MAX: u64 = 65_536;
/// Ledger reads running at once.
pub const READERS_MAX: usize = 2;
/// The whole file is re-verified at most this often; in between, only new commits.
pub const FULL_VERIFY_INTERVAL_MS: u64 = 60_000;

/// One `GET /v1/ledger` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Forward paging: receipts after this seq, oldest first. Without it: the last ones.
    pub after_seq: Option<u64>,
    /// How many receipts at most (1..=[`PAGE_MAX`]).
    pub count: usize,
    /// Only this tenant's receipts.
    pub tenant: Option<String>,
}

/// One page of receipts, oldest first.
#[derive(Debug, Clone)]
pub struct Page {
    /// The receipts.
    pub receipts: Vec<ReceiptJson>,
    /// The last seq looked at (the next page's `after_seq`), if any was.
    pub last_scanned: Option<u64>,
}

/// The file's verification, as `GET /v1/ledger/verify` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileVerify {
    /// Committed receipts in the file.
    pub records: u64,
    /// Seq of the newest, if any.
    pub head_seq: Option<u64>,
    /// Its hash (genesis zeros before any), 64 hex.
    pub head_hash: String,
    /// Receipts this call read (0 when nothing was committed since the last call).
    pub checked_records: u64,
    /// How long ago the whole file was last read, ms.
    pub full_verify_age_ms: u64,
}

/// Why a ledger read gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The ledger is poisoned or not open yet: nothing durable to read.
    Unavailable,
    /// The read failed: an I/O error, a corrupt frame, a broken chain, or shutting down.
    Failed(String),
}

/// Shared state of the readers: the concurrency bound and the verification cache.
#[derive(Debug)]
pub struct LedgerReads {
    readers: Semaphore,
    verified: Arc<Mutex<Option<Verified>>>,
    memory: Mutex<Option<(Instant, WindowVerify)>>,
}

#[derive(Debug, Clone, Copy)]
struct Verified {
    point: ResumePoint,
    full_at: Instant,
}

impl Default for LedgerReads {
    fn default() -> Self {
        Self {
            readers: Semaphore::new(READERS_MAX),
            verified: Arc::new(Mutex::new(None)),
            memory: Mutex::new(None),
        }
    }
}

impl LedgerReads {
    /// Runs `read` on a blocking thread once a reader slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let _slot = self
            .readers
            .acquire()
            .await
            .map_err(|_| "shutting down".to_owned())?;
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| format!("ledger read: {e}"))?
    }

    /// The last verification of the engine's in-memory window if it is fresher than
    /// [`MEMORY_VERIFY_INTERVAL_MS`].
    pub fn recent_memory_verify(&self) -> Option<WindowVerify> {
        let cached = self.memory.lock().ok()?;
        let (at, verify) = cached.as_ref()?;
        (at.elapsed() < Duration::from_millis(MEMORY_VERIFY_INTERVAL_MS)).then(|| verify.clone())
    }

    /// Remembers a verification of the engine's in-memory window.
    pub fn remember_memory_verify(&self, verify: &WindowVerify) {
        if let Ok(mut cached) = self.memory.lock() {
            *cached = Some((Instant::now(), verify.clone()));
        }
    }

    /// `GET /v1/ledger`: one page of committed receipts of the ledger in `data_dir`.
    pub async fn page(
        &self,
        shared: &Shared,
        data_dir: &Path,
        query: PageQuery,
    ) -> Result<Page, ReadError> {
        let view = durable_view(shared).ok_or(ReadError::Unavailable)?;
        let path = data_dir.join(FILE_NAME);
        self.run(move || read_page(&path, &view, &query))
            .await
            .map_err(ReadError::Failed)
    }

    /// `GET /v1/ledger/verify`'s file half: [`verify_file`] on what was committed since the
    /// last call (everything, the first time and every [`FULL_VERIFY_INTERVAL_MS`]), up to
    /// the committed end the engine thread published; remembers how far it got.
    pub async fn verify(&self, shared: &Shared, data_dir: &Path) -> Result<FileVerify, ReadError> {
        let view = durable_view(shared).ok_or(ReadError::Unavailable)?;
        let path = data_dir.join(FILE_NAME);
        let cache = Arc::clone(&self.verified);
        self.run(move || verify_committed(&cache, &path, &view))
            .await
            .map_err(ReadError::Failed)
    }
}

/// The committed view of the ledger, unless the ledger is poisoned (then reads are refused:
/// memory may hold what never reached the disk, and the file's tail is unknown).
pub(crate) fn durable_view(shared: &Shared) -> Option<View> {
    if shared.poisoned.load(Ordering::SeqCst) {
        return None;
    }
    shared.ledger_view.read().ok()?.clone()
}

/// Verifies the file from the cached point (or its start) up to `view`'s committed end.
fn verify_committed(
    cache: &Mutex<Option<Verified>>,
    path: &Path,
    view: &View,
) -> Result<FileVerify, String> {
    let cached = *cache.lock().map_err(|_| "verify cache poisoned")?;
    let full_due = cached.is_none_or(|v| {
        v.full_at.elapsed() >= Duration::from_millis(FULL_VERIFY_INTERVAL_MS)
            || v.point.records > view.committed.records
    });
    let (from, full_at) = match cached {
        Some(v) if !full_due => (v.point, v.full_at),
        _ => (ResumePoint::start(), Instant::now()),
    };
    let end_bytes = view.committed.offset_bytes;
    let report = verify_file(path, from, Some(end_bytes), |_, _| {}).map_err(|e| e.to_string())?;
    let head = (report.scan.records, report.scan.head_hash);
    if head != (view.committed.records, view.committed.head_hash) || report.scan.torn_tail.is_some()
    {
        return Err("the file's head differs from what was committed".to_owned());
    }
    let point = view.committed;
    if let Ok(mut cached) = cache.lock() {
        *cached = Some(Verified { point, full_at });
    }
    Ok(FileVerify {
        records: point.records,
        head_seq: point.records.checked_sub(1),
        head_hash: to_hex(&point.head_hash).as_str().to_owned(),
        checked_records: report.checked_records,
        full_verify_age_ms: u64::try_from(full_at.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Reads one page of committed receipts from the file at `path` as `view` publishes it.
pub fn read_page(path: &Path, view: &View, query: &PageQuery) -> Result<Page, String> {
    let head = view.committed.records;
    let count = query.count.min(PAGE_MAX);
    let first = match (query.after_seq, &query.tenant) {
        (Some(after), _) => after.saturating_add(1),
        (None, None) => head.saturating_sub(count as u64),
        (None, Some(_)) => head.saturating_sub(SCAN_MAX),
    };
    let forward = query.after_seq.is_some();
    read_range(path, view, first, count, query.tenant.as_deref(), forward)
}

/// Reads committed receipts from seq `first` on, looking at most at [`SCAN_MAX`] of them and
/// keeping `count` of those of `tenant` (all without it): the first `count` when `forward`,
/// else the last `count`.
pub fn read_range(
    path: &Path,
    view: &View,
    first: u64,
    count: usize,
    tenant: Option<&str>,
    forward: bool,
) -> Result<Page, String> {
    let head = view.committed.records;
    let last = head.min(first.saturating_add(SCAN_MAX));
    let mut page = Page {
        receipts: Vec::new(),
        last_scanned: None,
    };
    if first >= last || count == 0 {
        return Ok(page);
    }
    let from = view.start_for(first);
    let mut verifier = ChainVerifier::resume(from.records, from.head_hash);
    let mut records =
        Records::open(path, from, view.committed.offset_bytes).map_err(|e| e.to_string())?;
    let mut kept: VecDeque<ReceiptJson> = VecDeque::new();
    while let Some((index, body)) = records.next_record().map_err(|e| e.to_string())? {
        let receipt = verifier.push(&body).map_err(|e| e.to_string())?;
        if index < first {
            continue;
        }
        page.last_scanned = Some(index);
        if tenant.is_none_or(|t| receipt.tenant.as_str() == t) {
            if kept.len() == count {
                kept.pop_front();
            }
            kept.push_back(ReceiptJson::from(&receipt));
            if forward && kept.len() == count {
                break;
            }
        }
        if index + 1 >= last {
            break;
        }
    }
    page.receipts = kept.into();
    Ok(page)
}

/// How often the engine thread's in-memory window is verified for `/v1/ledger/verify` at
/// most (between, the last result is reused): it runs on the engine thread.
pub const MEMORY_VERIFY_INTERVAL_MS: u64 = 1_000;

/// Parses `tail`, `after_seq`, `limit`, `tenant`.
pub fn parse_query(pairs: Vec<(String, String)>) -> Result<PageQuery, String> {
    let mut query = PageQuery {
        after_seq: None,
        count: PAGE_DEFAULT,
        tenant: None,
    };
    let number = |key: &str, value: &str, max: u64| {
        value
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| format!("query: {key} must be 0..={max}"))
    };
    let (mut tail, mut limit) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "tail" => tail = Some(number("tail", &value, PAGE_MAX as u64)?),
            "limit" => limit = Some(number("limit", &value, PAGE_MAX as u64)?),
            "after_seq" => query.after_seq = Some(number("after_seq", &value, u64::MAX)?),
            "tenant" => query.tenant = Some(value),
            other => return Err(format!("query: unknown key {other:?}")),
        }
    }
    match (query.after_seq, tail, limit) {
        (Some(_), Some(_), _) => return Err("query: tail and after_seq exclude each other".into()),
        (None, _, Some(_)) => return Err("query: limit goes with after_seq (or use tail)".into()),
        _ => {}
    }
    query.count = tail.or(limit).map_or(PAGE_DEFAULT, |n| n as usize);
    Ok(query)
}

//! Reading a ledger file: every frame checked, records handed out only once committed, and
//! the first damaged frame classified as a torn tail or as corruption.
//!
//! # Torn tail or corruption (a user-visible contract)
//!
//! What was committed decides. A writer acknowledges nothing before the commit frame that
//! follows it is written (and, under `fsync = "always"`, synced). So:
//!
//! - Records are passed to the caller's callback only when their commit frame has been read
//!   and agrees with them (count, head hash, position). Records after the last commit frame
//!   were never acknowledged.
//! - At the first damaged frame, the rest of the file is searched for a valid commit frame
//!   (its constant word, its checksum, and the position it records must all match). If one
//!   exists, the damage is inside committed data: **corruption**, whatever its shape.
//! - Otherwise the damage is after the last commit. It is a **torn tail** only if it has the
//!   shape an interrupted append leaves: the file ends inside a frame (header or body cut
//!   short), or every byte from a frame boundary to the end of the file is zero, or valid
//!   records simply have no commit frame yet. The torn tail starts at the end of the last
//!   commit frame; `open` truncates it there.
//! - Anything else after the last commit (a complete frame failing its checksum, an unknown
//!   kind or length) is **corruption** too: a flipped bit there cannot be told from damage to
//!   the last commit frame itself, so nothing is truncated. The error names the offset a
//!   person may truncate to after deciding that the bytes after it are expendable.
//!
//! A single flipped bit anywhere before the last commit frame's end is therefore always
//! reported, never truncated: a frame's checksum covers its length word, and a length altered
//! to run past the end of the file is caught by the commit frame that still follows.

mod report;

use std::io::{self, Read, Seek, SeekFrom};

pub use report::{
    Context, CorruptReason, Corruption, REJECT_MESSAGE_BYTES_MAX, ScanReport, TornReason, TornTail,
};

use super::PENDING_RECORDS_MAX;
use super::frame::{
    COMMIT_BODY_BYTES, COMMIT_FRAME_BYTES, COMMIT_WORD, Commit, FILE_HEADER_BYTES, FrameHeader,
    HEADER_BYTES, HeaderError, KIND_COMMIT, LedgerId, MAGIC, MAX_RECORD_BYTES, decode_header,
    frame_checksum, record_hash,
};
use super::read::ResumePoint;
use crate::text::one_line;

const ZERO_CHECK_CHUNK_BYTES: usize = 8 * 1024;
const RESYNC_CHUNK_BYTES: usize = 64 * 1024;
const HEADER_LEN: usize = HEADER_BYTES as usize;

/// Why [`scan_stream`] stopped: the source failed, or the ledger is corrupt.
pub(crate) enum ScanFailure {
    Io(io::Error),
    Corrupt(Corruption),
}

impl From<io::Error> for ScanFailure {
    fn from(e: io::Error) -> Self {
        ScanFailure::Io(e)
    }
}

/// One step of the scan: the next frame, classified.
enum Frame {
    End,
    Record,
    Commit(Commit),
    Damaged(Damage),
}

/// A frame that is not valid, by shape.
enum Damage {
    /// The file ends inside the frame (a torn shape). `len_bytes` is the claimed length.
    Cut(TornReason, u32),
    /// Zero bytes from the frame's start to the end of the file (a torn shape).
    ZeroFill,
    /// Anything else.
    Bad(CorruptReason),
}

/// Records read since the last commit frame, not yet handed to the callback.
struct Pending {
    records: Vec<(u64, Vec<u8>)>,
}

/// The reader's position and what it has committed so far.
struct Cursor {
    pos: u64,
    len: u64,
    committed_bytes: u64,
    committed_records: u64,
    commits: u64,
    head_hash: [u8; 32],
}

impl Cursor {
    fn index(&self, pending: &Pending) -> u64 {
        self.committed_records + pending.records.len() as u64
    }
}

/// Reads a ledger from `src` (positioned at 0, `len` bytes long): its file header, then the
/// frames after `from` (the file's start, or a commit a [`View`](super::View) published),
/// handing each committed record to `on_record` and each accepted commit to `on_commit`.
pub(crate) fn scan_stream<R: Read + Seek>(
    mut src: R,
    len: u64,
    from: ResumePoint,
    mut on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
    mut on_commit: impl FnMut(&Commit),
) -> Result<ScanReport, ScanFailure> {
    let Some(ledger_id) = read_file_header(&mut src, len)? else {
        return Ok(ScanReport {
            ledger_id: None,
            records: 0,
            commits: 0,
            valid_len_bytes: 0,
            head_hash: [0; 32],
            torn_tail: Some(TornTail {
                offset_bytes: 0,
                len_bytes: len,
                uncommitted_records: 0,
                reason: TornReason::PartialFileHeader,
            }),
        });
    };
    let start = from.offset_bytes.max(u64::from(FILE_HEADER_BYTES));
    if start > len {
        let past_end = format!("resume point at byte {start} is past the end ({len} bytes)");
        return Err(ScanFailure::Io(io::Error::other(past_end)));
    }
    src.seek(SeekFrom::Start(start))?;
    let mut cur = Cursor {
        pos: start,
        len,
        committed_bytes: start,
        committed_records: from.records,
        commits: 0,
        head_hash: from.head_hash,
    };
    let mut pending = Pending {
        records: Vec::new(),
    };
    let mut body = vec![0_u8; MAX_RECORD_BYTES as usize];
    loop {
        let start = cur.pos;
        match next_frame(&mut src, &mut cur, &mut body)? {
            Frame::End => return Ok(end_report(ledger_id, &cur, &pending)),
            Frame::Record => {
                if pending.records.len() >= PENDING_RECORDS_MAX as usize {
                    return Err(corrupt(
                        &cur,
                        &pending,
                        start,
                        CorruptReason::TooManyUncommitted,
                        Context::AfterLastCommit {
                            committed_bytes: cur.committed_bytes,
                        },
                    ));
                }
                let used = body.get(..(cur.pos - start - u64::from(HEADER_BYTES)) as usize);
                pending
                    .records
                    .push((start, used.unwrap_or_default().to_vec()));
            }
            Frame::Commit(commit) => {
                apply_commit(&mut cur, &mut pending, start, commit, &mut on_record)?;
                on_commit(&commit);
            }
            Frame::Damaged(damage) => {
                return classify(&mut src, ledger_id, &cur, &pending, start, damage);
            }
        }
    }
}

/// Reads the 32-byte file header: `Some(id)`, or `None` for a torn one (a file shorter than
/// the header whose bytes are a prefix of a header or zeros).
fn read_file_header<R: Read>(src: &mut R, len: u64) -> Result<Option<LedgerId>, ScanFailure> {
    let header_len = u64::from(FILE_HEADER_BYTES);
    let header_corrupt = |e| {
        ScanFailure::Corrupt(Corruption {
            index: 0,
            offset_bytes: 0,
            reason: CorruptReason::FileHeader(e),
            context: Context::Header,
        })
    };
    if len < header_len {
        let mut bytes = vec![0_u8; len as usize];
        src.read_exact(&mut bytes)?;
        let magic_prefix = MAGIC
            .get(..bytes.len().min(MAGIC.len()))
            .unwrap_or_default();
        let prefix = bytes.get(..magic_prefix.len()).unwrap_or_default();
        if prefix == magic_prefix || bytes.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        return Err(header_corrupt(HeaderError::NotALedger));
    }
    let mut header = [0_u8; FILE_HEADER_BYTES as usize];
    src.read_exact(&mut header)?;
    decode_header(&header).map(Some).map_err(header_corrupt)
}

/// Reads and classifies the frame at `cur.pos`, advancing `cur.pos` past a valid one. On
/// `Record` the body is in `body[..len]`.
fn next_frame<R: Read>(src: &mut R, cur: &mut Cursor, body: &mut [u8]) -> io::Result<Frame> {
    let remaining = cur.len - cur.pos;
    if remaining == 0 {
        return Ok(Frame::End);
    }
    if remaining < u64::from(HEADER_BYTES) {
        if rest_is_zero(src, remaining)? {
            return Ok(Frame::Damaged(Damage::ZeroFill));
        }
        return Ok(Frame::Damaged(Damage::Cut(TornReason::PartialHeader, 0)));
    }
    let mut raw = [0_u8; HEADER_LEN];
    src.read_exact(&mut raw)?;
    let after_header = remaining - u64::from(HEADER_BYTES);
    let header = FrameHeader::parse(raw);
    if raw == [0; HEADER_LEN] && rest_is_zero(src, after_header)? {
        return Ok(Frame::Damaged(Damage::ZeroFill));
    }
    if !header.is_valid_shape() {
        let word = header.word;
        return Ok(Frame::Damaged(Damage::Bad(CorruptReason::BadFrame {
            word,
        })));
    }
    if u64::from(header.len_bytes) > after_header {
        let cut = Damage::Cut(TornReason::PartialBody, header.len_bytes);
        return Ok(Frame::Damaged(cut));
    }
    let Some(frame_body) = body.get_mut(..header.len_bytes as usize) else {
        return Err(io::Error::other("ledger body buffer smaller than a frame"));
    };
    src.read_exact(frame_body)?;
    let computed = frame_checksum(header.word, frame_body);
    if computed != header.stored_crc {
        let stored = header.stored_crc;
        let bad = CorruptReason::CrcMismatch { stored, computed };
        return Ok(Frame::Damaged(Damage::Bad(bad)));
    }
    cur.pos += u64::from(HEADER_BYTES + header.len_bytes);
    if header.kind == KIND_COMMIT {
        let commit_body: [u8; COMMIT_BODY_BYTES as usize] = frame_body
            .try_into()
            .unwrap_or([0; COMMIT_BODY_BYTES as usize]);
        return Ok(Frame::Commit(Commit::decode(&commit_body)));
    }
    Ok(Frame::Record)
}

/// Checks a commit frame against the records before it, then hands those records to the
/// callback in order.
fn apply_commit(
    cur: &mut Cursor,
    pending: &mut Pending,
    start: u64,
    commit: Commit,
    on_record: &mut impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<(), ScanFailure> {
    let head = pending
        .records
        .last()
        .map_or(cur.head_hash, |(_, body)| record_hash(body));
    let disagreement = if commit.records != cur.index(pending) {
        Some("record count")
    } else if commit.head_hash != head {
        Some("head hash")
    } else if commit.end_bytes != cur.pos {
        Some("position")
    } else {
        None
    };
    if let Some(what) = disagreement {
        let context = Context::Committed {
            commit_bytes: start,
        };
        let reason = CorruptReason::BadCommit(what);
        return Err(corrupt(cur, pending, start, reason, context));
    }
    for (i, (offset_bytes, body)) in pending.records.iter().enumerate() {
        let index = cur.committed_records + i as u64;
        if let Err(message) = on_record(index, body) {
            return Err(ScanFailure::Corrupt(Corruption {
                index,
                offset_bytes: *offset_bytes,
                reason: CorruptReason::Rejected {
                    message: one_line(&message, REJECT_MESSAGE_BYTES_MAX),
                },
                context: Context::Committed {
                    commit_bytes: start,
                },
            }));
        }
    }
    pending.records.clear();
    cur.committed_records = commit.records;
    cur.committed_bytes = commit.end_bytes;
    cur.head_hash = commit.head_hash;
    cur.commits += 1;
    Ok(())
}

/// The first damaged frame decides: committed (a valid commit follows) → corruption; else a
/// torn shape → torn tail from the last commit; else corruption after the last commit.
fn classify<R: Read + Seek>(
    src: &mut R,
    ledger_id: LedgerId,
    cur: &Cursor,
    pending: &Pending,
    start: u64,
    damage: Damage,
) -> Result<ScanReport, ScanFailure> {
    if let Some(commit_bytes) = find_commit_after(src, start + 1, cur.len)? {
        let reason = match damage {
            Damage::Bad(reason) => reason,
            Damage::Cut(_, len_bytes) => CorruptReason::Overrun { len_bytes },
            Damage::ZeroFill => CorruptReason::BadFrame { word: 0 },
        };
        let context = Context::Committed { commit_bytes };
        return Err(corrupt(cur, pending, start, reason, context));
    }
    let reason = match damage {
        Damage::Cut(reason, _) => reason,
        Damage::ZeroFill => TornReason::ZeroFill,
        Damage::Bad(reason) => {
            let context = Context::AfterLastCommit {
                committed_bytes: cur.committed_bytes,
            };
            return Err(corrupt(cur, pending, start, reason, context));
        }
    };
    Ok(torn_report(ledger_id, cur, pending, reason))
}

fn end_report(ledger_id: LedgerId, cur: &Cursor, pending: &Pending) -> ScanReport {
    if pending.records.is_empty() {
        return ScanReport {
            ledger_id: Some(ledger_id),
            records: cur.committed_records,
            commits: cur.commits,
            valid_len_bytes: cur.committed_bytes,
            head_hash: cur.head_hash,
            torn_tail: None,
        };
    }
    torn_report(ledger_id, cur, pending, TornReason::Uncommitted)
}

fn torn_report(
    ledger_id: LedgerId,
    cur: &Cursor,
    pending: &Pending,
    reason: TornReason,
) -> ScanReport {
    ScanReport {
        ledger_id: Some(ledger_id),
        records: cur.committed_records,
        commits: cur.commits,
        valid_len_bytes: cur.committed_bytes,
        head_hash: cur.head_hash,
        torn_tail: Some(TornTail {
            offset_bytes: cur.committed_bytes,
            len_bytes: cur.len - cur.committed_bytes,
            uncommitted_records: pending.records.len() as u64,
            reason,
        }),
    }
}

fn corrupt(
    cur: &Cursor,
    pending: &Pending,
    offset_bytes: u64,
    reason: CorruptReason,
    context: Context,
) -> ScanFailure {
    ScanFailure::Corrupt(Corruption {
        index: cur.index(pending),
        offset_bytes,
        reason,
        context,
    })
}

/// The offset of the first valid commit frame at or after `from` whose recorded end is its
/// real end, if any.
fn find_commit_after<R: Read + Seek>(src: &mut R, from: u64, len: u64) -> io::Result<Option<u64>> {
    let frame = COMMIT_FRAME_BYTES as usize;
    src.seek(SeekFrom::Start(from.min(len)))?;
    let mut window: Vec<u8> = Vec::with_capacity(RESYNC_CHUNK_BYTES + frame);
    let mut window_start = from;
    let mut left = len.saturating_sub(from);
    loop {
        let want = left.min(RESYNC_CHUNK_BYTES as u64) as usize;
        let old = window.len();
        window.resize(old + want, 0);
        src.read_exact(window.get_mut(old..).unwrap_or_default())?;
        left -= want as u64;
        for (i, candidate) in window.windows(frame).enumerate() {
            if is_commit_at(candidate, window_start + i as u64) {
                return Ok(Some(window_start + i as u64));
            }
        }
        if left == 0 {
            return Ok(None);
        }
        let keep_from = window.len().saturating_sub(frame - 1);
        window.drain(..keep_from);
        window_start += keep_from as u64;
    }
}

fn is_commit_at(bytes: &[u8], offset: u64) -> bool {
    let (Some(word), Some(crc), Some(body)) = (bytes.get(..4), bytes.get(4..8), bytes.get(8..))
    else {
        return false;
    };
    if word != COMMIT_WORD.to_le_bytes() {
        return false;
    }
    let Ok(body) = <[u8; COMMIT_BODY_BYTES as usize]>::try_from(body) else {
        return false;
    };
    frame_checksum(COMMIT_WORD, &body).to_le_bytes() == crc
        && Commit::decode(&body).end_bytes == offset + u64::from(COMMIT_FRAME_BYTES)
}

/// Whether the next `len_bytes` bytes are all zero (reads them all unless one is not).
fn rest_is_zero<R: Read>(reader: &mut R, len_bytes: u64) -> io::Result<bool> {
    let mut chunk = [0_u8; ZERO_CHECK_CHUNK_BYTES];
    let mut left_bytes = len_bytes;
    while left_bytes > 0 {
        let want = left_bytes.min(ZERO_CHECK_CHUNK_BYTES as u64) as usize;
        let part = chunk.get_mut(..want).unwrap_or_default();
        reader.read_exact(part)?;
        if part.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        left_bytes -= want as u64;
    }
    Ok(true)
}

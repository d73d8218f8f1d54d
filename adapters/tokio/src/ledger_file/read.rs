//! Reading committed records of a live ledger from another thread, from any commit on.
//!
//! The writer publishes, after each commit, a [`View`]: how far the file is committed and a
//! sparse index of commit frames (one every [`INDEX_STRIDE_RECORDS`] records at least). A
//! reader (the HTTP layer's ledger pages and verification) opens the file read-only, starts
//! at the indexed commit just before the record it wants, and reads frames up to the
//! published end only — never the bytes a commit in progress is writing. Every frame's
//! checksum is checked again; the caller checks the hash chain from the commit's head.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::frame::{
    COMMIT_FRAME_BYTES, FILE_HEADER_BYTES, FrameHeader, HEADER_BYTES, KIND_COMMIT, LedgerId,
    frame_checksum,
};

/// The index keeps a commit at least every this many records.
pub const INDEX_STRIDE_RECORDS: u64 = 1024;

/// The state right after a commit frame: where it ends, how many records precede it, and
/// the last one's hash. Reading can start there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The offset where the commit frame ends (the next frame starts).
    pub offset_bytes: u64,
    /// Records before that offset (= the seq of the next record).
    pub records: u64,
    /// The hash of the last record before it (zeros at the start).
    pub head_hash: [u8; 32],
}

impl ResumePoint {
    /// The start of a file: after the header, no records.
    #[must_use]
    pub fn start() -> Self {
        Self {
            offset_bytes: u64::from(FILE_HEADER_BYTES),
            records: 0,
            head_hash: [0; 32],
        }
    }
}

/// What a writer publishes for readers: the committed end and a sparse index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The ledger's id.
    pub ledger_id: LedgerId,
    /// The last commit: readers never read past `committed.offset_bytes`.
    pub committed: ResumePoint,
    /// Commits to start from, ascending, the first being [`ResumePoint::start`].
    pub index: Vec<ResumePoint>,
}

impl View {
    /// A view of an empty ledger.
    #[must_use]
    pub fn new(ledger_id: LedgerId) -> Self {
        Self {
            ledger_id,
            committed: ResumePoint::start(),
            index: vec![ResumePoint::start()],
        }
    }

    /// Records a commit (called by the writer, in order).
    pub fn push(&mut self, point: ResumePoint) {
        debug_assert!(point.records >= self.committed.records);
        let last = self.index.last().map_or(0, |p| p.records);
        if point.records >= last + INDEX_STRIDE_RECORDS {
            self.index.push(point);
        }
        self.committed = point;
    }

    /// The indexed commit at or before record `seq` (where a reader of `seq` starts).
    #[must_use]
    pub fn start_for(&self, seq: u64) -> ResumePoint {
        let at = self.index.partition_point(|p| p.records <= seq);
        at.checked_sub(1)
            .and_then(|i| self.index.get(i))
            .copied()
            .unwrap_or_else(ResumePoint::start)
    }
}

/// Reads the records between a resume point and a committed end.
#[derive(Debug)]
pub struct Records {
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    next_index: u64,
}

impl Records {
    /// Opens `path` to read from `from` up to `end_bytes` (a published committed end).
    pub fn open(path: &Path, from: ResumePoint, end_bytes: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(from.offset_bytes))?;
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, file),
            pos: from.offset_bytes,
            end: end_bytes,
            next_index: from.records,
        })
    }

    /// The next record `(index, body)`, skipping commit frames; `None` at the end. A frame
    /// that fails its checksum or does not fit is an `InvalidData` error.
    pub fn next_record(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        loop {
            if self.pos >= self.end {
                return Ok(None);
            }
            let mut raw = [0_u8; HEADER_BYTES as usize];
            self.reader.read_exact(&mut raw)?;
            let header = FrameHeader::parse(raw);
            let frame_end = self.pos + u64::from(HEADER_BYTES + header.len_bytes);
            if !header.is_valid_shape() || frame_end > self.end {
                return Err(invalid(self.pos, "invalid frame header"));
            }
            let mut body = vec![0_u8; header.len_bytes as usize];
            self.reader.read_exact(&mut body)?;
            if frame_checksum(header.word, &body) != header.stored_crc {
                return Err(invalid(self.pos, "checksum mismatch"));
            }
            self.pos = frame_end;
            if header.kind == KIND_COMMIT {
                debug_assert_eq!(header.len_bytes + HEADER_BYTES, COMMIT_FRAME_BYTES);
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            return Ok(Some((index, body)));
        }
    }
}

fn invalid(offset: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("ledger frame at byte {offset}: {what}"),
    )
}

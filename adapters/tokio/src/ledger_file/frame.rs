//! The bytes of a ledger file: its header, record frames and commit frames (format 2).
//!
//! The whole format, with the reasons for each rule, is `docs/ledger-format.md`.
//!
//! ```text
//! file    = header frame*
//! header  = magic "ANLEDGER" | version u32 LE (= 2) | ledger_id [16] | crc32c u32 LE   (32 bytes)
//! frame   = word u32 LE | crc32c u32 LE | body
//! word    = kind << 24 | len            kind 1 = record (len 1..=4096), 2 = commit (len 48)
//! crc32c  = CRC-32C over word bytes | body   (the length is covered too)
//! commit  = records u64 LE | head_hash [32] | end_bytes u64 LE
//! ```
//!
//! A commit frame follows every group commit: `records` is the number of records in the file
//! up to it, `head_hash` the last 32 bytes of the last record (a receipt's own hash: the
//! core's canonical encoding ends with it), `end_bytes` the file offset where the commit frame
//! ends. So a commit frame can be recognized anywhere by its constant word, its checksum and
//! its own position, which is how a reader finds out whether damaged bytes were committed.

use crc::{CRC_32_ISCSI, Crc, Table};
use thiserror::Error;

/// The first eight bytes of every ledger file.
pub const MAGIC: [u8; 8] = *b"ANLEDGER";
/// The format version this program writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Size of the file header.
pub const FILE_HEADER_BYTES: u32 = 32;
/// Size of a frame header: the word and the checksum.
pub const HEADER_BYTES: u32 = 8;
/// Largest body one record frame may carry (the core's receipt encoding fits in it).
pub const MAX_RECORD_BYTES: u32 = 4096;
/// Shortest record body: it must end with its 32-byte hash, which commits repeat.
pub const MIN_RECORD_BYTES: u32 = 32;
/// Size of a commit frame's body.
pub const COMMIT_BODY_BYTES: u32 = 48;
/// Size of a whole commit frame.
pub const COMMIT_FRAME_BYTES: u32 = HEADER_BYTES + COMMIT_BODY_BYTES;
/// Frame kind of a record.
pub const KIND_RECORD: u8 = 1;
/// Frame kind of a commit.
pub const KIND_COMMIT: u8 = 2;
/// The word of every commit frame (kind and length are both fixed).
pub const COMMIT_WORD: u32 = (KIND_COMMIT as u32) << 24 | COMMIT_BODY_BYTES;

const LEN_MASK: u32 = 0x00FF_FFFF;
const _: () = assert!(MAX_RECORD_BYTES <= LEN_MASK && MIN_RECORD_BYTES > 0);

/// Identifies one ledger: 16 random bytes written into the header when the file is created.
pub type LedgerId = [u8; 16];

static CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// CRC-32C of a frame: its word's four bytes, then its body.
#[must_use]
pub fn frame_checksum(word: u32, body: &[u8]) -> u32 {
    let mut digest = CASTAGNOLI.digest();
    digest.update(&word.to_le_bytes());
    digest.update(body);
    digest.finalize()
}

/// The file header: magic, version, ledger id, checksum.
#[must_use]
pub fn encode_header(ledger_id: &LedgerId) -> [u8; FILE_HEADER_BYTES as usize] {
    let mut header = [0_u8; FILE_HEADER_BYTES as usize];
    let (head, crc) = header.split_at_mut(28);
    let (magic, rest) = head.split_at_mut(8);
    let (version, id) = rest.split_at_mut(4);
    magic.copy_from_slice(&MAGIC);
    version.copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    id.copy_from_slice(ledger_id);
    crc.copy_from_slice(&CASTAGNOLI.checksum(head).to_le_bytes());
    header
}

/// What is wrong with a file header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The file does not start with [`MAGIC`] (not a ledger, or one written before format 2).
    #[error("not an autonomic ledger of format {FORMAT_VERSION} (no ANLEDGER header)")]
    NotALedger,
    /// The header's checksum fails.
    #[error("file header checksum mismatch")]
    Checksum,
    /// A version this program does not read.
    #[error("unsupported ledger format version {0} (this program reads {FORMAT_VERSION})")]
    Version(u32),
}

/// Reads a 32-byte file header and returns the ledger id.
pub fn decode_header(header: &[u8; FILE_HEADER_BYTES as usize]) -> Result<LedgerId, HeaderError> {
    let (head, crc) = header.split_at(28);
    let (magic, rest) = head.split_at(8);
    let (version, id) = rest.split_at(4);
    if magic != MAGIC {
        return Err(HeaderError::NotALedger);
    }
    if CASTAGNOLI.checksum(head).to_le_bytes() != crc {
        return Err(HeaderError::Checksum);
    }
    let version = u32::from_le_bytes(version.try_into().map_err(|_| HeaderError::Checksum)?);
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    id.try_into().map_err(|_| HeaderError::Checksum)
}

/// Why a body cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A record must be at least [`MIN_RECORD_BYTES`] long (it ends with its hash).
    #[error("ledger record body is {len_bytes} bytes, under the minimum of {MIN_RECORD_BYTES}")]
    TooShort {
        /// The body's length.
        len_bytes: u64,
    },
    /// The body is larger than [`MAX_RECORD_BYTES`].
    #[error("ledger record body is {len_bytes} bytes, over the limit of {MAX_RECORD_BYTES}")]
    TooLarge {
        /// The body's length.
        len_bytes: u64,
    },
}

/// Appends one record frame for `body` to `out`; on error `out` is unchanged.
pub fn encode_record(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len_bytes = body.len() as u64;
    if len_bytes < u64::from(MIN_RECORD_BYTES) {
        return Err(FrameError::TooShort { len_bytes });
    }
    if len_bytes > u64::from(MAX_RECORD_BYTES) {
        return Err(FrameError::TooLarge { len_bytes });
    }
    let word = u32::from(KIND_RECORD) << 24 | len_bytes as u32;
    out.reserve(HEADER_BYTES as usize + body.len());
    out.extend_from_slice(&word.to_le_bytes());
    out.extend_from_slice(&frame_checksum(word, body).to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// The last 32 bytes of a record body: the receipt's hash (the core's rule,
/// [`autonomic_core::receipt::hash_of`]); zeros for a body too short to hold one.
#[must_use]
pub fn record_hash(body: &[u8]) -> [u8; 32] {
    autonomic_core::receipt::hash_of(body).unwrap_or([0; 32])
}

/// What a commit frame says: everything before it was written by one or more group commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Records in the file up to this commit.
    pub records: u64,
    /// The last record's hash ([`record_hash`]).
    pub head_hash: [u8; 32],
    /// The offset where this commit frame ends.
    pub end_bytes: u64,
}

impl Commit {
    /// Appends this commit's frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut body = [0_u8; COMMIT_BODY_BYTES as usize];
        let (records, rest) = body.split_at_mut(8);
        let (hash, end) = rest.split_at_mut(32);
        records.copy_from_slice(&self.records.to_le_bytes());
        hash.copy_from_slice(&self.head_hash);
        end.copy_from_slice(&self.end_bytes.to_le_bytes());
        out.extend_from_slice(&COMMIT_WORD.to_le_bytes());
        out.extend_from_slice(&frame_checksum(COMMIT_WORD, &body).to_le_bytes());
        out.extend_from_slice(&body);
    }

    /// Reads a commit body (its checksum already verified).
    #[must_use]
    pub fn decode(body: &[u8; COMMIT_BODY_BYTES as usize]) -> Self {
        let (records, rest) = body.split_at(8);
        let (hash, end) = rest.split_at(32);
        Self {
            records: u64::from_le_bytes(records.try_into().unwrap_or([0; 8])),
            head_hash: hash.try_into().unwrap_or([0; 32]),
            end_bytes: u64::from_le_bytes(end.try_into().unwrap_or([0; 8])),
        }
    }
}

/// A frame header, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub word: u32,
    pub kind: u8,
    pub len_bytes: u32,
    pub stored_crc: u32,
}

impl FrameHeader {
    pub(crate) fn parse(header: [u8; HEADER_BYTES as usize]) -> Self {
        let [w0, w1, w2, w3, c0, c1, c2, c3] = header;
        let word = u32::from_le_bytes([w0, w1, w2, w3]);
        Self {
            word,
            kind: w3,
            len_bytes: word & LEN_MASK,
            stored_crc: u32::from_le_bytes([c0, c1, c2, c3]),
        }
    }

    /// Whether kind and length are ones this format writes.
    pub(crate) fn is_valid_shape(&self) -> bool {
        match self.kind {
            KIND_RECORD => (MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&self.len_bytes),
            KIND_COMMIT => self.word == COMMIT_WORD,
            _ => false,
        }
    }
}

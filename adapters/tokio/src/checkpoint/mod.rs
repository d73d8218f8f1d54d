//! Signed checkpoints: "ledger L had head (seq, hash) at time t", signed with the sidecar's
//! Ed25519 identity (Certificate Transparency's signed tree heads, Rekor's checkpoints).
//!
//! The hash chain makes every change *inside* the ledger visible; it cannot see the ledger
//! being cut short at a record boundary, or replaced whole by another valid ledger. A
//! checkpoint kept somewhere else can: the ledger must contain the checkpoint's head — the
//! same ledger id, a receipt at `seq`, and that receipt's hash equal to `head`.
//!
//! # Text format (one checkpoint per file, LF line ends, nothing else)
//!
//! ```text
//! autonomic checkpoint v1
//! ledger <32 lowercase hex: the ledger id from the file header>
//! seq <decimal: the head receipt's seq>
//! head <64 lowercase hex: the head receipt's hash>
//! time_ms <decimal: Unix ms when it was signed>
//! key <64 lowercase hex: the Ed25519 public key>
//! sig <128 lowercase hex: Ed25519 over every byte of the lines above, newlines included>
//! ```
//!
//! Parsing is strict: exactly these lines in this order, canonical numbers and hex.
//!
//! Checking a ledger against its checkpoints is in [`Audit`]; reading and writing the
//! checkpoint and key files in `files`.

mod audit;
mod files;

use std::fmt::Write as _;
use std::path::PathBuf;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use thiserror::Error;

pub use audit::{Audit, HeadProbe, Mismatch, check_key};
pub use files::{FileError, load_or_create_key, read, read_public_key, write_atomically};

use crate::ledger_file::LedgerId;

/// The first line of every checkpoint.
pub const HEADER_LINE: &str = "autonomic checkpoint v1";
/// The checkpoint's file name in the data directory.
pub const FILE_NAME: &str = "checkpoint";
/// The public key's file name in the data directory (so `verify` can pin it).
pub const PUBLIC_KEY_FILE_NAME: &str = "identity.pub";
/// The private key's default file name in the data directory (`[checkpoint] key` moves it).
pub const KEY_FILE_NAME: &str = "identity.key";
/// Longest checkpoint file read.
pub const CHECKPOINT_BYTES_MAX: u64 = 4096;
/// Longest key file read.
/// The most bytes read of a key file.
const KEY_FILE_BYTES_MAX: u64 = 256;

/// One signed statement about a ledger's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger's id (from its file header).
    pub ledger_id: LedgerId,
    /// The head receipt's seq.
    pub seq: u64,
    /// The head receipt's hash.
    pub head_hash: [u8; 32],
    /// When it was signed, Unix ms.
    pub time_ms: u64,
    /// The signer's public key.
    pub public_key: [u8; 32],
    /// Ed25519 over [`Checkpoint::signed_text`].
    pub signature: [u8; 64],
}

/// Why a checkpoint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A line is missing, extra, out of order, or not canonical.
    #[error("line {line}: expected {expected}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// The signature does not verify under the checkpoint's key.
    #[error("bad signature")]
    BadSignature,
}

impl Checkpoint {
    /// Signs a statement about `(ledger_id, seq, head_hash)` at `time_ms`.
    #[must_use]
    pub fn sign(
        key: &SigningKey,
        ledger_id: LedgerId,
        seq: u64,
        head_hash: [u8; 32],
        time_ms: u64,
    ) -> Self {
        let mut checkpoint = Self {
            ledger_id,
            seq,
            head_hash,
            time_ms,
            public_key: key.verifying_key().to_bytes(),
            signature: [0; 64],
        };
        checkpoint.signature = key.sign(checkpoint.signed_text().as_bytes()).to_bytes();
        checkpoint
    }

    /// Every line but `sig`, newlines included: the bytes the signature covers.
    #[must_use]
    pub fn signed_text(&self) -> String {
        let mut text = String::with_capacity(256);
        let _ = writeln!(text, "{HEADER_LINE}");
        let _ = writeln!(text, "ledger {}", hex::encode(self.ledger_id));
        let _ = writeln!(text, "seq {}", self.seq);
        let _ = writeln!(text, "head {}", hex::encode(self.head_hash));
        let _ = writeln!(text, "time_ms {}", self.time_ms);
        let _ = writeln!(text, "key {}", hex::encode(self.public_key));
        text
    }

    /// The whole file's text.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}sig {}\n",
            self.signed_text(),
            hex::encode(self.signature)
        )
    }

    /// Parses a checkpoint and verifies its signature under the key it names.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut lines = text.split_inclusive('\n');
        let mut next = |line: usize, prefix: &'static str, expected: &'static str| {
            let err = ParseError::Line { line, expected };
            let l = lines.next().ok_or(err.clone())?;
            let value = l.strip_suffix('\n').ok_or(err.clone())?;
            let value = value.strip_prefix(prefix).ok_or(err.clone())?;
            Ok::<&str, ParseError>(value)
        };
        if !next(1, HEADER_LINE, "the header line")?.is_empty() {
            return Err(ParseError::Line {
                line: 1,
                expected: "the header line",
            });
        }
        let ledger_id = parse_hex::<16>(next(2, "ledger ", "ledger <32 hex>")?, 2)?;
        let seq = parse_u64(next(3, "seq ", "seq <decimal>")?, 3)?;
        let head_hash = parse_hex::<32>(next(4, "head ", "head <64 hex>")?, 4)?;
        let time_ms = parse_u64(next(5, "time_ms ", "time_ms <decimal>")?, 5)?;
        let public_key = parse_hex::<32>(next(6, "key ", "key <64 hex>")?, 6)?;
        let signature = parse_hex::<64>(next(7, "sig ", "sig <128 hex>")?, 7)?;
        if lines.next().is_some() {
            return Err(ParseError::Line {
                line: 8,
                expected: "the end of the file",
            });
        }
        let checkpoint = Self {
            ledger_id,
            seq,
            head_hash,
            time_ms,
            public_key,
            signature,
        };
        checkpoint.verify_signature()?;
        Ok(checkpoint)
    }

    fn verify_signature(&self) -> Result<(), ParseError> {
        let key =
            VerifyingKey::from_bytes(&self.public_key).map_err(|_| ParseError::BadSignature)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify(self.signed_text().as_bytes(), &signature)
            .map_err(|_| ParseError::BadSignature)
    }
}

fn parse_u64(text: &str, line: usize) -> Result<u64, ParseError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let err = ParseError::Line {
        line,
        expected: "a canonical decimal number",
    };
    if !canonical {
        return Err(err);
    }
    text.parse().map_err(|_| err)
}

pub(crate) fn parse_hex<const N: usize>(text: &str, line: usize) -> Result<[u8; N], ParseError> {
    let err = ParseError::Line {
        line,
        expected: "lowercase hex of the right length",
    };
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(err);
    }
    let mut out = [0_u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| err)?;
    Ok(out)
}

/// Where checkpoints go and how often: the sidecar's side of this module.
///
/// After a round whose receipts are all durable, [`Checkpointer::due`] says whether the head moved
/// and `interval` passed; [`Checkpointer::write`] signs and writes the checkpoint to the data dir
/// and the witness, each atomically. A failed write is reported (logged, counted), never
/// fatal: the ledger itself is intact, only its outside witness is late.
#[derive(Debug)]
pub struct Checkpointer {
    key: SigningKey,
    ledger_id: LedgerId,
    paths: Vec<PathBuf>,
    interval: std::time::Duration,
    last_seq: Option<u64>,
    last_at: Option<std::time::Instant>,
}

impl Checkpointer {
    /// A signer for `ledger_id` writing to `paths` (the data dir's checkpoint, then the
    /// witness), at most once per `interval`.
    #[must_use]
    pub fn new(
        key: SigningKey,
        ledger_id: LedgerId,
        paths: Vec<PathBuf>,
        interval: std::time::Duration,
        last_seq: Option<u64>,
    ) -> Self {
        Self {
            key,
            ledger_id,
            paths,
            interval,
            last_seq,
            last_at: None,
        }
    }

    /// Whether a checkpoint of head `seq` is due now (`force`: whenever the head moved).
    #[must_use]
    pub fn due(&self, seq: Option<u64>, force: bool) -> bool {
        let moved = seq.is_some() && seq != self.last_seq;
        let waited = self.last_at.is_none_or(|at| at.elapsed() >= self.interval);
        moved && (force || waited)
    }

    /// Signs head `(seq, head_hash)` at `time_ms` and writes it to every path. Returns its
    /// text and the errors of the paths that failed (the others were written).
    pub fn write(
        &mut self,
        seq: u64,
        head_hash: [u8; 32],
        time_ms: u64,
    ) -> (String, Vec<FileError>) {
        let checkpoint = Checkpoint::sign(&self.key, self.ledger_id, seq, head_hash, time_ms);
        let text = checkpoint.to_text();
        let errors: Vec<FileError> = self
            .paths
            .iter()
            .filter_map(|path| write_atomically(path, &text, 0o644).err())
            .collect();
        self.last_at = Some(std::time::Instant::now());
        if errors.is_empty() {
            self.last_seq = Some(seq);
        }
        (text, errors)
    }

    /// The public key, hex.
    #[must_use]
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }
}

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

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use thiserror::Error;

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

fn parse_hex<const N: usize>(text: &str, line: usize) -> Result<[u8; N], ParseError> {
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

/// How a ledger fails a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Mismatch {
    /// The ledger file is gone although a checkpoint names it.
    #[error(
        "the ledger file is missing, but a checkpoint says ledger {ledger} had head seq {seq}: \
         the ledger was deleted or moved"
    )]
    Missing {
        /// The checkpoint's ledger id, hex.
        ledger: String,
        /// The checkpoint's seq.
        seq: u64,
    },
    /// The ledger has another id: it is not the ledger the checkpoint is about.
    #[error(
        "this is another ledger (id {found}), not the one the checkpoint is about (id {expected}): \
         the ledger was replaced"
    )]
    OtherLedger {
        /// The file's ledger id, hex.
        found: String,
        /// The checkpoint's ledger id, hex.
        expected: String,
    },
    /// The ledger ends before the checkpoint's head.
    #[error(
        "the ledger is truncated: it holds {records} receipts, but a checkpoint says it had head \
         seq {seq}"
    )]
    Truncated {
        /// Receipts in the ledger.
        records: u64,
        /// The checkpoint's seq.
        seq: u64,
    },
    /// The receipt at the checkpoint's seq has another hash.
    #[error(
        "the ledger was rewritten: receipt {seq} has hash {found}, but the checkpoint says {expected}"
    )]
    Rewritten {
        /// The checkpoint's seq.
        seq: u64,
        /// The receipt's hash in the ledger, hex.
        found: String,
        /// The checkpoint's hash, hex.
        expected: String,
    },
    /// The checkpoint was signed by another key than the one pinned.
    #[error("the checkpoint is signed by key {found}, not by this sidecar's identity {expected}")]
    OtherKey {
        /// The checkpoint's key, hex.
        found: String,
        /// The pinned key, hex.
        expected: String,
    },
}

/// Watches a ledger scan for the receipt a checkpoint names.
#[derive(Debug, Clone)]
pub struct HeadProbe {
    seq: u64,
    found: Option<[u8; 32]>,
}

impl HeadProbe {
    /// Looks for the receipt at `checkpoint.seq`.
    #[must_use]
    pub fn new(checkpoint: &Checkpoint) -> Self {
        Self {
            seq: checkpoint.seq,
            found: None,
        }
    }

    /// Call with every record of the scan (index from 0 = seq).
    pub fn observe(&mut self, index: u64, body: &[u8]) {
        if index == self.seq {
            self.found = Some(crate::ledger_file::record_hash(body));
        }
    }

    /// Whether the ledger (`ledger_id`, `records` receipts) contains the checkpoint's head.
    pub fn check(
        &self,
        checkpoint: &Checkpoint,
        ledger_id: LedgerId,
        records: u64,
    ) -> Result<(), Mismatch> {
        if ledger_id != checkpoint.ledger_id {
            return Err(Mismatch::OtherLedger {
                found: hex::encode(ledger_id),
                expected: hex::encode(checkpoint.ledger_id),
            });
        }
        match self.found {
            None => Err(Mismatch::Truncated {
                records,
                seq: checkpoint.seq,
            }),
            Some(hash) if hash != checkpoint.head_hash => Err(Mismatch::Rewritten {
                seq: checkpoint.seq,
                found: hex::encode(hash),
                expected: hex::encode(checkpoint.head_hash),
            }),
            Some(_) => Ok(()),
        }
    }
}

/// Checks that `checkpoint` was signed by `pinned`.
pub fn check_key(checkpoint: &Checkpoint, pinned: &[u8; 32]) -> Result<(), Mismatch> {
    if &checkpoint.public_key == pinned {
        return Ok(());
    }
    Err(Mismatch::OtherKey {
        found: hex::encode(checkpoint.public_key),
        expected: hex::encode(pinned),
    })
}

/// Everything a reader of the ledger checks against its checkpoints, in one place (the
/// sidecar's start and `autonomic verify` both use it): each checkpoint's key (when one is
/// pinned), and that the ledger contains each checkpoint's head.
///
/// Call order: [`Audit::missing_ledger`] if the ledger file does not exist; else
/// [`Audit::observe`] every committed record during the scan, then [`Audit::check`].
#[derive(Debug, Clone)]
pub struct Audit {
    checkpoints: Vec<(PathBuf, Checkpoint)>,
    probes: Vec<HeadProbe>,
    pinned: Option<[u8; 32]>,
}

impl Audit {
    /// Audits against `checkpoints` (with the files they came from), each of which must be
    /// signed by `pinned` when given.
    #[must_use]
    pub fn new(checkpoints: Vec<(PathBuf, Checkpoint)>, pinned: Option<[u8; 32]>) -> Self {
        let probes = checkpoints.iter().map(|(_, c)| HeadProbe::new(c)).collect();
        Self {
            checkpoints,
            probes,
            pinned,
        }
    }

    /// Reads the checkpoints at `paths` that exist, in order.
    pub fn read_existing(
        paths: impl IntoIterator<Item = PathBuf>,
    ) -> Result<Vec<(PathBuf, Checkpoint)>, FileError> {
        let mut found = Vec::new();
        for path in paths {
            if let Some(cp) = read(&path)? {
                found.push((path, cp));
            }
        }
        Ok(found)
    }

    /// The refusal when the ledger file does not exist but a checkpoint names it.
    #[must_use]
    pub fn missing_ledger(&self) -> Option<String> {
        let (path, cp) = self.checkpoints.first()?;
        let missing = Mismatch::Missing {
            ledger: hex::encode(cp.ledger_id),
            seq: cp.seq,
        };
        Some(format!("checkpoint {}: {missing}", path.display()))
    }

    /// Sees one committed record of the scan (index from 0 = seq).
    pub fn observe(&mut self, index: u64, body: &[u8]) {
        self.probes.iter_mut().for_each(|p| p.observe(index, body));
    }

    /// After the scan: every checkpoint carries the pinned key and its head is in the
    /// ledger (`ledger_id`, `records` committed receipts). The error names the checkpoint's
    /// file and what is wrong, on one line.
    pub fn check(&self, ledger_id: LedgerId, records: u64) -> Result<(), String> {
        for ((path, cp), probe) in self.checkpoints.iter().zip(&self.probes) {
            self.pinned
                .map_or(Ok(()), |key| check_key(cp, &key))
                .and_then(|()| probe.check(cp, ledger_id, records))
                .map_err(|mismatch| format!("checkpoint {}: {mismatch}", path.display()))?;
        }
        Ok(())
    }

    /// The checkpoints audited, with their files.
    #[must_use]
    pub fn checkpoints(&self) -> &[(PathBuf, Checkpoint)] {
        &self.checkpoints
    }

    /// The highest seq any checkpoint names.
    #[must_use]
    pub fn newest_seq(&self) -> Option<u64> {
        self.checkpoints.iter().map(|(_, c)| c.seq).max()
    }
}

/// Why a checkpoint, key or witness file could not be used.
#[derive(Debug, Error)]
pub enum FileError {
    /// Reading, writing or syncing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The checkpoint file does not parse or verify.
    #[error("{}: not a valid checkpoint: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ParseError,
    },
    /// The private key file is readable by others, or not a key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a checkpoint file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Checkpoint>, FileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut text = String::new();
    file.take(CHECKPOINT_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(io_error(path))?;
    Checkpoint::parse(&text)
        .map(Some)
        .map_err(|source| FileError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Replaces `path` with `text` atomically and durably: a temporary file beside it, fsync,
/// rename, fsync of the directory. A reader sees the old or the new file, never a mix.
pub fn write_atomically(path: &Path, text: &str, mode: u32) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(&dir))
}

/// Loads the Ed25519 private key at `path` (64 hex characters and a newline), or makes one
/// with mode 0600 when the file does not exist. A key file readable or writable by group or
/// others is refused, as ssh does.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, FileError> {
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(FileError::Key {
                    path: path.to_path_buf(),
                    reason: "the private key is accessible by group or others (chmod 600 it)",
                });
            }
            let mut text = String::new();
            File::open(path)
                .and_then(|f| f.take(KEY_FILE_BYTES_MAX).read_to_string(&mut text))
                .map_err(io_error(path))?;
            let bytes =
                parse_hex::<32>(text.trim_end_matches('\n'), 1).map_err(|_| FileError::Key {
                    path: path.to_path_buf(),
                    reason: "not an Ed25519 private key (64 lowercase hex characters)",
                })?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut seed = [0_u8; 32];
            getrandom::fill(&mut seed).map_err(|e| {
                io_error(path)(io::Error::other(format!("no randomness for a key: {e}")))
            })?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
            write_atomically(path, &format!("{}\n", hex::encode(seed)), 0o600)?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Reads a public key file (64 hex characters and a newline); `Ok(None)` when there is none.
pub fn read_public_key(path: &Path) -> Result<Option<[u8; 32]>, FileError> {
    let mut text = String::new();
    match File::open(path) {
        Ok(f) => f
            .take(KEY_FILE_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(io_error(path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    parse_hex::<32>(text.trim_end_matches('\n'), 1)
        .map(Some)
        .map_err(|_| FileError::Key {
            path: path.to_path_buf(),
            reason: "not an Ed25519 public key (64 lowercase hex characters)",
        })
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

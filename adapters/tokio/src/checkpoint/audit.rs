//! Whether a ledger contains its checkpoints' heads, and was signed by the pinned key.

use std::path::PathBuf;

use thiserror::Error;

use super::{Checkpoint, FileError, read};
use crate::ledger_file::LedgerId;

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

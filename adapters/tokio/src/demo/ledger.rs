//! The demo's ledger steps: verify the file as `autonomic verify` does, then show that a
//! flipped byte and a cut tail are caught, on copies (the real file is never touched).

use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Audit};
use crate::commands::summary;
use crate::ledger_file::{FILE_NAME, FileReport, ResumePoint, ScanError, verify_file};

/// The ledger steps: (input, decision, why, ok) each.
pub struct Checks {
    /// The steps, numbered by the caller.
    pub lines: Vec<(String, String, String, bool)>,
    /// Receipts in the verified ledger.
    pub receipts: u64,
}

/// Verifies `data_dir`'s ledger against its checkpoint; then a copy (in `scratch`) with one
/// byte flipped, and a copy cut back to `cut_at` (a committed end) while the checkpoint
/// names the full head.
pub fn check(data_dir: &Path, scratch: &Path, cut_at: ResumePoint) -> Result<Checks, String> {
    let path = data_dir.join(FILE_NAME);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = Vec::new();
    let (report, audit) = verify_with_checkpoint(data_dir, &path)?;
    let receipts = report.scan.records;
    let head = audit.newest_seq();
    let ok = audit.check(report.scan.ledger_id.unwrap_or_default(), receipts);
    let why = match head {
        Some(seq) => format!(
            "every frame and the hash chain check out; the signed checkpoint's head seq {seq} is in it"
        ),
        None => "every frame and the hash chain check out".to_owned(),
    };
    lines.push((
        format!("verify {FILE_NAME}"),
        ok.clone().map_or_else(|e| e, |()| summary(&report)),
        why,
        ok.is_ok() && head.is_some(),
    ));

    let flipped_at = bytes.len() / 2;
    let mut flipped = bytes.clone();
    if let Some(b) = flipped.get_mut(flipped_at) {
        *b ^= 0x01;
    }
    let copy = write_copy(scratch, "flipped", &flipped)?;
    let verdict = verify_file(&copy, ResumePoint::start(), None, |_, _| {});
    lines.push((
        format!("verify a copy with byte {flipped_at} flipped"),
        match &verdict {
            Ok(report) => format!("accepted: {}", summary(report)),
            Err(ScanError::Corrupt { corruption, .. }) => format!("refused: {corruption}"),
            Err(e) => format!("refused: {e}"),
        },
        "a flipped bit breaks a frame's checksum or the hash chain: named by record and byte"
            .to_owned(),
        matches!(verdict, Err(ScanError::Corrupt { .. })),
    ));

    let cut_len = usize::try_from(cut_at.offset_bytes).unwrap_or(usize::MAX);
    let cut = bytes.get(..cut_len).unwrap_or(&bytes);
    let copy = write_copy(scratch, "cut", cut)?;
    let (report, audit) = verify_with_checkpoint(data_dir, &copy)?;
    let refusal = audit
        .check(
            report.scan.ledger_id.unwrap_or_default(),
            report.scan.records,
        )
        .err();
    lines.push((
        format!(
            "verify a copy cut after receipt {}",
            cut_at.records.saturating_sub(1)
        ),
        refusal.clone().map_or_else(
            || format!("accepted: {}", summary(&report)),
            |e| format!("refused: {e}"),
        ),
        "its frames check out, but the signed checkpoint's head is missing from it".to_owned(),
        refusal.is_some(),
    ));
    Ok(Checks { lines, receipts })
}

/// `verify_file` on `path`, the data dir's checkpoint audited during the scan.
fn verify_with_checkpoint(data_dir: &Path, path: &Path) -> Result<(FileReport, Audit), String> {
    let mut audit = audit_of(data_dir);
    let report = verify_file(path, ResumePoint::start(), None, |index, body| {
        audit.observe(index, body);
    })
    .map_err(|e| e.to_string())?;
    Ok((report, audit))
}

/// The audit `autonomic verify` makes: the data dir's checkpoint, its own public key.
fn audit_of(data_dir: &Path) -> Audit {
    let pinned = checkpoint::read_public_key(&data_dir.join(checkpoint::PUBLIC_KEY_FILE_NAME))
        .ok()
        .flatten();
    let found = Audit::read_existing([data_dir.join(checkpoint::FILE_NAME)]).unwrap_or_default();
    Audit::new(found, pinned)
}

fn write_copy(scratch: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

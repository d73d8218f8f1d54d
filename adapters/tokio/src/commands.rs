//! `autonomic verify` and `autonomic ledger`: streaming reads of the ledger file, O(1)
//! memory (beyond `--tail`'s window), never modifying it.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use autonomic_core::ChainVerifier;
use autonomic_core::receipt::to_hex;

use crate::checkpoint::{self, Audit};
use crate::exit;
use crate::ledger_file::{self, FILE_NAME, FileReport, ResumePoint, ScanError, verify_file};
use crate::wire::{ReceiptJson, to_line};

/// Most receipts `--tail` keeps.
pub const TAIL_MAX: u64 = 1_000_000;

/// The summary line of a successful verification.
#[must_use]
pub fn summary(file: &FileReport) -> String {
    let report = &file.scan;
    let count = report.records;
    let mut line = match count.checked_sub(1) {
        None => "ok: 0 receipts (empty ledger)".to_owned(),
        Some(head) => format!(
            "ok: {count} receipts, head seq {head}, hash {}",
            to_hex(&report.head_hash).as_str()
        ),
    };
    if let Some(id) = report.ledger_id {
        line.push_str(&format!(", ledger {}", hex::encode(id)));
    }
    if let Some(tail) = report.torn_tail {
        line.push_str(&format!(
            "; torn tail of {} bytes at byte {} ({}, {} uncommitted records, never \
             acknowledged) would be truncated on start",
            tail.len_bytes, tail.offset_bytes, tail.reason, tail.uncommitted_records
        ));
    }
    line
}

/// `autonomic verify --data-dir DIR [--checkpoint FILE] [--public-key FILE]`: exit 0 with
/// the summary on stdout, 1 with the first bad position or the checkpoint the ledger fails
/// on stderr, 2 when a file cannot be read.
pub fn verify(data_dir: &Path, checkpoint: Option<&Path>, public_key: Option<&Path>) -> ExitCode {
    let path = data_dir.join(FILE_NAME);
    let mut audit = match audit_for(data_dir, checkpoint, public_key) {
        Ok(audit) => audit,
        Err((code, message)) => {
            eprintln!("error: {message}");
            return exit::code(code);
        }
    };
    if let Some(refusal) = audit.missing_ledger()
        && !path.exists()
    {
        eprintln!("error: {refusal}");
        return exit::code(exit::CORRUPT);
    }
    let verified = verify_file(&path, ResumePoint::start(), None, |index, body| {
        audit.observe(index, body);
    });
    let report = match verified {
        Ok(report) => report,
        Err(e) => return scan_failure(&e),
    };
    let ledger_id = report.scan.ledger_id.unwrap_or_default();
    if let Err(refusal) = audit.check(ledger_id, report.scan.records) {
        eprintln!("error: {refusal}");
        return exit::code(exit::CORRUPT);
    }
    let mut line = summary(&report);
    for (cp_path, cp) in audit.checkpoints() {
        line.push_str(&format!(
            "; contains checkpoint seq {} ({})",
            cp.seq,
            cp_path.display()
        ));
    }
    println!("{line}");
    ExitCode::SUCCESS
}

/// What `verify` audits: the data dir's checkpoint (if any) and `--checkpoint` (which must
/// exist), each signed by the pinned key (`--public-key`, else the data dir's identity.pub
/// when present).
fn audit_for(
    data_dir: &Path,
    given: Option<&Path>,
    public_key: Option<&Path>,
) -> Result<Audit, (u8, String)> {
    let pub_path = public_key.map_or_else(
        || data_dir.join(checkpoint::PUBLIC_KEY_FILE_NAME),
        Path::to_path_buf,
    );
    let pinned =
        checkpoint::read_public_key(&pub_path).map_err(|e| (exit::USAGE, e.to_string()))?;
    if public_key.is_some() && pinned.is_none() {
        return Err((exit::USAGE, format!("{}: not found", pub_path.display())));
    }
    if let Some(path) = given
        && !path.exists()
    {
        return Err((exit::USAGE, format!("{}: not found", path.display())));
    }
    let paths =
        std::iter::once(data_dir.join(checkpoint::FILE_NAME)).chain(given.map(Path::to_path_buf));
    let found = Audit::read_existing(paths).map_err(|e| (exit::CORRUPT, e.to_string()))?;
    Ok(Audit::new(found, pinned))
}

fn scan_failure(e: &ScanError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ScanError::Corrupt { .. } => exit::code(exit::CORRUPT),
        ScanError::NotFound { .. } | ScanError::Io { .. } => exit::code(exit::USAGE),
    }
}

/// `autonomic ledger --data-dir DIR [--tail N] [--tenant T]`: verified receipts as JSON
/// lines, oldest first. A corrupt record stops the listing (exit 1, after the good ones).
pub fn ledger(data_dir: &Path, tail: Option<u64>, tenant: Option<&str>) -> ExitCode {
    let path = data_dir.join(FILE_NAME);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut verifier = ChainVerifier::new();
    let keep = tail.map(|n| usize::try_from(n.min(TAIL_MAX)).unwrap_or(usize::MAX));
    let mut window: VecDeque<String> = VecDeque::new();
    let mut write_error: Option<io::Error> = None;
    let scanned = ledger_file::scan(&path, |_, body| {
        let receipt = verifier.push(body).map_err(|e| e.to_string())?;
        if tenant.is_some_and(|t| receipt.tenant.as_str() != t) {
            return Ok(());
        }
        let line = to_line(&ReceiptJson::from(&receipt));
        match keep {
            Some(0) => {}
            Some(n) => {
                if window.len() == n {
                    window.pop_front();
                }
                window.push_back(line);
            }
            None => {
                if let Err(e) = writeln!(out, "{line}") {
                    write_error = Some(e);
                    return Err("output closed".to_owned());
                }
            }
        }
        Ok(())
    });
    for line in &window {
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{line}")
        {
            write_error = Some(e);
        }
    }
    if write_error.is_none()
        && let Err(e) = out.flush()
    {
        write_error = Some(e);
    }
    if let Some(e) = write_error {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: writing output: {e}");
        return exit::code(exit::USAGE);
    }
    match scanned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => scan_failure(&e),
    }
}

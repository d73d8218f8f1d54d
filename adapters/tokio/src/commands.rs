//! `autonomic verify` and `autonomic ledger`: streaming reads of the ledger file, O(1)
//! memory (beyond `--tail`'s window), never modifying it.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
    match check(data_dir, checkpoint, public_key) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            exit::code(code)
        }
    }
}

/// `autonomic verify [--data-dir DIR] PATH...`: one target (a data dir, or a checkpoint
/// file checked against the ledger of its directory) is [`verify`] exactly. Several: one
/// line each on stdout, `<path>: ok: ...` or `<path>: error: ...`, then, if any failed, one
/// line on stderr; exit 1 if any ledger failed verification, else 2 if any could not be
/// read. `--checkpoint` needs a single target; `--public-key` applies to every one.
pub fn verify_many(
    targets: &[PathBuf],
    checkpoint: Option<&Path>,
    public_key: Option<&Path>,
) -> ExitCode {
    if let [target] = targets {
        let (data_dir, own) = split_target(target);
        let Some(given) = checkpoint.or(own.as_deref()) else {
            return verify(&data_dir, None, public_key);
        };
        if checkpoint.is_some() && own.is_some() {
            eprintln!("error: --checkpoint and a checkpoint file PATH: give one of them");
            return exit::code(exit::USAGE);
        }
        return verify(&data_dir, Some(given), public_key);
    }
    if checkpoint.is_some() {
        eprintln!(
            "error: --checkpoint belongs to one data dir; with several, name each checkpoint file as a PATH"
        );
        return exit::code(exit::USAGE);
    }
    let mut worst: Option<u8> = None;
    let mut failed = 0;
    for target in targets {
        let (data_dir, own) = split_target(target);
        match check(&data_dir, own.as_deref(), public_key) {
            Ok(line) => println!("{}: {line}", target.display()),
            Err((code, message)) => {
                println!("{}: error: {message}", target.display());
                failed += 1;
                worst = Some(match worst {
                    Some(exit::CORRUPT) => exit::CORRUPT,
                    _ => code,
                });
            }
        }
    }
    match worst {
        None => ExitCode::SUCCESS,
        Some(code) => {
            eprintln!(
                "error: {failed} of {} ledgers failed verification",
                targets.len()
            );
            exit::code(code)
        }
    }
}

/// A target of `verify`: a data dir, or a checkpoint file and the directory it is in.
fn split_target(target: &Path) -> (PathBuf, Option<PathBuf>) {
    if target.is_file() {
        let dir = target.parent().filter(|d| !d.as_os_str().is_empty());
        (
            dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Some(target.to_path_buf()),
        )
    } else {
        (target.to_path_buf(), None)
    }
}

/// One data dir's verification: the summary line, or the exit code and the message.
fn check(
    data_dir: &Path,
    checkpoint: Option<&Path>,
    public_key: Option<&Path>,
) -> Result<String, (u8, String)> {
    let path = data_dir.join(FILE_NAME);
    let mut audit = audit_for(data_dir, checkpoint, public_key)?;
    if let Some(refusal) = audit.missing_ledger()
        && !path.exists()
    {
        return Err((exit::CORRUPT, refusal.to_string()));
    }
    let verified = verify_file(&path, ResumePoint::start(), None, |index, body| {
        audit.observe(index, body);
    });
    let report = verified.map_err(|e| (scan_code(&e), e.to_string()))?;
    let ledger_id = report.scan.ledger_id.unwrap_or_default();
    audit
        .check(ledger_id, report.scan.records)
        .map_err(|refusal| (exit::CORRUPT, refusal.to_string()))?;
    let mut line = summary(&report);
    for (cp_path, cp) in audit.checkpoints() {
        line.push_str(&format!(
            "; contains checkpoint seq {} ({})",
            cp.seq,
            cp_path.display()
        ));
    }
    Ok(line)
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
    exit::code(scan_code(e))
}

fn scan_code(e: &ScanError) -> u8 {
    match e {
        ScanError::Corrupt { .. } => exit::CORRUPT,
        ScanError::NotFound { .. } | ScanError::Io { .. } => exit::USAGE,
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

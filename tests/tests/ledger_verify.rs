//! `verify_file`, the one verification of a ledger file that `autonomic verify`, the demo and
//! `GET /v1/ledger/verify` share: a good file, a resumed read, and two kinds of damage; and
//! `autonomic verify` over several sidecars' data dirs.

mod cli_support;

use std::path::{Path, PathBuf};

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{EntitlementCommand, RawSignal};
use autonomic_tokio::ledger_file::{
    CorruptReason, FILE_NAME, FsyncPolicy, LedgerFile, ResumePoint, ScanError, verify_file,
};

/// 16 tenants, 512 receipts (every one stays unpolled until the end), 1024 dedup ids.
const SMALL: Capacities = Capacities {
    tenant_id_bytes: 16 * 256,
    dedup_ids: 1024,
    receipts: 512,
    ..Capacities::with_tenants(16)
};

/// Every receipt an engine writes for one activation and `signals` readings of `tenant`.
fn receipts(tenant: &str, signals: u64) -> Vec<Vec<u8>> {
    let mut mem = OwnedStorage::new(&SMALL);
    let mut engine = Engine::new(EngineConfig::default(), mem.storage()).expect("default config");
    let activate = EntitlementCommand::Activate {
        sku: "pro",
        expires_at_ms: None,
    };
    engine
        .handle_entitlement(0, tenant, activate)
        .expect("activate");
    for i in 0..signals {
        let raw = RawSignal {
            tenant,
            metric: "cpu",
            value: (i * 37 % 101) as f64,
            ts_ms: 1_000 + i * 5_000,
        };
        let _ = engine.handle_signal(1_000 + i * 5_000, &raw);
        while engine.poll_action().is_some() {}
    }
    let mut records = Vec::new();
    while let Some(record) = engine.poll_record() {
        records.push(record.to_vec());
    }
    records
}

/// Writes `records` in commits of `per_commit`; returns the file and each commit's point.
fn write(dir: &Path, records: &[Vec<u8>], per_commit: usize) -> (PathBuf, Vec<ResumePoint>) {
    let (mut ledger, _) = LedgerFile::open(dir, FsyncPolicy::Always, |_, _| Ok(())).expect("open");
    let mut points = Vec::new();
    for chunk in records.chunks(per_commit) {
        for body in chunk {
            ledger.append(body).expect("append");
        }
        ledger.commit().expect("commit");
        points.push(ledger.committed());
    }
    (dir.join(FILE_NAME), points)
}

#[test]
fn a_good_file_verifies_whole_and_from_a_resume_point() {
    // Proves verify_file reads every committed receipt from the start, and from a commit
    // on it checks only what follows, ending at the same head either way.
    let dir = tempfile::tempdir().expect("tempdir");
    let records = receipts("acme", 12);
    assert!(records.len() > 6, "{} receipts", records.len());
    let (path, points) = write(dir.path(), &records, 3);
    let head = *points.last().expect("a commit");

    let mut seen = Vec::new();
    let whole = verify_file(&path, ResumePoint::start(), None, |index, _| {
        seen.push(index)
    })
    .expect("a good file");
    assert_eq!(whole.scan.records, records.len() as u64);
    assert_eq!(whole.checked_records, records.len() as u64);
    assert_eq!(whole.scan.head_hash, head.head_hash);
    assert!(whole.scan.torn_tail.is_none());
    assert_eq!(seen, (0..records.len() as u64).collect::<Vec<_>>());

    let from = points[0];
    let resumed =
        verify_file(&path, from, Some(head.offset_bytes), |_, _| {}).expect("from a commit");
    assert_eq!(resumed.scan.records, head.records);
    assert_eq!(resumed.scan.head_hash, head.head_hash);
    assert_eq!(resumed.checked_records, head.records - from.records);

    let nothing_new = verify_file(&path, head, Some(head.offset_bytes), |_, _| {}).expect("end");
    assert_eq!(
        (nothing_new.scan.records, nothing_new.checked_records),
        (head.records, 0)
    );
}

#[test]
fn a_corrupt_file_is_reported_at_the_first_bad_record() {
    // Proves a flipped byte inside a committed record and a receipt that does not chain
    // (valid frames, another history) are both corruption, with the record's index.
    let records = receipts("acme", 12);

    let flipped = tempfile::tempdir().expect("tempdir");
    let (path, _) = write(flipped.path(), &records, 3);
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");
    match verify_file(&path, ResumePoint::start(), None, |_, _| {}) {
        Err(ScanError::Corrupt { corruption, .. }) => {
            assert!(corruption.index < records.len() as u64, "{corruption}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }

    let spliced = tempfile::tempdir().expect("tempdir");
    let mut mixed = records.clone();
    mixed[4] = receipts("beta", 12)[4].clone();
    let (path, _) = write(spliced.path(), &mixed, 3);
    match verify_file(&path, ResumePoint::start(), None, |_, _| {}) {
        Err(ScanError::Corrupt { corruption, .. }) => {
            assert_eq!(corruption.index, 4, "{corruption}");
            assert!(
                matches!(corruption.reason, CorruptReason::Rejected { .. }),
                "{corruption}"
            );
        }
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

/// A data dir with a ledger and a signed checkpoint (`autonomic demo --keep`).
fn demo_dir(dir: &Path) -> String {
    let path = dir.to_str().expect("utf-8 path").to_owned();
    let out = cli_support::run(&["demo", "--keep", &path], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn verify_over_several_data_dirs_prints_one_line_each_and_fails_on_a_tampered_one() {
    // Proves `autonomic verify A B C` checks each sidecar's ledger: one line per path with
    // its head, a tampered ledger named with its failure and exit 1; a checkpoint file is
    // a target too; and one data dir as a PATH answers exactly as `--data-dir` does.
    let root = tempfile::tempdir().expect("tempdir");
    let [a, b, c] = ["a", "b", "c"].map(|n| demo_dir(&root.path().join(n)));

    let single = cli_support::run(&["verify", &a], None);
    let flag = cli_support::run(&["verify", "--data-dir", &a], None);
    assert_eq!(single.status.code(), Some(0));
    assert_eq!((single.stdout, single.stderr), (flag.stdout, flag.stderr));

    let good = cli_support::run(&["verify", "--data-dir", &a, &b], None);
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let stdout = String::from_utf8_lossy(&good.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, dir) in lines.iter().zip([&a, &b]) {
        assert!(
            line.starts_with(&format!("{dir}: ok: 20 receipts, head seq 19, hash ")),
            "{line}"
        );
    }

    let ledger = root.path().join("b").join("ledger.log");
    let mut bytes = std::fs::read(&ledger).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&ledger, &bytes).expect("write");
    let checkpoint = format!("{c}/checkpoint");
    let out = cli_support::run(&["verify", &a, &b, &checkpoint], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let expected = [
        (format!("{a}: ok: 20 receipts, head seq 19"), String::new()),
        (format!("{b}: error: ledger "), String::new()),
        (
            format!("{checkpoint}: ok: 20 receipts"),
            format!("contains checkpoint seq 19 ({checkpoint})"),
        ),
    ];
    for (line, (start, end)) in lines.iter().zip(&expected) {
        assert!(line.starts_with(start) && line.ends_with(end), "{stdout}");
    }
    assert!(lines[1].contains("corrupt record"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: 1 of 3 ledgers failed verification"
    );
}

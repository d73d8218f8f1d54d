//! `verify_file`, the one verification of a ledger file that `autonomic verify`, the demo and
//! `GET /v1/ledger/verify` share: a good file, a resumed read, and two kinds of damage.

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

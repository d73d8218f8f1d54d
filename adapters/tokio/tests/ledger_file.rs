//! The ledger file on real files in temporary directories: framing, recovery, faults, fsync.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autonomic_tokio::ledger_file::{
    self, AppendError, BatchRule, CommitError, CorruptReason, FILE_NAME, FrameError, FsyncPolicy,
    LedgerFile, LedgerIo, MAX_RECORD_BYTES, OpenError, OpenReport, PENDING_RECORDS_MAX, ScanError,
    TornReason,
};
use tempfile::TempDir;

/// Deterministic bodies of varied sizes in `1..=size_max`, each distinct.
fn bodies(count: usize, size_max: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = 1 + (i * 7919 + i * i * 31) % size_max;
            (0..len).map(|j| (i * 131 + j * 17 + 1) as u8).collect()
        })
        .collect()
}

/// The bytes a ledger holding `bodies` consists of, and where each frame ends.
fn frames(bodies: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
    let mut file = Vec::new();
    let mut ends = Vec::new();
    for body in bodies {
        ledger_file::encode_frame(body, &mut file).unwrap();
        ends.push(file.len() as u64);
    }
    (file, ends)
}

fn ledger_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Opens `dir`, collecting every record the callback sees.
fn open_collect(dir: &Path) -> Result<(LedgerFile, OpenReport, Vec<Vec<u8>>), OpenError> {
    let mut seen = Vec::new();
    let (ledger, report) = LedgerFile::open(dir, FsyncPolicy::Always, |index, body| {
        assert_eq!(index, seen.len() as u64, "records arrive in order");
        seen.push(body.to_vec());
        Ok(())
    })?;
    Ok((ledger, report, seen))
}

/// A fresh data dir whose ledger file holds exactly `bytes`.
fn dir_with_file(bytes: &[u8]) -> TempDir {
    let dir = TempDir::new().unwrap();
    fs::write(ledger_path(dir.path()), bytes).unwrap();
    dir
}

fn accept(_: u64, _: &[u8]) -> Result<(), String> {
    Ok(())
}

#[test]
fn round_trip_many_records_of_varied_sizes() {
    // Proves: every appended body, 1 byte to MAX_RECORD_BYTES, reads back identical and in order.
    // Arrange
    let parent = TempDir::new().unwrap();
    let dir = parent.path().join("nested").join("data");
    let mut written = bodies(500, MAX_RECORD_BYTES as usize);
    written.push(vec![0xAB; MAX_RECORD_BYTES as usize]);
    written.push(vec![0]);
    // Act
    let (mut ledger, report, seen) = open_collect(&dir).unwrap();
    assert!(report.created && seen.is_empty());
    for group in written.chunks(10) {
        for body in group {
            ledger.append(body).unwrap();
        }
        let commit = ledger.commit().unwrap();
        assert_eq!(commit.records as usize, group.len());
    }
    drop(ledger);
    let (reopened, report, seen) = open_collect(&dir).unwrap();
    let scanned = ledger_file::scan(&ledger_path(&dir), accept).unwrap();
    // Assert
    let (expected_bytes, _) = frames(&written);
    assert_eq!(seen, written);
    assert_eq!(report.records, written.len() as u64);
    assert_eq!(report.truncated_bytes, 0);
    assert!(!report.created);
    assert_eq!(reopened.len_bytes(), expected_bytes.len() as u64);
    assert_eq!(fs::read(ledger_path(&dir)).unwrap(), expected_bytes);
    assert_eq!(scanned.records, written.len() as u64);
    assert_eq!(scanned.torn_tail, None);
}

#[test]
fn recovery_at_every_byte_offset() {
    // Proves: for every prefix file[..k], open yields exactly the whole records ending at or
    // before k and truncates the file to exactly their length; scan agrees without truncating.
    // Arrange
    let written = bodies(300, 32);
    let (full, ends) = frames(&written);
    for k in 0..=full.len() {
        let prefix = full.get(..k).unwrap();
        let dir = dir_with_file(prefix);
        let whole = ends.iter().filter(|&&end| end <= k as u64).count();
        let valid_len = if whole == 0 { 0 } else { ends[whole - 1] };
        // Act
        let scanned = ledger_file::scan(&ledger_path(dir.path()), accept).unwrap();
        let (ledger, report, seen) = open_collect(dir.path()).unwrap();
        // Assert
        assert_eq!(scanned.records, whole as u64, "scan, k = {k}");
        assert_eq!(scanned.valid_len_bytes, valid_len, "scan, k = {k}");
        assert_eq!(
            scanned.torn_tail.is_some(),
            valid_len != k as u64,
            "k = {k}"
        );
        assert_eq!(seen.as_slice(), &written[..whole], "k = {k}");
        assert_eq!(report.records, whole as u64, "k = {k}");
        assert_eq!(report.truncated_bytes, k as u64 - valid_len, "k = {k}");
        assert_eq!(ledger.len_bytes(), valid_len, "k = {k}");
        let on_disk = fs::read(ledger_path(dir.path())).unwrap();
        assert_eq!(on_disk.as_slice(), &full[..valid_len as usize], "k = {k}");
    }
}

#[test]
fn appending_after_recovery_continues_the_log() {
    // Proves: after a torn tail is truncated, new records follow the old ones and all read back.
    // Arrange
    let written = bodies(20, 100);
    let (full, _) = frames(&written);
    let dir = dir_with_file(&full[..full.len() - 3]);
    // Act
    let (mut ledger, report, _) = open_collect(dir.path()).unwrap();
    ledger.append(b"after recovery").unwrap();
    ledger.commit().unwrap();
    drop(ledger);
    let (_, reopened, seen) = open_collect(dir.path()).unwrap();
    // Assert
    assert_eq!(report.records, 19);
    assert_eq!(report.torn_tail.unwrap().reason, TornReason::PartialBody);
    assert_eq!(reopened.records, 20);
    assert_eq!(reopened.truncated_bytes, 0);
    assert_eq!(&seen[..19], &written[..19]);
    assert_eq!(seen[19], b"after recovery");
}

#[test]
fn zero_filled_tail_is_truncated() {
    // Proves: zeros after the last record (any length, shorter than a header or not) are a
    // torn tail, truncated back to the last record.
    for zeros in [1_usize, 7, 8, 100, 4096 + 8 + 5] {
        // Arrange
        let written = bodies(10, 200);
        let (mut file, _) = frames(&written);
        let valid_len = file.len() as u64;
        file.resize(file.len() + zeros, 0);
        let dir = dir_with_file(&file);
        // Act
        let (_, report, seen) = open_collect(dir.path()).unwrap();
        // Assert
        let expected_reason = if zeros < 8 {
            TornReason::PartialHeader
        } else {
            TornReason::ZeroFill
        };
        assert_eq!(seen, written, "zeros = {zeros}");
        assert_eq!(report.truncated_bytes, zeros as u64, "zeros = {zeros}");
        assert_eq!(
            report.torn_tail.unwrap().reason,
            expected_reason,
            "zeros = {zeros}"
        );
        assert_eq!(report.torn_tail.unwrap().offset_bytes, valid_len);
        assert_eq!(
            fs::metadata(ledger_path(dir.path())).unwrap().len(),
            valid_len
        );
    }
}

#[test]
fn last_record_with_bad_crc_followed_by_zeros_is_torn() {
    // Proves: a last record whose body was half flushed (zeros in place of data, zeros after)
    // is a torn tail, not corruption.
    // Arrange
    let written = bodies(5, 300);
    let (mut file, ends) = frames(&written);
    let last_body_start = ends[3] as usize + 8;
    file[last_body_start..].fill(0);
    file.resize(file.len() + 512, 0);
    let dir = dir_with_file(&file);
    // Act
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    // Assert
    assert_eq!(seen, &written[..4]);
    assert_eq!(report.torn_tail.unwrap().reason, TornReason::CrcMismatch);
    assert_eq!(
        fs::metadata(ledger_path(dir.path())).unwrap().len(),
        ends[3]
    );
}

#[test]
fn flipped_byte_in_a_middle_record_is_corruption_and_the_file_is_unchanged() {
    // Proves: a damaged body before the tail names that record's index and offset, and open
    // modifies nothing.
    // Arrange
    let written = bodies(20, 300);
    let (mut file, ends) = frames(&written);
    let offset = ends[6];
    file[offset as usize + 8 + 1] ^= 0x40;
    let dir = dir_with_file(&file);
    // Act
    let result = open_collect(dir.path());
    let scanned = ledger_file::scan(&ledger_path(dir.path()), accept);
    // Assert
    match result {
        Err(OpenError::Corrupt { corruption, .. }) => {
            assert_eq!(corruption.index, 7);
            assert_eq!(corruption.offset_bytes, offset);
            assert!(matches!(
                corruption.reason,
                CorruptReason::CrcMismatch { .. }
            ));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(
        matches!(scanned, Err(ScanError::Corrupt { ref corruption, .. }) if corruption.index == 7)
    );
    assert_eq!(fs::read(ledger_path(dir.path())).unwrap(), file);
}

#[test]
fn bad_length_in_a_middle_record_is_corruption() {
    // Proves: a len of 0 or over the maximum before the tail is corruption at that record,
    // even when the rest of the header is zero.
    for bad_len in [0_u32, MAX_RECORD_BYTES + 1, u32::MAX] {
        // Arrange
        let written = bodies(10, 50);
        let (mut file, ends) = frames(&written);
        let offset = ends[2] as usize;
        file[offset..offset + 4].copy_from_slice(&bad_len.to_le_bytes());
        file[offset + 4..offset + 8].fill(0);
        let dir = dir_with_file(&file);
        // Act
        let result = open_collect(dir.path());
        // Assert
        match result {
            Err(OpenError::Corrupt { corruption, .. }) => {
                assert_eq!(corruption.index, 3, "len = {bad_len}");
                assert_eq!(corruption.offset_bytes, offset as u64);
                assert_eq!(
                    corruption.reason,
                    CorruptReason::BadLength { len_bytes: bad_len }
                );
            }
            other => panic!("len = {bad_len}: expected corruption, got {other:?}"),
        }
        assert_eq!(fs::read(ledger_path(dir.path())).unwrap(), file);
    }
}

#[test]
fn flipped_byte_in_the_last_record_is_torn_and_truncated() {
    // Proves: a damaged last record (body ends at EOF) is a torn tail and is cut off.
    // Arrange
    let written = bodies(20, 300);
    let (mut file, ends) = frames(&written);
    let last = file.len() - 1;
    file[last] ^= 0x01;
    let dir = dir_with_file(&file);
    // Act
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    // Assert
    assert_eq!(seen, &written[..19]);
    let tail = report.torn_tail.unwrap();
    assert_eq!(tail.reason, TornReason::CrcMismatch);
    assert_eq!(tail.offset_bytes, ends[18]);
    assert_eq!(report.truncated_bytes, ends[19] - ends[18]);
    assert_eq!(
        fs::metadata(ledger_path(dir.path())).unwrap().len(),
        ends[18]
    );
}

#[test]
fn callback_error_is_corruption_at_that_record() {
    // Proves: a record the caller rejects (broken hash chain) is corruption at its index and
    // offset carrying the caller's message, for open and scan alike, and nothing is modified.
    // Arrange
    let written = bodies(12, 80);
    let (file, ends) = frames(&written);
    let dir = dir_with_file(&file);
    let reject_fifth = |index: u64, _: &[u8]| {
        if index == 5 {
            Err("prev_hash does not chain".to_string())
        } else {
            Ok(())
        }
    };
    // Act
    let opened = LedgerFile::open(dir.path(), FsyncPolicy::Always, reject_fifth);
    let scanned = ledger_file::scan(&ledger_path(dir.path()), reject_fifth);
    // Assert
    let expected = CorruptReason::Rejected {
        message: "prev_hash does not chain".to_string(),
    };
    match opened {
        Err(OpenError::Corrupt { corruption, .. }) => {
            assert_eq!(corruption.index, 5);
            assert_eq!(corruption.offset_bytes, ends[4]);
            assert_eq!(corruption.reason, expected);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    match scanned {
        Err(ScanError::Corrupt { corruption, .. }) => assert_eq!(corruption.reason, expected),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(fs::read(ledger_path(dir.path())).unwrap(), file);
}

#[test]
fn corruption_message_is_one_line_naming_the_position() {
    // Proves: the operator-facing error names the file, the record and the byte offset.
    // Arrange
    let (mut file, ends) = frames(&bodies(4, 40));
    file[ends[0] as usize + 9] ^= 0xFF;
    let dir = dir_with_file(&file);
    // Act
    let message = open_collect(dir.path()).unwrap_err().to_string();
    // Assert
    assert!(message.contains(FILE_NAME), "{message}");
    assert!(
        message.contains(&format!("record 1 at byte {}", ends[0])),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

#[test]
fn scan_of_a_missing_file_is_not_found() {
    // Proves: verify can tell "no ledger" apart from an I/O error.
    // Arrange
    let dir = TempDir::new().unwrap();
    // Act
    let result = ledger_file::scan(&ledger_path(dir.path()), accept);
    // Assert
    assert!(
        matches!(result, Err(ScanError::NotFound { .. })),
        "{result:?}"
    );
}

#[test]
fn scan_reports_a_torn_tail_without_truncating() {
    // Proves: scan is read-only: it reports the tail and leaves the bytes in place.
    // Arrange
    let (full, ends) = frames(&bodies(6, 90));
    let dir = dir_with_file(&full[..full.len() - 2]);
    // Act
    let report = ledger_file::scan(&ledger_path(dir.path()), accept).unwrap();
    // Assert
    assert_eq!(report.records, 5);
    assert_eq!(report.valid_len_bytes, ends[4]);
    let tail = report.torn_tail.unwrap();
    assert_eq!(tail.len_bytes, full.len() as u64 - 2 - ends[4]);
    assert_eq!(tail.reason, TornReason::PartialBody);
    assert_eq!(
        fs::read(ledger_path(dir.path())).unwrap(),
        &full[..full.len() - 2]
    );
}

#[test]
fn oversized_and_empty_bodies_are_rejected_changing_nothing() {
    // Proves: append refuses bodies of 0 or more than MAX_RECORD_BYTES with a typed error and
    // neither buffers nor writes anything; the maximum size itself is accepted.
    // Arrange
    let dir = TempDir::new().unwrap();
    let (mut ledger, _, _) = open_collect(dir.path()).unwrap();
    // Act
    let empty = ledger.append(&[]);
    let oversized = ledger.append(&vec![1; MAX_RECORD_BYTES as usize + 1]);
    let nothing = ledger.commit().unwrap();
    let max = ledger.append(&vec![2; MAX_RECORD_BYTES as usize]);
    // Assert
    assert!(matches!(empty, Err(AppendError::Frame(FrameError::Empty))));
    assert!(matches!(
        oversized,
        Err(AppendError::Frame(FrameError::TooLarge {
            len_bytes: 4097,
            max_bytes: 4096
        }))
    ));
    assert_eq!(nothing.records, 0);
    assert!(!nothing.synced);
    assert_eq!(fs::metadata(ledger_path(dir.path())).unwrap().len(), 0);
    assert!(max.is_ok());
    assert!(!ledger.is_poisoned());
}

#[test]
fn write_buffer_is_bounded() {
    // Proves: append refuses once PENDING_RECORDS_MAX frames are buffered, and a commit frees it.
    // Arrange
    let dir = TempDir::new().unwrap();
    let (mut ledger, _, _) = open_collect(dir.path()).unwrap();
    for _ in 0..PENDING_RECORDS_MAX {
        ledger.append(b"r").unwrap();
    }
    // Act
    let full = ledger.append(b"r");
    let commit = ledger.commit().unwrap();
    let after = ledger.append(b"r");
    // Assert
    assert!(
        matches!(full, Err(AppendError::Full { records_max }) if records_max == PENDING_RECORDS_MAX)
    );
    assert_eq!(commit.records, PENDING_RECORDS_MAX);
    assert!(after.is_ok());
}

/// Which operation a [`Probe`] fails.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// The nth write_all (from 1) fails having written nothing.
    FailWrite(u32),
    /// The nth write_all writes only this many bytes, then fails (a full disk).
    ShortWrite(u32, usize),
    /// The nth sync_data fails.
    FailSync(u32),
    /// set_len fails.
    FailSetLen,
}

/// A real file that counts operations and fails the one its fault names.
#[derive(Debug)]
struct Probe {
    file: File,
    fault: Fault,
    writes: u32,
    syncs: u32,
}

impl Probe {
    fn new(file: File, fault: Fault) -> Self {
        Self {
            file,
            fault,
            writes: 0,
            syncs: 0,
        }
    }
}

impl LedgerIo for Probe {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writes += 1;
        match self.fault {
            Fault::FailWrite(n) if n == self.writes => Err(io::Error::other("injected EIO")),
            Fault::ShortWrite(n, keep) if n == self.writes => {
                LedgerIo::write_all(&mut self.file, &buf[..keep])?;
                Err(io::Error::from(io::ErrorKind::StorageFull))
            }
            _ => LedgerIo::write_all(&mut self.file, buf),
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.syncs += 1;
        match self.fault {
            Fault::FailSync(n) if n == self.syncs => Err(io::Error::other("injected EIO")),
            _ => self.file.sync_data(),
        }
    }

    fn set_len(&mut self, len_bytes: u64) -> io::Result<()> {
        match self.fault {
            Fault::FailSetLen => Err(io::Error::other("injected EIO")),
            _ => self.file.set_len(len_bytes),
        }
    }
}

fn open_probe(dir: &Path, fsync: FsyncPolicy, fault: Fault) -> LedgerFile<Probe> {
    let (ledger, _) =
        LedgerFile::open_with(dir, fsync, accept, |file| Probe::new(file, fault)).unwrap();
    ledger
}

/// Asserts every operation of a poisoned ledger returns Poisoned.
fn assert_poisoned(ledger: &mut LedgerFile<Probe>) {
    assert!(ledger.is_poisoned());
    assert!(matches!(ledger.append(b"x"), Err(AppendError::Poisoned)));
    assert!(matches!(ledger.commit(), Err(CommitError::Poisoned)));
    assert!(matches!(ledger.sync_now(), Err(CommitError::Poisoned)));
}

#[test]
fn failed_write_poisons_the_ledger() {
    // Proves: a write error is returned once, then every call is Poisoned (never retried), and
    // a restart finds exactly the records committed before it.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::FailWrite(2));
    ledger.append(b"first").unwrap();
    ledger.commit().unwrap();
    ledger.append(b"second").unwrap();
    // Act
    let failed = ledger.commit();
    // Assert
    assert!(matches!(failed, Err(CommitError::Write(_))), "{failed:?}");
    assert_poisoned(&mut ledger);
    assert_eq!(ledger.io().writes, 2, "no retry after the failure");
    drop(ledger);
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    assert_eq!(seen, vec![b"first".to_vec()]);
    assert_eq!(report.truncated_bytes, 0);
}

#[test]
fn short_write_poisons_and_restart_truncates_the_torn_frames() {
    // Proves: a write that lands partly (disk full) poisons the ledger, and the next open
    // truncates exactly the partial frames, keeping every record committed before.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::ShortWrite(2, 13));
    ledger.append(b"committed").unwrap();
    ledger.commit().unwrap();
    ledger.append(b"lost one").unwrap();
    ledger.append(b"lost two").unwrap();
    // Act
    let failed = ledger.commit();
    // Assert
    assert!(matches!(failed, Err(CommitError::Write(_))), "{failed:?}");
    assert_poisoned(&mut ledger);
    drop(ledger);
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    assert_eq!(seen, vec![b"committed".to_vec()]);
    assert_eq!(report.truncated_bytes, 13);
}

#[test]
fn failed_sync_poisons_the_ledger() {
    // Proves: an fdatasync error is returned, and the ledger never pretends a later sync
    // succeeded for the same data (fsyncgate): every later call is Poisoned.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::FailSync(1));
    ledger.append(b"record").unwrap();
    // Act
    let failed = ledger.commit();
    // Assert
    assert!(matches!(failed, Err(CommitError::Sync(_))), "{failed:?}");
    assert_poisoned(&mut ledger);
    assert_eq!(ledger.io().syncs, 1, "the failed sync is not retried");
}

#[test]
fn failed_truncation_fails_open() {
    // Proves: if the torn tail cannot be truncated, open fails and no ledger is handed out.
    // Arrange
    let (full, _) = frames(&bodies(3, 30));
    let dir = dir_with_file(&full[..full.len() - 1]);
    // Act
    let result = LedgerFile::open_with(dir.path(), FsyncPolicy::Always, accept, |file| {
        Probe::new(file, Fault::FailSetLen)
    });
    // Assert
    assert!(
        matches!(result, Err(OpenError::Truncate { .. })),
        "{result:?}"
    );
    assert_eq!(
        fs::read(ledger_path(dir.path())).unwrap(),
        &full[..full.len() - 1]
    );
}

#[test]
fn always_policy_syncs_on_every_commit() {
    // Proves: under `always` each commit that wrote records ends with exactly one fdatasync.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::None);
    let mut reports = Vec::new();
    // Act
    for round in 0..5_u8 {
        for i in 0..3_u8 {
            ledger.append(&[round, i]).unwrap();
        }
        reports.push(ledger.commit().unwrap());
    }
    // Assert
    assert_eq!(ledger.io().syncs, 5);
    assert_eq!(ledger.io().writes, 5, "one write per group commit");
    for report in reports {
        assert_eq!(report.records, 3);
        assert_eq!(report.len_bytes, 3 * (8 + 2));
        assert!(report.synced && report.sync_duration.is_some());
    }
    assert_eq!(ledger.unsynced_records(), 0);
    assert_eq!(ledger.sync_deadline(), None);
}

#[test]
fn batch_policy_syncs_by_the_count_rule() {
    // Proves: under `batch` commits do not sync until records_max records are unsynced, then
    // one commit syncs them all; sync_deadline is set while records are unsynced.
    // Arrange
    let dir = TempDir::new().unwrap();
    let rule = BatchRule {
        records_max: 64,
        interval_ms: 3_600_000,
    };
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Batch, Fault::None).with_batch_rule(rule);
    // Act
    let mut synced = Vec::new();
    for i in 0..64_u32 {
        ledger.append(&i.to_le_bytes()).unwrap();
        synced.push(ledger.commit().unwrap().synced);
    }
    // Assert
    assert!(
        synced[..63].iter().all(|&s| !s),
        "no sync before 64 records"
    );
    assert!(synced[63], "the 64th record syncs");
    assert_eq!(ledger.io().syncs, 1);
    assert_eq!(ledger.io().writes, 64);
    assert_eq!(ledger.unsynced_records(), 0);
    ledger.append(b"one more").unwrap();
    ledger.commit().unwrap();
    assert_eq!(ledger.unsynced_records(), 1);
    assert!(ledger.sync_deadline().is_some());
}

#[test]
fn batch_policy_syncs_by_the_time_rule() {
    // Proves: under `batch` a commit later than interval_ms after the last sync syncs.
    // Arrange
    let dir = TempDir::new().unwrap();
    let rule = BatchRule {
        records_max: 1_000,
        interval_ms: 20,
    };
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Batch, Fault::None).with_batch_rule(rule);
    std::thread::sleep(Duration::from_millis(30));
    ledger.append(b"late").unwrap();
    // Act
    let report = ledger.commit().unwrap();
    // Assert
    assert!(report.synced);
    assert_eq!(ledger.io().syncs, 1);
}

#[test]
fn sync_now_forces_a_sync_under_batch() {
    // Proves: sync_now makes committed records durable whatever the batch rule says.
    // Arrange
    let dir = TempDir::new().unwrap();
    let rule = BatchRule {
        records_max: 1_000,
        interval_ms: 3_600_000,
    };
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Batch, Fault::None).with_batch_rule(rule);
    ledger.append(b"a").unwrap();
    let commit = ledger.commit().unwrap();
    // Act
    let forced = ledger.sync_now();
    // Assert
    assert!(!commit.synced);
    assert!(forced.is_ok());
    assert_eq!(ledger.io().syncs, 1);
    assert_eq!(ledger.unsynced_records(), 0);
    assert_eq!(ledger.sync_deadline(), None);
}

#[test]
fn open_creates_the_data_dir_and_file() {
    // Proves: a missing data dir is created with an empty ledger, reported as created.
    // Arrange
    let parent = TempDir::new().unwrap();
    let dir = parent.path().join("a").join("b");
    // Act
    let (ledger, report, seen) = open_collect(&dir).unwrap();
    // Assert
    assert!(report.created);
    assert!(seen.is_empty());
    assert_eq!(ledger.records(), 0);
    assert_eq!(fs::metadata(ledger_path(&dir)).unwrap().len(), 0);
}

#[test]
fn fsync_policy_uses_lowercase_names() {
    // Proves: the config spells the policies `always` and `batch`, and `always` is the default.
    // Arrange
    #[derive(serde::Deserialize)]
    struct Doc {
        fsync: FsyncPolicy,
    }
    // Act
    let always: Doc = toml::from_str("fsync = \"always\"").unwrap();
    let batch: Doc = toml::from_str("fsync = \"batch\"").unwrap();
    let bad = toml::from_str::<Doc>("fsync = \"Always\"");
    // Assert
    assert_eq!(always.fsync, FsyncPolicy::Always);
    assert_eq!(batch.fsync, FsyncPolicy::Batch);
    assert!(bad.is_err());
    assert_eq!(FsyncPolicy::default(), FsyncPolicy::Always);
}

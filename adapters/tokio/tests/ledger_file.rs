//! The ledger file on real files in temporary directories: format 2 (header, checksummed
//! frames, a commit frame per group commit), recovery, faults, fsync.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autonomic_tokio::ledger_file::{
    self, AppendError, BatchRule, COMMIT_FRAME_BYTES, Commit, CommitError, Context, CorruptReason,
    FILE_HEADER_BYTES, FILE_NAME, FrameError, FsyncPolicy, LedgerFile, LedgerIo, MAX_RECORD_BYTES,
    MIN_RECORD_BYTES, OpenError, OpenReport, PENDING_RECORDS_MAX, ScanError, TornReason,
    encode_header, encode_record, record_hash,
};
use tempfile::TempDir;

/// A record body: `tag` padded to 40 bytes (records end with a 32-byte hash).
fn body(tag: &str) -> Vec<u8> {
    let mut b = tag.as_bytes().to_vec();
    b.resize(40, b'.');
    b
}

/// Deterministic bodies of varied sizes in `MIN_RECORD_BYTES..=size_max`, each distinct.
fn bodies(count: usize, size_max: usize) -> Vec<Vec<u8>> {
    let min = MIN_RECORD_BYTES as usize;
    (0..count)
        .map(|i| {
            let len = min + (i * 7919 + i * i * 31) % (size_max - min + 1);
            (0..len).map(|j| (i * 131 + j * 17 + 1) as u8).collect()
        })
        .collect()
}

/// Where things are in a file written by [`written_file`].
struct Layout {
    /// End offset of each record frame, in order.
    record_ends: Vec<u64>,
    /// End offset of each commit frame, in order, with the records committed up to it.
    commits: Vec<(u64, usize)>,
}

impl Layout {
    /// Records and file length after recovering a prefix of `k` bytes.
    fn recovered(&self, k: u64) -> (usize, u64) {
        let header = u64::from(FILE_HEADER_BYTES);
        if k < header {
            return (0, header);
        }
        self.commits
            .iter()
            .rev()
            .find(|(end, _)| *end <= k)
            .map_or((0, header), |&(end, records)| (records, end))
    }
}

/// Writes `bodies` through a real [`LedgerFile`], committing every `group` records, and
/// returns the file's bytes and layout. The expected layout is computed independently of the
/// writer, from the format's definition.
fn written_file(bodies: &[Vec<u8>], group: usize) -> (Vec<u8>, Layout) {
    let dir = TempDir::new().unwrap();
    let (mut ledger, report, _) = open_collect(dir.path()).unwrap();
    let mut expected = encode_header(&report.ledger_id).to_vec();
    let mut layout = Layout {
        record_ends: Vec::new(),
        commits: Vec::new(),
    };
    for (g, chunk) in bodies.chunks(group).enumerate() {
        for b in chunk {
            ledger.append(b).unwrap();
            encode_record(b, &mut expected).unwrap();
            layout.record_ends.push(expected.len() as u64);
        }
        ledger.commit().unwrap();
        let records = (g * group + chunk.len()) as u64;
        let end_bytes = expected.len() as u64 + u64::from(COMMIT_FRAME_BYTES);
        let head_hash = record_hash(chunk.last().unwrap());
        Commit {
            records,
            head_hash,
            end_bytes,
        }
        .encode(&mut expected);
        layout.commits.push((end_bytes, records as usize));
    }
    drop(ledger);
    let bytes = fs::read(ledger_path(dir.path())).unwrap();
    assert_eq!(bytes, expected, "the writer follows the documented format");
    (bytes, layout)
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

/// Opens a file holding `bytes`, expecting corruption; returns it and checks the file is
/// unchanged.
fn expect_corrupt(bytes: &[u8], what: &str) -> ledger_file::Corruption {
    let dir = dir_with_file(bytes);
    let result = open_collect(dir.path());
    assert_eq!(
        fs::read(ledger_path(dir.path())).unwrap(),
        bytes,
        "{what}: file untouched"
    );
    match result {
        Err(OpenError::Corrupt { corruption, .. }) => corruption,
        Err(other) => panic!("{what}: expected corruption, got {other}"),
        Ok((_, report, _)) => panic!("{what}: expected corruption, opened: {report:?}"),
    }
}

#[test]
fn round_trip_many_records_of_varied_sizes() {
    // Proves: every appended body, MIN_RECORD_BYTES to MAX_RECORD_BYTES, reads back identical
    // and in order, and the file is byte for byte the documented format.
    // Arrange
    let parent = TempDir::new().unwrap();
    let dir = parent.path().join("nested").join("data");
    let mut written = bodies(500, MAX_RECORD_BYTES as usize);
    written.push(vec![0xAB; MAX_RECORD_BYTES as usize]);
    written.push(vec![0; MIN_RECORD_BYTES as usize]);
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
    let len_after_writes = ledger.len_bytes();
    drop(ledger);
    let (reopened, report, seen) = open_collect(&dir).unwrap();
    let scanned = ledger_file::scan(&ledger_path(&dir), accept).unwrap();
    // Assert
    let (expected_bytes, _) = written_file(&written, 10);
    assert_eq!(seen, written);
    assert_eq!(report.records, written.len() as u64);
    assert_eq!(report.truncated_bytes, 0);
    assert!(!report.created);
    assert_eq!(report.head_hash, record_hash(written.last().unwrap()));
    assert_eq!(reopened.len_bytes(), len_after_writes);
    assert_eq!(len_after_writes, expected_bytes.len() as u64);
    assert_eq!(scanned.records, written.len() as u64);
    assert_eq!(scanned.commits, written.len().div_ceil(10) as u64);
    assert_eq!(scanned.torn_tail, None);
    assert_eq!(scanned.ledger_id, Some(report.ledger_id));
}

#[test]
fn recovery_at_every_byte_offset() {
    // Proves: for every prefix file[..k], open yields exactly the records of the commits that
    // end at or before k and truncates the file to the last such commit (a torn final append
    // is cut back to the last commit); scan agrees without truncating.
    // Arrange
    let written = bodies(40, 90);
    let (full, layout) = written_file(&written, 7);
    for k in 0..=full.len() as u64 {
        let prefix = &full[..k as usize];
        let dir = dir_with_file(prefix);
        let (records, valid_len) = layout.recovered(k);
        // Act
        let scanned = ledger_file::scan(&ledger_path(dir.path()), accept).unwrap();
        let (ledger, report, seen) = open_collect(dir.path()).unwrap();
        // Assert
        assert_eq!(scanned.records, records as u64, "scan, k = {k}");
        assert_eq!(scanned.torn_tail.is_some(), valid_len != k, "k = {k}");
        assert_eq!(seen.as_slice(), &written[..records], "k = {k}");
        assert_eq!(report.records, records as u64, "k = {k}");
        assert_eq!(ledger.len_bytes(), valid_len, "k = {k}");
        let on_disk = fs::read(ledger_path(dir.path())).unwrap();
        if k >= u64::from(FILE_HEADER_BYTES) {
            assert_eq!(scanned.valid_len_bytes, valid_len, "scan, k = {k}");
            assert_eq!(report.truncated_bytes, k - valid_len, "k = {k}");
            assert_eq!(on_disk.as_slice(), &full[..valid_len as usize], "k = {k}");
        } else {
            // A torn header: the file restarts as a new, empty ledger.
            assert_eq!(on_disk.len() as u64, valid_len, "k = {k}");
        }
    }
}

#[test]
fn every_flipped_bit_of_committed_data_is_corruption_never_truncation() {
    // Proves: flipping any single bit anywhere in the committed file — header, record length
    // words, checksums, bodies, commit frames, first, middle or last — makes open refuse
    // with corruption and leaves the file untouched.
    // Arrange
    let (full, _) = written_file(&bodies(9, 45), 3);
    for byte in 0..full.len() {
        for bit in 0..8 {
            let mut damaged = full.clone();
            damaged[byte] ^= 1 << bit;
            // Act
            let what = format!("byte {byte} bit {bit}");
            let corruption = expect_corrupt(&damaged, &what);
            // Assert
            assert!(
                corruption.offset_bytes <= byte as u64,
                "{what}: reported at {}",
                corruption.offset_bytes
            );
        }
    }
}

#[test]
fn a_length_flipped_past_the_end_of_the_file_is_caught_by_the_following_commit() {
    // Proves: bit 11 of a middle record's length (the body then runs past
    // the end of the file) is corruption naming that record, not a torn tail.
    // Arrange
    let written = bodies(42, 60);
    let (mut full, layout) = written_file(&written, 6);
    let record_21 = layout.record_ends[20] as usize;
    full[record_21 + 1] ^= 1 << 3; // bit 11 of the little-endian word
    // Act
    let corruption = expect_corrupt(&full, "length bit 11");
    // Assert
    assert_eq!(corruption.index, 21);
    assert_eq!(corruption.offset_bytes, record_21 as u64);
    assert!(matches!(corruption.context, Context::Committed { .. }));
}

#[test]
fn records_without_a_commit_are_a_torn_tail() {
    // Proves: whole, valid records after the last commit frame were never acknowledged: open
    // drops them (and never hands them to the callback).
    // Arrange
    let written = bodies(10, 80);
    let (mut full, layout) = written_file(&written, 5);
    let committed = full.len() as u64;
    for b in bodies(3, 50) {
        encode_record(&b, &mut full).unwrap();
    }
    let dir = dir_with_file(&full);
    // Act
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    // Assert
    assert_eq!(seen, written);
    let tail = report.torn_tail.unwrap();
    assert_eq!(tail.reason, TornReason::Uncommitted);
    assert_eq!(tail.uncommitted_records, 3);
    assert_eq!(tail.offset_bytes, committed);
    assert_eq!(layout.commits.last().unwrap().0, committed);
    assert_eq!(
        fs::metadata(ledger_path(dir.path())).unwrap().len(),
        committed
    );
}

#[test]
fn zero_filled_tail_is_truncated() {
    // Proves: zeros after the last commit (any length), or after uncommitted records, are a
    // torn tail, truncated back to the last commit.
    for (uncommitted, zeros) in [(0, 1_usize), (0, 7), (0, 8), (0, 100), (2, 4096 + 13)] {
        // Arrange
        let (mut file, _) = written_file(&bodies(10, 200), 4);
        let valid_len = file.len() as u64;
        for b in bodies(uncommitted, 60) {
            encode_record(&b, &mut file).unwrap();
        }
        file.resize(file.len() + zeros, 0);
        let dir = dir_with_file(&file);
        // Act
        let (_, report, seen) = open_collect(dir.path()).unwrap();
        // Assert
        assert_eq!(seen.len(), 10, "zeros = {zeros}");
        let tail = report.torn_tail.unwrap();
        assert_eq!(tail.reason, TornReason::ZeroFill, "zeros = {zeros}");
        assert_eq!(tail.offset_bytes, valid_len);
        assert_eq!(report.truncated_bytes, file.len() as u64 - valid_len);
        let len = fs::metadata(ledger_path(dir.path())).unwrap().len();
        assert_eq!(len, valid_len);
    }
}

#[test]
fn a_damaged_frame_after_the_last_commit_is_refused_with_the_offset_to_truncate_to() {
    // Proves: a complete frame failing its checksum after the last commit is not a torn
    // shape; it cannot be told from a flipped bit in the last commit, so open refuses and the
    // message names the offset a person may truncate to.
    // Arrange
    let (mut file, _) = written_file(&bodies(8, 70), 4);
    let committed = file.len() as u64;
    encode_record(&body("uncommitted"), &mut file).unwrap();
    let last = file.len() - 1;
    file[last] ^= 0x10;
    // Act
    let corruption = expect_corrupt(&file, "uncommitted flipped");
    // Assert
    assert_eq!(corruption.offset_bytes, committed);
    assert_eq!(
        corruption.context,
        Context::AfterLastCommit {
            committed_bytes: committed
        }
    );
    assert!(
        corruption
            .to_string()
            .contains(&format!("truncate the file to {committed} bytes"))
    );
}

#[test]
fn a_commit_frame_that_disagrees_with_its_records_is_corruption() {
    // Proves: a commit frame with a valid checksum but a wrong count, head hash or position
    // (spliced from elsewhere) is refused.
    let written = bodies(4, 60);
    for lie in 0..3 {
        // Arrange
        let (full, layout) = written_file(&written, 4);
        let mut file = full[..layout.record_ends[3] as usize].to_vec();
        let mut commit = Commit {
            records: 4,
            head_hash: record_hash(&written[3]),
            end_bytes: file.len() as u64 + u64::from(COMMIT_FRAME_BYTES),
        };
        match lie {
            0 => commit.records = 5,
            1 => commit.head_hash[0] ^= 1,
            _ => commit.end_bytes += 1,
        }
        commit.encode(&mut file);
        // Act
        let corruption = expect_corrupt(&file, "lying commit");
        // Assert
        assert!(
            matches!(corruption.reason, CorruptReason::BadCommit(_)),
            "{corruption}"
        );
    }
}

#[test]
fn a_file_without_the_format_header_is_refused() {
    // Proves: a file that does not start with the ANLEDGER header (an older format, or not a
    // ledger) is refused, never truncated or overwritten.
    // Arrange
    let mut old = Vec::new();
    old.extend_from_slice(&40_u32.to_le_bytes());
    old.extend_from_slice(&[0; 44]);
    // Act
    let corruption = expect_corrupt(&old, "old format");
    // Assert
    assert!(matches!(corruption.reason, CorruptReason::FileHeader(_)));
    assert!(corruption.to_string().contains("ANLEDGER"), "{corruption}");
}

#[test]
fn appending_after_recovery_continues_the_log() {
    // Proves: after a torn tail is truncated, new records follow the old ones and all read back.
    // Arrange
    let written = bodies(20, 100);
    let (full, _) = written_file(&written, 5);
    let dir = dir_with_file(&full[..full.len() - 3]);
    // Act
    let (mut ledger, report, _) = open_collect(dir.path()).unwrap();
    ledger.append(&body("after recovery")).unwrap();
    ledger.commit().unwrap();
    drop(ledger);
    let (_, reopened, seen) = open_collect(dir.path()).unwrap();
    // Assert
    assert_eq!(report.records, 15);
    assert_eq!(report.torn_tail.unwrap().reason, TornReason::PartialBody);
    assert_eq!(reopened.records, 16);
    assert_eq!(reopened.truncated_bytes, 0);
    assert_eq!(&seen[..15], &written[..15]);
    assert_eq!(seen[15], body("after recovery"));
}

#[test]
fn callback_error_is_corruption_at_that_record() {
    // Proves: a record the caller rejects (broken hash chain) is corruption at its index and
    // offset carrying the caller's message, for open and scan alike, and nothing is modified.
    // Arrange
    let written = bodies(12, 80);
    let (file, layout) = written_file(&written, 4);
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
            assert_eq!(corruption.offset_bytes, layout.record_ends[4]);
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
    let (mut file, layout) = written_file(&bodies(4, 40), 4);
    file[layout.record_ends[0] as usize + 9] ^= 0xFF;
    let dir = dir_with_file(&file);
    // Act
    let message = open_collect(dir.path()).unwrap_err().to_string();
    // Assert
    assert!(message.contains(FILE_NAME), "{message}");
    assert!(
        message.contains(&format!("record 1 at byte {}", layout.record_ends[0])),
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
    let (full, layout) = written_file(&bodies(6, 90), 3);
    let dir = dir_with_file(&full[..full.len() - 2]);
    // Act
    let report = ledger_file::scan(&ledger_path(dir.path()), accept).unwrap();
    // Assert
    assert_eq!(report.records, 3);
    assert_eq!(report.valid_len_bytes, layout.commits[0].0);
    let tail = report.torn_tail.unwrap();
    assert_eq!(tail.len_bytes, full.len() as u64 - 2 - layout.commits[0].0);
    assert_eq!(tail.reason, TornReason::PartialBody);
    assert_eq!(
        fs::read(ledger_path(dir.path())).unwrap(),
        &full[..full.len() - 2]
    );
}

#[test]
fn too_short_and_oversized_bodies_are_rejected_changing_nothing() {
    // Proves: append refuses bodies under MIN_RECORD_BYTES or over MAX_RECORD_BYTES with a
    // typed error and neither buffers nor writes anything; both extremes are accepted.
    // Arrange
    let dir = TempDir::new().unwrap();
    let (mut ledger, report, _) = open_collect(dir.path()).unwrap();
    // Act
    let short = ledger.append(&[7; MIN_RECORD_BYTES as usize - 1]);
    let oversized = ledger.append(&vec![1; MAX_RECORD_BYTES as usize + 1]);
    let nothing = ledger.commit().unwrap();
    let max = ledger.append(&vec![2; MAX_RECORD_BYTES as usize]);
    let min = ledger.append(&[3; MIN_RECORD_BYTES as usize]);
    // Assert
    assert!(matches!(
        short,
        Err(AppendError::Frame(FrameError::TooShort { len_bytes: 31 }))
    ));
    assert!(matches!(
        oversized,
        Err(AppendError::Frame(FrameError::TooLarge { len_bytes: 4097 }))
    ));
    assert_eq!(nothing.records, 0);
    assert!(!nothing.synced);
    let on_disk = fs::read(ledger_path(dir.path())).unwrap();
    assert_eq!(on_disk, encode_header(&report.ledger_id));
    assert!(max.is_ok() && min.is_ok());
    assert!(!ledger.is_poisoned());
}

#[test]
fn write_buffer_is_bounded() {
    // Proves: append refuses once PENDING_RECORDS_MAX frames are buffered (is_full says so
    // first), and a commit frees it.
    // Arrange
    let dir = TempDir::new().unwrap();
    let (mut ledger, _, _) = open_collect(dir.path()).unwrap();
    for i in 0..PENDING_RECORDS_MAX {
        assert!(!ledger.is_full());
        ledger.append(&body(&i.to_string())).unwrap();
    }
    // Act
    let full = ledger.append(&body("r"));
    let was_full = ledger.is_full();
    let commit = ledger.commit().unwrap();
    let after = ledger.append(&body("r"));
    // Assert
    assert!(was_full);
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
    assert!(matches!(
        ledger.append(&body("x")),
        Err(AppendError::Poisoned)
    ));
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
    ledger.append(&body("first")).unwrap();
    ledger.commit().unwrap();
    ledger.append(&body("second")).unwrap();
    // Act
    let failed = ledger.commit();
    // Assert
    assert!(matches!(failed, Err(CommitError::Write(_))), "{failed:?}");
    assert_poisoned(&mut ledger);
    assert_eq!(ledger.io().writes, 2, "no retry after the failure");
    drop(ledger);
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    assert_eq!(seen, vec![body("first")]);
    assert_eq!(report.truncated_bytes, 0);
}

#[test]
fn short_write_poisons_and_restart_truncates_the_torn_frames() {
    // Proves: a write that lands partly (disk full) poisons the ledger, and the next open
    // truncates exactly the partial frames, keeping every record committed before.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::ShortWrite(2, 13));
    ledger.append(&body("committed")).unwrap();
    ledger.commit().unwrap();
    ledger.append(&body("lost one")).unwrap();
    ledger.append(&body("lost two")).unwrap();
    // Act
    let failed = ledger.commit();
    // Assert
    assert!(matches!(failed, Err(CommitError::Write(_))), "{failed:?}");
    assert_poisoned(&mut ledger);
    drop(ledger);
    let (_, report, seen) = open_collect(dir.path()).unwrap();
    assert_eq!(seen, vec![body("committed")]);
    assert_eq!(report.truncated_bytes, 13);
    assert_eq!(report.torn_tail.unwrap().reason, TornReason::PartialBody);
}

#[test]
fn failed_sync_poisons_the_ledger() {
    // Proves: an fdatasync error is returned, and the ledger never pretends a later sync
    // succeeded for the same data (fsyncgate): every later call is Poisoned.
    // Arrange
    let dir = TempDir::new().unwrap();
    let mut ledger = open_probe(dir.path(), FsyncPolicy::Always, Fault::FailSync(1));
    ledger.append(&body("record")).unwrap();
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
    let (full, _) = written_file(&bodies(3, 60), 3);
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
            ledger.append(&body(&format!("{round} {i}"))).unwrap();
        }
        reports.push(ledger.commit().unwrap());
    }
    // Assert
    assert_eq!(ledger.io().syncs, 5);
    assert_eq!(ledger.io().writes, 5, "one write per group commit");
    for report in reports {
        assert_eq!(report.records, 3);
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
        ledger.append(&body(&i.to_string())).unwrap();
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
    ledger.append(&body("one more")).unwrap();
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
    ledger.append(&body("late")).unwrap();
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
    ledger.append(&body("a")).unwrap();
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
    let on_disk = fs::read(ledger_path(&dir)).unwrap();
    assert_eq!(on_disk, encode_header(&report.ledger_id));
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

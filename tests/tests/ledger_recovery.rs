//! The ledger file (`docs/ledger-format.md`) and the engine together: recovery of a real
//! receipt file at every byte offset, and a seeded simulation of the ledger through a faulty
//! I/O layer.

use std::fs::File;
use std::io;
use std::path::Path;

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{ChainVerifier, EntitlementCommand, RawSignal};
use autonomic_tokio::ledger_file::{
    COMMIT_FRAME_BYTES, FILE_HEADER_BYTES, FsyncPolicy, LedgerFile, LedgerIo, OpenError, scan,
};

/// 16 tenants, 512 receipts, 1024 dedup ids.
const SMALL: Capacities = Capacities {
    tenant_id_bytes: 16 * 256,
    dedup_ids: 1024,
    receipts: 512,
    ..Capacities::with_tenants(16)
};

fn engine(mem: &mut OwnedStorage) -> Engine<'_> {
    Engine::new(EngineConfig::default(), mem.storage()).expect("default config")
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Feeds one random input (activation, signal, outcome or reset) to the engine at `now`.
fn random_input(e: &mut Engine<'_>, rng: &mut Rng, now: u64) {
    let tenant = ["acme", "beta", "gamma-tenant"][(rng.next() % 3) as usize];
    match rng.next() % 10 {
        0 => {
            let cmd = EntitlementCommand::Activate {
                sku: "pro",
                expires_at_ms: None,
            };
            let _ = e.handle_entitlement(now, tenant, cmd);
        }
        1 => {
            let _ = e.handle_outcome(now, tenant, None, rng.next().is_multiple_of(2), b"undo");
        }
        2 => {
            let _ = e.handle_reset(now, tenant);
        }
        _ => {
            let value = (rng.next() % 101) as f64;
            let raw = RawSignal {
                tenant,
                metric: "cpu",
                value,
                ts_ms: now,
            };
            let _ = e.handle_signal(now, &raw);
        }
    }
    while e.poll_action().is_some() {}
}

/// A real history: every receipt an engine produced for `inputs` random inputs.
fn history(seed: u64, inputs: usize) -> Vec<Vec<u8>> {
    let mut e_mem = OwnedStorage::new(&SMALL);
    let mut e = engine(&mut e_mem);
    let mut rng = Rng(seed);
    let mut records = Vec::new();
    for tenant in ["acme", "beta", "gamma-tenant"] {
        let cmd = EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        };
        e.handle_entitlement(0, tenant, cmd).expect("activate");
    }
    for i in 0..inputs {
        random_input(&mut e, &mut rng, 1_000 + i as u64 * 1_700);
        while let Some(r) = e.poll_record() {
            records.push(r.to_vec());
        }
    }
    records
}

/// Records committed per group in [`write_ledger`].
const GROUP: usize = 10;

/// Writes `records` through the real ledger, committing every [`GROUP`]; returns the file's
/// bytes, each record frame's end offset, and each commit frame's end offset with the
/// records committed up to it.
fn write_ledger(dir: &Path, records: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>, Vec<(usize, usize)>) {
    let (mut file, _) = LedgerFile::open(dir, FsyncPolicy::Always, |_, _| Ok(())).expect("create");
    let mut ends = Vec::new();
    let mut commits = Vec::new();
    let mut offset = FILE_HEADER_BYTES as usize;
    for (g, group) in records.chunks(GROUP).enumerate() {
        for r in group {
            file.append(r).expect("append");
            offset += 8 + r.len();
            ends.push(offset);
        }
        file.commit().expect("commit");
        offset += COMMIT_FRAME_BYTES as usize;
        commits.push((offset, g * GROUP + group.len()));
    }
    let bytes = std::fs::read(dir.join("ledger.log")).expect("read back");
    assert_eq!(offset, bytes.len());
    (bytes, ends, commits)
}

/// A scratch directory on tmpfs when there is one (fsync is cheap there), else the temp dir.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir")
}

#[test]
fn recovery_at_every_byte_offset_yields_exactly_the_whole_records() {
    // Proves that for a real file of a few hundred receipts, opening file[..k] for every k
    // keeps exactly the records that end at or before k (chain-verified by the core), truncates
    // the rest, and — at every record boundary and one byte before it — rebuilds an engine
    // whose head is that record's hash.
    let records = history(0x5eed, 260);
    assert!(records.len() >= 150, "history too short: {}", records.len());
    let dir = scratch();
    let (file, ends, commits) = write_ledger(&dir.path().join("full"), &records);
    let heads: Vec<[u8; 32]> = records
        .iter()
        .map(|r| r[r.len() - 32..].try_into().unwrap())
        .collect();
    let header = FILE_HEADER_BYTES as usize;
    for k in 0..=file.len() {
        let d = dir.path().join(format!("k{k}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("ledger.log"), &file[..k]).unwrap();
        let (committed_end, whole) = commits
            .iter()
            .rev()
            .find(|(end, _)| *end <= k)
            .copied()
            .unwrap_or((header, 0));
        let boundary = ends.contains(&k) || commits.iter().any(|c| c.0 == k || c.0 == k + 1);
        let (count, head) = if boundary {
            let mut e_mem = OwnedStorage::new(&SMALL);
            let mut e = engine(&mut e_mem);
            let opened = LedgerFile::open(&d, FsyncPolicy::Always, |_, r| {
                e.restore(r).map_err(|x| x.to_string())
            });
            let (_, report) = opened.unwrap_or_else(|err| panic!("k={k}: {err}"));
            assert_eq!(report.records, whole as u64, "k={k}");
            (e.ledger().next_seq(), e.ledger().head_hash())
        } else {
            let mut v = ChainVerifier::new();
            let opened = LedgerFile::open(&d, FsyncPolicy::Always, |_, r| {
                v.push(r).map(|_| ()).map_err(|x| x.to_string())
            });
            opened.unwrap_or_else(|err| panic!("k={k}: {err}"));
            (v.next_seq(), v.head_hash())
        };
        assert_eq!(count, whole as u64, "k={k}: committed records");
        let expected_head = if whole == 0 {
            [0; 32]
        } else {
            heads[whole - 1]
        };
        assert_eq!(head, expected_head, "k={k}: head");
        let len = std::fs::metadata(d.join("ledger.log")).unwrap().len() as usize;
        assert_eq!(len, committed_end.max(header), "k={k}: truncated length");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn every_bit_of_committed_receipts_is_detected_never_truncated() {
    // Proves, on a real chain restored by the core, that flipping any bit of the first, a
    // middle, or the last committed receipt (length word, checksum or body) or of the last
    // commit frame makes open refuse, names a position at or before the flip, and leaves the
    // file untouched — while every torn final append is still truncated (the test above).
    let records = history(0x5eed, 60);
    let dir = scratch();
    let (file, ends, commits) = write_ledger(&dir.path().join("full"), &records);
    let start_of = |i: usize| {
        if i == 0 {
            FILE_HEADER_BYTES as usize
        } else {
            ends[i - 1]
        }
    };
    let last = records.len() - 1;
    let mid = records.len() / 2;
    let last_commit = commits.last().unwrap().0;
    let spans = [
        (start_of(0), ends[0]),
        (start_of(mid), ends[mid]),
        (start_of(last), ends[last]),
        (last_commit - COMMIT_FRAME_BYTES as usize, last_commit),
    ];
    let d = dir.path().join("flip");
    std::fs::create_dir(&d).unwrap();
    for (from, to) in spans {
        for byte in from..to {
            for bit in 0..8 {
                let mut damaged = file.clone();
                damaged[byte] ^= 1 << bit;
                std::fs::write(d.join("ledger.log"), &damaged).unwrap();
                let mut e_mem = OwnedStorage::new(&SMALL);
                let mut e = engine(&mut e_mem);
                let opened = LedgerFile::open(&d, FsyncPolicy::Always, |_, r| {
                    e.restore(r).map_err(|x| x.to_string())
                });
                match opened {
                    Err(OpenError::Corrupt { corruption, .. }) => assert!(
                        corruption.offset_bytes as usize <= byte,
                        "byte {byte} bit {bit}: reported at {}",
                        corruption.offset_bytes
                    ),
                    Err(other) => panic!("byte {byte} bit {bit}: {other}"),
                    Ok((_, report)) => panic!("byte {byte} bit {bit}: opened {report:?}"),
                }
                let after = std::fs::read(d.join("ledger.log")).unwrap();
                assert!(after == damaged, "byte {byte} bit {bit}: file modified");
            }
        }
    }
}

/// A real file whose first write or sync at or after operation `fail_at` fails — or, with
/// `short_write`, whose first write from then on lands only in part and then fails.
struct FaultyIo {
    file: File,
    ops: u64,
    fail_at: u64,
    short_write: bool,
    fired: bool,
}

impl FaultyIo {
    fn due(&mut self, is_write: bool) -> bool {
        self.ops += 1;
        let kind_ok = is_write || !self.short_write;
        let due = !self.fired && self.ops >= self.fail_at && kind_ok;
        self.fired |= due;
        due
    }
}

impl LedgerIo for FaultyIo {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.due(true) {
            if self.short_write {
                let half = &buf[..buf.len() / 2];
                io::Write::write_all(&mut self.file, half)?;
            }
            return Err(io::Error::other("injected write fault"));
        }
        io::Write::write_all(&mut self.file, buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if self.due(false) {
            return Err(io::Error::other("injected sync fault"));
        }
        self.file.sync_data()
    }
    fn set_len(&mut self, len_bytes: u64) -> io::Result<()> {
        self.file.set_len(len_bytes)
    }
}

#[test]
fn faulty_ledger_io_never_loses_an_acknowledged_receipt() {
    // Proves, over seeded worlds, that when the n-th write or sync fails (or half-lands), the
    // ledger is poisoned, and reopening the file recovers a chain prefix that holds every
    // receipt acknowledged before the fault and nothing that was not produced. A failure
    // prints the seed: AUTONOMIC_LEDGER_SIM_SEED=<seed> replays it.
    let seeds: Vec<u64> = match std::env::var("AUTONOMIC_LEDGER_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("seed")],
        Err(_) => (1..=std::env::var("AUTONOMIC_LEDGER_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(24))
            .collect(),
    };
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let fail_at = 1 + rng.next() % 40;
        let short_write = rng.next().is_multiple_of(2);
        let dir = scratch();
        let mut e_mem = OwnedStorage::new(&SMALL);
        let mut e = engine(&mut e_mem);
        let wrap = |file| FaultyIo {
            file,
            ops: 0,
            fail_at,
            short_write,
            fired: false,
        };
        let (mut file, _) =
            LedgerFile::open_with(dir.path(), FsyncPolicy::Always, |_, _| Ok(()), wrap)
                .expect("open");
        let mut produced: Vec<Vec<u8>> = Vec::new();
        let mut acknowledged = 0usize;
        let mut faulted = false;
        for tenant in ["acme", "beta", "gamma-tenant"] {
            let cmd = EntitlementCommand::Activate {
                sku: "pro",
                expires_at_ms: None,
            };
            e.handle_entitlement(0, tenant, cmd).expect("activate");
        }
        for round in 0..200u64 {
            for _ in 0..1 + rng.next() % 4 {
                random_input(&mut e, &mut rng, 1_000 + round * 900);
            }
            while let Some(r) = e.poll_record() {
                produced.push(r.to_vec());
                let _ = file.append(r);
            }
            match file.commit() {
                Ok(_) => acknowledged = produced.len(),
                Err(_) => {
                    faulted = true;
                    break;
                }
            }
        }
        assert!(
            faulted,
            "seed {seed}: the fault at op {fail_at} never fired ({} produced)",
            produced.len()
        );
        assert!(
            file.append(&produced[0]).is_err(),
            "seed {seed}: poisoned after the fault"
        );
        drop(file);
        let mut rebuilt_mem = OwnedStorage::new(&SMALL);
        let mut rebuilt = engine(&mut rebuilt_mem);
        let reopened = LedgerFile::open(dir.path(), FsyncPolicy::Always, |_, r| {
            rebuilt.restore(r).map_err(|x| x.to_string())
        });
        let (_, report) = reopened.unwrap_or_else(|err| panic!("seed {seed}: reopen: {err}"));
        let recovered = report.records as usize;
        assert!(
            recovered >= acknowledged,
            "seed {seed}: lost acknowledged receipts ({recovered} < {acknowledged})"
        );
        assert!(
            recovered <= produced.len(),
            "seed {seed}: more records than produced"
        );
        let expected_head: [u8; 32] = if recovered == 0 {
            [0; 32]
        } else {
            produced[recovered - 1][produced[recovered - 1].len() - 32..]
                .try_into()
                .unwrap()
        };
        assert_eq!(
            rebuilt.ledger().head_hash(),
            expected_head,
            "seed {seed}: recovered chain is not a prefix of what was produced"
        );
        let verified =
            scan(&dir.path().join("ledger.log"), |_, _| Ok(())).expect("scan after recovery");
        assert!(
            verified.torn_tail.is_none(),
            "seed {seed}: the torn tail was truncated on open"
        );
    }
}

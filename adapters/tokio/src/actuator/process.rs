//! Children never outlive the sidecar: where `exec` children are forked, how they learn that
//! the sidecar died, and the records a restarted sidecar uses to kill what a dead one left.
//!
//! **Parent-death signal.** Every `exec` child sets `PR_SET_PDEATHSIG` to SIGKILL before
//! `exec` (and exits at once if the sidecar already died between fork and prctl). The kernel
//! sends that signal when the *thread* that forked the child exits, not the process: tokio's
//! blocking-pool threads exit after 10 s idle, and a worker thread that ran `block_in_place`
//! ends up as one. So children are never forked on a runtime thread: `spawn` hands the
//! command to one dedicated `autonomic-spawner` thread that lives as long as the process (its
//! channel's sender is a never-dropped static), enters the caller's runtime there (tokio
//! registers the child with that runtime's reaper) and forks. The signal therefore fires
//! exactly when the sidecar process dies. It is not inherited by the child's own children
//! and is cleared by `exec` of a set-user-ID or file-capability program.
//!
//! **Records.** What the signal cannot reach (grandchildren in the child's process group),
//! the records do. With a [`ProcessRecords`] directory (the daemon uses
//! `<data_dir>/running/`), the spawner thread writes, right after the fork and before the
//! run is reported started, `<receipt>.pgid` (`<receipt>.rollback.pgid` for a rollback
//! program) as one line (written to a temporary name, then renamed):
//!
//! ```text
//! v1 boot=<boot_id> pgid=<pgid> sid=<session> start=<ticks> owner=<pid> owner_start=<ticks>
//! ```
//!
//! `start` is field 22 of `/proc/<pgid>/stat` (clock ticks after boot) of the group leader,
//! `owner`/`owner_start` the same for the sidecar that wrote it, `boot` the kernel's
//! `/proc/sys/kernel/random/boot_id`. The record is removed once the child was reaped (or its
//! group SIGKILLed). No fsync: a record only has to survive the sidecar's death, not the
//! machine's, and a reboot ends the group anyway.
//!
//! [`reap_orphans`] (run once at start, before anything is spawned) SIGKILLs every recorded
//! group that is provably the recorded one: same boot, and either the leader is alive with
//! the recorded start time, or the leader is gone (the usual case: the parent-death signal
//! killed it) and every process still in the group is in the recorded session and started no
//! earlier than the leader. A pid number cannot be reused while a group of that id has a
//! member, so a live leader with another start time means the group is gone and the number
//! reused: it is never killed. Records of a still-living owner are left alone.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Bytes read from one record or `/proc/<pid>/stat`.
const RECORD_BYTES_MAX: u64 = 4096;
/// Record files end with this; anything else in the directory is ignored.
pub(super) const RECORD_SUFFIX: &str = ".pgid";
/// A record being written has this appended to its name until it is renamed into place.
const TMP_SUFFIX: &str = ".tmp";
/// Magic that starts a version-1 record.
const RECORD_MAGIC_V1: &str = "v1";

/// A directory of records of running `exec` process groups. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessRecords {
    dir: PathBuf,
}

impl ProcessRecords {
    /// Uses `dir` (created if missing) for the records. Call [`reap_orphans`] on it first.
    pub fn open(dir: &Path) -> io::Result<ProcessRecords> {
        fs::create_dir_all(dir)?;
        Ok(ProcessRecords {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the record `name` for the just-spawned group leader `pid`.
    fn write(&self, name: &str, pid: u32) -> io::Result<RunningRecord> {
        let pgid = i32::try_from(pid).map_err(io::Error::other)?;
        let stat = proc_stat(pgid)?.ok_or_else(|| io::Error::other("child vanished"))?;
        debug_assert_eq!(stat.pgrp, pgid, "the child leads its own group");
        let (owner, owner_start) = owner()?;
        let record = Record {
            boot: boot_id(),
            pgid,
            sid: stat.session,
            start: stat.start,
            owner,
            owner_start,
        };
        let text = record.encode();
        debug_assert_eq!(Record::parse(&text), Some(record));
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}{TMP_SUFFIX}"));
        fs::write(&tmp, &text)?;
        fs::rename(&tmp, &path)?;
        Ok(RunningRecord { path, text })
    }
}

/// One written record; removed on drop if it still holds what was written.
#[derive(Debug)]
pub(super) struct RunningRecord {
    path: PathBuf,
    text: String,
}

impl Drop for RunningRecord {
    fn drop(&mut self) {
        // Another run of the same receipt may have replaced it: remove only our own.
        if fs::read_to_string(&self.path).is_ok_and(|t| t == self.text) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The parsed content of one record (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    boot: String,
    pgid: i32,
    sid: i32,
    start: u64,
    owner: i32,
    owner_start: u64,
}

impl Record {
    fn encode(&self) -> String {
        format!(
            "{RECORD_MAGIC_V1} boot={} pgid={} sid={} start={} owner={} owner_start={}\n",
            self.boot, self.pgid, self.sid, self.start, self.owner, self.owner_start
        )
    }

    fn parse(text: &str) -> Option<Record> {
        let mut fields = text.strip_suffix('\n')?.split(' ');
        if fields.next()? != RECORD_MAGIC_V1 {
            return None;
        }
        let mut value = |key: &str| fields.next()?.strip_prefix(key)?.strip_prefix('=');
        let boot = value("boot")?.to_owned();
        let pgid = value("pgid")?.parse().ok().filter(|p| *p > 1)?;
        let sid = value("sid")?.parse().ok()?;
        let start = value("start")?.parse().ok()?;
        let owner = value("owner")?.parse().ok()?;
        let owner_start = value("owner_start")?.parse().ok()?;
        if fields.next().is_some() {
            return None;
        }
        Some(Record {
            boot,
            pgid,
            sid,
            start,
            owner,
            owner_start,
        })
    }
}

/// What [`reap_orphans`] did, one count per record looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Groups that still had processes and were sent SIGKILL; record removed.
    pub killed: u32,
    /// Groups already gone (or whose id now belongs to someone else); record removed.
    pub gone: u32,
    /// Records of a sidecar that is still running; left in place.
    pub live: u32,
    /// Records that did not parse; removed.
    pub malformed: u32,
    /// Groups that could not be signalled (e.g. EPERM); record left in place.
    pub failed: u32,
}

/// Kills every process group recorded in `dir` by a sidecar that is no longer running, as
/// far as it is provably the recorded group (see the module docs), and removes the records.
/// A missing `dir` is an empty one.
pub fn reap_orphans(dir: &Path) -> io::Result<ReapReport> {
    let mut report = ReapReport::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // A `.pgid.tmp` is a record whose writer died before the rename: if it is whole, it
        // is handled like any other; if not, it is malformed and removed.
        let is_record = name.ends_with(RECORD_SUFFIX)
            || name
                .strip_suffix(TMP_SUFFIX)
                .is_some_and(|n| n.ends_with(RECORD_SUFFIX));
        if !is_record {
            continue;
        }
        let mut text = String::new();
        let read =
            fs::File::open(&path).and_then(|f| f.take(RECORD_BYTES_MAX).read_to_string(&mut text));
        let record = match read {
            Ok(_) => Record::parse(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => None,
            Err(e) => return Err(e),
        };
        let keep = match record {
            None => {
                report.malformed += 1;
                false
            }
            Some(record) => reap_one(&record, &mut report)?,
        };
        if !keep {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(report)
}

/// Kills one recorded group if it is provably ours; returns whether to keep the record.
fn reap_one(record: &Record, report: &mut ReapReport) -> io::Result<bool> {
    let same_boot = record.boot == boot_id();
    let owner_alive =
        same_boot && proc_stat(record.owner)?.is_some_and(|s| s.start == record.owner_start);
    if owner_alive {
        report.live += 1;
        return Ok(true);
    }
    if !same_boot || !is_our_group(record)? {
        report.gone += 1;
        return Ok(false);
    }
    match killpg(Pid::from_raw(record.pgid), Signal::SIGKILL) {
        Ok(()) => {
            report.killed += 1;
            Ok(false)
        }
        Err(Errno::ESRCH) => {
            report.gone += 1;
            Ok(false)
        }
        Err(_) => {
            report.failed += 1;
            Ok(true)
        }
    }
}

/// Whether the processes now in group `record.pgid` are the recorded group's.
fn is_our_group(record: &Record) -> io::Result<bool> {
    match proc_stat(record.pgid)?.filter(|s| !s.dead) {
        // The leader lives: its start time tells whether the number was reused.
        Some(leader) => Ok(leader.start == record.start),
        // The leader is gone, or a zombie nobody reaped yet (nothing to kill in itself). The
        // number stays reserved while the group has members, so the members are the
        // recorded group's; the session and start times guard the remaining case of a group
        // emptied, its number reused and re-grouped by someone else.
        None => {
            let members = group_members(record.pgid)?;
            Ok(!members.is_empty()
                && members
                    .iter()
                    .all(|m| m.session == record.sid && m.start >= record.start))
        }
    }
}

/// The parts of `/proc/<pid>/stat` used here.
#[derive(Debug, Clone, Copy)]
struct Stat {
    /// A zombie (`Z`) or dead (`X`) process: exited, only waiting to be reaped.
    dead: bool,
    pgrp: i32,
    session: i32,
    start: u64,
}

/// Reads `/proc/<pid>/stat`; `None` if there is no such process.
fn proc_stat(pid: i32) -> io::Result<Option<Stat>> {
    let mut text = String::new();
    let read = fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|f| f.take(RECORD_BYTES_MAX).read_to_string(&mut text));
    match read {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound) => return Ok(None),
        // ESRCH: the process exited between open and read.
        Err(e) if e.raw_os_error() == Some(Errno::ESRCH as i32) => return Ok(None),
        Err(e) => return Err(e),
    }
    parse_stat(&text)
        .map(Some)
        .ok_or_else(|| io::Error::other(format!("cannot parse /proc/{pid}/stat")))
}

/// Fields 3 (state), 5 (pgrp), 6 (session) and 22 (starttime) of a stat line (proc(5)); the
/// command name (field 2) may contain spaces and parentheses, so fields are counted after
/// its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, after_comm) = text.rsplit_once(')')?;
    let mut fields = after_comm.split_whitespace();
    let dead = matches!(fields.next()?, "Z" | "X" | "x");
    let pgrp = fields.nth(1)?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    let start = fields.nth(15)?.parse().ok()?;
    Some(Stat {
        dead,
        pgrp,
        session,
        start,
    })
}

/// Every living (not zombie) process whose process group is `pgid`.
fn group_members(pgid: i32) -> io::Result<Vec<Stat>> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(stat) = proc_stat(pid)?
            && stat.pgrp == pgid
            && !stat.dead
        {
            members.push(stat);
        }
    }
    Ok(members)
}

/// This kernel boot's id, `-` if unreadable (start times then decide alone).
fn boot_id() -> String {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace))
                .unwrap_or_else(|| "-".to_owned())
        })
        .clone()
}

/// This process's pid and start time.
fn owner() -> io::Result<(i32, u64)> {
    let pid = i32::try_from(std::process::id()).map_err(io::Error::other)?;
    let stat = proc_stat(pid)?.ok_or_else(|| io::Error::other("no /proc/self/stat"))?;
    Ok((pid, stat.start))
}

// ---------------------------------------------------------------- the spawner thread

/// A spawned child and its record (if records are kept).
#[derive(Debug)]
pub(super) struct Spawned {
    pub(super) child: Child,
    pub(super) record: Option<RunningRecord>,
}

struct Job {
    cmd: Command,
    runtime: tokio::runtime::Handle,
    record: Option<(ProcessRecords, String)>,
    reply: oneshot::Sender<io::Result<Spawned>>,
}

/// Spawns `cmd` on the spawner thread (see the module docs) within the current runtime, and
/// writes the record `name` into `records` if given. A record that cannot be written fails
/// the spawn (the group is killed): a child the sidecar could not account for must not run.
pub(super) async fn spawn(
    cmd: Command,
    records: Option<(ProcessRecords, String)>,
) -> io::Result<Spawned> {
    let (reply, answer) = oneshot::channel();
    let job = Job {
        cmd,
        runtime: tokio::runtime::Handle::current(),
        record: records,
        reply,
    };
    spawner()?
        .send(job)
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the spawner thread dropped the spawn"))?
}

/// The spawner thread's queue, started on first use; the sender is never dropped, so the
/// thread never exits before the process does.
fn spawner() -> io::Result<Sender<Job>> {
    static SPAWNER: OnceLock<Sender<Job>> = OnceLock::new();
    if let Some(tx) = SPAWNER.get() {
        return Ok(tx.clone());
    }
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("autonomic-spawner".to_owned())
        .spawn(move || {
            for job in rx {
                spawn_here(job);
            }
        })?;
    // Two first callers may race: the loser's thread sees its sender dropped and exits
    // before it ever forked anything.
    Ok(SPAWNER.get_or_init(|| tx).clone())
}

/// Runs on the spawner thread: fork, record, reply.
fn spawn_here(job: Job) {
    let Job {
        mut cmd,
        runtime,
        record,
        reply,
    } = job;
    let _runtime = runtime.enter();
    let spawned = cmd.spawn().and_then(|child| {
        let Some((records, name)) = record else {
            return Ok(Spawned {
                child,
                record: None,
            });
        };
        let pid = child.id().unwrap_or(0);
        match records.write(&name, pid) {
            Ok(record) => Ok(Spawned {
                child,
                record: Some(record),
            }),
            Err(e) => {
                kill_group(pid);
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot record the process group in {}: {e}; killed it",
                        records.dir().display()
                    ),
                ))
            }
        }
    });
    if let Err(Ok(abandoned)) = reply.send(spawned) {
        // The run was dropped while we forked: nobody will kill the group later.
        kill_group(abandoned.child.id().unwrap_or(0));
    }
}

fn kill_group(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid)
        && pgid > 1
    {
        // ESRCH (already gone) is the only expected error.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

//! `exec` children never outlive the sidecar: the parent-death signal and the process-group
//! records, with real processes. The "sidecar" that dies is a helper *process*: this test
//! binary re-invoked with [`HELPER_ENV`] set, running only [`helper_process_entry`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autonomic_tokio::actuator::{
    ActionKind, ActionRequest, Actuator, ProcessRecords, ReapReport, reap_orphans,
};
use autonomic_tokio::config::{ActuatorSection, BackendKind};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

/// Set (to the records directory) when this binary runs as the helper "sidecar".
const HELPER_ENV: &str = "AUTONOMIC_TEST_ORPHAN_HELPER_RECORDS";
/// The program the helper runs through the exec backend.
const HELPER_PROGRAM_ENV: &str = "AUTONOMIC_TEST_ORPHAN_HELPER_PROGRAM";
/// The file the program writes its pids to (its first argument).
const HELPER_OUT_ENV: &str = "AUTONOMIC_TEST_ORPHAN_HELPER_OUT";
/// The receipt of the helper's action (its record is `<receipt>.pgid`).
const HELPER_RECEIPT: u64 = 77;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn exec_section(program: &Path, args: &[&str]) -> ActuatorSection {
    ActuatorSection {
        backend: BackendKind::Exec,
        program: Some(program.display().to_string()),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        timeout_ms: 20_000,
        ..ActuatorSection::default()
    }
}

fn request(receipt: u64) -> ActionRequest {
    ActionRequest {
        tenant: "acme".into(),
        kind: ActionKind::Throttle,
        percent: Some(50),
        revision: None,
        receipt,
    }
}

/// Alive = in /proc and not a zombie waiting for its reaper.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Field 22 (starttime) of /proc/<pid>/stat.
fn start_time(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = stat.rsplit(')').next().unwrap();
    after_comm
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out ({limit:?}) waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the pids the program wrote (space-separated, renamed into place).
fn wait_for_pids(path: &Path) -> Vec<i32> {
    let mut text = String::new();
    wait_until(
        &format!("{}", path.display()),
        Duration::from_secs(10),
        || {
            text = std::fs::read_to_string(path).unwrap_or_default();
            text.ends_with('\n')
        },
    );
    text.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn records_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Processes this test started; SIGKILLed (by group where they lead one) on drop.
#[derive(Default)]
struct Cleanup {
    children: Vec<Child>,
    pids: Vec<i32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.pids {
            // Usually already dead (ESRCH); this only matters when an assertion failed.
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the helper "sidecar": it runs `program <out>` through the exec backend with
/// process records in `records`, and waits for it (until this test SIGKILLs it).
fn start_helper(records: &Path, program: &Path, out: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, records)
        .env(HELPER_PROGRAM_ENV, program)
        .env(HELPER_OUT_ENV, out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn helper_process_entry() {
    // Not a test by itself (returns at once): with HELPER_ENV set, this process plays the
    // sidecar that the tests below kill with SIGKILL while its exec action runs.
    let Some(records) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let program = PathBuf::from(std::env::var_os(HELPER_PROGRAM_ENV).unwrap());
    let out = std::env::var(HELPER_OUT_ENV).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let records = ProcessRecords::open(Path::new(&records)).unwrap();
        let actuator =
            Actuator::from_config(ActionKind::Throttle, &exec_section(&program, &[&out]))
                .unwrap()
                .with_process_records(records);
        actuator
            .run(&request(HELPER_RECEIPT), CancellationToken::new())
            .await
    });
    // Only reached if nobody killed us (bounded by the section's 20 s timeout).
    eprintln!("helper finished unkilled: {report:?}");
}

#[test]
fn a_sidecar_killed_with_sigkill_takes_its_exec_child_along() {
    // Proves: the parent-death signal: when the process that ran an exec action dies by
    // SIGKILL (no cleanup runs), the action's child (`sleep 60`) is gone within a second;
    // the stale record it left is removed by reap_orphans, which finds the group gone.
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("running");
    let out = dir.path().join("pids");
    let program = script(
        dir.path(),
        "sleeper.sh",
        r#"echo "$$" > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 60"#,
    );
    let mut cleanup = Cleanup::default();
    cleanup
        .children
        .push(start_helper(&records, &program, &out));
    let sleeper = wait_for_pids(&out)[0];
    cleanup.pids.push(sleeper);
    assert!(alive(sleeper), "the child runs before the kill");
    // The record is written right after the fork; the script may have been quicker.
    wait_until("the running group's record", Duration::from_secs(2), || {
        records_in(&records) == ["77.pgid"]
    });

    let helper = cleanup.children.first_mut().unwrap();
    helper.kill().unwrap(); // SIGKILL
    helper.wait().unwrap();
    let killed_at = Instant::now();
    wait_until(
        "the child to die with the helper",
        Duration::from_secs(1),
        || !alive(sleeper),
    );
    eprintln!(
        "child gone {:?} after the helper's SIGKILL",
        killed_at.elapsed()
    );
    let reaped = reap_orphans(&records).unwrap();

    assert_eq!(
        reaped,
        ReapReport {
            gone: 1,
            ..ReapReport::default()
        }
    );
    assert!(records_in(&records).is_empty());
}

#[test]
fn reap_orphans_kills_the_grandchildren_a_dead_sidecar_left_in_the_group() {
    // Proves: a grandchild (`sleep 60 &` of a shell) shares the recorded process group but
    // not the parent-death signal: it survives the helper's SIGKILL (the shell does not),
    // and reap_orphans at the "next start" kills it, counting one group killed.
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("running");
    let out = dir.path().join("pids");
    let program = script(
        dir.path(),
        "spawner.sh",
        r#"sleep 60 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
wait"#,
    );
    let mut cleanup = Cleanup::default();
    cleanup
        .children
        .push(start_helper(&records, &program, &out));
    let pids = wait_for_pids(&out);
    let (shell, grandchild) = (pids[0], pids[1]);
    cleanup.pids.extend([shell, grandchild]);

    let helper = cleanup.children.first_mut().unwrap();
    helper.kill().unwrap();
    helper.wait().unwrap();
    wait_until(
        "the shell to die with the helper",
        Duration::from_secs(1),
        || !alive(shell),
    );
    std::thread::sleep(Duration::from_millis(100));
    let survived = alive(grandchild);
    let reaped = reap_orphans(&records).unwrap();
    wait_until(
        "reap_orphans to kill the grandchild",
        Duration::from_secs(1),
        || !alive(grandchild),
    );

    assert!(
        survived,
        "the grandchild outlived the helper until the reap"
    );
    assert_eq!(
        reaped,
        ReapReport {
            killed: 1,
            ..ReapReport::default()
        }
    );
    assert!(records_in(&records).is_empty());
}

/// The boot id as the records carry it.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_owned()
}

/// A record in the documented v1 format.
fn record_text(pgid: i32, sid: i32, start: u64, owner: i32, owner_start: u64) -> String {
    format!(
        "v1 boot={} pgid={pgid} sid={sid} start={start} owner={owner} owner_start={owner_start}\n",
        boot_id()
    )
}

/// Our session id, field 6 of /proc/self/stat.
fn own_session() -> i32 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    stat.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn reap_orphans_never_kills_a_reused_pid_nor_a_living_sidecars_group() {
    // Proves: records are acted on only when provably right: a record whose pgid is now a
    // live leader with another start time (pid reused) is not killed and is removed; a record
    // of a still-running owner is left alone; a garbled record is removed as malformed; other
    // files are ignored; a record naming this very leader with its real start time kills it.
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("running");
    std::fs::create_dir(&records).unwrap();
    let mut cleanup = Cleanup::default();
    let mut victim = Command::new("sleep");
    victim.arg("60").process_group(0);
    cleanup.children.push(victim.spawn().unwrap());
    let pid = i32::try_from(cleanup.children[0].id()).unwrap();
    wait_until("sleep to start", Duration::from_secs(2), || alive(pid));
    let start = start_time(pid);
    let session = own_session();
    let me = i32::try_from(std::process::id()).unwrap();
    let dead_owner = (1, u64::MAX); // pid 1 with a start time it never had
    let write = |name: &str, text: &str| std::fs::write(records.join(name), text).unwrap();
    write(
        "1.pgid",
        &record_text(pid, session, start + 1, dead_owner.0, dead_owner.1),
    );
    write(
        "2.pgid",
        &record_text(pid, session, start, me, start_time(me)),
    );
    write("3.pgid", "v1 boot=x pgid=\n");
    write("notes.txt", "not a record");

    let first = reap_orphans(&records).unwrap();
    let survived_reuse = alive(pid);
    write(
        "4.rollback.pgid",
        &record_text(pid, session, start, dead_owner.0, dead_owner.1),
    );
    let second = reap_orphans(&records).unwrap();
    wait_until("the recorded group to die", Duration::from_secs(1), || {
        !alive(pid)
    });

    assert_eq!(
        first,
        ReapReport {
            gone: 1,
            live: 1,
            malformed: 1,
            ..ReapReport::default()
        }
    );
    assert!(
        survived_reuse,
        "a process whose start time differs was killed"
    );
    assert_eq!(
        second,
        ReapReport {
            killed: 1,
            live: 1,
            ..ReapReport::default()
        }
    );
    assert_eq!(records_in(&records), ["2.pgid", "notes.txt"]);
    assert_eq!(
        reap_orphans(&dir.path().join("absent")).unwrap(),
        ReapReport::default()
    );
}

#[tokio::test]
async fn records_exist_while_a_group_runs_and_are_removed_when_it_ends() {
    // Proves: with process records, a running exec action has `<receipt>.pgid` naming its
    // pgid (= the child's pid) and start time; the record is removed when the run ends by
    // exit and when it is cancelled (group killed); a rollback program uses
    // `<receipt>.rollback.pgid`.
    let dir = tempfile::tempdir().unwrap();
    let records = ProcessRecords::open(&dir.path().join("running")).unwrap();
    let out = dir.path().join("pids");
    let program = script(
        dir.path(),
        "sleeper.sh",
        r#"echo "$$" > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 60"#,
    );
    let seen = dir.path().join("seen");
    let peek = script(
        dir.path(),
        "peek.sh",
        &format!("ls {} > {}", records.dir().display(), seen.display()),
    );
    let mut section = exec_section(&program, &[out.to_str().unwrap()]);
    section.rollback_program = Some(peek.display().to_string());
    let actuator = Arc::new(
        Actuator::from_config(ActionKind::Throttle, &section)
            .unwrap()
            .with_process_records(records.clone()),
    );
    let cancel = CancellationToken::new();
    let running = {
        let (actuator, cancel) = (Arc::clone(&actuator), cancel.clone());
        tokio::spawn(async move { actuator.run(&request(5), cancel).await })
    };
    let record_dir = records.dir().to_path_buf();
    let pid = tokio::task::spawn_blocking(move || {
        let pid = wait_for_pids(&out)[0];
        wait_until("the record", Duration::from_secs(2), || {
            !records_in(&record_dir).is_empty()
        });
        pid
    })
    .await
    .unwrap();
    let during = records_in(records.dir());
    let text = std::fs::read_to_string(records.dir().join("5.pgid")).unwrap();
    let start = start_time(pid);

    cancel.cancel();
    let cancelled = running.await.unwrap();
    let after_cancel = records_in(records.dir());
    let rolled_back = actuator.rollback(&request(5), &[]).await;
    let after_rollback = records_in(records.dir());
    let finished =
        Actuator::from_config(ActionKind::Shed, &exec_section(Path::new("/bin/true"), &[]))
            .unwrap()
            .with_process_records(records.clone())
            .run(&request(6), CancellationToken::new())
            .await;

    assert_eq!(during, ["5.pgid"]);
    assert!(
        text.contains(&format!(" pgid={pid} ")) && text.contains(&format!(" start={start} ")),
        "{text}"
    );
    assert!(cancelled.cancelled, "{cancelled:?}");
    assert!(after_cancel.is_empty(), "{after_cancel:?}");
    assert!(rolled_back.ok, "{rolled_back:?}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "5.rollback.pgid\n");
    assert!(after_rollback.is_empty(), "{after_rollback:?}");
    assert!(finished.ok, "{finished:?}");
    assert!(records_in(records.dir()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_outlives_the_thread_that_started_its_run() {
    // Proves: the parent-death signal follows the sidecar *process*, not the thread whose
    // task spawned the child (the kernel's rule is the forking thread): a run first polled
    // on a short-lived thread, which then exits, keeps its child alive; a cancel still
    // kills it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pids");
    let program = script(
        dir.path(),
        "sleeper.sh",
        r#"echo "$$" > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 60"#,
    );
    let actuator = Arc::new(
        Actuator::from_config(
            ActionKind::Throttle,
            &exec_section(&program, &[out.to_str().unwrap()]),
        )
        .unwrap(),
    );
    let cancel = CancellationToken::new();
    let handle = tokio::runtime::Handle::current();
    let (run_actuator, run_cancel, pid_file) = (Arc::clone(&actuator), cancel.clone(), out.clone());
    let thread = std::thread::spawn(move || {
        handle.block_on(async move {
            let mut run = Box::pin(async move { run_actuator.run(&request(9), run_cancel).await });
            tokio::select! {
                report = &mut run => panic!("the run ended early: {report:?}"),
                pid = tokio::task::spawn_blocking(move || wait_for_pids(&pid_file)[0]) => {
                    (run, pid.unwrap())
                }
            }
        })
    });
    let (run, pid) = tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alive_after_thread_exit = alive(pid);
    cancel.cancel();
    let report = run.await;

    assert!(
        alive_after_thread_exit,
        "the child died with the thread that started it"
    );
    assert!(report.cancelled, "{report:?}");
    assert!(!alive(pid));
}

//! The `cgroup` actuator: against directories laid out like cgroupfs v2 and v1, and against
//! the machine's REAL cgroups where it lets us create a group (each real test says loudly
//! whether it ran or was skipped, and why).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use autonomic_tokio::actuator::cgroup::{
    CgroupMounts, QUOTA_US_MIN, online_cpus, parse_cpu_list, parse_mountinfo, throttle_quota_us,
};
use autonomic_tokio::actuator::undo::{CgroupUndo, ControlFile, UndoError};
use autonomic_tokio::actuator::{
    ActionKind, ActionReport, ActionRequest, Actuator, ActuatorConfigError, UNDO_BYTES_MAX,
};
use autonomic_tokio::config::{ActuatorSection, BackendKind};
use tokio_util::sync::CancellationToken;

fn section(group: &str, root: Option<&Path>) -> ActuatorSection {
    ActuatorSection {
        backend: BackendKind::Cgroup,
        group: Some(group.to_owned()),
        root: root.map(Path::to_path_buf),
        ..ActuatorSection::default()
    }
}

fn request(kind: ActionKind, percent: Option<u8>, receipt: u64) -> ActionRequest {
    ActionRequest {
        tenant: "acme".into(),
        kind,
        percent,
        revision: None,
        receipt,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

// ---------------------------------------------------------------- fake cgroupfs layouts

#[tokio::test]
async fn fake_v2_throttle_writes_cpu_max_and_rollback_restores_the_exact_prior_bytes() {
    // Proves: on a v2 layout, Throttle(p) writes "<quota> <period>" to cpu.max with the base
    // being CPUs × period when unlimited and the prior quota when limited; rollback with each
    // run's undo token writes back exactly the prior bytes, newest and oldest alike; the
    // same token again writes the same value (idempotent); no token refuses.
    let root = tempfile::tempdir().unwrap();
    let cpu_max = root.path().join("grp-acme/cpu.max");
    write(&cpu_max, "max 100000\n");
    let actuator = Actuator::from_config(
        ActionKind::Throttle,
        &section("grp-{tenant}", Some(root.path())),
    )
    .unwrap();
    let unlimited_quota = u64::from(online_cpus()) * 100_000 / 2;

    let first = actuator
        .run(
            &request(ActionKind::Throttle, Some(50), 1),
            CancellationToken::new(),
        )
        .await;
    let after_first = read(&cpu_max);
    write(&cpu_max, "200000 100000\n");
    let second = actuator
        .run(
            &request(ActionKind::Throttle, Some(25), 2),
            CancellationToken::new(),
        )
        .await;
    let after_second = read(&cpu_max);
    let undo_second = actuator
        .rollback(&request(ActionKind::Throttle, Some(25), 2), &second.undo)
        .await;
    let after_undo_second = read(&cpu_max);
    let undo_first = actuator
        .rollback(&request(ActionKind::Throttle, Some(50), 1), &first.undo)
        .await;
    let undo_again = actuator
        .rollback(&request(ActionKind::Throttle, Some(50), 1), &first.undo)
        .await;
    let after_undo_again = read(&cpu_max);
    let no_token = actuator
        .rollback(&request(ActionKind::Throttle, Some(50), 1), &[])
        .await;

    assert!(first.ok && second.ok, "{first:?} {second:?}");
    assert_eq!(after_first, format!("{unlimited_quota} 100000\n"));
    assert_eq!(after_second, "50000 100000\n");
    assert!(
        undo_second.ok && undo_first.ok,
        "{undo_second:?} {undo_first:?}"
    );
    assert_eq!(after_undo_second, "200000 100000\n");
    assert_eq!(first.undo, b"cg1 cpu.max max 100000");
    assert_eq!(second.undo, b"cg1 cpu.max 200000 100000");
    assert!(undo_again.ok, "{undo_again:?}");
    assert_eq!(after_undo_again, "max 100000\n");
    assert!(!no_token.ok);
    assert_eq!(
        no_token.detail,
        "rollback refused: no undo token (nothing recorded to restore)"
    );
    assert_eq!(read(&cpu_max), "max 100000\n");
    assert!(undo_first.undo.is_empty() && undo_second.undo.is_empty());
}

#[tokio::test]
async fn fake_v2_pause_waits_for_frozen_1_in_cgroup_events() {
    // Proves: v2 pause writes 1 to cgroup.freeze and does not report success until
    // cgroup.events says "frozen 1" (written here later by another task); rollback thaws.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("acme");
    write(&dir.join("cgroup.freeze"), "0\n");
    write(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
    let actuator =
        Actuator::from_config(ActionKind::Pause, &section("{tenant}", Some(root.path()))).unwrap();
    let kernel = {
        let dir = dir.clone();
        tokio::spawn(async move {
            while read(&dir.join("cgroup.freeze")) != "1\n" {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            write(&dir.join("cgroup.events"), "populated 1\nfrozen 1\n");
            Instant::now()
        })
    };

    let report = actuator
        .run(
            &request(ActionKind::Pause, None, 5),
            CancellationToken::new(),
        )
        .await;
    let finished = Instant::now();
    let froze_at = kernel.await.unwrap();
    let undo = actuator
        .rollback(&request(ActionKind::Pause, None, 5), &report.undo)
        .await;

    assert!(report.ok, "{report:?}");
    assert!(
        finished >= froze_at,
        "pause reported success before the group was frozen"
    );
    assert!(undo.ok, "{undo:?}");
    assert_eq!(read(&dir.join("cgroup.freeze")), "0\n");
}

#[tokio::test]
async fn fake_v2_pause_cancelled_before_frozen_is_undone() {
    // Proves: a pause cancelled before the group reports frozen writes the prior freeze
    // value back and hands out no undo token (so there is nothing to roll back).
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("acme");
    write(&dir.join("cgroup.freeze"), "0\n");
    write(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
    let actuator =
        Actuator::from_config(ActionKind::Pause, &section("acme", Some(root.path()))).unwrap();
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        })
    };

    let report = actuator
        .run(&request(ActionKind::Pause, None, 6), cancel)
        .await;
    canceller.await.unwrap();
    let undo = actuator
        .rollback(&request(ActionKind::Pause, None, 6), &report.undo)
        .await;

    assert!(report.cancelled && !report.ok, "{report:?}");
    assert!(report.undo.is_empty());
    assert!(
        report.detail.contains("prior freeze state restored"),
        "{}",
        report.detail
    );
    assert_eq!(read(&dir.join("cgroup.freeze")), "0\n");
    assert!(!undo.ok);
}

#[tokio::test]
async fn fake_v2_pause_times_out_when_the_group_never_freezes() {
    // Proves: timeout_ms bounds the wait for "frozen 1" and the freeze is undone.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("acme");
    write(&dir.join("cgroup.freeze"), "0\n");
    write(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
    let mut config = section("acme", Some(root.path()));
    config.timeout_ms = 100;
    let actuator = Actuator::from_config(ActionKind::Pause, &config).unwrap();

    let report = actuator
        .run(
            &request(ActionKind::Pause, None, 8),
            CancellationToken::new(),
        )
        .await;

    assert!(report.timed_out && !report.ok, "{report:?}");
    assert_eq!(read(&dir.join("cgroup.freeze")), "0\n");
}

#[tokio::test]
async fn fake_v1_throttle_and_pause_write_the_v1_files_and_rollback_restores_them() {
    // Proves: with `root` laid out like the v1 parent (cpu/ and freezer/ subdirs), throttle
    // writes cpu.cfs_quota_us from cpu.cfs_period_us, pause writes FROZEN to freezer.state,
    // and rollback restores the exact prior bytes of both.
    let root = tempfile::tempdir().unwrap();
    let quota = root.path().join("cpu/grp/cpu.cfs_quota_us");
    let state = root.path().join("freezer/grp/freezer.state");
    write(&quota, "-1\n");
    write(&root.path().join("cpu/grp/cpu.cfs_period_us"), "50000\n");
    write(&state, "THAWED\n");
    let throttle =
        Actuator::from_config(ActionKind::Throttle, &section("grp", Some(root.path()))).unwrap();
    let pause =
        Actuator::from_config(ActionKind::Pause, &section("grp", Some(root.path()))).unwrap();

    let throttled = throttle
        .run(
            &request(ActionKind::Throttle, Some(10), 1),
            CancellationToken::new(),
        )
        .await;
    let quota_after = read(&quota);
    let paused = pause
        .run(
            &request(ActionKind::Pause, None, 2),
            CancellationToken::new(),
        )
        .await;
    let state_after = read(&state);
    let unthrottled = throttle
        .rollback(&request(ActionKind::Throttle, Some(10), 1), &throttled.undo)
        .await;
    let thawed = pause
        .rollback(&request(ActionKind::Pause, None, 2), &paused.undo)
        .await;

    assert!(throttled.ok && paused.ok, "{throttled:?} {paused:?}");
    assert_eq!(
        quota_after,
        format!("{}\n", u64::from(online_cpus()) * 50_000 / 10)
    );
    assert_eq!(state_after, "FROZEN\n");
    assert_eq!(throttled.undo, b"cg1 cpu.cfs_quota_us -1");
    assert_eq!(paused.undo, b"cg1 freezer.state THAWED");
    assert!(unthrottled.ok && thawed.ok, "{unthrottled:?} {thawed:?}");
    assert_eq!(read(&quota), "-1\n");
    assert_eq!(read(&state), "THAWED\n");
}

#[tokio::test]
async fn fake_v1_controller_mount_as_root_and_the_quota_floor() {
    // Proves: `root` may also be a v1 controller mount itself (files in root/<group>), and a
    // throttle never writes less than the kernel's 1000 µs minimum quota.
    let root = tempfile::tempdir().unwrap();
    let quota = root.path().join("grp/cpu.cfs_quota_us");
    write(&quota, "5000\n");
    write(&root.path().join("grp/cpu.cfs_period_us"), "100000\n");
    let actuator =
        Actuator::from_config(ActionKind::Throttle, &section("grp", Some(root.path()))).unwrap();

    let report = actuator
        .run(
            &request(ActionKind::Throttle, Some(0), 3),
            CancellationToken::new(),
        )
        .await;

    assert!(report.ok, "{report:?}");
    assert_eq!(read(&quota), format!("{QUOTA_US_MIN}\n"));
}

#[tokio::test]
async fn unusable_groups_and_requests_fail_without_touching_anything() {
    // Proves: a tenant that would escape the mount, a group directory that does not exist and
    // a throttle without a percent all fail as reports, not panics.
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("acme/cpu.max"), "max 100000\n");
    let actuator = Actuator::from_config(
        ActionKind::Throttle,
        &section("{tenant}", Some(root.path())),
    )
    .unwrap();
    let escape = ActionRequest {
        tenant: "../../etc".into(),
        ..request(ActionKind::Throttle, Some(50), 1)
    };
    let missing = ActionRequest {
        tenant: "nobody".into(),
        ..request(ActionKind::Throttle, Some(50), 2)
    };

    let escaped = actuator.run(&escape, CancellationToken::new()).await;
    let not_found = actuator.run(&missing, CancellationToken::new()).await;
    let no_percent = actuator
        .run(
            &request(ActionKind::Throttle, None, 3),
            CancellationToken::new(),
        )
        .await;

    assert!(
        !escaped.ok && escaped.detail.starts_with("refused: group"),
        "{}",
        escaped.detail
    );
    assert!(
        !not_found.ok
            && not_found
                .detail
                .starts_with("no cgroup for group \"nobody\""),
        "{}",
        not_found.detail
    );
    assert!(
        !no_percent.ok && no_percent.detail == "throttle needs a percent",
        "{}",
        no_percent.detail
    );
    assert_eq!(read(&root.path().join("acme/cpu.max")), "max 100000\n");
}

#[test]
fn bad_cgroup_sections_are_typed_config_errors() {
    // Proves: shed/rollback cannot use cgroup, and `..`, absolute or missing groups and stray
    // keys are rejected at load time.
    let root = Path::new("/tmp");
    let shed = Actuator::from_config(ActionKind::Shed, &section("g", Some(root))).unwrap_err();
    let rollback =
        Actuator::from_config(ActionKind::Rollback, &section("g", Some(root))).unwrap_err();
    let dotdot =
        Actuator::from_config(ActionKind::Pause, &section("a/../../b", Some(root))).unwrap_err();
    let absolute = Actuator::from_config(ActionKind::Pause, &section("/sys/fs/cgroup", Some(root)))
        .unwrap_err();
    let no_group = Actuator::from_config(
        ActionKind::Pause,
        &ActuatorSection {
            group: None,
            ..section("g", Some(root))
        },
    )
    .unwrap_err();
    let stray = Actuator::from_config(
        ActionKind::Pause,
        &ActuatorSection {
            url: Some("http://x/".into()),
            ..section("g", Some(root))
        },
    )
    .unwrap_err();

    assert_eq!(
        shed,
        ActuatorConfigError::CgroupUnsupportedKind {
            kind: ActionKind::Shed
        }
    );
    assert_eq!(
        rollback,
        ActuatorConfigError::CgroupUnsupportedKind {
            kind: ActionKind::Rollback
        }
    );
    assert!(
        matches!(dotdot, ActuatorConfigError::BadValue { key: "group", .. }),
        "{dotdot}"
    );
    assert!(
        matches!(absolute, ActuatorConfigError::BadValue { key: "group", .. }),
        "{absolute}"
    );
    assert!(matches!(
        no_group,
        ActuatorConfigError::MissingKey { key: "group", .. }
    ));
    assert!(matches!(
        stray,
        ActuatorConfigError::UnusedKey { key: "url", .. }
    ));
}

// ---------------------------------------------------------------- undo tokens: restart

/// Runs `req` on one actuator built from `config`, drops it, and rolls back on a NEW one
/// built from the same config given only the run's undo bytes (what a restarted sidecar has:
/// the config and the ledger's outcome receipt). Returns (run, rollback).
async fn run_then_rollback_after_restart(
    kind: ActionKind,
    config: &ActuatorSection,
    req: &ActionRequest,
) -> (ActionReport, ActionReport) {
    let before_restart = Actuator::from_config(kind, config).unwrap();
    let run = before_restart.run(req, CancellationToken::new()).await;
    drop(before_restart);
    let stored: Vec<u8> = run.undo.clone();
    let after_restart = Actuator::from_config(kind, config).unwrap();
    let undone = after_restart.rollback(req, &stored).await;
    (run, undone)
}

#[tokio::test]
async fn fake_v2_restart_throttle_and_pause_roll_back_from_the_undo_bytes_alone() {
    // Proves: the restart case on a v2 layout: a throttle and a pause run by one instance
    // are rolled back by a new instance from the same config given only the undo bytes,
    // restoring cpu.max and cgroup.freeze exactly; tokens fit UNDO_BYTES_MAX.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t-acme");
    write(&dir.join("cpu.max"), "150000 100000\n");
    write(&dir.join("cgroup.freeze"), "0\n");
    write(&dir.join("cgroup.events"), "populated 1\nfrozen 1\n");
    let config = section("t-{tenant}", Some(root.path()));

    let (throttled, unthrottled) = run_then_rollback_after_restart(
        ActionKind::Throttle,
        &config,
        &request(ActionKind::Throttle, Some(50), 40),
    )
    .await;
    let (paused, thawed) = run_then_rollback_after_restart(
        ActionKind::Pause,
        &config,
        &request(ActionKind::Pause, None, 41),
    )
    .await;

    assert!(throttled.ok && paused.ok, "{throttled:?} {paused:?}");
    assert!(unthrottled.ok && thawed.ok, "{unthrottled:?} {thawed:?}");
    assert_eq!(read(&dir.join("cpu.max")), "150000 100000\n");
    assert_eq!(read(&dir.join("cgroup.freeze")), "0\n");
    assert!(throttled.undo.len() <= UNDO_BYTES_MAX && paused.undo.len() <= UNDO_BYTES_MAX);
    assert_eq!(paused.undo, b"cg1 cgroup.freeze 0");
}

#[tokio::test]
async fn fake_v1_restart_throttle_and_pause_roll_back_from_the_undo_bytes_alone() {
    // Proves: the restart case on a v1 parent layout: cpu.cfs_quota_us (unlimited and
    // the largest (i64) quota) and freezer.state come back exactly on a new instance.
    let root = tempfile::tempdir().unwrap();
    let quota = root.path().join("cpu/g/cpu.cfs_quota_us");
    let state = root.path().join("freezer/g/freezer.state");
    write(&root.path().join("cpu/g/cpu.cfs_period_us"), "100000\n");
    write(&state, "THAWED\n");
    let config = section("g", Some(root.path()));
    let mut restored = Vec::new();
    for (i, prior) in ["-1\n", "9223372036854775807\n"].into_iter().enumerate() {
        write(&quota, prior);
        let (run, undone) = run_then_rollback_after_restart(
            ActionKind::Throttle,
            &config,
            &request(ActionKind::Throttle, Some(30), 50 + i as u64),
        )
        .await;
        assert!(run.ok && undone.ok, "{run:?} {undone:?}");
        assert!(run.undo.len() <= UNDO_BYTES_MAX, "{}", run.undo.len());
        restored.push(read(&quota));
    }
    let (paused, thawed) = run_then_rollback_after_restart(
        ActionKind::Pause,
        &config,
        &request(ActionKind::Pause, None, 60),
    )
    .await;

    assert_eq!(restored, ["-1\n", "9223372036854775807\n"]);
    assert!(paused.ok && thawed.ok, "{paused:?} {thawed:?}");
    assert_eq!(read(&state), "THAWED\n");
}

#[tokio::test]
async fn malformed_undo_tokens_are_refused_and_nothing_is_written() {
    // Proves: an empty token, garbage, a file name outside the known set (path traversal
    // included), a file of the other action kind, a bad value, a future version and a
    // 65-byte token each give a failed report naming the reason, and no file is written.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("acme");
    write(&dir.join("cpu.max"), "10000 100000\n");
    write(&dir.join("cgroup.freeze"), "1\n");
    write(&root.path().join("victim"), "untouched\n");
    let throttle =
        Actuator::from_config(ActionKind::Throttle, &section("acme", Some(root.path()))).unwrap();
    let long = format!("cg1 cpu.max {} 100000", "1".repeat(UNDO_BYTES_MAX));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "no undo token"),
        (
            b"\xff\x00garbage".to_vec(),
            "malformed undo token: not printable ASCII",
        ),
        (
            b"hello world".to_vec(),
            "malformed undo token: does not start with",
        ),
        (b"cg1 cpu.max".to_vec(), "malformed undo token: expected"),
        (
            b"cg1 ../../etc/passwd root::0:0".to_vec(),
            "unknown control file \"../../etc/passwd\"",
        ),
        (
            b"cg1 ../victim 1".to_vec(),
            "unknown control file \"../victim\"",
        ),
        (
            b"cg1 cgroup.procs 1".to_vec(),
            "unknown control file \"cgroup.procs\"",
        ),
        (
            b"cg1 cgroup.freeze 0".to_vec(),
            "names cgroup.freeze, which a throttle does not write",
        ),
        (
            b"cg1 cpu.max max 100000 7".to_vec(),
            "bad value for cpu.max",
        ),
        (b"cg1 cpu.max 1;reboot".to_vec(), "bad value for cpu.max"),
        (b"cg2 cpu.max max 100000".to_vec(), "does not start with"),
        (vec![b'1'; UNDO_BYTES_MAX + 1], "65 bytes, longer than 64"),
        (long.into_bytes(), "longer than 64"),
    ];

    for (token, reason) in &cases {
        let report = throttle
            .rollback(&request(ActionKind::Throttle, Some(50), 1), token)
            .await;
        assert!(!report.ok, "{token:?} was accepted: {report:?}");
        assert!(
            report.detail.starts_with("rollback refused: ") && report.detail.contains(reason),
            "{token:?}: {}",
            report.detail
        );
        assert!(report.undo.is_empty());
    }
    assert_eq!(read(&dir.join("cpu.max")), "10000 100000\n");
    assert_eq!(read(&dir.join("cgroup.freeze")), "1\n");
    assert_eq!(read(&root.path().join("victim")), "untouched\n");
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 2, "no file was created in the group");
}

#[test]
fn undo_tokens_round_trip_and_every_real_value_fits() {
    // Proves: the format carries every value the kernel can show for the four files (the
    // extremes included) within UNDO_BYTES_MAX, decodes to what was encoded, and refuses
    // contents it could not give back (so a run fails rather than promise a rollback).
    let biggest = u64::MAX.to_string();
    let values: Vec<(ControlFile, String)> = vec![
        (ControlFile::CpuMax, "max 100000".into()),
        (ControlFile::CpuMax, "max".into()),
        (ControlFile::CpuMax, format!("{biggest} {biggest}")),
        (ControlFile::CfsQuotaUs, "-1".into()),
        (ControlFile::CfsQuotaUs, biggest.clone()),
        (ControlFile::CfsQuotaUs, format!("-{biggest}")),
        (ControlFile::CgroupFreeze, "0".into()),
        (ControlFile::CgroupFreeze, "1".into()),
        (ControlFile::FreezerState, "THAWED".into()),
        (ControlFile::FreezerState, "FROZEN".into()),
    ];
    for (file, value) in &values {
        let undo = CgroupUndo::new(*file, format!("{value}\n").as_bytes()).unwrap();
        let bytes = undo.encode();
        assert!(
            bytes.len() <= UNDO_BYTES_MAX,
            "{file} {value}: {}",
            bytes.len()
        );
        assert_eq!(bytes, format!("cg1 {file} {value}").into_bytes());
        assert_eq!(CgroupUndo::decode(&bytes, file.kind()), Ok(undo));
    }
    assert_eq!(
        CgroupUndo::new(ControlFile::FreezerState, b"FREEZING\n"),
        None
    );
    assert_eq!(CgroupUndo::new(ControlFile::CpuMax, b"max 1 2\n"), None);
    assert_eq!(
        CgroupUndo::new(ControlFile::CfsQuotaUs, b"123456789012345678901\n"),
        None
    );
    assert_eq!(
        CgroupUndo::decode(b"cg1 freezer.state THAWED", ActionKind::Throttle),
        Err(UndoError::WrongKind {
            file: ControlFile::FreezerState,
            kind: ActionKind::Throttle
        })
    );
}

// ---------------------------------------------------------------- pure parsers

#[test]
fn mountinfo_parser_finds_v2_and_the_v1_cpu_and_freezer_mounts() {
    // Proves: the parser picks the cgroup2 mount and the v1 mounts by their super options
    // (including a combined cpu,cpuacct mount), decodes octal escapes, ignores optional
    // fields, other filesystems and garbage lines.
    let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
garbage without the separator
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 master:2 - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
37 31 0:34 / /sys/fs/cgroup/my\\040freezer rw - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
42 31 0:39 / /elsewhere rw - cgroup2 cgroup2 rw
";

    let mounts = parse_mountinfo(text);

    assert_eq!(
        mounts,
        CgroupMounts {
            v2: Some(PathBuf::from("/sys/fs/cgroup/unified")),
            cpu_v1: Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")),
            freezer_v1: Some(PathBuf::from("/sys/fs/cgroup/my freezer")),
        }
    );
    assert_eq!(parse_mountinfo(""), CgroupMounts::default());
    assert_eq!(
        parse_mountinfo("1 2 3 4 - - -\n\\\\ - cgroup2"),
        CgroupMounts::default()
    );
}

#[test]
fn cpu_list_parser_and_quota_arithmetic() {
    // Proves: the online-CPU list is counted correctly (ranges and singles) and rejects junk;
    // the quota is base × p / 100 with the 1000 µs floor and no overflow.
    assert_eq!(parse_cpu_list("0-1\n"), Some(2));
    assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(7));
    assert_eq!(parse_cpu_list("0"), Some(1));
    assert_eq!(parse_cpu_list(""), None);
    assert_eq!(parse_cpu_list("3-1"), None);
    assert_eq!(parse_cpu_list("x"), None);
    assert_eq!(parse_cpu_list("0-4294967295"), None);
    assert_eq!(throttle_quota_us(None, 100_000, 2, 50), 100_000);
    assert_eq!(throttle_quota_us(Some(300_000), 100_000, 2, 50), 150_000);
    assert_eq!(
        throttle_quota_us(Some(300_000), 100_000, 2, 0),
        QUOTA_US_MIN
    );
    assert_eq!(throttle_quota_us(None, u64::MAX, u32::MAX, 100), u64::MAX);
}

// ---------------------------------------------------------------- REAL cgroups

static GROUP_SEQ: AtomicU32 = AtomicU32::new(0);

/// Cgroup directories this test created and the processes it put in them. Dropping it
/// (also on a failed assertion) thaws, kills and reaps the processes and removes the groups.
struct RealGroup {
    dir: PathBuf,
    children: Vec<Child>,
}

impl RealGroup {
    /// Creates a uniquely named group under `mount`, or says why it cannot.
    fn create(mount: &Path, label: &str) -> Result<RealGroup, String> {
        let name = format!(
            "autonomic-test-{label}-{}-{}",
            std::process::id(),
            GROUP_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = mount.join(&name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        Ok(RealGroup {
            dir,
            children: Vec::new(),
        })
    }

    fn name(&self) -> String {
        self.dir.file_name().unwrap().to_string_lossy().into_owned()
    }

    /// Starts a CPU-burning shell loop inside the group; returns its pid.
    fn spawn_busy_loop(&mut self) -> i32 {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
        i32::try_from(pid).unwrap()
    }
}

impl Drop for RealGroup {
    fn drop(&mut self) {
        // Frozen tasks cannot die: thaw first (whichever freezer this group has).
        let _ = std::fs::write(self.dir.join("freezer.state"), "THAWED");
        let _ = std::fs::write(self.dir.join("cgroup.freeze"), "0");
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let start = Instant::now();
        while std::fs::remove_dir(&self.dir).is_err() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.dir.exists() {
            eprintln!(
                "WARNING: could not remove test cgroup {}",
                self.dir.display()
            );
        }
    }
}

fn real_mounts() -> CgroupMounts {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// utime (clock ticks in user mode) of a process, field 14 of /proc/<pid>/stat.
fn utime(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = stat.rsplit(')').next().unwrap();
    after_comm
        .split_whitespace()
        .nth(11)
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether the busy loop gets CPU time over `window`.
async fn runs(pid: i32, window: Duration) -> bool {
    let before = utime(pid);
    tokio::time::sleep(window).await;
    utime(pid) > before
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn real_v1_freezer_pause_stops_a_busy_process_and_rollback_thaws_it() {
    // Proves: on a real v1 freezer (found through /proc/self/mountinfo, no `root`), Pause
    // freezes the group so a busy loop inside gets no CPU time, and rollback by a NEW
    // instance given only the undo bytes (the restart case) thaws it.
    let Some(mount) = real_mounts().freezer_v1 else {
        skipped("SKIPPED (not writable): no cgroup v1 freezer mount in /proc/self/mountinfo");
        return;
    };
    let mut group = match RealGroup::create(&mount, "freezer") {
        Ok(g) => g,
        Err(reason) => {
            skipped(&format!("SKIPPED (not writable): {reason}"));
            return;
        }
    };
    eprintln!(
        "cgroup test ran against REAL cgroup v1 freezer at {}",
        group.dir.display()
    );
    let pid = group.spawn_busy_loop();
    assert!(
        runs(pid, Duration::from_millis(200)).await,
        "the busy loop runs before the pause"
    );
    let actuator = Actuator::from_config(ActionKind::Pause, &section(&group.name(), None)).unwrap();

    let paused = actuator
        .run(
            &request(ActionKind::Pause, None, 11),
            CancellationToken::new(),
        )
        .await;
    let state_paused = read(&group.dir.join("freezer.state"));
    let ran_while_paused = runs(pid, Duration::from_millis(300)).await;
    // The restart case: a new instance from the same config, given only the undo bytes.
    drop(actuator);
    let restarted =
        Actuator::from_config(ActionKind::Pause, &section(&group.name(), None)).unwrap();
    let thawed = restarted
        .rollback(&request(ActionKind::Pause, None, 11), &paused.undo)
        .await;

    assert!(paused.ok, "{paused:?}");
    assert!(
        paused.detail.contains(&group.dir.display().to_string()),
        "{}",
        paused.detail
    );
    assert_eq!(state_paused.trim(), "FROZEN");
    assert!(!ran_while_paused, "the frozen process got CPU time");
    assert!(thawed.ok, "{thawed:?}");
    assert_eq!(read(&group.dir.join("freezer.state")).trim(), "THAWED");
    assert!(
        runs(pid, Duration::from_millis(200)).await,
        "the thawed process runs again"
    );
}

#[tokio::test]
async fn real_v2_freeze_waits_for_frozen_and_rollback_thaws() {
    // Proves: on the real cgroup2 mount (preferred by discovery because the group has
    // cgroup.freeze), Pause returns once the kernel reports "frozen 1", the busy process
    // stops, and rollback by a NEW instance given only the undo bytes thaws it.
    let Some(mount) = real_mounts().v2 else {
        skipped("SKIPPED (not writable): no cgroup2 mount in /proc/self/mountinfo");
        return;
    };
    let mut group = match RealGroup::create(&mount, "v2freeze") {
        Ok(g) if g.dir.join("cgroup.freeze").exists() => g,
        Ok(g) => {
            skipped(&format!(
                "SKIPPED (not writable): {} has no cgroup.freeze",
                g.dir.display()
            ));
            return;
        }
        Err(reason) => {
            skipped(&format!("SKIPPED (not writable): {reason}"));
            return;
        }
    };
    eprintln!(
        "cgroup test ran against REAL cgroup v2 at {}",
        group.dir.display()
    );
    let pid = group.spawn_busy_loop();
    let actuator = Actuator::from_config(ActionKind::Pause, &section(&group.name(), None)).unwrap();
    let events = group.dir.join("cgroup.events");

    let paused = actuator
        .run(
            &request(ActionKind::Pause, None, 21),
            CancellationToken::new(),
        )
        .await;
    let events_paused = read(&events);
    let ran_while_paused = runs(pid, Duration::from_millis(300)).await;
    drop(actuator);
    let restarted =
        Actuator::from_config(ActionKind::Pause, &section(&group.name(), None)).unwrap();
    let thawed = restarted
        .rollback(&request(ActionKind::Pause, None, 21), &paused.undo)
        .await;

    assert!(paused.ok, "{paused:?}");
    assert!(
        events_paused.lines().any(|l| l == "frozen 1"),
        "{events_paused}"
    );
    assert!(!ran_while_paused, "the frozen process got CPU time");
    assert!(thawed.ok, "{thawed:?}");
    assert_eq!(read(&group.dir.join("cgroup.freeze")).trim(), "0");
    wait_until("frozen 0", || {
        read(&events).lines().any(|l| l == "frozen 0")
    })
    .await;
    assert!(
        runs(pid, Duration::from_millis(200)).await,
        "the thawed process runs again"
    );
}

#[tokio::test]
async fn real_cpu_throttle_limits_a_busy_process_and_rollback_lifts_it() {
    // Proves: on the real cpu controller (v2 cpu.max if the group has it, else v1), Throttle
    // writes the computed quota, the kernel then actually throttles the busy process, and
    // rollback by a NEW instance given only the undo bytes (the restart case) restores the
    // unlimited prior value exactly.
    let mounts = real_mounts();
    let mut made = None;
    let mut reasons = Vec::new();
    for (layout, mount, file) in [
        ("v2", mounts.v2.clone(), "cpu.max"),
        ("v1", mounts.cpu_v1.clone(), "cpu.cfs_quota_us"),
    ] {
        let Some(mount) = mount else { continue };
        match RealGroup::create(&mount, "cpu") {
            Ok(g) if g.dir.join(file).exists() => {
                made = Some((layout, g, file));
                break;
            }
            Ok(g) => reasons.push(format!("{} has no {file}", g.dir.display())),
            Err(reason) => reasons.push(reason),
        }
    }
    let Some((layout, mut group, file)) = made else {
        skipped(&format!("SKIPPED (not writable): {}", reasons.join("; ")));
        return;
    };
    eprintln!(
        "cgroup test ran against REAL cgroup {layout} cpu at {}",
        group.dir.display()
    );
    let pid = group.spawn_busy_loop();
    let prior = read(&group.dir.join(file));
    let actuator =
        Actuator::from_config(ActionKind::Throttle, &section(&group.name(), None)).unwrap();
    let (period_us, expected_text) = if layout == "v1" {
        let period: u64 = read(&group.dir.join("cpu.cfs_period_us"))
            .trim()
            .parse()
            .unwrap();
        (
            period,
            format!("{}", throttle_quota_us(None, period, online_cpus(), 10)),
        )
    } else {
        let period: u64 = prior.split_whitespace().nth(1).unwrap().parse().unwrap();
        (
            period,
            format!(
                "{} {period}",
                throttle_quota_us(None, period, online_cpus(), 10)
            ),
        )
    };

    let throttled = actuator
        .run(
            &request(ActionKind::Throttle, Some(10), 31),
            CancellationToken::new(),
        )
        .await;
    let limit = read(&group.dir.join(file));
    tokio::time::sleep(Duration::from_millis(20 * period_us / 1000)).await;
    let stat = read(&group.dir.join("cpu.stat"));
    drop(actuator);
    let restarted =
        Actuator::from_config(ActionKind::Throttle, &section(&group.name(), None)).unwrap();
    let lifted = restarted
        .rollback(
            &request(ActionKind::Throttle, Some(10), 31),
            &throttled.undo,
        )
        .await;

    assert!(throttled.ok, "{throttled:?}");
    assert_eq!(limit.trim(), expected_text);
    let nr_throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        nr_throttled > 0,
        "the kernel never throttled the busy loop: {stat}"
    );
    assert!(lifted.ok, "{lifted:?}");
    assert_eq!(read(&group.dir.join(file)), prior);
    let _ = pid;
}

#[tokio::test]
async fn a_tenant_id_is_exactly_one_path_component_or_nothing_is_written() {
    // Proves: with `group = "work/{tenant}"`, tenant ids that are not one plain component
    // (`acme/.`, `./acme`, `acme/`, `acme//`, `.`, `..`, `acme/child`) fail the run, naming
    // the reason, and neither `work/acme` nor the nested `work/acme/child` is written, for
    // throttle and pause alike; a rollback for such a tenant writes nothing either; the
    // plain id `acme` (and one with dots inside, `a.b`) still works.
    let root = tempfile::tempdir().unwrap();
    for dir in ["work/acme", "work/acme/child", "work/a.b", "work"] {
        write(&root.path().join(dir).join("cpu.max"), "max 100000\n");
        write(&root.path().join(dir).join("cgroup.freeze"), "0\n");
        write(
            &root.path().join(dir).join("cgroup.events"),
            "populated 1\nfrozen 1\n",
        );
    }
    let throttle = Actuator::from_config(
        ActionKind::Throttle,
        &section("work/{tenant}", Some(root.path())),
    )
    .unwrap();
    let pause = Actuator::from_config(
        ActionKind::Pause,
        &section("work/{tenant}", Some(root.path())),
    )
    .unwrap();
    let hostile = [
        "acme/.",
        "./acme",
        "acme/",
        "acme//",
        ".",
        "..",
        "acme/child",
        "../work/acme",
    ];
    for (i, tenant) in hostile.into_iter().enumerate() {
        for (actuator, kind, percent) in [
            (&throttle, ActionKind::Throttle, Some(50)),
            (&pause, ActionKind::Pause, None),
        ] {
            let req = ActionRequest {
                tenant: tenant.into(),
                ..request(kind, percent, i as u64)
            };
            assert!(actuator.check_tenant(tenant).is_err(), "{tenant}");
            let report = actuator.run(&req, CancellationToken::new()).await;
            assert!(!report.ok, "{tenant}: {}", report.detail);
            assert!(
                report
                    .detail
                    .starts_with("refused: group \"work/{tenant}\""),
                "{tenant}: {}",
                report.detail
            );
            assert!(report.undo.is_empty());
            let undo = CgroupUndo::new(ControlFile::CpuMax, b"1000 100000")
                .unwrap()
                .encode();
            let rolled = actuator.rollback(&req, &undo).await;
            assert!(!rolled.ok, "{tenant}: {}", rolled.detail);
        }
    }
    let reasons: Vec<String> = ["acme/.", ".", "..", "acme//"]
        .into_iter()
        .map(|t| {
            autonomic_tokio::actuator::substitute_group(
                "work/{tenant}",
                &ActionRequest {
                    tenant: t.into(),
                    ..request(ActionKind::Throttle, Some(50), 0)
                },
            )
            .unwrap_err()
            .to_string()
        })
        .collect();
    assert!(reasons[0].contains("contains `/`"), "{}", reasons[0]);
    assert!(reasons[1].contains("which is `.`"), "{}", reasons[1]);
    assert!(reasons[2].contains("which is `..`"), "{}", reasons[2]);
    assert!(reasons[3].contains("contains `/`"), "{}", reasons[3]);
    for dir in ["work/acme", "work/acme/child", "work"] {
        assert_eq!(
            read(&root.path().join(dir).join("cpu.max")),
            "max 100000\n",
            "{dir}"
        );
        assert_eq!(
            read(&root.path().join(dir).join("cgroup.freeze")),
            "0\n",
            "{dir}"
        );
    }
    for tenant in ["acme", "a.b"] {
        let req = ActionRequest {
            tenant: tenant.into(),
            ..request(ActionKind::Throttle, Some(50), 99)
        };
        let report = throttle.run(&req, CancellationToken::new()).await;
        assert!(report.ok, "{tenant}: {}", report.detail);
        assert_ne!(
            read(&root.path().join("work").join(tenant).join("cpu.max")),
            "max 100000\n"
        );
    }
}

#[test]
fn group_templates_with_empty_or_dot_components_are_config_errors() {
    // Proves: the group template itself is checked literally at start: `a//{tenant}`,
    // `a/./{tenant}`, `{tenant}/` and `/abs` are refused (Path::components would have
    // normalized the first three away), `a/{tenant}.slice` is fine.
    let root = tempfile::tempdir().unwrap();
    for bad in [
        "a//{tenant}",
        "a/./{tenant}",
        "{tenant}/",
        "/abs/{tenant}",
        "a/../{tenant}",
    ] {
        let err = Actuator::from_config(ActionKind::Throttle, &section(bad, Some(root.path())))
            .unwrap_err();
        assert!(
            matches!(err, ActuatorConfigError::BadValue { key: "group", .. }),
            "{bad}: {err}"
        );
    }
    Actuator::from_config(
        ActionKind::Throttle,
        &section("a/{tenant}.slice", Some(root.path())),
    )
    .unwrap();
}

/// Says loudly that a test could not run here: on stderr, and in the list `.ci/run` prints
/// after the test step (cargo test hides a passing test's stderr).
fn skipped(line: &str) {
    eprintln!("{line}");
    let list = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
    if let Err(e) = appended {
        eprintln!("(could not list it in {list}: {e})");
    }
}

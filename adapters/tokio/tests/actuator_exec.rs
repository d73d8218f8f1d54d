//! The `exec` actuator against real processes: shell-script fixtures written to a temp dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autonomic_tokio::actuator::{
    ActionKind, ActionReport, ActionRequest, Actuator, ActuatorConfigError, DETAIL_BYTES_MAX,
};
use autonomic_tokio::config::{ActuatorSection, BackendKind};
use tokio_util::sync::CancellationToken;

/// Writes an executable `#!/bin/sh` script into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A script that appends each argument, NUL-terminated, to the file named by its first one.
fn recorder(dir: &Path) -> PathBuf {
    script(
        dir,
        "record.sh",
        r#"out="$1"; shift; for a in "$@"; do printf '%s\0' "$a" >> "$out"; done"#,
    )
}

fn recorded(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let mut args: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(
        args.pop().as_deref(),
        Some(""),
        "each arg is NUL-terminated"
    );
    args
}

fn exec_section(program: &Path, args: &[&str]) -> ActuatorSection {
    ActuatorSection {
        backend: BackendKind::Exec,
        program: Some(program.display().to_string()),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..ActuatorSection::default()
    }
}

fn throttle(tenant: &str) -> ActionRequest {
    ActionRequest {
        tenant: tenant.to_owned(),
        kind: ActionKind::Throttle,
        percent: Some(50),
        revision: None,
        receipt: 42,
    }
}

fn assert_one_line(report: &ActionReport) {
    assert!(report.detail.len() <= DETAIL_BYTES_MAX, "{}", report.detail);
    assert!(!report.detail.contains('\n'), "{}", report.detail);
}

/// A process is alive if /proc has it and it is not a zombie waiting for its reaper.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

async fn wait_for_file(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn placeholders_are_filled_in_each_argument_and_passed_without_a_shell() {
    // Proves: every placeholder is substituted per argument (absent values empty, unknown
    // ones literal, substituted text not re-expanded) and shell syntax in the tenant reaches
    // the program verbatim instead of being run.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let pwned = dir.path().join("pwned");
    let section = exec_section(
        &recorder(dir.path()),
        &[
            out.to_str().unwrap(),
            "{tenant}",
            "{action}",
            "{percent}",
            "{revision}",
            "{receipt}",
            "pre-{tenant}-{percent}%",
            "{unknown}",
            "{",
        ],
    );
    let actuator = Actuator::from_config(ActionKind::Throttle, &section).unwrap();
    let tenant = format!(
        "a;touch {p} $(touch {p}) `touch {p}` {{receipt}}",
        p = pwned.display()
    );

    let report = actuator
        .run(&throttle(&tenant), CancellationToken::new())
        .await;

    assert!(report.ok, "{report:?}");
    assert_eq!(report.exit_code, Some(0));
    assert!(!report.cancelled && !report.timed_out);
    assert_eq!(actuator.backend(), BackendKind::Exec);
    assert_eq!(
        recorded(&out),
        vec![
            tenant.clone(),
            "throttle".to_owned(),
            "50".to_owned(),
            String::new(),
            "42".to_owned(),
            format!("pre-{tenant}-50%"),
            "{unknown}".to_owned(),
            "{".to_owned(),
        ]
    );
    assert!(!pwned.exists(), "shell syntax in the tenant was executed");
}

#[tokio::test]
async fn a_failing_program_reports_its_exit_code_and_the_end_of_its_stderr() {
    // Proves: a non-zero exit is ok=false with the exit code, and the detail is one line
    // carrying the stderr excerpt.
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "fail.sh",
        "echo 'first line' >&2\necho 'boom: disk on fire' >&2\nexit 1",
    );
    let actuator = Actuator::from_config(ActionKind::Pause, &exec_section(&program, &[])).unwrap();

    let report = actuator
        .run(&throttle("acme"), CancellationToken::new())
        .await;

    assert!(!report.ok);
    assert_eq!(report.exit_code, Some(1));
    assert!(!report.cancelled && !report.timed_out);
    assert!(report.detail.contains("exit code 1"), "{}", report.detail);
    assert!(
        report.detail.contains("first line boom: disk on fire"),
        "{}",
        report.detail
    );
    assert_one_line(&report);
}

#[tokio::test]
async fn a_flood_of_stderr_neither_blocks_the_child_nor_overflows_the_detail() {
    // Proves: stderr is drained while the child runs (1 MiB would fill a pipe and hang it),
    // only the tail is kept, and the detail stays ≤ 512 bytes ending with the last words.
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "flood.sh",
        "head -c 1048576 /dev/zero | tr '\\0' 'x' >&2\necho ' the-very-end' >&2\nexit 3",
    );
    let actuator = Actuator::from_config(ActionKind::Shed, &exec_section(&program, &[])).unwrap();

    let report = actuator
        .run(&throttle("acme"), CancellationToken::new())
        .await;

    assert!(!report.ok);
    assert_eq!(report.exit_code, Some(3));
    assert!(report.detail.ends_with("the-very-end"), "{}", report.detail);
    assert_one_line(&report);
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group_and_reaps_the_child() {
    // Proves: on cancel the child *and* its background grandchild are killed (the group is
    // signalled, not just the child), and the run returns promptly with cancelled=true.
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let program = script(
        dir.path(),
        "hang.sh",
        r#"sleep 1000 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
wait"#,
    );
    let actuator = Actuator::from_config(
        ActionKind::Throttle,
        &exec_section(&program, &[pids.to_str().unwrap()]),
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let running = {
        let cancel = cancel.clone();
        tokio::spawn(async move { actuator.run(&throttle("acme"), cancel).await })
    };
    let text = wait_for_file(&pids).await;
    let ids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (child, grandchild) = (ids[0], ids[1]);
    assert!(
        alive(child) && alive(grandchild),
        "both run before the cancel"
    );

    let start = Instant::now();
    cancel.cancel();
    let report = running.await.unwrap();

    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        report.cancelled && !report.ok && !report.timed_out,
        "{report:?}"
    );
    assert!(
        report.detail.contains("process group killed"),
        "{}",
        report.detail
    );
    assert!(!alive(child), "the child was reaped");
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(grandchild) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !alive(grandchild),
        "the grandchild {grandchild} survived the cancel"
    );
}

#[tokio::test]
async fn the_section_timeout_kills_a_program_that_runs_too_long() {
    // Proves: timeout_ms bounds a run even when nobody cancels: ok=false, timed_out=true.
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "slow.sh", "exec sleep 1000");
    let mut section = exec_section(&program, &[]);
    section.timeout_ms = 200;
    let actuator = Actuator::from_config(ActionKind::Throttle, &section).unwrap();

    let start = Instant::now();
    let report = actuator
        .run(&throttle("acme"), CancellationToken::new())
        .await;

    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        report.timed_out && !report.ok && !report.cancelled,
        "{report:?}"
    );
    assert!(
        report.detail.starts_with("timed out after 200 ms"),
        "{}",
        report.detail
    );
}

#[tokio::test]
async fn rollback_runs_the_rollback_program_with_its_own_arguments() {
    // Proves: rollback runs rollback_program/rollback_args (not the action's program) with
    // the same placeholders filled from the request.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let rec = recorder(dir.path());
    let mut section = exec_section(Path::new("/bin/false"), &[]);
    section.rollback_program = Some(rec.display().to_string());
    section.rollback_args = vec![
        out.display().to_string(),
        "undo".into(),
        "{action}".into(),
        "{tenant}".into(),
        "{receipt}".into(),
        "{revision}".into(),
    ];
    let actuator = Actuator::from_config(ActionKind::Rollback, &section).unwrap();
    let req = ActionRequest {
        tenant: "acme".into(),
        kind: ActionKind::Rollback,
        percent: None,
        revision: Some("r7".into()),
        receipt: 9,
    };

    let report = actuator.rollback(&req, &[]).await;

    assert!(report.ok, "{report:?}");
    assert_eq!(recorded(&out), vec!["undo", "rollback", "acme", "9", "r7"]);
}

#[tokio::test]
async fn rollback_without_a_rollback_program_fails_plainly() {
    // Proves: with no rollback_program configured, rollback is ok=false and says why.
    let actuator = Actuator::from_config(
        ActionKind::Throttle,
        &exec_section(Path::new("/bin/true"), &[]),
    )
    .unwrap();

    let report = actuator.rollback(&throttle("acme"), &[]).await;

    assert!(!report.ok);
    assert_eq!(report.detail, "no rollback program configured");
}

#[tokio::test]
async fn a_program_that_cannot_be_spawned_reports_the_os_error() {
    // Proves: a missing program is ok=false (not a panic) with the OS error in the detail.
    let section = exec_section(Path::new("/nonexistent/autonomic-no-such-program"), &["x"]);
    let actuator = Actuator::from_config(ActionKind::Throttle, &section).unwrap();

    let report = actuator
        .run(&throttle("acme"), CancellationToken::new())
        .await;

    assert!(!report.ok && !report.cancelled);
    assert_eq!(report.exit_code, None);
    assert!(
        report
            .detail
            .contains("/nonexistent/autonomic-no-such-program"),
        "{}",
        report.detail
    );
    assert!(report.detail.contains("os error 2"), "{}", report.detail);
}

#[test]
fn bad_exec_sections_are_typed_config_errors() {
    // Proves: a missing program, a stray key, rollback_args without a program and an
    // out-of-range timeout are rejected at load time, naming the table and key.
    let no_program = ActuatorSection {
        backend: BackendKind::Exec,
        ..ActuatorSection::default()
    };
    let stray_url = ActuatorSection {
        url: Some("http://127.0.0.1:1/".into()),
        ..exec_section(Path::new("/bin/true"), &[])
    };
    let orphan_args = ActuatorSection {
        rollback_args: vec!["x".into()],
        ..exec_section(Path::new("/bin/true"), &[])
    };
    let zero_timeout = ActuatorSection {
        timeout_ms: 0,
        ..exec_section(Path::new("/bin/true"), &[])
    };

    let errors = [no_program, stray_url, orphan_args, zero_timeout]
        .map(|s| Actuator::from_config(ActionKind::Shed, &s).unwrap_err());

    assert!(matches!(
        errors[0],
        ActuatorConfigError::MissingKey { key: "program", .. }
    ));
    assert!(matches!(
        errors[1],
        ActuatorConfigError::UnusedKey { key: "url", .. }
    ));
    assert!(matches!(
        errors[2],
        ActuatorConfigError::MissingKey {
            key: "rollback_program",
            ..
        }
    ));
    assert!(matches!(
        errors[3],
        ActuatorConfigError::BadValue {
            key: "timeout_ms",
            ..
        }
    ));
    assert_eq!(
        errors[0].to_string(),
        "[actuators.shed]: backend exec needs `program`"
    );
}

#[tokio::test]
async fn dry_run_succeeds_without_doing_anything() {
    // Proves: the default backend reports ok with detail "dry-run" for run and rollback.
    let actuator = Actuator::from_config(ActionKind::Pause, &ActuatorSection::default()).unwrap();

    let run = actuator
        .run(&throttle("acme"), CancellationToken::new())
        .await;
    let undo = actuator.rollback(&throttle("acme"), &[]).await;

    assert_eq!(actuator.backend(), BackendKind::DryRun);
    assert!(run.ok && undo.ok);
    assert!(
        run.undo.is_empty() && undo.undo.is_empty(),
        "only cgroup hands out undo tokens"
    );
    assert_eq!(
        (run.detail.as_str(), undo.detail.as_str()),
        ("dry-run", "dry-run")
    );
}

#[test]
fn the_actuator_can_be_shared_across_tasks() {
    // Proves (at compile time): Actuator is Send + Sync, so an Arc<Actuator> serves many tasks.
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Actuator>();
    shareable::<std::sync::Arc<Actuator>>();
}

#[tokio::test]
async fn a_substituted_value_never_becomes_an_option() {
    // Proves: an argument that only substitution makes begin with `-` (tenant `-rf`,
    // `--config=/etc/passwd`, a revision `-x`, or an empty value in front of a literal `-`)
    // fails the run and nothing is executed (the recording program never writes), the
    // detail naming the argument; a template that itself begins with `-` keeps its value
    // (`--tenant=-rf` is the operator's option with a value), and `a-b` passes as before.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let program = recorder(dir.path());
    let out_arg = out.display().to_string();
    let actuator = Actuator::from_config(
        ActionKind::Throttle,
        &exec_section(&program, &[&out_arg, "--tenant={tenant}", "{tenant}"]),
    )
    .unwrap();
    for tenant in ["-rf", "--config=/etc/passwd", "-"] {
        let report = actuator
            .run(&throttle(tenant), CancellationToken::new())
            .await;
        assert!(!report.ok, "{tenant}: {}", report.detail);
        assert_eq!(report.exit_code, None);
        assert!(
            report
                .detail
                .starts_with("refused: argument 2 \"{tenant}\" would become the option"),
            "{tenant}: {}",
            report.detail
        );
        assert!(
            report.detail.contains("nothing executed"),
            "{}",
            report.detail
        );
        assert_one_line(&report);
        assert!(!out.exists(), "{tenant}: the program ran");
    }
    let revision = Actuator::from_config(
        ActionKind::Rollback,
        &exec_section(&program, &[&out_arg, "{revision}-tail"]),
    )
    .unwrap();
    for rev in [Some("-x".to_owned()), None] {
        let req = ActionRequest {
            kind: ActionKind::Rollback,
            revision: rev.clone(),
            ..throttle("acme")
        };
        let report = revision.run(&req, CancellationToken::new()).await;
        assert!(
            !report.ok && report.detail.starts_with("refused: argument 1"),
            "{rev:?}: {}",
            report.detail
        );
        assert!(!out.exists(), "{rev:?}: the program ran");
    }
    let report = actuator
        .run(&throttle("a-b"), CancellationToken::new())
        .await;
    assert!(report.ok, "{}", report.detail);
    assert_eq!(recorded(&out), vec!["--tenant=a-b", "a-b"]);
    std::fs::remove_file(&out).unwrap();
    // The same rule holds for the rollback program.
    let section = ActuatorSection {
        rollback_program: Some(program.display().to_string()),
        rollback_args: vec![out_arg.clone(), "{tenant}".into()],
        ..exec_section(&program, &[&out_arg])
    };
    let with_rollback = Actuator::from_config(ActionKind::Throttle, &section).unwrap();
    let report = with_rollback.rollback(&throttle("-rf"), &[]).await;
    assert!(
        !report.ok && report.detail.starts_with("refused: argument 1"),
        "{}",
        report.detail
    );
    assert!(!out.exists(), "the rollback program ran");
}

//! Signed checkpoints through the real binary: the sidecar signs its durable head with its
//! Ed25519 identity; a ledger cut short at a commit boundary, or replaced by another valid
//! ledger, passes the hash chain but not the checkpoint — `verify` exits 1 and `run` refuses to
//! start, leaving the file as it is, with a message that says which.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cli_support::{Sidecar, config, now_ms, run};

const TENANT: &str = "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n";

/// End offsets of the commit frames in a format-2 ledger (docs/ledger-format.md).
fn commit_ends(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).expect("ledger");
    let mut ends = Vec::new();
    let mut at = 32;
    while at + 8 <= bytes.len() {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        at += 8 + (word & 0x00FF_FFFF) as usize;
        if word >> 24 == 2 {
            ends.push(at);
        }
    }
    ends
}

/// A sidecar in `home` that saw a few state-changing signals and stopped cleanly (which
/// signs a final checkpoint). Returns its data dir as a string.
fn sidecar_with_history(home: &Path, extra: &str, signals: u64) -> String {
    let mut s = Sidecar::start(home, &config(&format!("{TENANT}{extra}")));
    let base = now_ms();
    for i in 0..signals {
        let v = if i.is_multiple_of(2) { 80.0 } else { 60.0 };
        s.signal("acme", v, base + i * 5_000);
    }
    assert!(s.stop().success());
    s.data_dir.to_str().expect("utf-8").to_owned()
}

fn verify(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let out = run(&all, None);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Starts expecting a refusal with exit 1; returns the error line.
fn refused_start(home: &Path, extra: &str) -> String {
    let refused = Sidecar::try_start(home, &config(&format!("{TENANT}{extra}")))
        .err()
        .expect("run must refuse to start");
    assert!(refused.contains("exit status: 1"), "{refused}");
    refused
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or_else(|| panic!("no error line: {refused}"))
        .to_owned()
}

#[test]
fn a_clean_stop_signs_the_head_with_a_private_key_kept_0600() {
    // Proves: the checkpoint names the ledger id, the head seq and hash, and verifies under
    // the sidecar's key; the key is made 0600 on first start; `verify` reports the checkpoint.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let data = sidecar_with_history(&home, "", 6);
    let data_dir = Path::new(&data);
    let text = std::fs::read_to_string(data_dir.join("checkpoint")).expect("checkpoint");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0], "autonomic checkpoint v1");
    assert_eq!(
        lines[2], "seq 6",
        "activation + 6 governor receipts: head seq 6"
    );
    let key = std::fs::metadata(data_dir.join("identity.key")).expect("key");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let public = std::fs::read_to_string(data_dir.join("identity.pub")).expect("pub");
    assert_eq!(lines[5], format!("key {}", public.trim()));
    let (code, stdout, stderr) = verify(&["--data-dir", &data]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("contains checkpoint seq 6"), "{stdout}");
    let head = stdout
        .split("hash ")
        .nth(1)
        .and_then(|r| r.split(',').next());
    assert_eq!(Some(lines[3].trim_start_matches("head ")), head, "{stdout}");
}

#[test]
fn a_ledger_cut_at_a_commit_boundary_is_refused_as_truncated() {
    // Proves: cutting the last receipts off at a commit boundary leaves a valid chain that
    // `verify` without checkpoints would accept, but the checkpoint catches it: verify exit 1
    // and run exit 1 both say "truncated", and the file is untouched. The same when the cut
    // lands on a record boundary that was never committed.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let data = sidecar_with_history(&home, "", 8);
    let file = Path::new(&data).join("ledger.log");
    let ends = commit_ends(&file);
    assert!(ends.len() >= 4, "{ends:?}");
    let full = std::fs::read(&file).expect("ledger");
    for cut in [ends[ends.len() - 4], ends[ends.len() - 2] + 8 + 10] {
        let short = &full[..cut];
        std::fs::write(&file, short).expect("cut");
        let (code, _, stderr) = verify(&["--data-dir", &data]);
        assert_eq!(code, Some(1), "cut {cut}: {stderr}");
        assert!(stderr.contains("the ledger is truncated"), "{stderr}");
        let line = refused_start(&home, "");
        assert!(line.contains("the ledger is truncated"), "{line}");
        assert_eq!(std::fs::read(&file).expect("ledger"), short, "untouched");
    }
}

#[test]
fn another_sidecars_valid_ledger_is_refused_as_another_ledger() {
    // Proves: a valid ledger copied over this one (substitution) is named as another ledger;
    // with its checkpoint copied too, the key gives it away.
    let dir = tempfile::tempdir().expect("tempdir");
    let (home_a, home_b) = (dir.path().join("a"), dir.path().join("b"));
    let data_a = sidecar_with_history(&home_a, "", 4);
    let data_b = sidecar_with_history(&home_b, "", 4);
    let (a, b) = (Path::new(&data_a), Path::new(&data_b));
    std::fs::copy(b.join("ledger.log"), a.join("ledger.log")).expect("copy");
    let (code, _, stderr) = verify(&["--data-dir", &data_a]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("this is another ledger"), "{stderr}");
    let line = refused_start(&home_a, "");
    assert!(line.contains("this is another ledger"), "{line}");

    std::fs::copy(b.join("checkpoint"), a.join("checkpoint")).expect("copy");
    let (code, _, stderr) = verify(&["--data-dir", &data_a]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("not by this sidecar's identity"),
        "{stderr}"
    );
    let line = refused_start(&home_a, "");
    assert!(line.contains("not by this sidecar's identity"), "{line}");
}

#[test]
fn an_auditors_copy_and_the_witness_catch_what_the_data_dir_lost() {
    // Proves: with the data dir's checkpoint deleted and the ledger cut, plain `verify` passes
    // (nothing local to compare), `verify --checkpoint <auditor's copy>` exits 1, and a
    // sidecar configured with a witness on another path refuses to start.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let witness = dir.path().join("other-volume").join("witness");
    std::fs::create_dir_all(witness.parent().expect("parent")).expect("witness dir");
    let extra = format!("[checkpoint]\nwitness = \"{}\"\n", witness.display());
    let data = sidecar_with_history(&home, &extra, 8);
    let data_dir = Path::new(&data);
    let local = std::fs::read(data_dir.join("checkpoint")).expect("checkpoint");
    assert_eq!(std::fs::read(&witness).expect("witness"), local);
    let auditor = dir.path().join("auditor-copy");
    std::fs::copy(&witness, &auditor).expect("copy");

    let file = data_dir.join("ledger.log");
    let ends = commit_ends(&file);
    let full = std::fs::read(&file).expect("ledger");
    std::fs::write(&file, &full[..ends[ends.len() - 3]]).expect("cut");
    std::fs::remove_file(data_dir.join("checkpoint")).expect("rm");

    let (code, _, stderr) = verify(&["--data-dir", &data]);
    assert_eq!(code, Some(0), "no local checkpoint left: {stderr}");
    let auditor_arg = auditor.to_str().expect("utf-8");
    let (code, _, stderr) = verify(&["--data-dir", &data, "--checkpoint", auditor_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the ledger is truncated"), "{stderr}");
    let line = refused_start(&home, &extra);
    assert!(line.contains("the ledger is truncated"), "{line}");
    assert!(line.contains("witness"), "names the witness path: {line}");
}

#[test]
fn a_deleted_ledger_with_a_checkpoint_is_refused_and_a_loose_key_too() {
    // Proves: deleting the ledger (truncation to nothing) is refused, not restarted from
    // genesis; a private key readable by others is refused with exit 2.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let data = sidecar_with_history(&home, "", 2);
    let data_dir = Path::new(&data);
    let ledger = std::fs::read(data_dir.join("ledger.log")).expect("ledger");
    std::fs::remove_file(data_dir.join("ledger.log")).expect("rm");
    let (code, _, stderr) = verify(&["--data-dir", &data]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the ledger file is missing"), "{stderr}");
    let line = refused_start(&home, "");
    assert!(line.contains("the ledger file is missing"), "{line}");
    assert!(
        !data_dir.join("ledger.log").exists(),
        "no new ledger was made"
    );

    std::fs::write(data_dir.join("ledger.log"), &ledger).expect("restore");
    let key = data_dir.join("identity.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = Sidecar::try_start(&home, &config(TENANT))
        .err()
        .expect("a loose key is refused");
    assert!(refused.contains("exit status: 2"), "{refused}");
    assert!(refused.contains("chmod 600"), "{refused}");
}

#[test]
fn checkpoints_follow_the_durable_head_while_running() {
    // Proves: with interval_ms = 100, a running sidecar re-signs once its head moved, without
    // a shutdown.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let s = Sidecar::start(
        &home,
        &config(&format!("{TENANT}[checkpoint]\ninterval_ms = 100\n")),
    );
    let path = s.data_dir.join("checkpoint");
    s.signal("acme", 80.0, now_ms());
    let seen = cli_support::wait_until(std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\nseq 1\n"))
    });
    assert!(seen, "{:?}", std::fs::read_to_string(&path));
    s.signal("acme", 60.0, now_ms() + 5_000);
    let seen = cli_support::wait_until(std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\nseq 2\n"))
    });
    assert!(seen, "{:?}", std::fs::read_to_string(&path));
}

#[test]
fn each_checkpoint_reaches_a_witness_webhook() {
    // Proves: with `[checkpoint] webhook`, a real HTTP server on 127.0.0.1 receives each
    // checkpoint's text, byte for byte the file the sidecar wrote.
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("a");
    let (addr, bodies) = cli_support::webhook_server();
    let extra =
        format!("[checkpoint]\ninterval_ms = 100\nwebhook = \"http://{addr}/checkpoints\"\n");
    let s = Sidecar::start(&home, &config(&format!("{TENANT}{extra}")));
    s.signal("acme", 80.0, now_ms());
    let path = s.data_dir.join("checkpoint");
    let posted = cli_support::wait_until(std::time::Duration::from_secs(5), || {
        let file = std::fs::read_to_string(&path).unwrap_or_default();
        file.contains("\nseq 1\n") && bodies.lock().expect("lock").contains(&file)
    });
    assert!(posted, "{:?}", bodies.lock().expect("lock"));
    let counted = cli_support::wait_until(std::time::Duration::from_secs(5), || {
        let metrics = s.get("/metrics").body;
        !metrics.contains("autonomic_checkpoint_witness_posts_total{outcome=\"ok\"} 0")
            && metrics.contains("autonomic_checkpoint_witness_posts_total{outcome=\"failed\"} 0")
    });
    assert!(counted, "{}", s.get("/metrics").body);
}

//! `autonomic demo`, `verify`, `ledger` and the exit codes of docs/cli.md (0 ok,
//! 1 verification failed, 2 bad usage or config; errors one line on stderr).

mod cli_support;

use cli_support::{Sidecar, config, now_ms, run};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn demo_walks_its_story_and_its_ledger_verifies() {
    // Proves `demo` runs its steps through the real pipeline, prints them, verifies the 20
    // receipts of its ledger file and exits 0 (every step's content: cli_demo.rs).
    let out = run(&["demo"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", stderr_of(&out));
    for step in [
        "step 1: activate acme on pro -> entitlement Active",
        "step 2: signal acme cpu 78 -> Stable -> Warn, c=1 (78 >= warn 75)",
        "step 6: signal acme cpu 92 -> Stable -> Intervene, c=0, throttle 50% dispatched",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    let verify = stdout
        .lines()
        .find(|l| l.starts_with("step 17: verify ledger.log -> "))
        .unwrap_or_default();
    assert!(
        verify.contains("ok: 20 receipts, head seq 19, hash "),
        "{verify}"
    );
    let hash = verify
        .split("hash ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default();
    assert!(
        verify.contains(", ledger "),
        "the ledger id is named: {verify}"
    );
    assert_eq!(hash.len(), 64, "{verify}");
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    // Proves unknown subcommands, unknown flags, a bad --listen and a missing --data-dir are
    // usage errors: exit 2, one line on stderr.
    for args in [
        &["frobnicate"][..],
        &["run", "--no-such-flag"],
        &["run", "--listen", "not-an-address"],
        &["verify"],
        &["ledger", "--data-dir", "x", "--tail", "nope"],
    ] {
        let out = run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    // Proves an unknown key and a bad value in the config file exit 2 with one line naming
    // the key, and a non-loopback listen without a token is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    for (toml, needle) in [
        ("[governor]\nwran = 75\n", "wran"),
        ("[governor]\nwarn = 95\n", "governor.warn"),
        ("listen = \"0.0.0.0:7411\"\n", "loopback"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).expect("write");
        let data = dir.path().join("data");
        let out = run(
            &[
                "run",
                "--config",
                path.to_str().expect("utf-8"),
                "--data-dir",
                data.to_str().expect("utf-8"),
            ],
            None,
        );
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
}

#[test]
fn verify_of_a_missing_ledger_exits_2() {
    // Proves `verify` on a directory without a ledger is an error (exit 2, one line).
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &["verify", "--data-dir", dir.path().to_str().expect("utf-8")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("not found"), "{}", stderr_of(&out));
}

#[test]
fn ledger_lists_receipts_as_json_lines_with_tail_and_tenant_filters() {
    // Proves `ledger` prints every receipt (seq, ts_ms, tenant, tagged event, 64-hex hashes)
    // chained in order, and --tenant/--tail select the last receipts of one tenant.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sidecar = Sidecar::start(
        dir.path(),
        &config(
            "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n[[tenants]]\nid = \"beta\"\nsku = \"starter\"\n",
        ),
    );
    let base = now_ms();
    assert_eq!(sidecar.signal("acme", 80.0, base)["to"], "Warn");
    assert_eq!(sidecar.signal("beta", 80.0, base)["to"], "Warn");
    assert_eq!(
        sidecar.signal("acme", 81.0, base + 5_000)["consecutive_high"],
        2
    );
    assert!(sidecar.stop().success());
    let data = sidecar.data_dir.to_str().expect("utf-8").to_owned();

    let all = run(&["ledger", "--data-dir", &data], None);
    assert!(all.status.success(), "{}", stderr_of(&all));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&all.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 5, "2 activations + 3 governor changes");
    let mut prev = "0".repeat(64);
    for (i, r) in lines.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        assert_eq!(r["prev_hash"], prev.as_str());
        prev = r["hash"].as_str().expect("hash").to_owned();
        assert_eq!(prev.len(), 64);
    }
    assert_eq!(lines[0]["event"]["type"], "entitlement");
    assert_eq!(lines[0]["event"]["to"], "Active");
    assert_eq!(lines[2]["event"]["type"], "governor");
    assert_eq!(lines[2]["event"]["cause"]["type"], "signal");
    assert_eq!(lines[2]["event"]["cause"]["value_pct"], 80);

    let acme = run(
        &[
            "ledger",
            "--data-dir",
            &data,
            "--tenant",
            "acme",
            "--tail",
            "2",
        ],
        None,
    );
    let acme: Vec<serde_json::Value> = String::from_utf8_lossy(&acme.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(acme.len(), 2);
    assert!(acme.iter().all(|r| r["tenant"] == "acme"));
    assert_eq!(acme[1]["event"]["consecutive_high"], 2);

    let verify = run(&["verify", "--data-dir", &data], None);
    assert!(verify.status.success());
    let summary = String::from_utf8_lossy(&verify.stdout);
    let expected = format!("ok: 5 receipts, head seq 4, hash {prev}, ledger ");
    assert!(summary.trim().starts_with(&expected), "{summary}");
    let checkpoint = format!("; contains checkpoint seq 4 ({}/checkpoint)", data);
    assert!(summary.trim().ends_with(&checkpoint), "{summary}");
    assert_eq!(
        summary.trim().len(),
        expected.len() + 32 + checkpoint.len(),
        "{summary}"
    );
}

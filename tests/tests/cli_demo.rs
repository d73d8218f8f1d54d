//! `autonomic demo` through the real binary: every step's content (decision, why, receipts),
//! the ledger checks, the summary, `--json`, `--keep DIR` and its refusal of a non-empty dir.

mod cli_support;

use cli_support::run;
use serde_json::Value;

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of step `n` (`step n: ...`).
fn step(stdout: &str, n: u32) -> &str {
    let prefix = format!("step {n}: ");
    stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no step {n} in:\n{stdout}"))
}

/// Step `n` starts with `start` (after `step n: `) and contains `part`.
fn assert_step(stdout: &str, n: u32, start: &str, part: &str) {
    let line = step(stdout, n);
    let rest = line.split_once(": ").map_or("", |(_, rest)| rest);
    assert!(rest.starts_with(start) && line.contains(part), "{line}");
}

#[test]
fn demo_tells_the_whole_story_with_reasons_and_receipts() {
    // Proves each step says what came in, what was decided, why (the threshold), and the
    // receipts it wrote, exactly as the governor's table says with the default thresholds.
    let out = run(&["demo"], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("autonomic demo: data dir "), "{stdout}");
    let expected = [
        "step 1: activate acme on pro -> entitlement Active (a new tenant's governor starts Stable, c=0); receipt 0",
        "step 2: signal acme cpu 78 -> Stable -> Warn, c=1 (78 >= warn 75); receipt 1",
        "step 3: signal acme cpu 72 -> Warn -> Warn, c=0 (72 >= recover 70, < warn 75: stays Warn); receipt 2",
        "step 4: signal acme cpu 69 -> Warn -> Stable, c=0 (69 < recover 70); receipt 3",
        "step 5: signal acme cpu 69 again, same 5 s window -> duplicate (same tenant, metric, value and window: redelivered, not governed); no receipt",
        "step 6: signal acme cpu 92 -> Stable -> Intervene, c=0, throttle 50% dispatched (92 >= intervene 90); receipts 4-5",
        "step 7: exec throttle (receipt 5) succeeded: exit code 0 -> Intervene -> Warn, c=0 (ActionSucceeded in Intervene); receipts 6-7",
        "step 8: signal acme cpu 93 -> Warn -> Intervene, c=0, throttle 50% dispatched (93 >= intervene 90; the throttle backend is told to fail); receipts 8-9",
        "step 10: exec pause (receipt 12) succeeded: exit code 0 -> Degrade unchanged (ActionSucceeded outside Intervene changes nothing; the outcome is recorded); receipt 13",
        "step 11: admit acme cpu 1 under pause -> refused: RefusedByAction(pause) (Pause refuses every admission)",
        "step 12: signal acme cpu 97 -> Degrade -> Refuse, c=0, shed 50% dispatched (97 > refuse 95); receipts 14-15",
        "step 13: dry-run shed (receipt 15) succeeded: dry-run -> Refuse unchanged (ActionSucceeded outside Intervene changes nothing; the outcome is recorded); receipt 16",
        "step 14: admit acme cpu 1, 2 times, under shed -> admitted, 1 in use; refused: RefusedByAction(shed) (Shed 50 refuses 50 of every 100 admissions, evenly spread)",
        "step 15: operator reset of acme -> Refuse -> Stable, c=0 (Reset: any state -> Stable; the enforced shed ends); receipt 17",
        "step 16: rollback of receipt 5 (the throttle that succeeded) -> rollback_requested (receipt 18), then rollback_completed, succeeded (receipt 19) (a completed action is undone by its backend's rollback_program); receipts 18-19",
    ];
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    // The failed throttle: ActionFailed in Intervene -> Degrade with Pause dispatched.
    assert_step(
        &stdout,
        9,
        "exec throttle (receipt 9) failed: exit code 1",
        "-> Intervene -> Degrade, c=0, pause dispatched (ActionFailed in Intervene); receipts 10-12",
    );
}

#[test]
fn demo_verifies_its_ledger_and_catches_a_flipped_byte_and_a_cut_tail() {
    // Proves the ledger steps: the real file verifies (count, head hash, checkpoint), a copy
    // with a flipped byte is refused naming a record and a byte offset, a copy cut short is
    // refused because the signed checkpoint's head is missing; then the summary.
    let out = run(&["demo"], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let verify = step(&stdout, 17);
    assert!(
        verify.starts_with("step 17: verify ledger.log -> ok: 20 receipts, head seq 19, hash "),
        "{verify}"
    );
    assert!(
        verify.contains("the signed checkpoint's head seq 19 is in it"),
        "{verify}"
    );
    let flipped = step(&stdout, 18);
    let (_, refusal) = flipped
        .split_once("-> refused: record ")
        .unwrap_or_else(|| panic!("{flipped}"));
    let mut words = refusal.split_whitespace();
    let record = words.next().unwrap_or_default();
    assert!(record.parse::<u64>().is_ok(), "{flipped}");
    assert_eq!(words.next(), Some("at"), "{flipped}");
    assert_eq!(words.next(), Some("byte"), "{flipped}");
    let offset = words.next().unwrap_or_default().trim_end_matches(':');
    assert!(offset.parse::<u64>().is_ok(), "{flipped}");
    assert_step(
        &stdout,
        19,
        "verify a copy cut after receipt 17 -> refused: checkpoint ",
        "the ledger is truncated: it holds 18 receipts, but a checkpoint says it had head seq 19",
    );
    assert_eq!(
        step(&stdout, 20),
        "step 20: summary -> 1 tenant, 20 receipts, 4 actions run (1 failed), 1 rollback, 1 duplicate (every step did what the governor's table says)"
    );
    assert_eq!(stdout.lines().count(), 21, "{stdout}");
}

#[test]
fn demo_json_carries_the_same_steps() {
    // Proves --json prints one parseable object per step, with the documented keys and the
    // same content as the text lines.
    let json = run(&["demo", "--json"], None);
    let plain = run(&["demo"], None);
    let (stdout, stderr) = text(&json);
    assert_eq!(json.status.code(), Some(0), "{stdout}\n{stderr}");
    let (plain_out, _) = text(&plain);
    let objects: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 20, "{stdout}");
    for (i, o) in objects.iter().enumerate() {
        let mut keys: Vec<&str> = o
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["decision", "input", "ok", "receipts", "step", "why"],
            "{o}"
        );
        assert_eq!(o["step"], i as u64 + 1);
        assert_eq!(o["ok"], true, "{o}");
    }
    assert_eq!(objects[1]["decision"], "Stable -> Warn, c=1");
    assert_eq!(objects[1]["why"], "78 >= warn 75");
    assert_eq!(objects[1]["receipts"], serde_json::json!([1]));
    assert_eq!(objects[4]["decision"], "duplicate");
    assert_eq!(objects[4]["receipts"], serde_json::json!([]));
    assert_eq!(objects[10]["receipts"], Value::Null);
    // The same steps as the text: inputs and decisions match line by line (the ledger's
    // hash, the paths and the flipped record differ between two runs, so those are skipped).
    for (o, n) in objects.iter().zip(1..=16) {
        let line = step(&plain_out, n);
        let input = o["input"].as_str().unwrap_or_default();
        let decision = o["decision"].as_str().unwrap_or_default();
        assert!(
            line.contains(&format!("{input} -> {decision} (")),
            "{line}\n{o}"
        );
    }
}

#[test]
fn demo_keep_leaves_a_dir_that_verifies_and_names_the_next_commands() {
    // Proves --keep DIR keeps the data dir (verify accepts it, exit 0), prints the two next
    // commands, and that a non-empty DIR is refused with exit 2 and one line.
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("kept");
    let dir_s = dir.to_string_lossy().into_owned();
    let out = run(&["demo", "--keep", &dir_s], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("autonomic ledger --data-dir {dir_s} --tail 5")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("autonomic verify --data-dir {dir_s}")),
        "{stdout}"
    );
    let verify = run(&["verify", "--data-dir", &dir_s], None);
    let (v_out, v_err) = text(&verify);
    assert_eq!(verify.status.code(), Some(0), "{v_out}\n{v_err}");
    assert!(v_out.starts_with("ok: 20 receipts, head seq 19"), "{v_out}");
    assert!(v_out.contains("contains checkpoint seq 19"), "{v_out}");

    let again = run(&["demo", "--keep", &dir_s], None);
    let (a_out, a_err) = text(&again);
    assert_eq!(again.status.code(), Some(2), "{a_out}\n{a_err}");
    assert_eq!(a_err.lines().count(), 1, "{a_err}");
    assert!(a_err.contains("not empty"), "{a_err}");
    assert!(a_out.is_empty(), "{a_out}");
}

#[test]
fn demo_is_quick_and_removes_its_temporary_dir() {
    // Proves the whole demo takes about a tenth of a second (bounded at two) and, without --keep, leaves no data dir.
    cli_support::binary(); // built before the clock starts
    let started = std::time::Instant::now();
    let out = run(&["demo"], None);
    let elapsed = started.elapsed();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // About 0.1 s alone; the bound leaves room for a loaded machine.
    assert!(elapsed.as_millis() < 2_000, "{elapsed:?}");
    let dir = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("autonomic demo: data dir "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
}

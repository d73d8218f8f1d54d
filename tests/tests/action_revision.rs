//! A rollback revision end to end through the real binary: the core's revision rule is the
//! one HTTP applies (the same error name, nothing written), and an accepted revision reaches
//! the backends as given — the `{revision}` placeholder of a real `exec` child (run and undo),
//! and the body a real webhook receiver on 127.0.0.1 gets.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use autonomic_core::Action;
use cli_support::{Sidecar, config, wait_until, webhook_server};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
/// Visible ASCII, punctuation included: what the revision rule allows.
const REVISION: &str = "rel-2026.11_rc1+g3f2a~!";

/// A program that writes its arguments after the first, one a line, to the file named by the
/// first (atomically: the file appears complete).
fn argv_writer(dir: &Path) -> String {
    let path = dir.join("argv.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nout=$1\nshift\nprintf '%s\\n' \"$@\" > \"$out.tmp\" && mv \"$out.tmp\" \"$out\"\n",
    )
    .expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_str().expect("utf-8").to_owned()
}

fn requested(s: &Sidecar, revision: &str) -> cli_support::Response {
    let body = serde_json::json!({ "kind": "rollback", "revision": revision }).to_string();
    s.post("/v1/tenants/acme/actions", &body)
}

/// Requests a rollback to [`REVISION`] and waits until its outcome is recorded.
fn roll_back_and_wait(s: &Sidecar) -> u64 {
    let answer = requested(s, REVISION);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let receipt = answer.json()["receipt"].as_u64().expect("receipt");
    assert!(
        wait_until(WAIT, || s.tenant("acme")["action_in_flight"].is_null()),
        "no outcome: {}",
        s.stderr_log()
    );
    receipt
}

fn last_outcome(s: &Sidecar) -> Value {
    let ledger = s.ledger();
    let done = ledger
        .iter()
        .rev()
        .find(|r| r["event"]["type"] == "action_completed")
        .expect("a completion");
    done["event"]["outcome"].clone()
}

#[test]
fn an_empty_or_invisible_revision_is_refused_over_http_with_the_core_rule_s_error_name() {
    // Proves HTTP applies the core's revision rule and only it: each revision the core's
    // `Action::rollback` refuses is answered 400 with the core error's name, and nothing is
    // written; the longest visible revision is accepted.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Sidecar::start(
        dir.path(),
        &config("[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n"),
    );
    let records = || s.ledger().len();
    let before = records();
    let too_long = "r".repeat(129);
    for bad in [
        "",
        " ",
        "a b",
        "tab\there",
        "bell\u{7}",
        "caf\u{e9}",
        &too_long,
    ] {
        let core = Action::rollback(bad).expect_err("the core refuses it");
        let answer = requested(&s, bad);
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body);
        assert_eq!(
            answer.json()["error"],
            format!("{core:?}"),
            "{bad:?}: {}",
            answer.body
        );
        assert_eq!(
            answer.json()["message"],
            core.to_string(),
            "{bad:?}: the core's message"
        );
    }
    assert_eq!(records(), before, "nothing written");
    assert!(s.tenant("acme")["action_in_flight"].is_null());
    let longest = "~".repeat(128);
    let answer = requested(&s, &longest);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["action"]["revision"], longest.as_str());
}

#[test]
fn the_exec_backend_gets_the_real_revision_for_the_run_and_its_undo() {
    // Proves `{revision}` (and `{action}`) in `args` and `rollback_args` are the revision the
    // operator asked for, byte for byte, as a real child process receives them.
    let dir = tempfile::tempdir().expect("tempdir");
    let program = argv_writer(dir.path());
    let (run_out, undo_out) = (dir.path().join("run.txt"), dir.path().join("undo.txt"));
    let toml = format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n\
         [actuators.rollback]\nbackend = \"exec\"\nprogram = \"{program}\"\n\
         args = [\"{}\", \"{{revision}}\", \"{{action}}\"]\n\
         rollback_program = \"{program}\"\nrollback_args = [\"{}\", \"undo={{revision}}\"]\n",
        run_out.display(),
        undo_out.display()
    );
    let s = Sidecar::start(&dir.path().join("s"), &config(&toml));
    let receipt = roll_back_and_wait(&s);
    assert_eq!(last_outcome(&s), "Succeeded", "{}", s.stderr_log());
    let argv = std::fs::read_to_string(&run_out).expect("the child wrote its argv");
    assert_eq!(argv, format!("{REVISION}\nrollback\n"));

    let undo = s.post(&format!("/v1/actions/{receipt}/rollback"), "");
    assert_eq!(undo.status, 200, "{}", undo.body);
    assert!(
        wait_until(WAIT, || undo_out.exists()),
        "the undo did not run: {}",
        s.stderr_log()
    );
    let argv = std::fs::read_to_string(&undo_out).expect("read");
    assert_eq!(argv, format!("undo={REVISION}\n"));
}

#[test]
fn the_webhook_body_carries_the_real_revision() {
    // Proves the webhook backend POSTs the requested revision (and a null percent) to a real
    // receiver on 127.0.0.1.
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, bodies) = webhook_server();
    let toml = format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n\
         [actuators.rollback]\nbackend = \"webhook\"\nurl = \"http://{addr}/deploy\"\n"
    );
    let s = Sidecar::start(dir.path(), &config(&toml));
    let receipt = roll_back_and_wait(&s);
    assert_eq!(last_outcome(&s), "Succeeded", "{}", s.stderr_log());
    let bodies = bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: Value = serde_json::from_str(&bodies[0]).expect("JSON body");
    assert_eq!(body["revision"], REVISION, "{body}");
    assert_eq!(body["action"], "rollback", "{body}");
    assert!(body["percent"].is_null(), "{body}");
    assert_eq!(body["receipt"], receipt, "{body}");
}

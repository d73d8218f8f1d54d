//! Hot reload through the binary (`docs/config.md#hot-reload`): a real SIGHUP after
//! rewriting `[governor]` changes the governor's decisions and `GET /v1/config` shows the
//! SHA-256 of the new file; a bad file is refused with its one-line error and changes nothing;
//! `POST /v1/config/reload` does the same over HTTP and needs the token; a change to `listen`
//! is refused by name; a restart after a reload with a changed file records a
//! `config_applied` at start; `verify` and `ledger` accept a ledger holding them.

mod cli_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cli_support::{Sidecar, config, now_ms, run_ok, wait_until};
use serde_json::Value;
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(20);
const TENANT: &str = "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n";

/// 64 hex of the SHA-256 of the file's bytes.
fn file_hash(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).expect("config file")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config_path(s: &Sidecar) -> std::path::PathBuf {
    s.dir.join("config.toml")
}

fn rewrite(s: &Sidecar, toml: &str) {
    std::fs::write(config_path(s), toml).expect("rewrite config");
}

fn hangup(s: &Sidecar) {
    let pid = s.child.as_ref().expect("running").id().to_string();
    let status = Command::new("kill").args(["-HUP", &pid]).status();
    assert!(status.expect("kill").success());
}

fn running_hash(s: &Sidecar) -> String {
    let r = s.get("/v1/config");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["hash"].as_str().expect("hash").to_owned()
}

/// The `config_applied` receipts of the in-memory ledger.
fn applied(s: &Sidecar) -> Vec<Value> {
    let receipts = s.ledger().into_iter();
    receipts
        .filter(|r| r["event"]["type"] == "config_applied")
        .collect()
}

/// The governor state a cpu reading of `value` at `ts_ms` leads `acme` to.
fn to_state(s: &Sidecar, value: f64, ts_ms: u64) -> String {
    s.signal("acme", value, ts_ms)["to"]
        .as_str()
        .expect("to")
        .to_owned()
}

fn reloads(s: &Sidecar, result: &str) -> String {
    let text = s.get("/metrics").body;
    let prefix = format!("autonomic_config_reloads_total{{result=\"{result}\"}} ");
    let line = text.lines().find_map(|l| l.strip_prefix(prefix.as_str()));
    line.expect("reload counter").to_owned()
}

#[test]
fn sighup_applies_new_thresholds_and_records_the_new_hash() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sidecar::start(dir.path(), &config(TENANT));
    let before = running_hash(&s);
    assert_eq!(before, file_hash(&config_path(&s)));
    let now = now_ms();
    assert_eq!(to_state(&s, 60.0, now - 20_000), "Stable", "60 < warn 75");
    assert!(applied(&s).is_empty(), "no reload, no config receipt");

    rewrite(
        &s,
        &config(&format!("{TENANT}[governor]\nwarn = 50\nrecover = 40\n")),
    );
    let new_hash = file_hash(&config_path(&s));
    hangup(&s);
    assert!(
        wait_until(WAIT, || running_hash(&s) == new_hash),
        "{}",
        s.stderr_log()
    );

    assert_eq!(
        to_state(&s, 60.0, now_ms()),
        "Warn",
        "60 >= the new warn 50"
    );
    let receipts = applied(&s);
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["tenant"], "");
    assert_eq!(receipts[0]["event"]["hash"], new_hash.as_str());
    let status = s.get("/v1/config").json();
    assert_eq!(status["applied_seq"], receipts[0]["seq"]);
    assert_eq!(status["path"], config_path(&s).display().to_string());
    assert_eq!(reloads(&s, "applied"), "1");
    let info = format!("autonomic_config_info{{hash=\"{}\"}} 1", &new_hash[..12]);
    assert!(s.get("/metrics").body.contains(&info));
}

#[test]
fn a_bad_file_is_refused_with_its_one_line_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sidecar::start(dir.path(), &config(TENANT));
    let before = running_hash(&s);
    let head = s.ledger().len();
    rewrite(&s, &config(&format!("{TENANT}[governor]\nwarn = 95\n")));
    let line = format!(
        "config {}: governor.warn: must be < intervene (90), got 95",
        config_path(&s).display()
    );

    hangup(&s);
    assert!(
        wait_until(WAIT, || s.stderr_log().contains(&line)),
        "{}",
        s.stderr_log()
    );
    assert_eq!(running_hash(&s), before);
    assert_eq!(reloads(&s, "refused"), "1");

    let r = s.post("/v1/config/reload", "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "ConfigInvalid");
    assert_eq!(r.json()["message"], line.as_str());
    assert_eq!(running_hash(&s), before, "old hash");
    assert_eq!(s.ledger().len(), head, "no new receipt");
    assert_eq!(
        to_state(&s, 80.0, now_ms()),
        "Warn",
        "old thresholds: 80 < intervene 90"
    );
}

#[test]
fn post_reload_needs_the_token_and_applies_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("token = \"s3cret-token\"\n{TENANT}");
    let s = Sidecar::start(dir.path(), &config(&base));
    rewrite(&s, &config(&format!("{base}[governor]\nintervene = 80\n")));
    let new_hash = file_hash(&config_path(&s));

    let headers = [("Content-Type", "application/json")];
    let anonymous = cli_support::http(&s.addr, "POST", "/v1/config/reload", &headers, b"");
    let anonymous = anonymous.expect("POST");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_ne!(running_hash(&s), new_hash, "not applied");

    let r = s.post("/v1/config/reload", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let status = r.json();
    assert_eq!(status["hash"], new_hash.as_str());
    let last = applied(&s).pop().expect("a config_applied receipt");
    assert_eq!(status["applied_seq"], last["seq"]);
    // 85 was Warn under the old intervene (90); the new one is 80.
    assert_eq!(to_state(&s, 85.0, now_ms()), "Intervene");
}

#[test]
fn a_change_to_listen_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let toml = |listen: &str| {
        config(&format!(
            "listen = \"{listen}\"\ndata_dir = \"{}\"\n{TENANT}",
            data.display()
        ))
    };
    let s = Sidecar::start_plain(dir.path(), &toml("127.0.0.1:0"));
    let before = running_hash(&s);
    rewrite(&s, &toml("127.0.0.1:1"));
    let r = s.post("/v1/config/reload", "");
    assert_eq!(r.status, 400, "{}", r.body);
    let line = format!(
        "config {}: listen cannot change without a restart",
        config_path(&s).display()
    );
    assert_eq!(r.json()["message"], line.as_str());
    assert_eq!(running_hash(&s), before);
    assert!(applied(&s).is_empty());
}

#[test]
fn a_restart_after_a_reload_records_a_changed_file_and_the_cli_reads_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let first = config(TENANT);
    let mut s = Sidecar::start(dir.path(), &first);
    assert!(s.stop().success());
    // Never reloaded: a changed file at start writes no receipt.
    let second = config(&format!("{TENANT}[governor]\nsustain = 4\n"));
    let mut s2 = Sidecar::start(dir.path(), &second);
    assert!(applied(&s2).is_empty(), "no reload yet, no config receipt");
    let third = config(&format!("{TENANT}[governor]\nsustain = 5\n"));
    rewrite(&s2, &third);
    assert_eq!(s2.post("/v1/config/reload", "").status, 200);
    assert!(s2.stop().success());

    // Restarted on the same file: nothing new; on a changed one: recorded at start.
    let mut s3 = Sidecar::start(dir.path(), &third);
    assert_eq!(applied(&s3).len(), 1);
    assert!(s3.stop().success());
    let fourth = config(&format!("{TENANT}[governor]\nsustain = 6\n"));
    s = Sidecar::start(dir.path(), &fourth);
    let receipts = applied(&s);
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    let fourth_hash = file_hash(&config_path(&s));
    assert_eq!(receipts[1]["event"]["hash"], fourth_hash.as_str());
    let status = s.get("/v1/config").json();
    assert_eq!(status["hash"], fourth_hash.as_str());
    assert_eq!(status["applied_seq"], receipts[1]["seq"]);
    assert!(s.stop().success());

    let data = s.data_dir.display().to_string();
    run_ok(&["verify", "--data-dir", &data]);
    let text = run_ok(&["ledger", "--data-dir", &data]);
    let system: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("config_applied"))
        .collect();
    assert_eq!(system.len(), 2);
    assert!(system.iter().all(|l| l.contains(r#""tenant":"""#)));
    let acme = run_ok(&["ledger", "--data-dir", &data, "--tenant", "acme"]);
    assert!(!acme.contains("config_applied"));
}

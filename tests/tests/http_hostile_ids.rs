//! Hostile tenant ids through the real binary: any visible-ASCII id is allowed
//! (`docs/signals.md#order-of-checks`), so `-rf` and `acme/.` are valid tenants; the rule
//! lives where a substituted value would become a program option or a path
//! (`docs/actions.md#substitution-rules`). Each id is activated over HTTP (percent-encoded,
//! so `%2F` reaches the engine as `/`), a manual throttle goes to an `exec` recording program
//! and a manual pause to a `cgroup` backend with `group = "work/{tenant}"` under a directory
//! laid out like cgroupfs v2.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cli_support::{Sidecar, config, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

/// Percent-encodes every byte but ASCII letters and digits (so `.`, `/` and `-` all travel
/// encoded and no client or router can normalize them).
fn enc(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The completion receipt of `receipt`, once it is in the ledger.
fn completion(s: &Sidecar, receipt: u64) -> Option<Value> {
    let ledger = s.get("/v1/ledger?tail=1000").json();
    ledger.as_array()?.iter().find_map(|r| {
        (r["event"]["type"] == "action_completed" && r["event"]["receipt"] == receipt)
            .then(|| r.clone())
    })
}

fn act(s: &Sidecar, id: &str, body: &str) -> Value {
    let r = s.post(&format!("/v1/tenants/{}/actions", enc(id)), body);
    assert_eq!(r.status, 200, "{id}: {}", r.body);
    let receipt = r.json()["receipt"].as_u64().expect("receipt");
    let mut done = None;
    assert!(
        wait_until(WAIT, || {
            done = completion(s, receipt);
            done.is_some()
        }),
        "{id}: no outcome: {}",
        s.stderr_log()
    );
    done.unwrap()
}

#[test]
fn hostile_ids_never_become_options_or_other_tenants_groups() {
    // Proves: for `-rf`, `--config=/etc/passwd`, `acme/child` (sent as `acme%2Fchild`),
    // `acme/.`, `./acme`, `acme/`, `acme//`, `.` and `..`: the exec program never runs (its
    // recording file never appears), `work/acme` and `work/acme/child` are never written,
    // every outcome receipt says Failed, and the failure is logged at WARN with the reason
    // (and, once, at activation). Circuit breakers are off: each failure must be the
    // substitution refusing the id, not an open circuit.
    // The plain tenant `acme` still reaches both backends (so the setup itself works).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argv");
    let program = dir.path().join("record.sh");
    std::fs::write(
        &program,
        "#!/bin/sh\nout=\"$1\"; shift; for a in \"$@\"; do printf '%s\\n' \"$a\" >> \"$out\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("cgroupfs");
    for group in ["work/acme", "work/acme/child", "work"] {
        write(&root.join(group).join("cgroup.freeze"), "0\n");
        write(
            &root.join(group).join("cgroup.events"),
            "populated 1\nfrozen 1\n",
        );
    }
    let toml = config(&format!(
        "[actuators.throttle]\nbackend = \"exec\"\nprogram = \"{}\"\nargs = [\"{}\", \"{{tenant}}\"]\n\
         breaker_failures = 0\n\
         [actuators.pause]\nbackend = \"cgroup\"\ngroup = \"work/{{tenant}}\"\nroot = \"{}\"\n\
         breaker_failures = 0\n",
        program.display(),
        out.display(),
        root.display()
    ));
    let s = Sidecar::start(&dir.path().join("s"), &toml);
    // Ids that would be options go to the exec throttle, ids that would be other paths to
    // the cgroup pause (`acme/child` is a fine argument and `-rf` a fine directory name).
    let options = ["-rf", "--config=/etc/passwd"];
    let paths = [
        "acme/child",
        "acme/.",
        "./acme",
        "acme/",
        "acme//",
        ".",
        "..",
    ];
    for id in options.iter().chain(&paths) {
        let r = s.post(
            &format!("/v1/tenants/{}/activate", enc(id)),
            r#"{"sku":"pro"}"#,
        );
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(r.json()["tenant"], *id, "the id arrives decoded");
    }
    for id in options {
        let throttled = act(&s, id, r#"{"kind":"throttle","percent":30}"#);
        assert_eq!(throttled["event"]["outcome"], "Failed", "{id}: {throttled}");
        assert!(
            !out.exists(),
            "{id}: the program ran: {:?}",
            std::fs::read_to_string(&out)
        );
    }
    for id in paths {
        let paused = act(&s, id, r#"{"kind":"pause"}"#);
        assert_eq!(paused["event"]["outcome"], "Failed", "{id}: {paused}");
        for group in ["work/acme", "work/acme/child", "work"] {
            let freeze = std::fs::read_to_string(root.join(group).join("cgroup.freeze")).unwrap();
            assert_eq!(freeze, "0\n", "{id} wrote {group}");
        }
    }
    let log = s.stderr_log();
    let warned = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("actuator: action failed"))
        .filter(|l| l.contains("refused"))
        .count();
    assert_eq!(warned, options.len() + paths.len(), "{log}");
    assert!(log.contains("would become the option"), "{log}");
    // Each was also named at activation: WARN once per backend that will refuse it.
    // (`--config=/etc/passwd` also holds a `/`: its pause would be refused too.)
    let at_activation = |kind: &str, id: &str| {
        log.lines().any(|l| {
            l.contains("WARN")
                && l.contains(&format!("its {kind} actions will be refused tenant={id} "))
        })
    };
    for id in options {
        assert!(at_activation("throttle", id), "{id}: {log}");
    }
    for id in paths.iter().chain(&["--config=/etc/passwd"]) {
        assert!(at_activation("pause", id), "{id}: {log}");
    }
    assert!(!at_activation("throttle", "acme/child"), "{log}");
    assert!(log.contains("must be exactly one path component"), "{log}");

    // The control: the plain id reaches both backends.
    let r = s.post("/v1/tenants/acme/activate", r#"{"sku":"pro"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let ok = act(&s, "acme", r#"{"kind":"throttle","percent":30}"#);
    assert_eq!(
        ok["event"]["outcome"],
        "Succeeded",
        "{ok}: {}",
        s.stderr_log()
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "acme\n");
    let ok = act(&s, "acme", r#"{"kind":"pause"}"#);
    assert_eq!(
        ok["event"]["outcome"],
        "Succeeded",
        "{ok}: {}",
        s.stderr_log()
    );
    let freeze = std::fs::read_to_string(root.join("work/acme/cgroup.freeze")).unwrap();
    assert_eq!(freeze, "1\n");
}

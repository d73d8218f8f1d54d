//! Children never outlive the sidecar: an exec action's process dies with a kill -9'd sidecar
//! (PR_SET_PDEATHSIG), and what its process group left behind (a shell's background child) is
//! killed when the sidecar starts again (process groups recorded in `<data_dir>/running/`).

mod cli_support;

use std::time::Duration;

use cli_support::{Sidecar, config, wait_until};

/// Pids of live (not zombie) processes whose whole command line is `needle` (`sleep 62.75`):
/// not the shell whose `-c` script merely contains it, which the test could otherwise see
/// before the shell has started the `sleep` (and then kill it before it does).
fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && text.trim_end() == needle {
            pids.push(pid);
        }
    }
    pids
}

/// A config whose pause runs `/bin/sh -c <script>` for tenant acme.
fn pause_runs(script: &str) -> String {
    config(&format!(
        "[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n[actuators.pause]\nbackend = \"exec\"\n\
         program = \"/bin/sh\"\nargs = [\"-c\", \"{script}\"]\ntimeout_ms = 120000\n"
    ))
}

fn start_pause(s: &Sidecar) {
    let r = s.post("/v1/tenants/acme/actions", r#"{"kind":"pause"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_killed_sidecar_takes_its_exec_child_along() {
    // Proves: the direct child of a kill -9'd sidecar (here `sleep`, exec'd by the shell)
    // dies with it, without waiting for a restart.
    let dir = tempfile::tempdir().expect("tempdir");
    let needle = "sleep 61.25";
    let mut s = Sidecar::start(dir.path(), &pause_runs(&format!("exec {needle}")));
    start_pause(&s);
    assert!(wait_until(Duration::from_secs(5), || !processes_with(
        needle
    )
    .is_empty()));
    s.kill9();
    let gone = wait_until(Duration::from_secs(5), || processes_with(needle).is_empty());
    assert!(gone, "still running: {:?}", processes_with(needle));
}

#[test]
fn a_restarted_sidecar_kills_the_process_group_a_dead_one_left() {
    // Proves: a grandchild in the action's process group (a shell's background `sleep`)
    // survives kill -9 of the sidecar — PDEATHSIG reaches only the direct child — and is killed
    // by the next start, which finds the group in `<data_dir>/running/`.
    let dir = tempfile::tempdir().expect("tempdir");
    let needle = "sleep 62.75";
    let toml = pause_runs(&format!("{needle} & wait"));
    let mut s = Sidecar::start(dir.path(), &toml);
    start_pause(&s);
    assert!(wait_until(Duration::from_secs(5), || !processes_with(
        needle
    )
    .is_empty()));
    let records = s.data_dir.join("running");
    assert_eq!(std::fs::read_dir(&records).expect("records").count(), 1);
    s.kill9();
    std::thread::sleep(Duration::from_millis(300));
    let survivors = processes_with(needle);
    assert!(
        !survivors.is_empty(),
        "the grandchild outlives the sidecar by itself"
    );
    let restarted = Sidecar::start(dir.path(), &toml);
    let gone = wait_until(Duration::from_secs(5), || processes_with(needle).is_empty());
    assert!(
        gone,
        "still running after restart: {:?}",
        processes_with(needle)
    );
    assert!(
        restarted
            .stderr_log()
            .contains("killed process groups left by a sidecar that died"),
        "{}",
        restarted.stderr_log()
    );
}

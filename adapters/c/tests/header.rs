//! `include/autonomic.h` is what cbindgen generates from this crate today, byte for byte.
//! Without `cbindgen` on PATH the check is skipped loudly (and fails when `CI=true`).

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Where skipped tests are listed for `.ci/run` to print after the test step.
const SKIPPED_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");

#[test]
fn the_checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = Path::new(env!("CARGO_TARGET_TMPDIR")).join("autonomic.h");
    let run = Command::new("cbindgen")
        .current_dir(dir)
        .args([
            "--config",
            "cbindgen.toml",
            "--crate",
            "autonomic-c",
            "--quiet",
            "--output",
        ])
        .arg(&generated)
        .status();
    let Ok(status) = run else {
        let line = "SKIPPED header.rs: cbindgen is not on PATH (cargo install cbindgen --locked)";
        eprintln!("{line}");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(SKIPPED_FILE)
        {
            let _ = writeln!(f, "{line}");
        }
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{line}");
        return;
    };
    assert!(status.success(), "cbindgen failed: {status}");
    let want = std::fs::read_to_string(&generated).unwrap();
    let have = std::fs::read_to_string(dir.join("include/autonomic.h")).unwrap();
    assert!(
        want == have,
        "include/autonomic.h is stale: regenerate it with\n  (cd adapters/c && cbindgen --config cbindgen.toml --crate autonomic-c --output include/autonomic.h)"
    );
}

//! The README's examples (and those of `docs/replay.md`) are tests: every ```` ```console ````
//! block runs, and each command's output must match the text written under it.
//!
//! In a console block a line starting with `$ ` is a command (continued by a trailing `\` or
//! a here-document up to its terminator line); the lines after it, up to the next `$ `, are its
//! expected output, where `[..]` matches any text within a line and a line `...` any number of
//! lines (snapbox's rules). All console blocks of one `## ` section run in one bash process, in
//! order, in a fresh scratch directory, with the freshly built `autonomic` first on `PATH`: so
//! `cd`, variables, background jobs and `kill %1` carry from one block to the next.
//!
//! A block that shows commands (fenced `sh`, `bash`, `shell`, `console`, or with a line starting
//! `$ `) is either such a console session or marked, on the line right above its fence, with
//! `<!-- not tested: reason -->`; those are reported as SKIPPED and counted, so a new untested
//! block fails this test until someone decides. The section that throttles a real process runs
//! only where a cgroup v1 `cpu` and `freezer` group can be created, and is SKIPPED (and counted)
//! otherwise.

mod cli_support;

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use snapbox::{Assert, Data, assert::Action};

/// The files whose examples are checked, relative to the workspace root.
const FILES: &[&str] = &["README.md", "docs/replay.md", "docs/config.md"];
/// Blocks marked `<!-- not tested: ... -->` across `FILES` (the README's two cargo commands).
const MARKED_UNTESTED: usize = 1;
/// The section that needs a writable cgroup v1 hierarchy.
const CGROUP_SECTION: &str = "Throttle a real process";
/// The marker an untested block carries on the line above its fence.
const UNTESTED_MARK: &str = "<!-- not tested:";
/// How long one section's bash process may run.
const SECTION_TIMEOUT_MS: u64 = 40_000;
/// Separates one command's output from the next in the session's output file.
const RS: char = '\u{1e}';

/// One command of a console block with the output written under it.
struct Example {
    line: usize,
    command: String,
    expected: String,
}

/// A fenced block that shows commands.
struct Block {
    line: usize,
    untested: Option<String>,
    examples: Vec<Example>,
}

/// The command-showing blocks under one `## ` heading of one file.
struct Section {
    file: String,
    heading: String,
    blocks: Vec<Block>,
}

fn shows_commands(info: &str, body: &[&str]) -> bool {
    matches!(info, "sh" | "bash" | "shell" | "console" | "zsh")
        || body.iter().any(|l| l.starts_with("$ "))
}

/// The terminator of a here-document the command line opens (`<<'EOF'`, `<<EOF`, `<<-EOF`).
fn heredoc_end(line: &str) -> Option<String> {
    let (_, after) = line.split_once("<<")?;
    let word = after.trim_start_matches('-').split_whitespace().next()?;
    let word = word.trim_matches(|c| c == '\'' || c == '"');
    (!word.is_empty()).then(|| word.to_owned())
}

/// Whether a command line goes on on the next line (a trailing `\`, `|`, `&&` or `||`).
fn continues(command: &str) -> bool {
    let end = command.trim_end();
    end.ends_with('\\') || end.ends_with('|') || end.ends_with("&&")
}

/// Splits a console block's lines (numbered from `first_line`) into commands and outputs.
fn parse_console(body: &[&str], first_line: usize) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let Some(start) = body[i].strip_prefix("$ ") else {
            if let Some(last) = examples.last_mut() {
                last.expected.push_str(body[i]);
                last.expected.push('\n');
            }
            i += 1;
            continue;
        };
        let line = first_line + i;
        let mut command = start.to_owned();
        let mut terminator = heredoc_end(start);
        while continues(&command) && i + 1 < body.len() {
            i += 1;
            command.push('\n');
            command.push_str(body[i]);
            terminator = terminator.or_else(|| heredoc_end(body[i]));
        }
        if let Some(end) = terminator {
            while i + 1 < body.len() {
                i += 1;
                command.push('\n');
                command.push_str(body[i]);
                if body[i] == end {
                    break;
                }
            }
        }
        examples.push(Example {
            line,
            command,
            expected: String::new(),
        });
        i += 1;
    }
    examples
}

/// Every command-showing block of `file`, grouped by `## ` section.
fn sections(file: &str, text: &str) -> Vec<Section> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Section> = Vec::new();
    let mut heading = String::from("(top)");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(h) = line.strip_prefix("## ") {
            heading = h.trim().to_owned();
        }
        let Some(info) = line.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let fence_line = i + 1;
        let body_start = i + 1;
        let mut end = body_start;
        while end < lines.len() && !lines[end].starts_with("```") {
            end += 1;
        }
        let body = &lines[body_start..end];
        i = end + 1;
        if !shows_commands(info.trim(), body) {
            continue;
        }
        let untested = (fence_line >= 2)
            .then(|| lines[fence_line - 2].trim())
            .and_then(|above| above.strip_prefix(UNTESTED_MARK))
            .map(|rest| rest.trim_end_matches("-->").trim().to_owned());
        let examples = if info.trim() == "console" && untested.is_none() {
            parse_console(body, fence_line + 1)
        } else {
            Vec::new()
        };
        let block = Block {
            line: fence_line,
            untested,
            examples,
        };
        match out.last_mut() {
            Some(s) if s.heading == heading => s.blocks.push(block),
            _ => out.push(Section {
                file: file.to_owned(),
                heading: heading.clone(),
                blocks: vec![block],
            }),
        }
    }
    out
}

/// Whether a cgroup v1 `cpu` and `freezer` group can be created here (tried, then removed).
fn writable_cgroup_v1() -> Result<(), String> {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists()
        || !Path::new("/sys/fs/cgroup/freezer").is_dir()
    {
        return Err("no cgroup v1 cpu+freezer mounts".to_owned());
    }
    let probe = format!("autonomic-readme-probe-{}", std::process::id());
    for controller in ["cpu", "freezer"] {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join(&probe);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}

/// What one section's bash process printed, per command: (output, exit status).
fn run_section(examples: &[&Example], bin_dir: &Path) -> Vec<Option<(String, i32)>> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scratch = tmp.path().join("work");
    std::fs::create_dir(&scratch).expect("scratch dir");
    let mut script = String::from("exec 2>&1\n");
    for (i, ex) in examples.iter().enumerate() {
        writeln!(
            script,
            "{}\n__rc=$?; printf '\\n\\036{i}\\036%s\\n' \"$__rc\"",
            ex.command
        )
        .expect("write script");
    }
    let script_path = tmp.path().join("session.sh");
    std::fs::write(&script_path, script).expect("write script");
    let out_path = tmp.path().join("session.out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut child = Command::new("bash")
        .args(["--noprofile", "--norc"])
        .arg(&script_path)
        .current_dir(&scratch)
        .env("PATH", format!("{}:{path}", bin_dir.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn bash");
    let deadline = Instant::now() + Duration::from_millis(SECTION_TIMEOUT_MS);
    while child.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is left (a timed-out command, a background job the text forgot) ends here.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
    split_output(&printed, examples.len())
}

/// Cuts the session's output at the markers written after each command.
fn split_output(printed: &str, count: usize) -> Vec<Option<(String, i32)>> {
    let mut results = Vec::with_capacity(count);
    let mut rest = printed;
    for i in 0..count {
        let marker = format!("\n{RS}{i}{RS}");
        let Some(at) = rest.find(&marker) else {
            results.push(None);
            continue;
        };
        let output = rest[..at].to_owned();
        let after = &rest[at + marker.len()..];
        let (rc, tail) = after.split_once('\n').unwrap_or((after, ""));
        results.push(Some((output, rc.parse().unwrap_or(-1))));
        rest = tail;
    }
    results
}

/// The text without the blank lines around it, ending in one newline unless empty.
fn trim_newlines(text: &str) -> String {
    let inner = text.trim_start_matches('\n').trim_end_matches('\n');
    if inner.is_empty() {
        String::new()
    } else {
        format!("{inner}\n")
    }
}

/// Runs one section's examples and appends a paragraph to `failures` for each that differs.
fn check_section(file: &str, examples: &[&Example], bin_dir: &Path, failures: &mut String) {
    let assert = Assert::new().action(Action::Verify).normalize_paths(false);
    let results = run_section(examples, bin_dir);
    for (ex, result) in examples.iter().zip(results) {
        let at = format!("{file}:{}", ex.line);
        let Some((output, rc)) = result else {
            let _ = writeln!(
                failures,
                "{at}: `$ {}` did not finish within the section's {SECTION_TIMEOUT_MS} ms \
                 (or an earlier command ended the session)",
                ex.command
            );
            continue;
        };
        let actual = Data::text(trim_newlines(&output));
        let expected = Data::text(trim_newlines(&ex.expected));
        if let Err(e) = assert.try_eq(Some(&at), actual, expected) {
            let _ = writeln!(
                failures,
                "{at}: `$ {}` (exit {rc})\nexpected:\n{}\nactual:\n{}\n{e}",
                ex.command,
                trim_newlines(&ex.expected),
                trim_newlines(&output)
            );
        }
    }
}

#[test]
fn every_console_example_in_the_readme_prints_what_it_shows() {
    // Proves each command of each console block prints the output written under it, and that
    // every other command-showing block is explicitly marked untested.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir: PathBuf = cli_support::binary()
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let cgroup = writable_cgroup_v1();
    let mut failures = String::new();
    let mut untested = 0;
    let mut ran = 0;
    for file in FILES {
        let text = std::fs::read_to_string(root.join(file)).expect("read file");
        for section in sections(file, &text) {
            let mut examples = Vec::new();
            for block in &section.blocks {
                let at = format!("{}:{}", section.file, block.line);
                if let Some(reason) = &block.untested {
                    untested += 1;
                    cli_support::skipped(&format!(
                        "SKIPPED (not tested): {at} in '{}': {reason}",
                        section.heading
                    ));
                } else if block.examples.is_empty() {
                    let _ = writeln!(
                        failures,
                        "{at}: a block showing commands is neither a ```console session nor \
                         marked `{UNTESTED_MARK} reason -->` on the line above"
                    );
                } else {
                    examples.extend(block.examples.iter());
                }
            }
            if examples.is_empty() {
                continue;
            }
            if let (CGROUP_SECTION, Err(why)) = (section.heading.as_str(), &cgroup) {
                untested += 1;
                cli_support::skipped(&format!(
                    "SKIPPED (no writable cgroup: {why}): {}: section '{}'",
                    section.file, section.heading
                ));
                continue;
            }
            ran += examples.len();
            check_section(&section.file, &examples, &bin_dir, &mut failures);
        }
    }
    let cgroup_skipped = usize::from(cgroup.is_err());
    eprintln!("readme examples: {ran} commands run, {untested} blocks or sections SKIPPED");
    assert!(failures.is_empty(), "README examples differ:\n{failures}");
    assert_eq!(
        untested,
        MARKED_UNTESTED + cgroup_skipped,
        "the number of untested blocks changed: run them, or update MARKED_UNTESTED"
    );
}

#[test]
fn a_console_block_splits_into_commands_with_continuations_and_heredocs() {
    // Proves the parser: `\` continues a command, a here-document runs to its terminator, and
    // the lines after a command up to the next `$ ` are its expected output.
    let body = [
        "$ cat > a.toml <<'EOF'",
        "x = 1",
        "EOF",
        "$ echo one \\",
        "    two",
        "one two",
        "$ printf 'a\\n' |",
        "    cat",
        "a",
        "$ true",
    ];
    let examples = parse_console(&body, 10);
    let got: Vec<(usize, &str, &str)> = examples
        .iter()
        .map(|e| (e.line, e.command.as_str(), e.expected.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (10, "cat > a.toml <<'EOF'\nx = 1\nEOF", ""),
            (13, "echo one \\\n    two", "one two\n"),
            (16, "printf 'a\\n' |\n    cat", "a\n"),
            (19, "true", ""),
        ]
    );
}

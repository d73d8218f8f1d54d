//! `autonomic demo`: the built-in story through the real pipeline (`docs/cli.md#demo`).
//!
//! A data dir (temporary, or `--keep DIR`), the engine thread with its ledger file and real
//! actuators, configured as `autonomic run` would be: throttle is `exec` running
//! `/bin/sh -c '[ ! -e "$0" ]' <data_dir>/fail-throttle` (so creating that file makes the
//! backend fail for real) with `/bin/true` as its rollback program, pause is `exec`
//! `/bin/true`, shed is `dry-run`. The story (`story.rs`): activate `acme` on `pro`; Warn
//! and its hysteresis; a redelivered signal; Intervene with a throttle that succeeds, then
//! one that fails (Degrade + Pause); Refuse + Shed; admissions refused under Pause and Shed;
//! a reset; a rollback. After a clean shutdown (which signs a checkpoint of the head) the
//! ledger steps (`ledger.rs`): verify, a copy with a flipped byte, a copy cut short. Then a
//! summary. Output (`print.rs`): plain lines, columns on a terminal, or JSON lines.
//!
//! Exit 0 when every step did what the governor's table says; 1 when one did not (the steps
//! up to it are printed, then `error: demo: ...`); 2 for bad usage (`--keep` on a non-empty
//! dir) or when the data dir, the runtime or the engine cannot be set up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::{ActuatorSection, BackendKind, Config};
use crate::daemon::{self, Actuators, DaemonConfig};
use crate::exit;

mod ledger;
pub mod print;
mod story;

use print::{Mode, Step};
use story::{Story, Tally};

/// The tenant of the story.
pub const TENANT: &str = "acme";
/// The file in the data dir whose existence makes the throttle backend fail.
pub const FAIL_FLAG_FILE_NAME: &str = "fail-throttle";

/// The flags of `autonomic demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoArgs {
    /// `--json`: one JSON object per step.
    pub json: bool,
    /// `--keep DIR`: the data dir to keep (created if missing; must be empty).
    pub keep: Option<PathBuf>,
}

/// Why the demo stopped.
enum Failure {
    /// The setup failed (exit 2).
    Setup(String),
    /// A step did not do what the table says (exit 1).
    Step(String),
}

/// The data dir: temporary (removed on drop) or kept.
enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn new(keep: Option<&Path>) -> Result<DataDir, String> {
        let Some(dir) = keep else {
            return tempfile::Builder::new()
                .prefix("autonomic-demo-")
                .tempdir()
                .map(DataDir::Temp)
                .map_err(|e| format!("temporary data dir: {e}"));
        };
        if dir.exists() {
            let mut entries =
                std::fs::read_dir(dir).map_err(|e| format!("--keep {}: {e}", dir.display()))?;
            if entries.next().is_some() {
                return Err(format!(
                    "--keep {}: the directory is not empty; name a new or empty one",
                    dir.display()
                ));
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("--keep {}: {e}", dir.display()))?;
        Ok(DataDir::Kept(dir.to_path_buf()))
    }

    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(dir) => dir.path(),
            DataDir::Kept(dir) => dir,
        }
    }
}

/// Runs the demo; see the module doc.
#[must_use]
pub fn run(args: &DemoArgs) -> ExitCode {
    let mode = Mode::detect(args.json);
    let dir = match DataDir::new(args.keep.as_deref()) {
        Ok(dir) => dir,
        Err(message) => {
            eprintln!("error: demo: {message}");
            return exit::code(exit::USAGE);
        }
    };
    print::note(
        mode,
        &format!("autonomic demo: data dir {}", dir.path().display()),
    );
    let mut steps = Vec::new();
    let result = tell(dir.path(), &mut steps);
    print::steps(mode, &steps);
    match result {
        Ok(()) => {
            if let DataDir::Kept(path) = &dir {
                let path = path.display();
                print::note(mode, "next, try:");
                print::note(
                    mode,
                    &format!("  autonomic ledger --data-dir {path} --tail 5"),
                );
                print::note(mode, &format!("  autonomic verify --data-dir {path}"));
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Setup(message)) => {
            eprintln!("error: demo: {message}");
            exit::code(exit::USAGE)
        }
        Err(Failure::Step(message)) => {
            eprintln!("error: demo: {message}");
            exit::code(exit::CORRUPT)
        }
    }
}

/// The whole story in `data_dir`, its steps appended to `steps`.
fn tell(data_dir: &Path, steps: &mut Vec<Step>) -> Result<(), Failure> {
    let config = config(data_dir);
    config
        .validate()
        .map_err(|e| Failure::Setup(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Setup(format!("runtime: {e}")))?;
    let (tally, tenants, cut_at) = runtime.block_on(story(&config, steps))?;
    let scratch = tempfile::tempdir().map_err(|e| Failure::Setup(format!("scratch dir: {e}")))?;
    let cut_at =
        cut_at.ok_or_else(|| Failure::Step("no commit to cut the ledger at".to_owned()))?;
    let checks = ledger::check(data_dir, scratch.path(), cut_at).map_err(Failure::Step)?;
    for (input, decision, why, ok) in checks.lines {
        push(steps, input, decision, why, ok)?;
    }
    let ok = steps.iter().all(|s| s.ok);
    let decision = format!(
        "{tenants} tenant, {} receipts, {} actions run ({} failed), 1 rollback, {} duplicate",
        checks.receipts, tally.actions_run, tally.actions_failed, tally.duplicates
    );
    let why = if ok {
        "every step did what the governor's table says".to_owned()
    } else {
        "a step did not do what the governor's table says".to_owned()
    };
    push(steps, "summary".to_owned(), decision, why, ok)
}

/// Appends a step without receipts; `Err` when it went wrong.
fn push(
    steps: &mut Vec<Step>,
    input: String,
    decision: String,
    why: String,
    ok: bool,
) -> Result<(), Failure> {
    let step = u32::try_from(steps.len() + 1).unwrap_or(u32::MAX);
    let failure = format!("step {step}: {input} -> {decision}");
    steps.push(Step {
        step,
        input,
        decision,
        why,
        receipts: None,
        ok,
    });
    if ok {
        Ok(())
    } else {
        Err(Failure::Step(failure))
    }
}

/// The config `autonomic run` would take for this story (see the module doc).
fn config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.sampler.enabled = false;
    let flag = data_dir.join(FAIL_FLAG_FILE_NAME);
    config.actuators.throttle = ActuatorSection {
        backend: BackendKind::Exec,
        program: Some("/bin/sh".to_owned()),
        args: vec![
            "-c".to_owned(),
            "[ ! -e \"$0\" ]".to_owned(),
            flag.display().to_string(),
        ],
        rollback_program: Some("/bin/true".to_owned()),
        ..ActuatorSection::default()
    };
    config.actuators.pause = ActuatorSection {
        backend: BackendKind::Exec,
        program: Some("/bin/true".to_owned()),
        ..ActuatorSection::default()
    };
    config
}

/// Starts the engine thread, tells the story, shuts the thread down cleanly (the shutdown
/// signs a checkpoint of the head). Returns the counts, the tenants, and where to cut.
async fn story(
    config: &Config,
    steps: &mut Vec<Step>,
) -> Result<(Tally, u64, Option<crate::ledger_file::ResumePoint>), Failure> {
    let setup = |e: String| Failure::Setup(e);
    let daemon_config = DaemonConfig::from_config(config).map_err(|e| setup(e.to_string()))?;
    let actuators =
        Actuators::from_config(&config.actuators, None).map_err(|e| setup(e.to_string()))?;
    let shared = Arc::new(daemon::Shared::default());
    let (engine, thread, started) = daemon::spawn(
        daemon_config,
        actuators,
        Arc::clone(&shared),
        tokio::runtime::Handle::current(),
    )
    .map_err(|e| setup(format!("engine thread: {e}")))?;
    started
        .await
        .map_err(|_| setup("engine thread stopped".to_owned()))?
        .map_err(|e| setup(e.to_string()))?;
    let flag = config.data_dir.join(FAIL_FLAG_FILE_NAME);
    let mut story = Story::new(&engine, &shared, config.governor, flag);
    let told = story.run().await;
    let tenants = engine
        .gauges()
        .await
        .map_or(0, |g| g.tenants_by_state.values().sum());
    engine.shutdown().await;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    steps.append(&mut story.steps);
    told.map_err(Failure::Step)?;
    Ok((story.tally, tenants, story.cut_at))
}

//! How the demo shows its steps: plain lines, aligned and coloured columns on a terminal, or
//! JSON lines (`docs/cli.md#demo`).

use std::io::IsTerminal;

use autonomic_core::Action;
use autonomic_core::engine::Transition;
use serde::Serialize;

use crate::wire::{ActionJson, GovernorLine, SignalResultJson};

/// ANSI: bold, green, red, dim, reset.
const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";
/// The widest cell that still sets its column's width on a terminal.
const COLUMN_CHARS_MAX: usize = 56;

/// One step of the story: what came in, what was decided and why, the receipts it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The step's number, from 1.
    pub step: u32,
    /// What came in.
    pub input: String,
    /// What the governor, the engine or the verifier decided.
    pub decision: String,
    /// Why: the rule or threshold that decided it.
    pub why: String,
    /// The seqs of the receipts the step wrote (`None`: the step writes none by nature).
    pub receipts: Option<Vec<u64>>,
    /// Whether the step did what the governor's table (or the verifier) says it must.
    pub ok: bool,
}

impl Step {
    /// The receipts column: `receipt 3`, `receipts 3-4`, `no receipt`, or empty.
    fn receipts_text(&self) -> String {
        match self.receipts.as_deref() {
            None => String::new(),
            Some([]) => "no receipt".to_owned(),
            Some([one]) => format!("receipt {one}"),
            Some([first, .., last]) => format!("receipts {first}-{last}"),
        }
    }
}

/// How the steps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `step N: input -> decision (why); receipt S`, one per line.
    Plain,
    /// Aligned columns with colour (stdout is a terminal and `NO_COLOR` is unset).
    Terminal,
    /// One JSON object per step.
    Json,
}

impl Mode {
    /// `--json`, else a terminal without `NO_COLOR`, else plain.
    #[must_use]
    pub fn detect(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

/// Prints `line` unless in JSON mode (headers and hints are not steps).
pub fn note(mode: Mode, line: &str) {
    match mode {
        Mode::Json => {}
        Mode::Plain => println!("{line}"),
        Mode::Terminal => println!("{DIM}{line}{RESET}"),
    }
}

/// Prints every step in `mode`.
pub fn steps(mode: Mode, steps: &[Step]) {
    match mode {
        Mode::Json => steps
            .iter()
            .for_each(|s| println!("{}", crate::wire::to_line(s))),
        Mode::Plain => steps.iter().for_each(|s| println!("{}", plain(s))),
        Mode::Terminal => columns(steps),
    }
}

/// `step 2: signal acme cpu 78 -> Stable -> Warn, c=1 (78 >= warn 75); receipt 1`.
#[must_use]
pub fn plain(s: &Step) -> String {
    let mut line = format!("step {}: {} -> {} ({})", s.step, s.input, s.decision, s.why);
    let receipts = s.receipts_text();
    if !receipts.is_empty() {
        line.push_str("; ");
        line.push_str(&receipts);
    }
    if !s.ok {
        line.push_str(" [NOT AS THE TABLE SAYS]");
    }
    line
}

/// Aligned columns (a cell wider than [`COLUMN_CHARS_MAX`] overflows rather than widening its
/// column): number, input, decision (green, red when the step went wrong), receipts, and
/// the reason, dim, last.
fn columns(steps: &[Step]) {
    let width = |cell: fn(&Step) -> String| {
        steps
            .iter()
            .map(|s| cell(s).chars().count())
            .filter(|&w| w <= COLUMN_CHARS_MAX)
            .max()
            .unwrap_or(0)
    };
    let input_w = width(|s| s.input.clone());
    let decision_w = width(|s| s.decision.clone());
    let receipts_w = width(Step::receipts_text);
    for s in steps {
        let colour = if s.ok { GREEN } else { RED };
        println!(
            "{BOLD}{:>3}{RESET}  {:<input_w$}  {colour}{:<decision_w$}{RESET}  {:<receipts_w$}  {DIM}{}{RESET}",
            s.step,
            s.input,
            s.decision,
            s.receipts_text(),
            s.why,
        );
    }
}

/// The kind of the action a signal dispatched.
pub(super) fn action_kind(line: &GovernorLine) -> Option<&'static str> {
    line.action.as_ref().map(|a| match a {
        ActionJson::Throttle { .. } => "throttle",
        ActionJson::Pause => "pause",
        ActionJson::Shed { .. } => "shed",
        ActionJson::Rollback { .. } => "rollback",
    })
}

fn action_text(action: &Action) -> String {
    match action.percent() {
        Some(p) => format!("{} {p}%", action.kind().as_str()),
        None => action.kind().as_str().to_owned(),
    }
}

/// `Stable -> Warn, c=1`, with `, throttle 50% dispatched` when an action went out.
pub(super) fn transition_text(line: &GovernorLine) -> String {
    let action = line.action.as_ref().and_then(|a| a.to_action().ok());
    moved(line.from, line.to, line.consecutive_high, action.as_ref())
}

/// [`transition_text`] of the engine's own transition.
pub(super) fn transition_of(t: &Transition) -> String {
    moved(
        t.from.as_str(),
        t.to.as_str(),
        t.consecutive_high,
        t.dispatched().as_ref(),
    )
}

fn moved(from: &str, to: &str, c: u8, action: Option<&Action>) -> String {
    let mut text = format!("{from} -> {to}, c={c}");
    if let Some(action) = action {
        text.push_str(&format!(", {} dispatched", action_text(action)));
    }
    text
}

/// The decision and the rule of an outcome's transition.
pub(super) fn outcome_text(t: &Transition, event: &str) -> (String, String) {
    let changed = t.from != t.to;
    let decision = if changed {
        transition_of(t)
    } else {
        format!("{} unchanged", t.to.as_str())
    };
    let why = if changed {
        format!("{event} in {}", t.from.as_str())
    } else {
        format!("{event} outside Intervene changes nothing; the outcome is recorded")
    };
    (decision, why)
}

/// A signal answer that is not a governor step.
pub(super) fn answer(result: &SignalResultJson) -> String {
    match result {
        SignalResultJson::Governed(line) => transition_text(line),
        SignalResultJson::Duplicate(_) => "duplicate".to_owned(),
        SignalResultJson::Error(e) => format!("refused: {}: {}", e.error, e.message),
    }
}

//! How the demo shows its steps: plain lines, aligned and coloured columns on a terminal, or
//! JSON lines (`docs/cli.md#demo`).

use std::io::IsTerminal;

use serde::Serialize;

/// ANSI: bold, green, red, dim, reset.
const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

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

/// Aligned columns, the decision green (red when the step went wrong), the reason dim.
fn columns(steps: &[Step]) {
    let width = |f: fn(&Step) -> usize| steps.iter().map(f).max().unwrap_or(0);
    let input_w = width(|s| s.input.chars().count());
    let decision_w = width(|s| s.decision.chars().count());
    let why_w = width(|s| s.why.chars().count());
    for s in steps {
        let colour = if s.ok { GREEN } else { RED };
        println!(
            "{BOLD}{:>4}{RESET}  {:<input_w$}  {colour}{:<decision_w$}{RESET}  {DIM}{:<why_w$}{RESET}  {}",
            s.step,
            s.input,
            s.decision,
            s.why,
            s.receipts_text()
        );
    }
}

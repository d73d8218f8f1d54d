//! The story through the engine thread: each input, the engine's answer, and the receipts
//! the step wrote, checked against the governor's table (`docs/governor.md#the-table`).
//!
//! Receipt seqs come from the ledger file's committed view: every answer is sent after its
//! round's commit, and the demo waits for each action's outcome before the next input, so
//! the receipts between two answers are the step's. A step that dispatches an action ends at
//! the action's receipt (its outcome, which may already be committed, is the next step's).

use std::path::PathBuf;
use std::time::Duration;

use autonomic_core::Resource;
use autonomic_core::engine::Transition;
use autonomic_core::entitlement::AdmitError;
use tokio::sync::broadcast::{self, error::RecvError};

use super::TENANT;
use super::print::{Step, action_kind, answer, outcome_text, transition_of, transition_text};
use crate::actuator::ActionReport;
use crate::config::GovernorSection;
use crate::daemon::{EngineHandle, EntitlementCmd, Notice, Shared};
use crate::ledger_file::{ResumePoint, View};
use crate::wire::{SignalIn, SignalResultJson};

/// How long the demo waits for one actuator's outcome (they come back in milliseconds).
const OUTCOME_WAIT_MS: u64 = 10_000;
/// Signals are this far apart, one dedup window each.
const WINDOW_MS: u64 = 5_000;
/// The first signal's timestamp is this far behind the clock: every signal is in the past
/// and within the 60 s the deduplicator retains.
const FIRST_SIGNAL_AGE_MS: u64 = 45_000;

/// What the summary counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Actuator runs whose outcome came back.
    pub actions_run: u32,
    /// Of those, the failed ones.
    pub actions_failed: u32,
    /// Signals reported as duplicates.
    pub duplicates: u32,
}

/// The story's state: the engine, its notices, the steps so far.
pub struct Story<'a> {
    engine: &'a EngineHandle,
    shared: &'a Shared,
    notices: broadcast::Receiver<Notice>,
    g: GovernorSection,
    /// The file whose existence makes the throttle backend fail.
    fail_flag: PathBuf,
    base_ms: u64,
    /// The next receipt seq no step has claimed yet.
    head: u64,
    /// The steps so far.
    pub steps: Vec<Step>,
    /// The counts for the summary.
    pub tally: Tally,
    /// The committed end before the rollback: where the demo cuts a copy of the ledger.
    pub cut_at: Option<ResumePoint>,
}

impl<'a> Story<'a> {
    /// A story on `engine`, subscribed to its notices before anything happens.
    pub fn new(
        engine: &'a EngineHandle,
        shared: &'a Shared,
        g: GovernorSection,
        fail_flag: PathBuf,
    ) -> Self {
        Self {
            engine,
            shared,
            notices: shared.notices.subscribe(),
            g,
            fail_flag,
            base_ms: crate::daemon::now_ms().saturating_sub(FIRST_SIGNAL_AGE_MS),
            head: 0,
            steps: Vec::new(),
            tally: Tally::default(),
            cut_at: None,
        }
    }

    /// Runs every step; stops at the first one that did not do what the table says.
    pub async fn run(&mut self) -> Result<(), String> {
        let g = self.g;
        self.activate().await?;
        self.signal(0, 78.0, "Warn", 1, None, format!("78 >= warn {}", g.warn))
            .await?;
        let why = format!("72 >= recover {}, < warn {}: stays Warn", g.recover, g.warn);
        self.signal(1, 72.0, "Warn", 0, None, why).await?;
        let why = format!("69 < recover {}", g.recover);
        self.signal(2, 69.0, "Stable", 0, None, why).await?;
        self.duplicate(2, 69.0).await?;
        let why = format!("92 >= intervene {}", g.intervene);
        let first = self
            .signal(3, 92.0, "Intervene", 0, Some("throttle"), why)
            .await?;
        let throttled = first.as_ref().map(|f| f.receipt);
        self.outcome(first, "Warn", None).await?;
        std::fs::write(&self.fail_flag, b"")
            .map_err(|e| format!("{}: {e}", self.fail_flag.display()))?;
        let why = format!(
            "93 >= intervene {}; the throttle backend is told to fail",
            g.intervene
        );
        let second = self
            .signal(4, 93.0, "Intervene", 0, Some("throttle"), why)
            .await?;
        let pause = self.outcome(second, "Degrade", Some("pause")).await?;
        std::fs::remove_file(&self.fail_flag)
            .map_err(|e| format!("{}: {e}", self.fail_flag.display()))?;
        self.outcome(pause, "Degrade", None).await?;
        self.admit_under("pause", 1).await?;
        let why = format!("97 > refuse {}", g.refuse);
        let shed = self.signal(5, 97.0, "Refuse", 0, Some("shed"), why).await?;
        self.outcome(shed, "Refuse", None).await?;
        self.admit_under("shed", 2).await?;
        self.reset().await?;
        self.cut_at = self.view().map(|v| v.committed);
        self.rollback(throttled).await
    }

    /// Adds a step; `Err` when it did not do what it must.
    fn push(
        &mut self,
        input: String,
        decision: String,
        why: String,
        ok: bool,
    ) -> Result<(), String> {
        self.push_step(input, decision, why, None, ok)
    }

    fn push_step(
        &mut self,
        input: String,
        decision: String,
        why: String,
        receipts: Option<Vec<u64>>,
        ok: bool,
    ) -> Result<(), String> {
        let step = u32::try_from(self.steps.len() + 1).unwrap_or(u32::MAX);
        let failure = (!ok).then(|| format!("step {step}: {input} -> {decision}"));
        self.steps.push(Step {
            step,
            input,
            decision,
            why,
            receipts,
            ok,
        });
        failure.map_or(Ok(()), Err)
    }

    /// The receipts from the unclaimed head up to `last` (inclusive), or to the committed
    /// end when `None`.
    fn claim(&mut self, last: Option<u64>) -> Vec<u64> {
        let end = last.map_or_else(|| self.committed(), |last| last + 1);
        let claimed = (self.head..end).collect();
        self.head = self.head.max(end);
        claimed
    }

    /// Receipts committed to the ledger file so far.
    fn committed(&self) -> u64 {
        self.view().map_or(0, |v| v.committed.records)
    }

    /// The ledger file's committed view.
    fn view(&self) -> Option<View> {
        self.shared.ledger_view.read().ok().and_then(|v| v.clone())
    }

    async fn activate(&mut self) -> Result<(), String> {
        let command = EntitlementCmd::Activate {
            sku: "pro".to_owned(),
            expires_at_ms: None,
        };
        let state = self
            .engine
            .entitlement(TENANT.to_owned(), command)
            .await
            .map_err(|e| e.to_string())?;
        let (decision, ok) = match state {
            Ok(state) => (
                format!("entitlement {}", state.as_str()),
                state.as_str() == "Active",
            ),
            Err(e) => (format!("refused: {}", e.name()), false),
        };
        let receipts = Some(self.claim(None));
        let input = format!("activate {TENANT} on pro");
        let why = "a new tenant's governor starts Stable, c=0".to_owned();
        self.push_step(input, decision, why, receipts, ok)
    }

    async fn send(&self, window: u64, value: f64) -> Result<SignalResultJson, String> {
        let signal = SignalIn {
            tenant: TENANT.to_owned(),
            metric: "cpu".to_owned(),
            value,
            ts_ms: self.base_ms + WINDOW_MS * window,
        };
        let mut results = self
            .engine
            .signals(vec![signal])
            .await
            .map_err(|e| e.to_string())?;
        results.pop().ok_or_else(|| "no result".to_owned())
    }

    /// A governed signal in dedup window `window`; returns the receipt of the action it
    /// dispatched (its outcome awaited), if any.
    async fn signal(
        &mut self,
        window: u64,
        value: f64,
        to: &str,
        c: u8,
        action: Option<&str>,
        why: String,
    ) -> Result<Option<Finished>, String> {
        let result = self.send(window, value).await?;
        let input = format!("signal {TENANT} cpu {value}");
        let SignalResultJson::Governed(line) = result else {
            return self.push(input, answer(&result), why, false).map(|()| None);
        };
        let ok = line.to == to && line.consecutive_high == c && action_kind(&line) == action;
        let finished = match line.action {
            Some(_) => Some(self.finished().await?),
            None => None,
        };
        let receipts = Some(self.claim(finished.as_ref().map(|f| f.receipt)));
        self.push_step(input, transition_text(&line), why, receipts, ok)?;
        Ok(finished)
    }

    async fn duplicate(&mut self, window: u64, value: f64) -> Result<(), String> {
        let result = self.send(window, value).await?;
        let ok = matches!(result, SignalResultJson::Duplicate(_));
        self.tally.duplicates += u32::from(ok);
        let input = format!("signal {TENANT} cpu {value} again, same 5 s window");
        let why = "same tenant, metric, value and window: redelivered, not governed".to_owned();
        let receipts = Some(self.claim(None));
        self.push_step(input, answer(&result), why, receipts, ok)
    }

    /// Waits for the next action outcome the engine took.
    async fn finished(&mut self) -> Result<Finished, String> {
        self.notice("an actuator's outcome", |notice| match notice {
            Notice::ActionFinished {
                receipt,
                kind,
                backend,
                report,
                transition,
                ..
            } => Some(Finished {
                receipt,
                kind,
                backend,
                report,
                transition,
            }),
            Notice::RollbackFinished { .. } => None,
        })
        .await
    }

    /// Waits (bounded) for the first notice `pick` takes; `what` names it in the error.
    async fn notice<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(Notice) -> Option<T>,
    ) -> Result<T, String> {
        let wait = Duration::from_millis(OUTCOME_WAIT_MS);
        let notices = &mut self.notices;
        let next = tokio::time::timeout(wait, async {
            loop {
                match notices.recv().await {
                    Ok(notice) => {
                        if let Some(picked) = pick(notice) {
                            return Some(picked);
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        next.await
            .ok()
            .flatten()
            .ok_or_else(|| format!("{what} did not arrive"))
    }

    /// Waits until every receipt of what the engine took so far is committed.
    async fn sync(&self) -> Result<(), String> {
        self.engine
            .tenant(TENANT.to_owned())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The outcome of `finished` (an awaited action): the governor must move to `to` and
    /// dispatch `action`; returns the outcome of that action, if any.
    async fn outcome(
        &mut self,
        finished: Option<Finished>,
        to: &str,
        action: Option<&str>,
    ) -> Result<Option<Finished>, String> {
        let f = finished.ok_or_else(|| "no action was dispatched".to_owned())?;
        self.tally.actions_run += 1;
        self.tally.actions_failed += u32::from(!f.report.ok);
        let (verdict, event) = if f.report.ok {
            ("succeeded", "ActionSucceeded")
        } else {
            ("failed", "ActionFailed")
        };
        let input = format!(
            "{} {} (receipt {}) {verdict}: {}",
            f.backend, f.kind, f.receipt, f.report.detail
        );
        let Some(t) = f.transition else {
            return self
                .push(input, "outcome refused".to_owned(), String::new(), false)
                .map(|()| None);
        };
        let got = t.dispatched().map(|a| a.kind().as_str());
        let ok = t.to.as_str() == to && got == action;
        let (decision, why) = outcome_text(&t, event);
        let next = match t.action {
            Some(_) => Some(self.finished().await?),
            None => None,
        };
        if next.is_none() {
            self.sync().await?;
        }
        let receipts = Some(self.claim(next.as_ref().map(|n| n.receipt)));
        self.push_step(input, decision, why, receipts, ok)?;
        Ok(next)
    }

    /// Admits one cpu unit `attempts` times under the enforced `kind`; the last must be
    /// refused by it.
    async fn admit_under(&mut self, kind: &str, attempts: u32) -> Result<(), String> {
        let mut answers = Vec::new();
        let mut refused = None;
        for _ in 0..attempts {
            let answer = self
                .engine
                .admit(TENANT.to_owned(), Resource::Cpu, 1, false)
                .await
                .map_err(|e| e.to_string())?;
            match answer {
                Ok(in_use) => answers.push(format!("admitted, {in_use} in use")),
                Err(AdmitError::RefusedByAction(by)) => {
                    answers.push(format!("refused: RefusedByAction({})", by.as_str()));
                    refused = Some(by);
                }
                Err(e) => answers.push(format!("refused: {}: {e}", e.name())),
            }
        }
        let ok = refused.is_some_and(|by| by.as_str() == kind);
        let input = match attempts {
            1 => format!("admit {TENANT} cpu 1 under {kind}"),
            n => format!("admit {TENANT} cpu 1, {n} times, under {kind}"),
        };
        let why = match kind {
            "pause" => "Pause refuses every admission".to_owned(),
            _ => "Shed 50 refuses 50 of every 100 admissions, evenly spread".to_owned(),
        };
        self.push(input, answers.join("; "), why, ok)
    }

    async fn reset(&mut self) -> Result<(), String> {
        let answer = self
            .engine
            .reset(TENANT.to_owned())
            .await
            .map_err(|e| e.to_string())?;
        let input = format!("operator reset of {TENANT}");
        let why = "Reset: any state -> Stable; the enforced shed ends".to_owned();
        let (decision, ok) = match answer {
            Ok(t) => (transition_of(&t), t.to.as_str() == "Stable"),
            Err(e) => (format!("refused: {e}"), false),
        };
        let receipts = Some(self.claim(None));
        self.push_step(input, decision, why, receipts, ok)
    }

    /// Rolls back the completed action `of` by its receipt id.
    async fn rollback(&mut self, of: Option<u64>) -> Result<(), String> {
        let receipt = of.ok_or_else(|| "no throttle to roll back".to_owned())?;
        let requested = self
            .engine
            .rollback(receipt)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("rollback of receipt {receipt}: {e}"))?;
        let report = self.rollback_finished(receipt).await?;
        self.sync().await?;
        let receipts = self.claim(None);
        let completed = receipts.last().copied().unwrap_or(requested);
        let verdict = if report.ok { "succeeded" } else { "failed" };
        let input = format!("rollback of receipt {receipt} (the throttle that succeeded)");
        let decision = format!(
            "rollback_requested (receipt {requested}), then rollback_completed, {verdict} (receipt {completed})"
        );
        let why = "a completed action is undone by its backend's rollback_program".to_owned();
        self.push_step(input, decision, why, Some(receipts), report.ok)
    }

    async fn rollback_finished(&mut self, receipt: u64) -> Result<ActionReport, String> {
        self.notice("the rollback's outcome", |notice| match notice {
            Notice::RollbackFinished {
                receipt: r, report, ..
            } if r == receipt => Some(report),
            _ => None,
        })
        .await
    }
}

/// An action's outcome as the engine took it.
#[derive(Debug)]
pub struct Finished {
    receipt: u64,
    kind: &'static str,
    backend: &'static str,
    report: ActionReport,
    transition: Option<Transition>,
}

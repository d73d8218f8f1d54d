//! Webhook batching (`[actuators.<kind>] batch_ms`): the actions of many tenants that are
//! dispatched within one window go out in one POST, and each still gets its own outcome.
//!
//! The first action of a window opens a batch and starts its timer; actions dispatched before
//! the timer fires join it; at `batch_ms` after the first, the batch is POSTed as
//! `{"batch":[<action body>, ...]}` (each element the body an unbatched POST would carry). A
//! batch that reaches [`BATCH_ACTIONS_MAX`] actions goes out at once. The answer decides every
//! action of the batch:
//!
//! | answer | an action listed in `results` | an action not listed |
//! |---|---|---|
//! | 2xx with `{"results":[{"receipt":N,"ok":false,"detail":"…"}]}` | its own `ok` and `detail` | succeeded |
//! | 2xx with any other body | — | succeeded |
//! | another status, a connection error | — | failed with that reason |
//!
//! An action cancelled (superseded, timed out by the engine) before its batch is sent leaves
//! the batch; one cancelled after is reported cancelled and its result is dropped. Each
//! action's own `timeout_ms` bounds its wait for the window and the POST together. Rollbacks
//! are never batched.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::oneshot;

use super::{ActionReport, Bounds};
use crate::http_post::Poster;

/// Most actions in one batch; a full batch is sent without waiting for its window.
pub const BATCH_ACTIONS_MAX: usize = 256;
/// Longest `batch_ms` the config accepts.
pub const BATCH_MS_MAX: u64 = 10_000;
/// Bytes of a 2xx answer read for its `results`.
const RESULTS_BYTES_MAX: usize = 64 * 1024;

/// One action waiting in the open batch.
#[derive(Debug)]
struct Waiting {
    receipt: u64,
    body: serde_json::Value,
    reply: oneshot::Sender<ActionReport>,
}

/// The batch being filled: its number (so a timer only sends the batch it was started for)
/// and its actions.
#[derive(Debug, Default)]
struct Open {
    number: u64,
    waiting: Vec<Waiting>,
}

/// Collects the actions of one webhook backend into batches.
#[derive(Debug)]
pub(super) struct Batcher {
    poster: Poster,
    window: Duration,
    open: Mutex<Open>,
}

/// One element of a 2xx answer's `results`.
#[derive(Debug, Deserialize)]
struct ActionResult {
    receipt: u64,
    ok: bool,
    #[serde(default)]
    detail: Option<String>,
}

/// A 2xx answer that reports per action.
#[derive(Debug, Deserialize)]
struct Results {
    results: Vec<ActionResult>,
}

impl Batcher {
    pub(super) fn new(poster: Poster, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            poster,
            window,
            open: Mutex::new(Open::default()),
        })
    }

    /// Adds the action to the open batch and waits for its outcome, bounded like an unbatched
    /// run by the cancellation token and the timeout.
    pub(super) async fn run(
        self: &Arc<Self>,
        receipt: u64,
        body: serde_json::Value,
        bounds: Bounds<'_>,
    ) -> ActionReport {
        let Bounds { cancel, timeout } = bounds;
        let (reply, outcome) = oneshot::channel();
        self.join(Waiting {
            receipt,
            body,
            reply,
        });
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                let left = self.leave(receipt);
                let detail = if left { "cancelled before its batch was sent" } else { "cancelled: batch already sent" };
                ActionReport::cancelled(detail)
            }
            done = tokio::time::timeout(timeout, outcome) => match done {
                Ok(Ok(report)) => report,
                Ok(Err(_)) => ActionReport::failed("batch dropped before it was answered"),
                Err(_) => {
                    let left = self.leave(receipt);
                    let detail = if left { "batch not sent yet" } else { "batch request dropped" };
                    ActionReport::timed_out(timeout, detail)
                }
            },
        }
    }

    /// Puts one action in the open batch; the first of a window starts the window's timer, the
    /// one that fills the batch sends it at once.
    fn join(self: &Arc<Self>, waiting: Waiting) {
        let (first, full) = {
            let mut open = lock(&self.open);
            open.waiting.push(waiting);
            let first = (open.waiting.len() == 1).then_some(open.number);
            let full = (open.waiting.len() >= BATCH_ACTIONS_MAX).then(|| take(&mut open));
            (first, full)
        };
        if let Some(batch) = full {
            tokio::spawn(Arc::clone(self).send(batch));
        } else if let Some(number) = first {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(this.window).await;
                let batch = {
                    let mut open = lock(&this.open);
                    (open.number == number && !open.waiting.is_empty()).then(|| take(&mut open))
                };
                if let Some(batch) = batch {
                    this.send(batch).await;
                }
            });
        }
    }

    /// Takes a cancelled action out of the open batch; false when it was already sent.
    fn leave(&self, receipt: u64) -> bool {
        let mut open = lock(&self.open);
        let before = open.waiting.len();
        open.waiting.retain(|w| w.receipt != receipt);
        open.waiting.len() < before
    }

    /// POSTs one batch and hands every action its report.
    async fn send(self: Arc<Self>, batch: Vec<Waiting>) {
        let bodies: Vec<&serde_json::Value> = batch.iter().map(|w| &w.body).collect();
        let body = super::webhook::to_bytes(&serde_json::json!({ "batch": bodies }));
        let answer = self
            .poster
            .post_reading("application/json", body, RESULTS_BYTES_MAX)
            .await;
        let count = batch.len();
        match answer {
            Ok((status, text)) => {
                let results = serde_json::from_slice::<Results>(&text)
                    .map(|r| r.results)
                    .unwrap_or_default();
                for w in batch {
                    let own = results.iter().find(|r| r.receipt == w.receipt);
                    let report = match own {
                        Some(r) if !r.ok => ActionReport::failed(&format!(
                            "HTTP {status} (batch of {count}): {}",
                            r.detail.as_deref().unwrap_or("refused by the receiver")
                        )),
                        _ => ActionReport::succeeded(&format!("HTTP {status} (batch of {count})")),
                    };
                    // The action may have been cancelled meanwhile; then no one listens.
                    let _ = w.reply.send(report);
                }
            }
            Err(e) => {
                let report = ActionReport::failed(&format!("batch of {count}: {e}"));
                for w in batch {
                    let _ = w.reply.send(report.clone());
                }
            }
        }
    }
}

/// Empties the open batch and starts the next one.
fn take(open: &mut Open) -> Vec<Waiting> {
    open.number = open.number.wrapping_add(1);
    std::mem::take(&mut open.waiting)
}

/// The open batch; a poisoned lock (a panic elsewhere while holding it) still holds a
/// consistent list, so it is used as is.
fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! The engine thread: the one owner of the engine, its ledger file and its actuator tasks.
//!
//! # Ownership
//!
//! [`spawn`] starts one OS thread that allocates the engine's storage once, from the
//! configured capacities, and builds the engine in it (never moved across threads). The thread runs a
//! current-thread tokio runtime for its loop. Everything else talks to it through one bounded
//! channel ([`QUEUE_CAPACITY`]) of [`Msg`]s, each carrying a oneshot reply; a full channel is
//! backpressure (HTTP answers 503), never growth.
//!
//! # The round (in this fixed order; `docs/design.md#the-engine-threads-round`)
//!
//! 1. wait for a message, or until the engine's [`poll_timeout`], the batch-fsync deadline
//!    or the shutdown deadline;
//! 2. read the clock once ([`now_ms`]) for the whole round;
//! 3. handle up to [`MESSAGES_PER_ROUND_MAX`] messages; an input refused with `Busy` is
//!    retried once after draining and committing;
//! 4. `handle_timeout(now)` if an action's deadline has passed;
//! 5. drain `poll_record` into the ledger file and commit once (group commit: one
//!    `fdatasync` per round under `fsync = "always"`);
//! 6. only after the commit succeeded: send the round's replies, then hand the round's
//!    `poll_action` commands to the actuators (write-ahead: persist, then act).
//!
//! A ledger write or sync error poisons the ledger: the engine thread stops dispatching
//! actions (and cancels those running), answers every mutating request with
//! [`Refused::LedgerUnavailable`] and turns `/readyz` red. Nothing is retried as if it had
//! landed; a restart recovers from what is on disk.
//!
//! # Actions
//!
//! `Run` spawns a task on the main runtime running [`Actuator::run`] with a cancellation
//! token kept by receipt; its report comes back as [`Msg::Outcome`] and is applied as an
//! [`input::Outcome`] (a stale outcome is logged and dropped). `Cancel` fires the token.
//! `Rollback` runs [`Actuator::rollback`] and reports with [`Msg::RollbackOutcome`].
//! Actuators get their section's `timeout_ms` plus [`ACTUATOR_GRACE_MS`], so that the
//! engine's own deadline (the section's `timeout_ms`) fires first and is recorded as
//! `ExecutionTimeout`. Actions in flight at a crash or shutdown are not re-run after a
//! restart: the restored engine times them out at their deadline.
//!
//! # Messages
//!
//! Three kinds ([`Msg`]): mutations (signals, entitlement commands, resets, manual actions,
//! rollbacks) change the engine's state and are refused after a poisoning or during
//! shutdown; queries read it and are refused after a poisoning when they would show it;
//! internal messages (actuator reports, shutdown) are always taken. Every input is applied
//! through [`crate::input::Apply`], the mapping `replay` uses too.
//!
//! # Files
//!
//! In the order a start and a round go: this file (the thread, its state, the loop),
//! `start.rs` (opening the ledger against its checkpoints, restoring the engine, the
//! configured tenants), `protocol.rs` (messages, replies, notices, the handle),
//! `requests.rs` (the first half of a round: mutations and queries), `commit.rs` (the second
//! half: commit, answer, dispatch, checkpoint, shutdown), `actions.rs` (actuator runs,
//! outcomes, rollbacks, timeouts), `reload.rs` (hot reload: the reloader, the record at
//! start). `setup.rs` turns the config into the engine's and the
//! actuators' settings.
//!
//! [`poll_timeout`]: autonomic_core::engine::Engine::poll_timeout
//! [`Actuator::run`]: crate::actuator::Actuator::run
//! [`Actuator::rollback`]: crate::actuator::Actuator::rollback

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use autonomic_core::breaker::CircuitState;
use autonomic_core::engine::{
    CommandError, Engine, IngestError, RestoreError, SignalResult, Transition,
};
use autonomic_core::entitlement::{AdmitError, EntitlementError};
use autonomic_core::storage::OwnedStorage;
use autonomic_core::{Action, ActionCommand, ActionKind, EntitlementState, Resource};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::actuator::{ActionReport, ActionRequest, Actuator};
use crate::checkpoint::{self, Audit, Checkpointer};
use crate::config::TenantSection;
use crate::http_post::Poster;
use crate::input::{self, Apply};
use crate::ledger_file::{LedgerFile, OpenError, ScanReport, View};
use crate::metrics::{EngineGauges, Metrics};
use crate::wire::{self, SignalIn, SignalResultJson, TenantJson, action_request};

/// Capacity of the channel into the engine thread.
pub const QUEUE_CAPACITY: usize = 1024;
/// Most messages handled in one round.
pub const MESSAGES_PER_ROUND_MAX: usize = 256;
/// How long shutdown waits for running actions before cancelling them.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;
/// Extra time an actuator gets beyond its section's `timeout_ms` (the engine's deadline
/// fires first).
pub const ACTUATOR_GRACE_MS: u64 = 1_000;
/// The loop wakes at least this often even when idle.
pub const IDLE_WAKE_MS: u64 = 1_000;
/// How long a checkpoint's POST to the witness webhook may take.
pub const WITNESS_TIMEOUT_MS: u64 = 5_000;
/// Capacity of the notice broadcast.
pub const NOTICES_CAPACITY: usize = 256;

/// The wall clock, Unix milliseconds: the only place the adapter reads it for the engine.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

mod actions;
mod circuits;
mod commit;
mod protocol;
mod reload;
mod requests;
mod setup;
mod start;

pub use crate::input::EntitlementCmd;
pub use crate::wire::WindowVerify;
pub use protocol::*;
pub use reload::{ConfigStatus, LoadConfig, ReloadFailure, Reloader};
pub use setup::*;
pub use start::{StartError, StartReport};

/// What [`spawn`] returns: the handle, the thread, and the start-up result.
pub type Spawned = (
    EngineHandle,
    std::thread::JoinHandle<()>,
    oneshot::Receiver<Result<StartReport, StartError>>,
);

/// Where the start-up result goes.
type Started = oneshot::Sender<Result<StartReport, StartError>>;

/// What the engine thread is started with, besides its engine.
struct Boot {
    config: DaemonConfig,
    actuators: Actuators,
    shared: Arc<Shared>,
    /// The main runtime, where actuators run.
    runtime: tokio::runtime::Handle,
    /// For actuator tasks to report back.
    tx: mpsc::Sender<Msg>,
}

/// Starts the engine thread. Returns the handle, the thread, and the start-up result
/// (await it before serving).
pub fn spawn(
    config: DaemonConfig,
    actuators: Actuators,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
) -> std::io::Result<Spawned> {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (started_tx, started_rx) = oneshot::channel();
    let handle = EngineHandle { tx: tx.clone() };
    let boot = Boot {
        config,
        actuators,
        shared,
        runtime,
        tx,
    };
    let thread = std::thread::Builder::new()
        .name("autonomic-engine".to_owned())
        .spawn(move || engine_thread(boot, rx, started_tx))?;
    Ok((handle, thread, started_rx))
}

/// The thread's body: its runtime and engine, then start-up ([`start::start`]: open the
/// ledger, restore, configured tenants), then the loop until shutdown.
fn engine_thread(boot: Boot, rx: mpsc::Receiver<Msg>, started: Started) {
    let local = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(local) => local,
        Err(e) => return fail(started, format!("engine runtime: {e}")),
    };
    // The engine's one allocation, sized by the configured capacities; it lives as long as
    // this thread.
    let mut storage = OwnedStorage::new(&boot.config.capacities);
    let mut engine = match Engine::new(boot.config.engine, storage.storage()) {
        Ok(engine) => engine,
        Err(e) => return fail(started, format!("config: {e}")),
    };
    match start::start(&mut engine, boot) {
        Ok((host, report)) => {
            let _ = started.send(Ok(report));
            local.block_on(host.serve(rx));
        }
        Err(e) => {
            let _ = started.send(Err(e));
        }
    }
}

/// Reports a start-up failure that came before the ledger was touched.
fn fail(started: Started, message: String) {
    let _ = started.send(Err(StartError::Other(message)));
}

/// Errors whose `Busy` variant means "drain and retry".
trait MaybeBusy {
    fn is_busy(&self) -> bool;
}

impl MaybeBusy for IngestError {
    fn is_busy(&self) -> bool {
        matches!(self, IngestError::Busy)
    }
}

impl MaybeBusy for CommandError {
    fn is_busy(&self) -> bool {
        matches!(self, CommandError::Busy)
    }
}

impl MaybeBusy for autonomic_core::engine::ModeError {
    fn is_busy(&self) -> bool {
        matches!(self, autonomic_core::engine::ModeError::Busy)
    }
}

impl MaybeBusy for EntitlementError {
    fn is_busy(&self) -> bool {
        matches!(self, EntitlementError::Busy)
    }
}

type Deferred = Box<dyn FnOnce(bool)>;

struct ShutdownState {
    deadline: Instant,
    reply: oneshot::Sender<()>,
}

struct Running {
    token: CancellationToken,
}

/// The engine thread's state (see the module doc for the round).
struct Host<'e, 's> {
    engine: &'e mut Engine<'s>,
    ledger: LedgerFile,
    /// Signs checkpoints of the durable head.
    checkpointer: Checkpointer,
    /// The external witness webhook, if configured.
    witness: Option<Poster>,
    actuators: Actuators,
    /// Actuator runs in progress, by receipt.
    running: HashMap<u64, Running>,
    /// Replies of this round, sent once the commit says whether it is durable.
    replies: Vec<Deferred>,
    /// Action commands drained this round, dispatched after the commit.
    commands: Vec<ActionCommand>,
    tx: mpsc::Sender<Msg>,
    runtime: tokio::runtime::Handle,
    shared: Arc<Shared>,
    poisoned: bool,
    shutdown: Option<ShutdownState>,
    /// Log lines for circuit receipts.
    circuit_log: circuits::CircuitLog,
}

impl Host<'_, '_> {
    async fn serve(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut batch = Vec::with_capacity(MESSAGES_PER_ROUND_MAX);
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, MESSAGES_PER_ROUND_MAX) => {
                    if n == 0 {
                        break;
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = now_ms();
            for msg in batch.drain(..) {
                self.handle(now, msg);
            }
            self.timeouts(now);
            self.end_round();
            if self.shutdown_due() {
                break;
            }
        }
        self.finish();
    }

    /// When the loop must wake even without a message.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_millis(IDLE_WAKE_MS);
        if !self.poisoned
            && let Some(deadline_ms) = self.engine.poll_timeout()
        {
            let wait_ms = deadline_ms.saturating_sub(now_ms());
            wake = wake.min(now + Duration::from_millis(wait_ms));
        }
        if let Some(sync) = self.ledger.sync_deadline() {
            wake = wake.min(sync);
        }
        if let Some(s) = &self.shutdown {
            wake = wake.min(s.deadline);
        }
        wake
    }

    /// Takes one message: each kind has its one refusal check.
    fn handle(&mut self, now: u64, msg: Msg) {
        match msg {
            Msg::Mutation(mutation) => match self.refuse_mutation() {
                Some(refused) => mutation.refuse(refused),
                None => self.mutate(now, mutation),
            },
            Msg::Query(query) if self.poisoned && query.shows_state() => {
                query.refuse(Refused::LedgerUnavailable);
            }
            Msg::Query(query) => self.query(now, query),
            Msg::Outcome(finished) => self.outcome(now, finished),
            Msg::RollbackOutcome(finished) => self.rollback_outcome(now, finished),
            Msg::Shutdown { reply } => self.begin_shutdown(reply),
        }
    }

    fn refuse_mutation(&self) -> Option<Refused> {
        if self.poisoned {
            Some(Refused::LedgerUnavailable)
        } else if self.shutdown.is_some() {
            Some(Refused::ShuttingDown)
        } else {
            None
        }
    }

    /// Applies `input`; on `Busy`, drains and commits, then applies it once more.
    fn apply<I, T, E>(&mut self, now: u64, input: &I) -> Result<T, E>
    where
        I: Apply<Output = Result<T, E>>,
        E: MaybeBusy,
    {
        match input.apply(self.engine, now) {
            Err(e) if e.is_busy() && !self.poisoned => {
                self.flush();
                input.apply(self.engine, now)
            }
            other => other,
        }
    }

    /// Queues a reply for the end of the round. A reply that shows engine state becomes
    /// `LedgerUnavailable` if the round's commit fails: after a poisoning nothing answers
    /// from state that never reached the disk.
    fn defer<T: 'static>(&mut self, reply: Reply<T>, value: T, shows_state: bool) {
        self.replies.push(Box::new(move |durable| {
            let answer = if durable || !shows_state {
                Ok(value)
            } else {
                Err(Refused::LedgerUnavailable)
            };
            let _ = reply.send(answer);
        }));
    }
}

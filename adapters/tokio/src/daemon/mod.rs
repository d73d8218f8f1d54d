//! The engine thread: the one owner of the engine, its ledger file and its actuator tasks.
//!
//! # Ownership
//!
//! [`spawn`] starts one OS thread with a large stack ([`ENGINE_STACK_BYTES`]; the engine is
//! tens of MiB and is built on that thread, never moved across threads). The thread runs a
//! current-thread tokio runtime for its loop. Everything else talks to it through one bounded
//! channel ([`QUEUE_CAPACITY`]) of [`Msg`]s, each carrying a oneshot reply; a full channel is
//! backpressure (HTTP answers 503), never growth.
//!
//! # The round (GUIDE section 1, in this fixed order)
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
//! token kept by receipt; its report comes back as [`Msg::Outcome`] and is fed to
//! `handle_outcome` (a stale outcome is logged and dropped). `Cancel` fires the token.
//! `Rollback` runs [`Actuator::rollback`] and reports with `handle_rollback_outcome`.
//! Actuators get their section's `timeout_ms` plus [`ACTUATOR_GRACE_MS`], so that the
//! engine's own deadline (the section's `timeout_ms`) fires first and is recorded as
//! `ExecutionTimeout`. Actions in flight at a crash or shutdown are not re-run after a
//! restart: the restored engine times them out at their deadline.
//!
//! # Files
//!
//! `protocol.rs` (messages, replies, notices, the handle), `setup.rs` (config to engine and
//! actuators, opening the ledger against its checkpoints, configured tenants), this file (the
//! thread and the first half of a round: taking messages), `commit.rs` (the second half:
//! commit, answer, dispatch, checkpoint, shutdown), `actions.rs` (actuator runs, outcomes,
//! rollbacks, timeouts).
//!
//! [`poll_timeout`]: autonomic_core::engine::Engine::poll_timeout

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use autonomic_core::engine::{
    CommandError, Engine, EngineConfig, IngestError, RestoreError, SignalResult, Transition,
};
use autonomic_core::entitlement::{AdmitError, EntitlementError};
use autonomic_core::{
    Action, ActionCommand, EntitlementCommand, EntitlementState, Event, RawSignal, Receipt,
    Resource, Thresholds,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::actuator::{self, ActionReport, Actuator, ActuatorConfigError, ProcessRecords};
use crate::checkpoint::{self, Audit, Checkpointer};
use crate::config::{ActuatorsSection, Config, TenantSection};
use crate::http_post::Poster;
use crate::ledger_file::{FsyncPolicy, LedgerFile, OpenError, ScanReport, View};
use crate::metrics::{EngineGauges, Metrics};
use crate::wire::{self, SignalIn, SignalResultJson, TenantJson, action_request};

/// Tenant capacity of the adapter's engine.
pub const TENANTS_MAX: usize = 4096;
/// Most receipts the in-memory ring can hold (`ledger_capacity` is clamped to it).
pub const RECEIPTS_MAX: usize = 65_536;
/// Byte budget of the ring: 256 bytes per receipt on average.
pub const RING_BYTES: usize = RECEIPTS_MAX * 256;
/// Signal ids the deduplicator remembers.
pub const DEDUP_IDS: usize = 65_536;
/// Index slots of the deduplicator (a power of two, twice the ids).
pub const DEDUP_SLOTS: usize = 131_072;
/// The engine the adapter drives (about 20 MiB: build it on a thread with a large stack).
pub type AdapterEngine = Engine<TENANTS_MAX, RECEIPTS_MAX, RING_BYTES, DEDUP_IDS, DEDUP_SLOTS>;

/// Stack of the thread that owns the engine (virtual memory: only touched pages cost).
pub const ENGINE_STACK_BYTES: usize = 256 << 20;
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
mod commit;
mod protocol;
mod setup;

pub use protocol::*;
pub use setup::*;

/// What [`spawn`] returns: the handle, the thread, and the start-up result.
pub type Spawned = (
    EngineHandle,
    std::thread::JoinHandle<()>,
    oneshot::Receiver<Result<StartReport, StartError>>,
);

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
    let thread = std::thread::Builder::new()
        .name("autonomic-engine".to_owned())
        .stack_size(ENGINE_STACK_BYTES)
        .spawn(move || {
            engine_thread(config, actuators, shared, runtime, tx, rx, started_tx);
        })?;
    Ok((handle, thread, started_rx))
}

fn engine_thread(
    config: DaemonConfig,
    actuators: Actuators,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    started: oneshot::Sender<Result<StartReport, StartError>>,
) {
    let local = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(local) => local,
        Err(e) => {
            let _ = started.send(Err(StartError::Other(format!("engine runtime: {e}"))));
            return;
        }
    };
    let mut engine = match AdapterEngine::new(config.engine) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = started.send(Err(StartError::Other(format!("config: {e}"))));
            return;
        }
    };
    let ledger = match open_ledger(&mut engine, &config, &shared) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let (ledger, checkpointer, mut report) = ledger;
    let witness = match config
        .checkpoint
        .webhook
        .as_deref()
        .map(|url| Poster::new(url, Duration::from_millis(WITNESS_TIMEOUT_MS)))
    {
        None => None,
        Some(Ok(poster)) => Some(poster),
        Some(Err(e)) => {
            let _ = started.send(Err(StartError::Other(format!("checkpoint.webhook: {e}"))));
            return;
        }
    };
    let mut host = Host {
        engine: &mut engine,
        ledger,
        checkpointer,
        witness,
        actuators,
        running: HashMap::new(),
        kinds: HashMap::new(),
        replies: Vec::new(),
        commands: Vec::new(),
        tx,
        runtime,
        shared,
        poisoned: false,
        shutdown: None,
    };
    match host.activate_configured(&config.tenants) {
        Ok(activated) => report.activated = activated,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    }
    report.head_seq = host.engine.ledger().next_seq().checked_sub(1);
    host.shared.ready.store(true, Ordering::SeqCst);
    let _ = started.send(Ok(report));
    local.block_on(host.serve(rx));
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
struct Host<'e> {
    engine: &'e mut AdapterEngine,
    ledger: LedgerFile,
    /// Signs checkpoints of the durable head.
    checkpointer: Checkpointer,
    /// The external witness webhook, if configured.
    witness: Option<Poster>,
    actuators: Actuators,
    /// Actuator runs in progress, by receipt.
    running: HashMap<u64, Running>,
    /// Kind of every dispatched, not yet completed action (for metrics from receipts).
    kinds: HashMap<u64, &'static str>,
    /// Replies of this round, sent once the commit says whether it is durable.
    replies: Vec<Deferred>,
    /// Action commands drained this round, dispatched after the commit.
    commands: Vec<ActionCommand>,
    tx: mpsc::Sender<Msg>,
    runtime: tokio::runtime::Handle,
    shared: Arc<Shared>,
    poisoned: bool,
    shutdown: Option<ShutdownState>,
}

impl Host<'_> {
    async fn serve(mut self, mut rx: mpsc::Receiver<Msg>) {
        for f in self.engine.in_flight() {
            self.kinds.insert(f.receipt, f.action.kind().as_str());
        }
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

    /// Calls `f`; on `Busy`, drains and commits, then calls it once more.
    fn retry<T, E: MaybeBusy>(
        &mut self,
        mut f: impl FnMut(&mut AdapterEngine) -> Result<T, E>,
    ) -> Result<T, E> {
        let first = f(self.engine);
        match first {
            Err(e) if e.is_busy() && !self.poisoned => {
                self.flush();
                f(self.engine)
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

    fn refuse_mutation(&self) -> Option<Refused> {
        if self.poisoned {
            Some(Refused::LedgerUnavailable)
        } else if self.shutdown.is_some() {
            Some(Refused::ShuttingDown)
        } else {
            None
        }
    }

    fn handle(&mut self, now: u64, msg: Msg) {
        match msg {
            Msg::Signals { signals, reply } => {
                if let Some(refused) = self.refuse_mutation() {
                    let _ = reply.send(Err(refused));
                    return;
                }
                let results = self.signals(now, &signals);
                self.defer(reply, results, true);
            }
            Msg::Entitlement {
                tenant,
                command,
                reply,
            } => {
                if let Some(refused) = self.refuse_mutation() {
                    let _ = reply.send(Err(refused));
                    return;
                }
                let result = self.retry(|e| {
                    let command = match &command {
                        EntitlementCmd::Activate { sku, expires_at_ms } => {
                            EntitlementCommand::Activate {
                                sku,
                                expires_at_ms: *expires_at_ms,
                            }
                        }
                        EntitlementCmd::Pause => EntitlementCommand::Pause,
                        EntitlementCmd::Resume => EntitlementCommand::Resume,
                        EntitlementCmd::Revoke => EntitlementCommand::Revoke,
                    };
                    e.handle_entitlement(now, &tenant, command)
                });
                if matches!(command, EntitlementCmd::Activate { .. }) && result.is_ok() {
                    self.warn_unactionable(&tenant);
                }
                self.defer(reply, result, true);
            }
            Msg::Reset { tenant, reply } => {
                if let Some(refused) = self.refuse_mutation() {
                    let _ = reply.send(Err(refused));
                    return;
                }
                let result = self.retry(|e| e.handle_reset(now, &tenant));
                self.defer(reply, result, true);
            }
            Msg::Action {
                tenant,
                action,
                reply,
            } => {
                if let Some(refused) = self.refuse_mutation() {
                    let _ = reply.send(Err(refused));
                    return;
                }
                let result = self.retry(|e| e.handle_action(now, &tenant, action.clone()));
                self.defer(reply, result, true);
            }
            Msg::Rollback { receipt, reply } => {
                if let Some(refused) = self.refuse_mutation() {
                    let _ = reply.send(Err(refused));
                    return;
                }
                let result = self.retry(|e| e.handle_rollback(now, receipt));
                self.defer(reply, result, true);
            }
            other => self.handle_other(now, other),
        }
    }

    fn handle_other(&mut self, now: u64, msg: Msg) {
        let reads_state = matches!(
            msg,
            Msg::Admit { .. } | Msg::Tenant { .. } | Msg::Verify { .. }
        );
        if reads_state && self.poisoned {
            refuse(msg, Refused::LedgerUnavailable);
            return;
        }
        match msg {
            Msg::Admit {
                tenant,
                resource,
                amount,
                release,
                reply,
            } => {
                let result = if release {
                    self.engine.release(&tenant, resource, amount)
                } else {
                    self.engine.admit(now, &tenant, resource, amount)
                };
                self.defer(reply, result, true);
            }
            Msg::Tenant { tenant, reply } => {
                let view = self
                    .engine
                    .tenant(now, &tenant)
                    .map(|v| TenantJson::from(&v));
                self.defer(reply, view, true);
            }
            Msg::Verify { reply } => {
                let verify = self.verify_window();
                self.defer(reply, verify, true);
            }
            Msg::Gauges { reply } => {
                let gauges = self.gauges(now);
                self.defer(reply, gauges, false);
            }
            Msg::Outcome {
                tenant,
                receipt,
                kind,
                backend,
                report,
            } => self.outcome(now, tenant, receipt, kind, backend, report),
            Msg::RollbackOutcome {
                tenant,
                receipt,
                kind,
                backend,
                report,
            } => self.rollback_outcome(now, tenant, receipt, kind, backend, report),
            Msg::Shutdown { reply } => {
                info!(
                    running = self.running.len(),
                    "engine: shutting down; waiting for running actions"
                );
                self.shared.ready.store(false, Ordering::SeqCst);
                self.shutdown = Some(ShutdownState {
                    deadline: Instant::now() + Duration::from_millis(SHUTDOWN_GRACE_MS),
                    reply,
                });
            }
            // Handled by `handle`.
            Msg::Signals { .. }
            | Msg::Entitlement { .. }
            | Msg::Reset { .. }
            | Msg::Action { .. }
            | Msg::Rollback { .. } => {}
        }
    }

    fn signals(&mut self, now: u64, signals: &[SignalIn]) -> Vec<SignalResultJson> {
        let mut results = Vec::with_capacity(signals.len());
        for s in signals {
            if self.poisoned {
                let e = Refused::LedgerUnavailable;
                let error = wire::ErrorLine::new(None, e.name(), &e.to_string());
                results.push(SignalResultJson::Error(error));
                continue;
            }
            let raw = RawSignal {
                tenant: &s.tenant,
                metric: &s.metric,
                value: s.value,
                ts_ms: s.ts_ms,
            };
            let result = self.retry(|e| e.handle_signal(now, &raw));
            let label = match &result {
                Ok(SignalResult::Governed(_)) => "governed",
                Ok(SignalResult::Duplicate) => "duplicate",
                Err(e) => e.name(),
            };
            self.shared.metrics.signal(label);
            if let Ok(SignalResult::Governed(t)) = &result
                && t.action.is_some()
            {
                info!(tenant = %s.tenant, from = t.from.as_str(), to = t.to.as_str(),
                      action = ?t.action, receipt = ?t.receipt, "governor: action dispatched");
            }
            results.push(SignalResultJson::new(None, &s.tenant, &result));
        }
        results
    }

    fn verify_window(&self) -> WindowVerify {
        let ledger = self.engine.ledger();
        let (first_seq, _) = ledger.anchor();
        WindowVerify {
            retained: ledger.len() as u64,
            first_seq,
            head_seq: ledger.next_seq().checked_sub(1),
            head_hash: autonomic_core::receipt::to_hex(&ledger.head_hash())
                .as_str()
                .to_owned(),
            error: ledger.verify().err().map(|e| e.to_string()),
        }
    }

    fn gauges(&self, now: u64) -> EngineGauges {
        let mut tenants_by_state = BTreeMap::new();
        let mut entitlements_by_state = BTreeMap::new();
        for state in autonomic_core::GovernorState::ALL {
            tenants_by_state.insert(state.as_str(), 0);
        }
        for v in self.engine.tenants(now) {
            *tenants_by_state.entry(v.state.as_str()).or_insert(0) += 1;
            *entitlements_by_state
                .entry(v.entitlement.as_str())
                .or_insert(0) += 1;
        }
        EngineGauges {
            tenants_by_state,
            entitlements_by_state,
            in_flight: self.engine.in_flight().len() as u64,
            dedup_evictions: self.engine.dedup_evictions(),
        }
    }
}

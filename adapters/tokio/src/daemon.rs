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
//! [`poll_timeout`]: autonomic_core::engine::Engine::poll_timeout
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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

use crate::actuator::{
    self, ActionReport, ActionRequest, Actuator, ActuatorConfigError, ProcessRecords,
};
use crate::checkpoint::{self, Audit, Checkpointer};
use crate::config::{ActuatorsSection, Config, TenantSection};
use crate::http_post::Poster;
use crate::ledger_file::{FsyncPolicy, LedgerFile, OpenError, ScanReport, View};
use crate::metrics::{EngineGauges, Metrics};
use crate::wire::{self, SignalIn, SignalResultJson, TenantJson};

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

/// Why the engine thread did not serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The ledger file failed; nothing more can be made durable.
    #[error("the ledger file is unavailable after an I/O error; restart to recover")]
    LedgerUnavailable,
    /// The process is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// The request queue is full; nothing was applied.
    #[error("the request queue is full; retry later")]
    QueueFull,
}

impl Refused {
    /// The error's name on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Refused::LedgerUnavailable => "LedgerUnavailable",
            Refused::ShuttingDown => "ShuttingDown",
            Refused::QueueFull => "Busy",
        }
    }
}

/// A reply: the value, or why the request was refused.
pub type Reply<T> = oneshot::Sender<Result<T, Refused>>;

/// An entitlement command with owned arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitlementCmd {
    /// Activate (or change plan).
    Activate {
        /// `starter`, `pro` or `enterprise`.
        sku: String,
        /// Optional expiry, Unix ms.
        expires_at_ms: Option<u64>,
    },
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Revoke.
    Revoke,
}

/// The in-memory ledger window's verification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowVerify {
    /// Receipts retained in memory.
    pub retained: u64,
    /// Seq of the oldest retained receipt (or the next seq when none).
    pub first_seq: u64,
    /// Seq of the newest receipt, if any.
    pub head_seq: Option<u64>,
    /// Hash of the newest receipt (genesis zeros before any), 64 hex.
    pub head_hash: String,
    /// The first bad position, if the window does not verify.
    pub error: Option<String>,
}

/// A message to the engine thread.
#[derive(Debug)]
pub enum Msg {
    /// Signals, in order; one JSON result per signal.
    Signals {
        /// The signals.
        signals: Vec<SignalIn>,
        /// Results shaped like replay lines without `line`.
        reply: Reply<Vec<SignalResultJson>>,
    },
    /// An entitlement command.
    Entitlement {
        /// The tenant.
        tenant: String,
        /// The command.
        command: EntitlementCmd,
        /// The new state.
        reply: Reply<Result<EntitlementState, EntitlementError>>,
    },
    /// An operator's reset.
    Reset {
        /// The tenant.
        tenant: String,
        /// The governor's transition.
        reply: Reply<Result<Transition, CommandError>>,
    },
    /// A manual action.
    Action {
        /// The tenant.
        tenant: String,
        /// The action.
        action: Action,
        /// Its receipt id.
        reply: Reply<Result<u64, CommandError>>,
    },
    /// A rollback by receipt id.
    Rollback {
        /// The completed action's receipt id.
        receipt: u64,
        /// The rollback request's receipt seq.
        reply: Reply<Result<u64, CommandError>>,
    },
    /// Admission (or release, with `release`).
    Admit {
        /// The tenant.
        tenant: String,
        /// The resource.
        resource: Resource,
        /// Units.
        amount: u32,
        /// Release instead of admit.
        release: bool,
        /// Units in use after.
        reply: Reply<Result<u16, AdmitError>>,
    },
    /// One tenant's view.
    Tenant {
        /// The tenant.
        tenant: String,
        /// `None` if unknown.
        reply: Reply<Option<TenantJson>>,
    },
    /// Verify the in-memory window.
    Verify {
        /// The result.
        reply: Reply<WindowVerify>,
    },
    /// Gauges for `/metrics`.
    Gauges {
        /// The gauges.
        reply: Reply<EngineGauges>,
    },
    /// An actuator finished a run (internal).
    Outcome {
        /// The tenant.
        tenant: String,
        /// The action's receipt id.
        receipt: u64,
        /// The action kind.
        kind: &'static str,
        /// The backend's name.
        backend: &'static str,
        /// What happened.
        report: ActionReport,
    },
    /// An actuator finished a rollback (internal).
    RollbackOutcome {
        /// The tenant.
        tenant: String,
        /// The rolled-back action's receipt id.
        receipt: u64,
        /// The action kind.
        kind: &'static str,
        /// The backend's name.
        backend: &'static str,
        /// What happened.
        report: ActionReport,
    },
    /// Finish running actions (bounded), flush and sync the ledger, stop.
    Shutdown {
        /// Answered once the ledger is flushed.
        reply: oneshot::Sender<()>,
    },
}

/// Something worth telling observers (the demo, logs).
#[derive(Debug, Clone)]
pub enum Notice {
    /// An actuator run ended and the engine took its outcome.
    ActionFinished {
        /// The tenant.
        tenant: String,
        /// The action's receipt id.
        receipt: u64,
        /// The action kind.
        kind: &'static str,
        /// The backend.
        backend: &'static str,
        /// What the actuator said.
        report: ActionReport,
        /// The governor's reaction, when the outcome was applied.
        transition: Option<Transition>,
    },
    /// A rollback ended.
    RollbackFinished {
        /// The tenant.
        tenant: String,
        /// The rolled-back action's receipt id.
        receipt: u64,
        /// What the actuator said.
        report: ActionReport,
    },
}

/// State shared with the HTTP layer.
#[derive(Debug)]
pub struct Shared {
    /// Green `/readyz`: started, ledger healthy, not shutting down.
    pub ready: AtomicBool,
    /// The ledger file failed.
    pub poisoned: AtomicBool,
    /// Every metric.
    pub metrics: Metrics,
    /// Notices for observers.
    pub notices: broadcast::Sender<Notice>,
    /// How far the ledger file is committed, and where readers can start: ledger pages and
    /// verification read the file on other threads, never through the engine thread.
    pub ledger_view: std::sync::RwLock<Option<View>>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            ready: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            metrics: Metrics::default(),
            notices: broadcast::channel(NOTICES_CAPACITY).0,
            ledger_view: std::sync::RwLock::new(None),
        }
    }
}

/// The handle everything else uses to reach the engine thread.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Msg>,
}

impl EngineHandle {
    /// Sends without waiting for room: a full queue is [`Refused::QueueFull`], nothing sent.
    pub async fn try_call<T>(&self, make: impl FnOnce(Reply<T>) -> Msg) -> Result<T, Refused> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refused::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Refused::ShuttingDown,
        })?;
        answer.await.unwrap_or(Err(Refused::ShuttingDown))
    }

    /// Sends, waiting for room in the queue.
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Msg) -> Result<T, Refused> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Refused::ShuttingDown)?;
        answer.await.unwrap_or(Err(Refused::ShuttingDown))
    }

    /// Asks the engine thread to shut down and waits until the ledger is flushed.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// What the engine thread is started with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where `ledger.log` lives.
    pub data_dir: PathBuf,
    /// When the ledger syncs.
    pub fsync: FsyncPolicy,
    /// The engine's thresholds, timeouts and ring size.
    pub engine: EngineConfig,
    /// Tenants to activate at start unless the ledger knows them (config, then sampler).
    pub tenants: Vec<TenantSection>,
    /// Signed checkpoints: key, cadence, witness.
    pub checkpoint: CheckpointSetup,
}

/// Where the sidecar's identity and checkpoints live (from `[checkpoint]`).
#[derive(Debug, Clone)]
pub struct CheckpointSetup {
    /// The Ed25519 private key file (made on first start).
    pub key_path: PathBuf,
    /// Least time between two checkpoints.
    pub interval_ms: u64,
    /// A second copy of each checkpoint, if configured.
    pub witness: Option<PathBuf>,
    /// An external witness each checkpoint is POSTed to, if configured.
    pub webhook: Option<String>,
}

/// Why the configuration cannot drive an engine.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The thresholds are refused by the core.
    #[error("config: governor: {0}")]
    Thresholds(#[from] autonomic_core::governor::ThresholdError),
    /// `governor.sustain` above 255.
    #[error("config: governor.sustain: must be 1..=255, got {0}")]
    Sustain(u32),
    /// An actuator section is refused.
    #[error("config: {0}")]
    Actuator(#[from] ActuatorConfigError),
}

impl DaemonConfig {
    /// The engine configuration and the tenants to activate, from a validated [`Config`].
    pub fn from_config(config: &Config) -> Result<Self, SetupError> {
        let g = &config.governor;
        let sustain = u8::try_from(g.sustain).map_err(|_| SetupError::Sustain(g.sustain))?;
        let thresholds = Thresholds::new(g.warn, g.recover, g.intervene, g.refuse, sustain)?;
        let a = &config.actuators;
        let engine = EngineConfig {
            thresholds,
            action_timeout_ms: [
                a.throttle.timeout_ms,
                a.pause.timeout_ms,
                a.shed.timeout_ms,
                a.rollback.timeout_ms,
            ],
            ledger_capacity: config.ledger_capacity as usize,
        };
        let mut tenants = config.tenants.clone();
        if config.sampler.enabled && !tenants.iter().any(|t| t.id == config.sampler.tenant) {
            tenants.push(TenantSection {
                id: config.sampler.tenant.clone(),
                sku: config.sampler.sku.clone(),
                expires_at_ms: None,
            });
        }
        Ok(Self {
            data_dir: config.data_dir.clone(),
            fsync: config.fsync,
            engine,
            tenants,
            checkpoint: CheckpointSetup {
                key_path: config.checkpoint.key_path(&config.data_dir),
                interval_ms: config.checkpoint.interval_ms,
                witness: config.checkpoint.witness.clone(),
                webhook: config.checkpoint.webhook.clone(),
            },
        })
    }
}

/// One actuator per action kind, in [`autonomic_core::ActionKind::index`] order.
#[derive(Debug, Clone)]
pub struct Actuators {
    by_kind: [Arc<Actuator>; 4],
}

impl Actuators {
    /// Builds every actuator; each gets its section's `timeout_ms` plus
    /// [`ACTUATOR_GRACE_MS`] (see the module doc), and `exec` ones record their process
    /// groups in `records` (so a restarted sidecar can kill what a dead one left).
    pub fn from_config(
        sections: &ActuatorsSection,
        records: Option<ProcessRecords>,
    ) -> Result<Self, SetupError> {
        let build = |kind, section: &crate::config::ActuatorSection| {
            let mut section = section.clone();
            section.timeout_ms = section
                .timeout_ms
                .saturating_add(ACTUATOR_GRACE_MS)
                .min(actuator::TIMEOUT_MS_MAX);
            let actuator = Actuator::from_config(kind, &section)?;
            let actuator = match &records {
                Some(r) => actuator.with_process_records(r.clone()),
                None => actuator,
            };
            Ok::<_, ActuatorConfigError>(Arc::new(actuator))
        };
        use actuator::ActionKind as K;
        Ok(Self {
            by_kind: [
                build(K::Throttle, &sections.throttle)?,
                build(K::Pause, &sections.pause)?,
                build(K::Shed, &sections.shed)?,
                build(K::Rollback, &sections.rollback)?,
            ],
        })
    }

    fn get(&self, kind: autonomic_core::ActionKind) -> Option<&Arc<Actuator>> {
        self.by_kind.get(kind.index())
    }
}

/// What start-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReport {
    /// Receipts restored from the file.
    pub restored: u64,
    /// Bytes of torn tail truncated (0 if none).
    pub truncated_bytes: u64,
    /// Tenants activated from the config at this start.
    pub activated: Vec<String>,
    /// Seq of the newest receipt after start, if any.
    pub head_seq: Option<u64>,
}

/// Why the engine thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The ledger is corrupt before its tail: refuse to start (exit 1).
    #[error("{0}")]
    Corrupt(String),
    /// Anything else (exit 2).
    #[error("{0}")]
    Other(String),
}

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

/// Opens the ledger file, restoring every record into the engine, and checks it against the
/// checkpoints (the data dir's and the witness's) before anything is written: the ledger
/// must contain their heads, and they must carry this sidecar's key. Returns the
/// checkpointer for the rounds.
fn open_ledger(
    engine: &mut AdapterEngine,
    config: &DaemonConfig,
    shared: &Shared,
) -> Result<(LedgerFile, Checkpointer, StartReport), StartError> {
    let corrupt = |what: &dyn std::fmt::Display| {
        StartError::Corrupt(format!(
            "{what}; refusing to start (run `autonomic verify --data-dir {}`)",
            config.data_dir.display()
        ))
    };
    let key = checkpoint::load_or_create_key(&config.checkpoint.key_path)
        .map_err(|e| StartError::Other(format!("checkpoint key: {e}")))?;
    let public_key = key.verifying_key().to_bytes();
    let local = config.data_dir.join(checkpoint::FILE_NAME);
    let paths: Vec<PathBuf> = std::iter::once(local.clone())
        .chain(config.checkpoint.witness.clone())
        .collect();
    let found = Audit::read_existing(paths.clone()).map_err(|e| corrupt(&e))?;
    // Filled by the restore callback, read by the check that runs after the scan.
    let audit = RefCell::new(Audit::new(found, Some(public_key)));
    if let Some(refusal) = audit.borrow().missing_ledger()
        && !config.data_dir.join(crate::ledger_file::FILE_NAME).exists()
    {
        return Err(corrupt(&refusal));
    }
    let restore = |index: u64, body: &[u8]| {
        audit.borrow_mut().observe(index, body);
        engine
            .restore(body)
            .map_err(|e: RestoreError| e.to_string())
    };
    let check = |scanned: &ScanReport| {
        let ledger_id = scanned.ledger_id.unwrap_or_default();
        audit.borrow().check(ledger_id, scanned.records)
    };
    let opened = LedgerFile::open_checked(&config.data_dir, config.fsync, restore, check);
    let (ledger, opened) = opened.map_err(|e| match e {
        OpenError::Corrupt { .. } | OpenError::Refused { .. } => corrupt(&e),
        other => StartError::Other(other.to_string()),
    })?;
    publish_public_key(&config.data_dir, &public_key)?;
    if let Ok(mut view) = shared.ledger_view.write() {
        *view = Some(opened.view.clone());
    }
    if let Some(tail) = opened.torn_tail {
        warn!(
            offset_bytes = tail.offset_bytes,
            len_bytes = tail.len_bytes,
            uncommitted_records = tail.uncommitted_records,
            reason = %tail.reason,
            "ledger: torn tail truncated (never acknowledged)"
        );
        shared.metrics.torn_tail_recovered();
    }
    let head_seq = engine.ledger().next_seq().checked_sub(1);
    shared.metrics.set_head_seq(head_seq);
    let audit = audit.into_inner();
    info!(
        records = opened.records,
        ledger = %hex::encode(opened.ledger_id),
        checkpoints = audit.checkpoints().len(),
        in_flight = engine.in_flight().len(),
        "ledger: restored"
    );
    let interval = Duration::from_millis(config.checkpoint.interval_ms);
    let checkpointer =
        Checkpointer::new(key, opened.ledger_id, paths, interval, audit.newest_seq());
    let report = StartReport {
        restored: opened.records,
        truncated_bytes: opened.truncated_bytes,
        activated: Vec::new(),
        head_seq,
    };
    Ok((ledger, checkpointer, report))
}

/// Writes `<data_dir>/identity.pub` when it does not hold `public_key` yet (so `verify` can
/// pin the key).
fn publish_public_key(data_dir: &std::path::Path, public_key: &[u8; 32]) -> Result<(), StartError> {
    let path = data_dir.join(checkpoint::PUBLIC_KEY_FILE_NAME);
    let text = format!("{}\n", hex::encode(public_key));
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    checkpoint::write_atomically(&path, &text, 0o644)
        .map_err(|e| StartError::Other(format!("checkpoint key: {e}")))
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

    fn outcome(
        &mut self,
        now: u64,
        tenant: String,
        receipt: u64,
        kind: &'static str,
        backend: &'static str,
        report: ActionReport,
    ) {
        self.running.remove(&receipt);
        if report.cancelled || self.poisoned {
            debug!(receipt, "actuator: cancelled run ended");
            return;
        }
        // The backend's undo token (the prior values a rollback restores) goes into the
        // outcome receipt: a rollback after a restart reads it back from the ledger.
        let result =
            self.retry(|e| e.handle_outcome(now, &tenant, Some(receipt), report.ok, &report.undo));
        let transition = match result {
            Ok(t) if report.ok => {
                info!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      from = t.from.as_str(), to = t.to.as_str(), "actuator: action finished");
                Some(t)
            }
            Ok(t) => {
                // A failed or timed-out run is an operator's concern: WARN, with the reason.
                warn!(%tenant, receipt, kind, backend, ok = report.ok,
                      timed_out = report.timed_out, detail = %report.detail,
                      from = t.from.as_str(), to = t.to.as_str(), "actuator: action failed");
                Some(t)
            }
            Err(CommandError::StaleOutcome(r)) => {
                info!(%tenant, receipt = r, "actuator: stale outcome dropped");
                None
            }
            Err(e) => {
                warn!(%tenant, receipt, error = %e, "actuator: outcome refused");
                None
            }
        };
        let notice = Notice::ActionFinished {
            tenant,
            receipt,
            kind,
            backend,
            report,
            transition,
        };
        // Published after the round's commit would be more exact; observers only print.
        let _ = self.shared.notices.send(notice);
    }

    fn rollback_outcome(
        &mut self,
        now: u64,
        tenant: String,
        receipt: u64,
        kind: &'static str,
        backend: &'static str,
        report: ActionReport,
    ) {
        if self.poisoned {
            return;
        }
        let result = self.retry(|e| e.handle_rollback_outcome(now, receipt, report.ok));
        match result {
            Ok(()) if report.ok => {
                self.shared.metrics.rollback(kind, report.ok);
                info!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      "actuator: rollback finished");
            }
            Ok(()) => {
                self.shared.metrics.rollback(kind, report.ok);
                warn!(%tenant, receipt, kind, backend, ok = report.ok, detail = %report.detail,
                      "actuator: rollback failed");
            }
            Err(e) => warn!(receipt, error = %e, "actuator: rollback outcome refused"),
        }
        let _ = self.shared.notices.send(Notice::RollbackFinished {
            tenant,
            receipt,
            report,
        });
    }

    fn timeouts(&mut self, now: u64) {
        if self.poisoned {
            return;
        }
        // handle_timeout stops early when the queues fill; drain and go on, a bounded
        // number of times (each pass times out at least one action or stops).
        for _ in 0..autonomic_core::limits::IN_FLIGHT_MAX {
            match self.engine.poll_timeout() {
                Some(deadline) if deadline <= now => {}
                _ => break,
            }
            let done = self.engine.handle_timeout(now);
            if done > 0 {
                info!(count = done, "engine: actions timed out (ExecutionTimeout)");
            }
            self.flush();
            if done == 0 || self.poisoned {
                break;
            }
        }
    }

    /// Drains receipts into the file and commits once; drains action commands into the
    /// round's list. Returns whether everything so far is durable (committed).
    fn flush(&mut self) -> bool {
        if self.poisoned {
            return false;
        }
        let mut failed = None;
        while let Some(record) = self.engine.poll_record() {
            count_receipt(&self.shared.metrics, &mut self.kinds, record);
            if failed.is_some() {
                continue;
            }
            // Any number of receipts goes out in bounded chunks, one commit frame each.
            if self.ledger.is_full()
                && let Err(e) = commit_ledger(&mut self.ledger, &self.shared)
            {
                failed = Some(e);
                continue;
            }
            if let Err(e) = self.ledger.append(record) {
                failed = Some(e.to_string());
            }
        }
        while let Some(command) = self.engine.poll_action() {
            self.commands.push(command);
        }
        if failed.is_none() {
            failed = commit_ledger(&mut self.ledger, &self.shared).err();
        }
        if let Some(reason) = failed {
            self.poison(&reason);
            return false;
        }
        true
    }

    fn poison(&mut self, reason: &str) {
        error!(%reason, "ledger: I/O error; stopping actions, refusing mutations, not ready");
        self.poisoned = true;
        self.shared.poisoned.store(true, Ordering::SeqCst);
        self.shared.ready.store(false, Ordering::SeqCst);
        for (_, running) in self.running.drain() {
            running.token.cancel();
        }
        self.commands.clear();
    }

    fn end_round(&mut self) {
        let durable = self.flush();
        if let Some(deadline) = self.ledger.sync_deadline()
            && deadline <= Instant::now()
            && !self.poisoned
        {
            match self.ledger.sync_now() {
                Ok(d) => self.shared.metrics.fsync(d),
                Err(e) => self.poison(&e.to_string()),
            }
        }
        for reply in self.replies.drain(..) {
            reply(durable);
        }
        self.checkpoint(false);
        if durable {
            let commands: Vec<ActionCommand> = self.commands.drain(..).collect();
            for command in commands {
                self.dispatch(command);
            }
        } else {
            self.commands.clear();
        }
    }

    fn dispatch(&mut self, command: ActionCommand) {
        match command {
            ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            } => {
                let Some(actuator) = self.actuators.get(action.kind()).cloned() else {
                    return;
                };
                let token = CancellationToken::new();
                self.running.insert(
                    receipt,
                    Running {
                        token: token.clone(),
                    },
                );
                let request = action_request(&tenant, receipt, &action);
                let (kind, backend) = (action.kind().as_str(), actuator.backend().name());
                info!(tenant = %tenant, receipt, kind, backend, deadline_ms, "actuator: run");
                let tx = self.tx.clone();
                let shared = Arc::clone(&self.shared);
                self.runtime.spawn(async move {
                    let started = Instant::now();
                    let report = actuator.run(&request, token).await;
                    shared.metrics.action_duration(kind, started.elapsed());
                    let msg = Msg::Outcome {
                        tenant: request.tenant,
                        receipt,
                        kind,
                        backend,
                        report,
                    };
                    let _ = tx.send(msg).await;
                });
            }
            ActionCommand::Cancel { receipt, tenant } => {
                if let Some(running) = self.running.remove(&receipt) {
                    info!(tenant = %tenant, receipt, "actuator: cancel");
                    running.token.cancel();
                }
            }
            ActionCommand::Rollback {
                receipt,
                tenant,
                action,
                undo,
            } => {
                let Some(actuator) = self.actuators.get(action.kind()).cloned() else {
                    return;
                };
                let request = action_request(&tenant, receipt, &action);
                let (kind, backend) = (action.kind().as_str(), actuator.backend().name());
                info!(tenant = %tenant, receipt, kind, backend, "actuator: rollback");
                let tx = self.tx.clone();
                self.runtime.spawn(async move {
                    let report = actuator.rollback(&request, &undo).await;
                    let msg = Msg::RollbackOutcome {
                        tenant: request.tenant,
                        receipt,
                        kind,
                        backend,
                        report,
                    };
                    let _ = tx.send(msg).await;
                });
            }
        }
    }

    /// Signs and writes a checkpoint of the durable head when one is due (`force`: whenever
    /// the head moved). Only committed and synced receipts are ever checkpointed.
    fn checkpoint(&mut self, force: bool) {
        if self.poisoned || self.ledger.unsynced_records() > 0 {
            return;
        }
        let seq = self.ledger.records().checked_sub(1);
        let Some(head_seq) = seq.filter(|_| self.checkpointer.due(seq, force)) else {
            return;
        };
        let (text, errors) = self
            .checkpointer
            .write(head_seq, self.ledger.head_hash(), now_ms());
        for e in &errors {
            warn!(error = %e, "checkpoint: write failed");
        }
        self.shared.metrics.checkpoint(errors.is_empty());
        if let Some(poster) = self.witness.clone() {
            let shared = Arc::clone(&self.shared);
            self.runtime.spawn(async move {
                let timeout = Duration::from_millis(WITNESS_TIMEOUT_MS);
                let posted = tokio::time::timeout(timeout, poster.post("text/plain", text.into()));
                let result = match posted.await {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(format!("no answer within {WITNESS_TIMEOUT_MS} ms")),
                };
                if let Err(e) = &result {
                    warn!(url = %poster.uri(), error = %e, "checkpoint: witness webhook failed");
                }
                shared.metrics.checkpoint_witness(result.is_ok());
            });
        }
    }

    fn shutdown_due(&mut self) -> bool {
        let Some(state) = &self.shutdown else {
            return false;
        };
        if self.running.is_empty() || Instant::now() >= state.deadline {
            return true;
        }
        false
    }

    /// Cancels what still runs, flushes and syncs the ledger, answers the shutdown.
    fn finish(&mut self) {
        for (receipt, running) in self.running.drain() {
            warn!(
                receipt,
                "shutdown: cancelling a running action (it will time out after restart)"
            );
            running.token.cancel();
        }
        let _ = self.flush();
        if !self.poisoned
            && let Err(e) = self.ledger.sync_now()
        {
            error!(error = %e, "shutdown: final ledger sync failed");
        }
        for reply in self.replies.drain(..) {
            reply(!self.poisoned);
        }
        self.checkpoint(true);
        if self.poisoned {
            error!("engine: stopped; the ledger was poisoned, unacknowledged changes are lost");
        } else {
            info!(
                head_seq = ?self.engine.ledger().next_seq().checked_sub(1),
                "engine: stopped; ledger flushed"
            );
        }
        if let Some(state) = self.shutdown.take() {
            let _ = state.reply.send(());
        }
    }

    /// SPEC §2 allows any visible-ASCII id, so an id like `-rf` or `a/b` is activated; but a
    /// backend whose substitution rules refuse it will fail every run of that kind. Said
    /// once, at activation, at WARN (the runs themselves fail with the same reason).
    fn warn_unactionable(&self, tenant: &str) {
        for actuator in &self.actuators.by_kind {
            if let Err(e) = actuator.check_tenant(tenant) {
                warn!(%tenant, kind = actuator.kind().as_str(), reason = %e,
                      "tenant activated, but its {} actions will be refused", actuator.kind());
            }
        }
    }

    /// Activates configured tenants unknown to the ledger; returns their ids.
    fn activate_configured(
        &mut self,
        tenants: &[TenantSection],
    ) -> Result<Vec<String>, StartError> {
        let now = now_ms();
        let mut activated = Vec::new();
        for t in tenants {
            if self.engine.tenant(now, &t.id).is_some() {
                continue;
            }
            let result = self.retry(|e| {
                let command = EntitlementCommand::Activate {
                    sku: &t.sku,
                    expires_at_ms: t.expires_at_ms,
                };
                e.handle_entitlement(now, &t.id, command)
            });
            match result {
                Ok(_) => {
                    self.warn_unactionable(&t.id);
                    activated.push(t.id.clone());
                }
                // The ledger's tenants filled the table: start anyway, without this one.
                Err(e @ EntitlementError::TenantTableFull) => {
                    warn!(tenant = %t.id, error = %e, capacity = TENANTS_MAX,
                          "config: tenant not activated: the tenant table is full; skipped");
                }
                Err(e) => {
                    return Err(StartError::Other(format!("config: tenant {:?}: {e}", t.id)));
                }
            }
        }
        if !self.flush() {
            return Err(StartError::Other(
                "ledger: writing the configured tenants failed".to_owned(),
            ));
        }
        // Activations dispatch nothing.
        self.commands.clear();
        Ok(activated)
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

/// Answers a state-reading message with `refused` (after a poisoning).
fn refuse(msg: Msg, refused: Refused) {
    match msg {
        Msg::Admit { reply, .. } => drop(reply.send(Err(refused))),
        Msg::Tenant { reply, .. } => drop(reply.send(Err(refused))),
        Msg::Verify { reply } => drop(reply.send(Err(refused))),
        _ => {}
    }
}

/// Commits the ledger's buffered records (one commit frame), counting the fsync and
/// publishing the new committed end to readers.
fn commit_ledger(ledger: &mut LedgerFile, shared: &Shared) -> Result<(), String> {
    let report = ledger.commit().map_err(|e| e.to_string())?;
    if let Some(d) = report.sync_duration {
        shared.metrics.fsync(d);
    }
    if report.records > 0
        && let Ok(mut view) = shared.ledger_view.write()
        && let Some(view) = view.as_mut()
    {
        view.push(ledger.committed());
    }
    Ok(())
}

/// Updates the metrics derived from one receipt as it is written.
fn count_receipt(metrics: &Metrics, kinds: &mut HashMap<u64, &'static str>, record: &[u8]) {
    let Ok(receipt) = Receipt::decode(record) else {
        return;
    };
    metrics.receipt(receipt.seq);
    match &receipt.event {
        Event::Governor { from, to, .. } => metrics.transition(from.as_str(), to.as_str()),
        Event::ActionDispatched { action, .. } => {
            kinds.insert(receipt.seq, action.kind().as_str());
        }
        Event::ActionCompleted {
            receipt, outcome, ..
        } => {
            let kind = kinds.remove(receipt).unwrap_or("unknown");
            metrics.action(kind, outcome.as_str());
        }
        _ => {}
    }
}

/// The actuator's view of a core action.
#[must_use]
pub fn action_request(tenant: &str, receipt: u64, action: &Action) -> ActionRequest {
    use autonomic_core::ActionKind as C;
    let kind = match action.kind() {
        C::Throttle => actuator::ActionKind::Throttle,
        C::Pause => actuator::ActionKind::Pause,
        C::Shed => actuator::ActionKind::Shed,
        C::Rollback => actuator::ActionKind::Rollback,
    };
    ActionRequest {
        tenant: tenant.to_owned(),
        kind,
        percent: action.percent(),
        revision: action.revision().map(str::to_owned),
        receipt,
    }
}

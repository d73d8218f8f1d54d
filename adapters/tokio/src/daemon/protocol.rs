//! The engine thread's message protocol: what others send it, what it answers, what it
//! tells observers, and the handle they reach it through.

use super::*;

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
    pub(super) tx: mpsc::Sender<Msg>,
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

/// Answers a state-reading message with `refused` (after a poisoning).
pub(super) fn refuse(msg: Msg, refused: Refused) {
    match msg {
        Msg::Admit { reply, .. } => drop(reply.send(Err(refused))),
        Msg::Tenant { reply, .. } => drop(reply.send(Err(refused))),
        Msg::Verify { reply } => drop(reply.send(Err(refused))),
        _ => {}
    }
}

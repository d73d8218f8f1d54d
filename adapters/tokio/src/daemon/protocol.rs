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

/// What a request helper of [`EngineHandle`] returns: the engine's answer, or why the
/// request was refused before it reached the engine.
pub type Answer<T, E> = Result<Result<T, E>, Refused>;

/// A message to the engine thread.
#[derive(Debug)]
pub enum Msg {
    /// A request that changes the engine's state.
    Mutation(Mutation),
    /// A request that reads it.
    Query(Query),
    /// An actuator finished a run (internal).
    Outcome(Finished),
    /// An actuator finished a rollback (internal).
    RollbackOutcome(Finished),
    /// Finish running actions (bounded), flush and sync the ledger, stop.
    Shutdown {
        /// Answered once the ledger is flushed.
        reply: oneshot::Sender<()>,
    },
}

/// A request that changes the engine's state: refused with [`Refused::LedgerUnavailable`]
/// after a poisoning and with [`Refused::ShuttingDown`] during shutdown; answered once its
/// receipts are committed.
#[derive(Debug)]
pub enum Mutation {
    /// Signals, in order; one JSON result per signal.
    Signals {
        /// The signals.
        signals: Vec<SignalIn>,
        /// Results shaped like replay lines without `line`.
        reply: Reply<Vec<SignalResultJson>>,
    },
    /// An entitlement command: the new state.
    Entitlement(Request<input::Entitlement>),
    /// An operator's reset: the governor's transition.
    Reset(Request<input::Reset>),
    /// A manual action: its receipt id.
    Action(Request<input::ManualAction>),
    /// A rollback by receipt id: the rollback request's receipt seq.
    Rollback(Request<input::Rollback>),
    /// A new engine configuration (hot reload): its `ConfigApplied` receipt's seq.
    Config(Request<input::NewConfig>),
    /// A tenant's mode: the `mode_set` receipt's seq.
    Mode(Request<input::SetMode>),
}

impl Mutation {
    /// Answers the request with `refused`, applying nothing.
    pub(super) fn refuse(self, refused: Refused) {
        match self {
            Mutation::Signals { reply, .. } => send_refusal(reply, refused),
            Mutation::Entitlement(request) => send_refusal(request.reply, refused),
            Mutation::Reset(request) => send_refusal(request.reply, refused),
            Mutation::Action(request) => send_refusal(request.reply, refused),
            Mutation::Rollback(request) => send_refusal(request.reply, refused),
            Mutation::Config(request) => send_refusal(request.reply, refused),
            Mutation::Mode(request) => send_refusal(request.reply, refused),
        }
    }
}

/// One input to apply, and where the engine's answer goes.
pub struct Request<I: Apply> {
    /// What to apply.
    pub input: I,
    /// The engine's answer.
    pub reply: Reply<I::Output>,
}

impl<I: Apply + std::fmt::Debug> std::fmt::Debug for Request<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

/// A request that reads the engine's state: refused with [`Refused::LedgerUnavailable`]
/// after a poisoning when its answer shows that state (every query but the gauges).
#[derive(Debug)]
pub enum Query {
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
        /// Units in use after, and the limit admissions are checked against now.
        reply: Reply<Result<Admitted, AdmitError>>,
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
}

impl Query {
    /// Whether the answer shows engine state that may never have reached the disk. Gauges
    /// do not: `/metrics` keeps answering after a poisoning.
    pub(super) fn shows_state(&self) -> bool {
        !matches!(self, Query::Gauges { .. })
    }

    /// Answers the request with `refused`.
    pub(super) fn refuse(self, refused: Refused) {
        match self {
            Query::Admit { reply, .. } => send_refusal(reply, refused),
            Query::Tenant { reply, .. } => send_refusal(reply, refused),
            Query::Verify { reply } => send_refusal(reply, refused),
            Query::Gauges { reply } => send_refusal(reply, refused),
        }
    }
}

fn send_refusal<T>(reply: Reply<T>, refused: Refused) {
    let _ = reply.send(Err(refused));
}

/// An actuator's report on a run or a rollback.
#[derive(Debug)]
pub struct Finished {
    /// The tenant.
    pub tenant: String,
    /// The action's receipt id.
    pub receipt: u64,
    /// The action kind.
    pub kind: &'static str,
    /// The backend's name.
    pub backend: &'static str,
    /// What happened.
    pub report: ActionReport,
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
    /// Each action kind's circuit as of the last commit, by [`ActionKind::index`]
    /// ([`CircuitState::index`]); read by `/readyz` without a trip to the engine thread.
    circuits: [AtomicU8; 4],
}

impl Shared {
    /// One action kind's circuit as of the last commit.
    #[must_use]
    pub fn circuit(&self, kind: ActionKind) -> CircuitState {
        let index = self
            .circuits
            .get(kind.index())
            .map_or(0, |c| c.load(Ordering::SeqCst));
        CircuitState::ALL
            .get(usize::from(index))
            .copied()
            .unwrap_or(CircuitState::Closed)
    }

    /// Records one kind's circuit (and shows it in the metrics); returns the one before.
    pub(super) fn set_circuit(&self, kind: ActionKind, state: CircuitState) -> CircuitState {
        let before = self.circuit(kind);
        if let Some(c) = self.circuits.get(kind.index()) {
            c.store(state.index() as u8, Ordering::SeqCst);
        }
        self.metrics.set_circuit(kind, state);
        before
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            ready: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            metrics: Metrics::default(),
            notices: broadcast::channel(NOTICES_CAPACITY).0,
            ledger_view: std::sync::RwLock::new(None),
            circuits: Default::default(),
        }
    }
}

/// An admission's (or release's) answer: units in use after, and the limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Units of the resource in use after the admission or release.
    pub in_use: u16,
    /// The limit admissions are checked against now ([`autonomic_core::Engine::admission_limit`]).
    pub limit: u16,
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

    /// Signals, in order: one result per signal. Like every request helper below, it does
    /// not wait for room in the queue ([`EngineHandle::try_call`]).
    pub async fn signals(&self, signals: Vec<SignalIn>) -> Result<Vec<SignalResultJson>, Refused> {
        self.mutate(|reply| Mutation::Signals { signals, reply })
            .await
    }

    /// A tenant's entitlement command: the new state.
    pub async fn entitlement(
        &self,
        tenant: String,
        command: EntitlementCmd,
    ) -> Answer<EntitlementState, EntitlementError> {
        let input = input::Entitlement { tenant, command };
        self.request(input, Mutation::Entitlement).await
    }

    /// An operator's reset: the governor's transition.
    pub async fn reset(&self, tenant: String) -> Answer<Transition, CommandError> {
        self.request(input::Reset { tenant }, Mutation::Reset).await
    }

    /// A manual action (queued behind the one in flight with `queue`): its receipt id.
    pub async fn action(
        &self,
        tenant: String,
        action: Action,
        queue: bool,
    ) -> Answer<input::ActionReceipt, CommandError> {
        let input = input::ManualAction {
            tenant,
            action,
            queue,
        };
        self.request(input, Mutation::Action).await
    }

    /// A rollback of the completed action `receipt`: the rollback request's receipt seq.
    pub async fn rollback(&self, receipt: u64) -> Answer<u64, CommandError> {
        self.request(input::Rollback { receipt }, Mutation::Rollback)
            .await
    }

    /// A new engine configuration from the file whose bytes hash to `hash`: the seq of its
    /// `ConfigApplied` receipt.
    pub async fn apply_config(
        &self,
        config: autonomic_core::EngineConfig,
        hash: [u8; 32],
    ) -> Answer<u64, autonomic_core::engine::ReloadError> {
        self.request(input::NewConfig { config, hash }, Mutation::Config)
            .await
    }

    /// A tenant's mode: the `mode_set` receipt's seq.
    pub async fn set_mode(
        &self,
        tenant: String,
        mode: autonomic_core::engine::Mode,
    ) -> Answer<u64, autonomic_core::engine::ModeError> {
        self.request(input::SetMode { tenant, mode }, Mutation::Mode)
            .await
    }

    /// Admission (or release, with `release`): units in use after.
    pub async fn admit(
        &self,
        tenant: String,
        resource: Resource,
        amount: u32,
        release: bool,
    ) -> Answer<u16, AdmitError> {
        let answer = self.admit_with_limit(tenant, resource, amount, release);
        Ok(answer.await?.map(|a| a.in_use))
    }

    /// [`EngineHandle::admit`], also answering the limit in force (for a fleet-wide count).
    pub async fn admit_with_limit(
        &self,
        tenant: String,
        resource: Resource,
        amount: u32,
        release: bool,
    ) -> Answer<Admitted, AdmitError> {
        self.query(|reply| Query::Admit {
            tenant,
            resource,
            amount,
            release,
            reply,
        })
        .await
    }

    /// One tenant's view (`None` if unknown).
    pub async fn tenant(&self, tenant: String) -> Result<Option<TenantJson>, Refused> {
        self.query(|reply| Query::Tenant { tenant, reply }).await
    }

    /// The in-memory window's verification.
    pub async fn verify(&self) -> Result<WindowVerify, Refused> {
        self.query(|reply| Query::Verify { reply }).await
    }

    /// Gauges for `/metrics`.
    pub async fn gauges(&self) -> Result<EngineGauges, Refused> {
        self.query(|reply| Query::Gauges { reply }).await
    }

    async fn mutate<T>(&self, make: impl FnOnce(Reply<T>) -> Mutation) -> Result<T, Refused> {
        self.try_call(|reply| Msg::Mutation(make(reply))).await
    }

    async fn request<I: Apply>(
        &self,
        input: I,
        mutation: fn(Request<I>) -> Mutation,
    ) -> Result<I::Output, Refused> {
        self.mutate(|reply| mutation(Request { input, reply }))
            .await
    }

    async fn query<T>(&self, make: impl FnOnce(Reply<T>) -> Query) -> Result<T, Refused> {
        self.try_call(|reply| Msg::Query(make(reply))).await
    }

    /// Asks the engine thread to shut down and waits until the ledger is flushed.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Shutdown { reply }).await.is_ok() {
            let _ = done.await;
        }
    }
}

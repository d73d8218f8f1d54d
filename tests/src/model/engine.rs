//! The whole engine as the documented contract (`docs/`) describes it, composed from the
//! other models: per tenant an entitlement, a governor and at most one action in flight; one
//! receipt counter (`docs/receipts.md`: every governor change, dispatch, completion and
//! entitlement change appends one); the dedup memory; the action commands handed to the
//! actuators; the action enforced at admission
//! (`docs/entitlements.md#enforcement-how-actions-change-admission`: the last dispatched
//! Throttle/Pause/Shed, until the governor returns to Stable — a reset of an enforcing tenant
//! writes a receipt to end it — or the action fails, times out or is superseded).
//!
//! The tenant table has capacities (`docs/design.md#limits`): tenants, and bytes of tenant ids
//! (a new tenant takes its id's length from the arena's free end). A new tenant that finds no
//! free slot or no room for its id takes the slot of the Terminated tenant revoked longest ago
//! that has no action in flight and no completed action still remembered for rollback (the
//! last 64 successes), in place: the other tenants keep their places (the order
//! `Engine::tenants` shows). Its id goes in the room the slot's first id took if it fits, else
//! at the arena's free end. No such slot, or no room: `TenantTableFull`. The dedup memory has a
//! capacity too ([`DedupModel`]).
//!
//! Each action kind has a circuit breaker ([`MBreaker`], disabled unless
//! [`EngineModel::with_breakers`]): a dispatch its open circuit refuses is a dispatch receipt
//! and a completion receipt at once, no run command, and the governor reacts as to a failure.
//!
//! Queued manual actions (`docs/actions.md#queued-actions`): one asked to queue while the
//! tenant has an action in flight or queued waits (one receipt), at most 4 per tenant and
//! `caps.queued` in all (`QueueFull`); a plain manual action is refused while any is queued.
//! Each timeout call, after the timeouts, dispatches the first queued action of each tenant
//! with nothing in flight (at most one per tenant, in receipt order) as a manual dispatch.
//! A queued tenant's slot is not reused. The engine wants a timeout call at once (time 0)
//! while a tenant has a queued action and nothing in flight.
//!
//! Shadow mode and each SKU's action percents: [`super::mode`].

use autonomic_core::storage::Capacities;

use super::breaker::{MAdmit, MBreaker, MCircuit};
use super::dedup::{DedupModel, WINDOW_MS};
use super::entitlement::{self, ECmd, EState};
use super::governor::{GEvent, GState, MAction, Th};
use super::mode::{MMode, MPercents};
use super::signal;

mod queue;
mod reload;
mod timing;

pub use self::timing::{MTiming, MWarning};

/// An action being executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MFlight {
    /// Its receipt id (the seq of its dispatch receipt).
    pub receipt: u64,
    /// When it times out.
    pub deadline_ms: u64,
    /// What it is.
    pub action: MAction,
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MTenant {
    /// Its id.
    pub id: String,
    /// Stored entitlement state (expiry not applied).
    pub stored: EState,
    /// SKU name.
    pub sku: &'static str,
    /// Expiry.
    pub expires_at_ms: Option<u64>,
    /// Governor state.
    pub state: GState,
    /// consecutive_high.
    pub c: u8,
    /// When the governor entered its state.
    pub entered_at_ms: u64,
    /// The action in flight.
    pub in_flight: Option<MFlight>,
    /// The action enforced at admission: its receipt id and what it is.
    pub enforced: Option<(u64, MAction)>,
    /// Once Terminated: how many tenants were terminated before it.
    pub terminated_rank: Option<u64>,
    /// Id arena bytes its slot owns (at least the id's length).
    pub id_room: usize,
    /// Enforce or shadow.
    pub mode: MMode,
    /// When the governor last ordered an action (dispatched).
    pub last_order_ms: Option<u64>,
    /// Its pending warning.
    pub warning: Option<MWarning>,
    /// It entered Refuse while `refuse_max_ms` was on (a timer holds it).
    pub refuse_timed: bool,
}

impl MTenant {
    /// The entitlement at `now_ms`.
    pub fn entitlement(&self, now_ms: u64) -> EState {
        entitlement::effective(self.stored, self.expires_at_ms, now_ms)
    }
}

/// An effect for the actuators.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MCommand {
    /// Run an action.
    Run {
        /// Receipt id.
        receipt: u64,
        /// Tenant.
        tenant: String,
        /// `Debug` of the action kind and percent, e.g. `Throttle(50)`.
        action: String,
        /// Deadline.
        deadline_ms: u64,
    },
    /// Stop one (superseded or timed out).
    Cancel {
        /// Receipt id.
        receipt: u64,
        /// Tenant.
        tenant: String,
    },
}

/// What one governor event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MTransition {
    /// Before.
    pub from: GState,
    /// After.
    pub to: GState,
    /// c after.
    pub c: u8,
    /// The action dispatched.
    pub action: Option<MAction>,
    /// Its receipt id.
    pub receipt: Option<u64>,
    /// The action was recorded as a shadow action, not dispatched.
    pub shadow: bool,
}

/// What became of an accepted signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MSignal {
    /// Seen before in the retained windows.
    Duplicate,
    /// Governed.
    Governed(MTransition),
}

/// The engine model.
#[derive(Debug, Clone)]
pub struct EngineModel {
    /// Thresholds.
    pub th: Th,
    /// Action timeouts: Throttle, Pause, Shed.
    pub timeout_ms: [u64; 3],
    /// Tenants, in the order they were first seen.
    pub tenants: Vec<MTenant>,
    /// The seq the next receipt gets.
    pub next_seq: u64,
    /// Remembered signal ids.
    pub dedup: DedupModel,
    /// Commands not yet taken by the test.
    pub commands: Vec<MCommand>,
    /// Most tenants at once.
    pub capacity: usize,
    /// Bytes of tenant ids, all slots together.
    pub id_bytes: usize,
    /// Id arena bytes handed out.
    pub id_bytes_used: usize,
    /// Tenants terminated so far.
    pub terminations: u64,
    /// Receipt ids and tenants of the last 64 successful actions (rollbackable).
    pub rollbackable: Vec<(u64, String)>,
    /// The circuit breakers of Throttle, Pause and Shed.
    pub breakers: [MBreaker; 3],
    /// Queued manual actions, in receipt order: (receipt, tenant, action).
    pub queued: Vec<(u64, String, MAction)>,
    /// Most queued actions at once.
    pub queued_capacity: usize,
    /// The action percents of starter, pro and enterprise.
    pub actions: [MPercents; 3],
    /// The governor's timing (all 0: off).
    pub timing: MTiming,
}

/// The breaker index of an action.
fn kind(action: MAction) -> usize {
    match action {
        MAction::Throttle(_) => 0,
        MAction::Pause => 1,
        MAction::Shed(_) => 2,
    }
}

/// Completed actions the engine remembers for rollback.
const ROLLBACKABLE_MAX: usize = 64;

impl EngineModel {
    /// An empty engine.
    pub fn new(th: Th, timeout_ms: [u64; 3]) -> Self {
        Self {
            th,
            timeout_ms,
            tenants: Vec::new(),
            next_seq: 0,
            dedup: DedupModel::default(),
            commands: Vec::new(),
            capacity: usize::MAX,
            id_bytes: usize::MAX,
            id_bytes_used: 0,
            terminations: 0,
            rollbackable: Vec::new(),
            breakers: [MBreaker::new(0, 30_000); 3],
            queued: Vec::new(),
            queued_capacity: 64,
            actions: [MPercents::DEFAULT; 3],
            timing: MTiming::default(),
        }
    }

    /// The same model with breakers of (failures, cool-down) for Throttle, Pause and Shed.
    pub fn with_breakers(self, breakers: [(u32, u64); 3]) -> Self {
        Self {
            breakers: breakers.map(|(failures, cooldown_ms)| MBreaker::new(failures, cooldown_ms)),
            ..self
        }
    }

    /// The circuit of Throttle (0), Pause (1) or Shed (2).
    pub fn circuit(&self, kind: usize) -> MCircuit {
        self.breakers[kind].circuit
    }

    /// The same model with the tenant table, id arena and dedup memory of `caps`.
    pub fn with_capacities(self, caps: &Capacities) -> Self {
        Self {
            capacity: caps.tenants,
            id_bytes: caps.tenant_id_bytes,
            dedup: DedupModel::with_capacity(caps.dedup_ids),
            queued_capacity: caps.queued,
            ..self
        }
    }

    /// Where a new `tenant` goes (see the module doc): a free slot (the end of the table), or
    /// a reused one; `None`: `TenantTableFull`. Takes its arena room.
    fn place(&mut self, tenant: &str) -> Option<(usize, usize)> {
        let len = tenant.len();
        let fits = self.id_bytes_used + len <= self.id_bytes;
        if self.tenants.len() < self.capacity && fits {
            self.id_bytes_used += len;
            return Some((self.tenants.len(), len));
        }
        let victim = self.reusable()?;
        if len <= self.tenants[victim].id_room {
            return Some((victim, self.tenants[victim].id_room));
        }
        if !fits {
            return None;
        }
        self.id_bytes_used += len;
        Some((victim, len))
    }

    /// The index a new tenant may take in a full table (see the module doc).
    fn reusable(&self) -> Option<usize> {
        (0..self.tenants.len())
            .filter(|&i| {
                let t = &self.tenants[i];
                t.stored == EState::Terminated
                    && t.in_flight.is_none()
                    && !self.rollbackable.iter().any(|(_, id)| *id == t.id)
                    && !self.queued.iter().any(|(_, id, _)| *id == t.id)
                    && t.warning.is_none()
                    && !t.refuse_timed
            })
            .min_by_key(|&i| self.tenants[i].terminated_rank)
    }

    fn find(&self, tenant: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.id == tenant)
    }

    /// A tenant by id.
    pub fn tenant(&self, tenant: &str) -> Option<&MTenant> {
        self.find(tenant).map(|i| &self.tenants[i])
    }

    fn receipt(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Validation, then the entitlement check, then dedup, then the governor
    /// (`docs/signals.md#order-of-checks`).
    pub fn signal(
        &mut self,
        now_ms: u64,
        tenant: &str,
        metric: &str,
        value: f64,
        ts_ms: u64,
    ) -> Result<MSignal, &'static str> {
        let (metric, v) = signal::validate(tenant, metric, value, ts_ms, now_ms)?;
        let i = self.find(tenant).ok_or("TenantNotFound")?;
        match self.tenants[i].entitlement(now_ms) {
            EState::Active => {}
            EState::Expired => return Err("EntitlementExpired"),
            _ => return Err("EntitlementNotActive"),
        }
        let key = (tenant.to_string(), metric, ts_ms / WINDOW_MS, v);
        if self.dedup.is_duplicate(&key, now_ms) {
            return Ok(MSignal::Duplicate);
        }
        self.dedup.remember(key, now_ms);
        Ok(MSignal::Governed(self.govern(now_ms, i, GEvent::Signal(v))))
    }

    fn govern(&mut self, now_ms: u64, i: usize, event: GEvent) -> MTransition {
        let t = &self.tenants[i];
        let from = t.state;
        let (to, c, ordered) = self.timed_step(now_ms, i, event);
        let t = &self.tenants[i];
        let ends_enforcement = event == GEvent::Reset && t.enforced.is_some();
        if to != t.state || c != t.c || ends_enforcement {
            self.receipt();
            self.refuse_timer(i, to);
            let t = &mut self.tenants[i];
            if to != t.state {
                t.entered_at_ms = now_ms;
            }
            t.state = to;
            t.c = c;
            if to == GState::Stable {
                t.enforced = None;
            }
        }
        let action = self.warn_or_order(now_ms, i, from, event, ordered);
        let shadow = action.is_some() && self.tenants[i].mode == MMode::Shadow;
        let dispatched = action.map(|a| self.order(now_ms, i, a));
        if dispatched.is_some_and(|(_, refused)| refused) {
            self.govern(now_ms, i, GEvent::Failed);
        }
        MTransition {
            from,
            to,
            c,
            action,
            receipt: dispatched.map(|(r, _)| r),
            shadow,
        }
    }

    /// Whether any tenant has the action `receipt` in flight.
    fn flying(&self, receipt: u64) -> bool {
        self.tenants
            .iter()
            .any(|t| t.in_flight.is_some_and(|f| f.receipt == receipt))
    }

    /// A new action supersedes the one in flight; its circuit may refuse it. Returns its
    /// receipt id and whether it was refused.
    fn dispatch(&mut self, now_ms: u64, i: usize, action: MAction) -> (u64, bool) {
        if let Some(old) = self.tenants[i].in_flight.take() {
            self.receipt();
            self.tenants[i].enforced = None; // superseded: the new one takes over below
            let tenant = self.tenants[i].id.clone();
            self.commands.push(MCommand::Cancel {
                receipt: old.receipt,
                tenant,
            });
        }
        let k = kind(action);
        let trial = match self.breakers[k].circuit {
            MCircuit::HalfOpen(trial) => self.flying(trial),
            _ => false,
        };
        let admit = self.breakers[k].dispatch(now_ms, self.next_seq, trial);
        if admit == MAdmit::Trial {
            self.receipt();
        }
        let receipt = self.receipt();
        if admit == MAdmit::Refuse {
            self.receipt();
            self.tenants[i].enforced = None;
            return (receipt, true);
        }
        let timeout = match action {
            MAction::Throttle(_) => self.timeout_ms[0],
            MAction::Pause => self.timeout_ms[1],
            MAction::Shed(_) => self.timeout_ms[2],
        };
        let deadline_ms = now_ms.saturating_add(timeout);
        self.tenants[i].in_flight = Some(MFlight {
            receipt,
            deadline_ms,
            action,
        });
        self.tenants[i].enforced = Some((receipt, action));
        self.commands.push(MCommand::Run {
            receipt,
            tenant: self.tenants[i].id.clone(),
            action: format!("{action:?}"),
            deadline_ms,
        });
        (receipt, false)
    }

    /// An actuator's report; with `receipt` it must name the action in flight. An undo token
    /// over 64 bytes is refused before anything else.
    pub fn outcome(
        &mut self,
        now_ms: u64,
        tenant: &str,
        receipt: Option<u64>,
        succeeded: bool,
        undo_len: usize,
    ) -> Result<MTransition, &'static str> {
        if undo_len > 64 {
            return Err("UndoTooLarge");
        }
        let i = self.find(tenant).ok_or("TenantNotFound")?;
        let flying = self.tenants[i].in_flight.map(|f| f.receipt);
        if receipt.is_some() && receipt != flying {
            return Err("StaleOutcome");
        }
        Ok(self.complete(now_ms, i, succeeded))
    }

    fn complete(&mut self, now_ms: u64, i: usize, succeeded: bool) -> MTransition {
        if let Some(done) = self.tenants[i].in_flight.take() {
            self.receipt();
            if self.breakers[kind(done.action)].ended(now_ms, done.receipt, succeeded) {
                self.receipt();
            }
            if succeeded {
                if self.rollbackable.len() == ROLLBACKABLE_MAX {
                    self.rollbackable.remove(0);
                }
                self.rollbackable
                    .push((done.receipt, self.tenants[i].id.clone()));
            }
            // A failed or timed-out action is not enforced.
            let t = &mut self.tenants[i];
            if !succeeded && t.enforced.is_some_and(|(r, _)| r == done.receipt) {
                t.enforced = None;
            }
        }
        let event = if succeeded {
            GEvent::Succeeded
        } else {
            GEvent::Failed
        };
        self.govern(now_ms, i, event)
    }

    /// Times out every action due at `now_ms`, earliest deadline first (ActionFailed).
    pub fn timeout(&mut self, now_ms: u64) -> usize {
        let mut done = 0;
        loop {
            let due = (0..self.tenants.len())
                .filter_map(|i| {
                    self.tenants[i]
                        .in_flight
                        .map(|f| (f.deadline_ms, f.receipt, i))
                })
                .filter(|(d, _, _)| *d <= now_ms)
                .min();
            let Some((_, receipt, i)) = due else {
                self.fire_timers(now_ms);
                self.dispatch_queued(now_ms);
                return done;
            };
            self.complete(now_ms, i, false);
            let tenant = self.tenants[i].id.clone();
            self.commands.push(MCommand::Cancel { receipt, tenant });
            done += 1;
        }
    }

    /// An operator's reset.
    pub fn reset(&mut self, now_ms: u64, tenant: &str) -> Result<MTransition, &'static str> {
        let i = self.find(tenant).ok_or("TenantNotFound")?;
        Ok(self.govern(now_ms, i, GEvent::Reset))
    }

    /// A manual action: refused while one is in flight or any is queued.
    pub fn manual(
        &mut self,
        now_ms: u64,
        tenant: &str,
        action: MAction,
    ) -> Result<u64, &'static str> {
        let i = self.find(tenant).ok_or("TenantNotFound")?;
        if self.tenants[i].in_flight.is_some() || !self.queued_of(tenant).is_empty() {
            return Err("AlreadyExecuting");
        }
        let (receipt, refused) = self.dispatch(now_ms, i, action);
        if refused {
            self.govern(now_ms, i, GEvent::Failed);
        }
        Ok(receipt)
    }

    /// An entitlement command. The SKU (for provision and activate) is checked before the
    /// state: a malformed request is refused whatever the state.
    pub fn entitlement(
        &mut self,
        now_ms: u64,
        tenant: &str,
        cmd: ECmd,
        sku: &str,
        expires_at_ms: Option<u64>,
    ) -> Result<EState, &'static str> {
        if signal::validate(tenant, "cpu", 0.0, 0, 0) == Err("InvalidTenantId") {
            return Err("InvalidTenantId");
        }
        let carries_sku = matches!(cmd, ECmd::Provision | ECmd::Activate);
        let sku = if carries_sku {
            let named = entitlement::SKUS.iter().find(|(n, _)| *n == sku);
            Some(named.ok_or("InvalidSku")?.0)
        } else {
            None
        };
        let i = self.find(tenant);
        let from = i.map(|i| self.tenants[i].entitlement(now_ms));
        let to = entitlement::transition(from, cmd)?;
        let i = match i {
            Some(i) => i,
            None => {
                let (i, id_room) = self.place(tenant).ok_or("TenantTableFull")?;
                let new = MTenant {
                    id: tenant.to_string(),
                    stored: EState::Pending,
                    sku: "starter",
                    expires_at_ms: None,
                    state: GState::Stable,
                    c: 0,
                    entered_at_ms: now_ms,
                    in_flight: None,
                    enforced: None,
                    terminated_rank: None,
                    id_room,
                    mode: MMode::Enforce,
                    last_order_ms: None,
                    warning: None,
                    refuse_timed: false,
                };
                if i == self.tenants.len() {
                    self.tenants.push(new);
                } else {
                    self.tenants[i] = new;
                }
                i
            }
        };
        let t = &mut self.tenants[i];
        t.stored = to;
        if to == EState::Terminated {
            t.terminated_rank = Some(self.terminations);
            self.terminations += 1;
        }
        match cmd {
            ECmd::Activate => (t.sku, t.expires_at_ms) = (sku.unwrap_or("starter"), expires_at_ms),
            ECmd::Provision => (t.sku, t.expires_at_ms) = (sku.unwrap_or("starter"), None),
            _ => {}
        }
        self.receipt();
        Ok(to)
    }

    /// Takes the commands emitted since the last call.
    pub fn take_commands(&mut self) -> Vec<MCommand> {
        std::mem::take(&mut self.commands)
    }
}

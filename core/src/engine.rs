//! The engine: one sans-IO type composing Monitor → Analyze → Plan → Execute → Knowledge.
//!
//! # Call order
//!
//! A driver owns the clock and runs a fixed loop (`docs/design.md#the-sans-io-core`):
//!
//! 1. read the clock once: `now_ms`;
//! 2. feed inputs: [`Engine::handle_signal`], [`Engine::handle_outcome`],
//!    [`Engine::handle_entitlement`], [`Engine::handle_reset`], [`Engine::handle_action`],
//!    [`Engine::handle_rollback`], [`Engine::handle_rollback_outcome`], and
//!    [`Engine::handle_timeout`] when the deadline from [`Engine::poll_timeout`] has passed;
//! 3. drain the effects: [`Engine::poll_record`] (receipts to persist, in seq order) and
//!    [`Engine::poll_action`] (actions to run, cancel or roll back);
//! 4. sleep until [`Engine::poll_timeout`] or the next input.
//!
//! Every input either applies whole or changes nothing: output queues are bounded, and an
//! input whose effects would not fit is refused with `Busy` before anything is touched.
//!
//! # State is the fold of the receipts
//!
//! Every change of a tenant's entitlement, governor, in-flight action, enforced action and
//! rollback bookkeeping happens in one place, `apply`, which takes a receipt's event. The
//! live path appends a receipt and applies it; [`Engine::restore`] applies receipts read back
//! from disk. So an engine rebuilt from its ledger equals the live one, by construction and
//! by test. Not persisted (and so not rebuilt): admission usage and `rate` buckets (callers
//! re-admit after a restart), the Shed spread counter, dedup ids of signals that changed
//! nothing, and the counters of [`Engine::stats`] (they count the live path only).
//!
//! # Where the rules live
//!
//! This module composes; each phase's rules live in its own module: signal validation and
//! the dedup windows in [`crate::monitor`], the entitlement lifecycle and admission in
//! [`crate::entitlement`], the governor's table in [`crate::governor`], the execution books
//! (in flight, rollbackable, queued commands) in [`crate::execution`], the circuit breaker of
//! each action kind in [`crate::breaker`], and the counters of
//! [`Engine::stats`] in [`crate::stats`]. The Execute inputs (outcomes, timeouts, manual
//! actions, rollbacks) are composed in this module's `actions` file, queued manual actions in
//! its `queue` file.

use crate::action::ActionKind;
use crate::breaker::{Breakers, CircuitState};
use crate::dedup::Dedup;
use crate::entitlement::{
    self, AdmitError, EntitlementCommand, EntitlementError, EntitlementState, Resource,
};
use crate::execution::Execution;
use crate::governor::{self, Governor, GovernorEvent, GovernorState, Planned};
use crate::ledger::Ledger;
use crate::limits::{
    BREAKER_RECEIPTS_PER_INPUT_MAX, BREAKER_REFUSALS_PER_INPUT_MAX, RECEIPTS_PER_INPUT_MAX,
};
use crate::monitor::{self, RawSignal, Signal};
use crate::receipt::{Cause, ChainError, Event, Receipt};

mod actions;
mod config;
mod errors;
mod queue;
mod tenants;

pub use self::config::{EngineConfig, EngineConfigError};
pub use self::errors::{BuildError, CommandError, IngestError, RestoreError};
pub use self::tenants::{TenantShapeError, TenantSlot, TenantView};
pub use crate::execution::{ActionCommand, Enforced, InFlight, Queued};
pub use crate::stats::Stats;

use self::tenants::{TenantState, Tenants};
use crate::storage::Storage;

/// What one governor event did. Small and `Copy` on purpose (about 40 bytes): it is what every
/// signal returns, and the 136-byte [`crate::Action`] it could carry (a rollback's revision) is never
/// what the governor orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: GovernorState,
    /// The state after.
    pub to: GovernorState,
    /// `consecutive_high` after.
    pub consecutive_high: u8,
    /// The action the governor ordered and dispatched, if any (`Order::action` gives the
    /// [`crate::Action`]).
    pub action: Option<governor::Order>,
    /// Its receipt id.
    pub receipt: Option<u64>,
}

impl Transition {
    /// The action dispatched, if any, as the [`crate::Action`] its receipt records.
    pub const fn dispatched(&self) -> Option<crate::Action> {
        match self.action {
            Some(order) => Some(order.action()),
            None => None,
        }
    }
}

/// What became of an accepted signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalResult {
    /// Seen before in the retained windows: reported, not governed.
    Duplicate,
    /// Governed.
    Governed(Transition),
}

/// The sans-IO engine (see the module doc for the call order).
///
/// It runs in the [`Storage`] the driver hands it (sized by a
/// [`crate::storage::Capacities`]): tenants, their ids, the deduplicator and the ledger ring.
/// Its actions in flight and completed actions remembered for rollback are in that storage too;
/// engine-wide and fixed: [`crate::limits::ACTION_QUEUE_MAX`] queued action commands.
#[derive(Debug)]
pub struct Engine<'a> {
    config: EngineConfig,
    tenants: Tenants<'a>,
    dedup: Dedup<'a>,
    ledger: Ledger<'a>,
    execution: Execution<'a>,
    breakers: Breakers,
    stats: Stats,
}

impl<'a> Engine<'a> {
    /// An empty engine at genesis, in `storage`.
    pub fn new(config: EngineConfig, storage: Storage<'a>) -> Result<Self, BuildError> {
        config.validate()?;
        let Storage {
            tenants,
            tenant_index,
            tenant_ids,
            dedup_arrivals,
            dedup_fingerprints,
            dedup_windows,
            ledger_spans,
            ledger_arena,
            in_flight,
            rollbackable,
            queued,
        } = storage;
        let ledger = Ledger::new(ledger_arena, ledger_spans)?;
        let chain = RECEIPTS_PER_INPUT_MAX + BREAKER_RECEIPTS_PER_INPUT_MAX;
        if config.breakers_enabled() && !ledger.can_append(chain) {
            let receipts = ledger.capacity();
            return Err(EngineConfigError::BreakerRingTooSmall { receipts }.into());
        }
        Ok(Self {
            config,
            tenants: Tenants::new(tenants, tenant_index, tenant_ids)?,
            dedup: Dedup::new(dedup_fingerprints, dedup_windows, dedup_arrivals)?,
            ledger,
            execution: Execution::new(in_flight, rollbackable, queued),
            breakers: Breakers::default(),
            stats: Stats::default(),
        })
    }

    // ----- inputs -------------------------------------------------------------------------

    /// Monitor → Analyze → dedup → Plan → Execute for one signal, in the documented order
    /// (`docs/signals.md#order-of-checks`: validation, entitlement, dedup). Every result,
    /// refusals included, is counted in [`Engine::stats`].
    pub fn handle_signal(
        &mut self,
        now_ms: u64,
        raw: &RawSignal<'_>,
    ) -> Result<SignalResult, IngestError> {
        let result = self.signal(now_ms, raw);
        self.stats.count_signal(&result);
        result
    }

    /// An operator's reset: the governor returns to Stable, whatever the
    /// entitlement's state, and enforcement ends. The governor receipt (cause `Reset`) is
    /// written when the state or c change and also when an action is enforced (Stable →
    /// Stable, c 0): applying it is what clears the enforced action, so restore agrees.
    pub fn handle_reset(&mut self, now_ms: u64, tenant: &str) -> Result<Transition, CommandError> {
        let slot = self.command_slot(tenant)?;
        let mut step = self.plan(slot, GovernorEvent::Reset);
        step.forced = self
            .tenants
            .state(slot)
            .is_some_and(|t| t.enforced.is_some());
        debug_assert_eq!(step.step.to, GovernorState::Stable);
        if !self.has_room(slot, false, &step) {
            return Err(CommandError::Busy);
        }
        Ok(self.enact(now_ms, slot, Cause::Reset, step))
    }

    /// An entitlement command (`docs/entitlements.md#lifecycle`). Returns the new state.
    pub fn handle_entitlement(
        &mut self,
        now_ms: u64,
        tenant: &str,
        command: EntitlementCommand<'_>,
    ) -> Result<EntitlementState, EntitlementError> {
        monitor::validate_tenant(tenant).map_err(|_| EntitlementError::InvalidTenantId)?;
        let slot = self.tenants.slot(tenant);
        let current = slot
            .and_then(|s| self.tenants.state(s))
            .map(|t| t.entitlement);
        let (to, event) = entitlement::event_for(current, now_ms, command)?;
        if !self.ledger.can_append(1) {
            return Err(EntitlementError::Busy);
        }
        let slot = match slot {
            Some(slot) => slot,
            None => self
                .insert_tenant(tenant, now_ms)
                .ok_or(EntitlementError::TenantTableFull)?,
        };
        self.commit(now_ms, slot, event)
            .ok_or(EntitlementError::Busy)?;
        Ok(to)
    }

    /// Admits `amount` of `resource` for `tenant` under its quota, or its `rate` bucket
    /// ([`EngineConfig::rates`]), and its enforced action (`docs/entitlements.md#admission`).
    /// Returns the units now in use, or `rate`'s whole tokens left.
    pub fn admit(
        &mut self,
        now_ms: u64,
        tenant: &str,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let rates = self.config.rates;
        self.admitting(tenant)?
            .admit(&rates, now_ms, resource, amount)
    }

    /// Releases units admitted before (`rate`: `NothingToRelease`); returns those still in use.
    pub fn release(
        &mut self,
        tenant: &str,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        self.admitting(tenant)?.usage.release(resource, amount)
    }

    /// Rebuilds state from one durable record, in chain order (receipt 0 first). The record
    /// is verified against the ring's head (seq, prev_hash, hash), decoded, kept in the ring
    /// as already persisted, and applied exactly as the live path applied it. Nothing is
    /// counted in [`Engine::stats`].
    pub fn restore(&mut self, record: &[u8]) -> Result<(), RestoreError> {
        let position = self.ledger.next_seq();
        let receipt = Receipt::decode(record).map_err(|kind| ChainError { position, kind })?;
        let slot = match (self.tenants.slot(&receipt.tenant), &receipt.event) {
            (Some(slot), _) => slot,
            (None, Event::Entitlement { from: None, .. }) => self
                .insert_tenant(&receipt.tenant, receipt.ts_ms)
                .ok_or(RestoreError::TenantTableFull(position))?,
            (None, _) => return Err(RestoreError::Inconsistent(position)),
        };
        if !self.follows(slot, &receipt.event) {
            return Err(RestoreError::Inconsistent(position));
        }
        self.ledger.restore(record)?;
        self.apply(slot, receipt.seq, receipt.ts_ms, &receipt.event);
        if let Event::Governor { cause, .. } = &receipt.event
            && let (Some(id), Cause::Signal { ts_ms, .. }) =
                (cause.signal_id(&receipt.tenant), cause)
        {
            let window = monitor::window_of(*ts_ms);
            self.dedup.insert(&id, window, receipt.ts_ms);
        }
        Ok(())
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next receipt to persist, as its canonical bytes, in seq order.
    pub fn poll_record(&mut self) -> Option<&[u8]> {
        self.ledger.poll_record()
    }

    /// The next action command for the adapter.
    pub fn poll_action(&mut self) -> Option<ActionCommand> {
        self.execution.poll_action()
    }

    /// The earliest deadline of an action in flight: call [`Engine::handle_timeout`] then.
    /// 0 (in the past: due now) while a tenant has a queued action and nothing in flight.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.execution.next_timeout_ms()
    }

    // ----- getters ------------------------------------------------------------------------

    /// One tenant as of `now_ms`.
    pub fn tenant(&self, now_ms: u64, tenant: &str) -> Option<TenantView<'_>> {
        self.view(now_ms, self.tenants.slot(tenant)?)
    }

    /// The limit an admission of `resource` for `tenant` is checked against now: the SKU's
    /// limit, lowered by a Throttle in force ([`entitlement::effective_limit`]). `None` for an
    /// unknown tenant. A caller counting admissions elsewhere (a fleet) checks this limit.
    pub fn admission_limit(&self, tenant: &str, resource: Resource) -> Option<u16> {
        let t = self.tenants.state(self.tenants.slot(tenant)?)?;
        Some(entitlement::effective_limit(
            t.entitlement.sku,
            resource,
            t.enforced,
        ))
    }

    /// Every tenant as of `now_ms`, in the order they were first seen.
    pub fn tenants(&self, now_ms: u64) -> impl Iterator<Item = TenantView<'_>> + '_ {
        (0..self.tenants.len()).filter_map(move |slot| self.view(now_ms, slot))
    }

    /// Number of tenants known.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// The most tenants it holds at once.
    pub fn tenant_capacity(&self) -> usize {
        self.tenants.capacity()
    }

    /// Bytes of the tenant id arena in use, and in all. A new tenant whose id does not fit
    /// is refused like one beyond the tenant capacity (`TenantTableFull`).
    pub fn tenant_id_bytes(&self) -> (usize, usize) {
        self.tenants.id_bytes()
    }

    /// The in-memory ledger.
    pub const fn ledger(&self) -> &Ledger<'a> {
        &self.ledger
    }

    /// The actions in flight.
    pub fn in_flight(&self) -> &[InFlight] {
        self.execution.in_flight()
    }

    /// Receipt ids of completed actions that can be rolled back, oldest first.
    pub fn rollbackable(&self) -> impl Iterator<Item = u64> + '_ {
        self.execution.rollbackable()
    }

    /// Receipt ids of completed actions whose rollback was requested and has not ended
    /// ([`Engine::handle_rollback_outcome`] not yet called), oldest first. After a restore
    /// these are rollbacks a crash cut short: the driver decides their outcome (the tokio
    /// adapter records them as failed, so they can be requested again).
    pub fn pending_rollbacks(&self) -> impl Iterator<Item = u64> + '_ {
        self.execution.pending_rollbacks()
    }

    /// The circuit of one action kind's backend (`docs/actions.md#circuit-breakers`); always
    /// `Closed` while the kind's breaker is off.
    pub fn circuit(&self, kind: ActionKind) -> CircuitState {
        if self.config.breaker(kind).failures == 0 {
            return CircuitState::Closed;
        }
        self.breakers.get(kind).state()
    }

    /// Signal ids remembered by the deduplicator.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// The most actions in flight at once, and completed actions remembered for rollback.
    pub fn execution_capacities(&self) -> (usize, usize) {
        self.execution.capacities()
    }

    /// The most signal ids the deduplicator remembers.
    pub fn dedup_capacity(&self) -> usize {
        self.dedup.capacity()
    }

    /// Dedup ids evicted while still inside the 60 s retention because the deduplicator was
    /// full, on the live path since this engine was built ([`Stats::dedup_evictions`]; not
    /// while restoring). A redelivery of such a signal is governed again: a rising count
    /// means `IDS` is too small for the load.
    pub const fn dedup_evictions(&self) -> u64 {
        self.stats.dedup_evictions()
    }

    /// What this engine did on the live path since it was built: receipts appended (and the
    /// last seq), governor transitions, action and rollback completions, signal results and
    /// dedup evictions. Counted as inputs are handled, never by [`Engine::restore`]: like
    /// Prometheus counters, they start at zero in each process.
    ///
    /// A driver reads it whenever it exports metrics, iterating the labels' `ALL` arrays
    /// ([`crate::stats`] lists them):
    ///
    /// ```
    /// use autonomic_core::engine::{Engine, EngineConfig};
    /// use autonomic_core::storage::{Capacities, OwnedStorage};
    /// use autonomic_core::{EntitlementCommand, GovernorState, RawSignal};
    ///
    /// let mut storage = OwnedStorage::new(&Capacities::with_tenants(4));
    /// let mut engine = Engine::new(EngineConfig::default(), storage.storage()).unwrap();
    /// let activate = EntitlementCommand::Activate { sku: "pro", expires_at_ms: None };
    /// engine.handle_entitlement(0, "acme", activate).unwrap();
    /// let raw = RawSignal { tenant: "acme", metric: "cpu", value: 80.0, ts_ms: 1_000 };
    /// engine.handle_signal(1_000, &raw).unwrap();
    ///
    /// let stats = engine.stats();
    /// let mut lines = Vec::new();
    /// for from in GovernorState::ALL {
    ///     for to in GovernorState::ALL {
    ///         let count = stats.transitions(from, to);
    ///         lines.push(format!("transitions{{from={from:?},to={to:?}}} {count}"));
    ///     }
    /// }
    /// for (result, count) in stats.signal_results() {
    ///     lines.push(format!("signals{{result={result}}} {count}"));
    /// }
    /// assert!(lines.contains(&"transitions{from=Stable,to=Warn} 1".to_string()));
    /// assert!(lines.contains(&"signals{result=governed} 1".to_string()));
    /// assert_eq!((stats.receipts(), stats.last_seq()), (2, Some(1)));
    /// ```
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether a signal with this id would be reported as a duplicate at `now_ms`.
    pub fn is_duplicate(&self, id: &[u8; 32], now_ms: u64) -> bool {
        self.dedup.contains(id, now_ms)
    }

    /// The configuration.
    pub const fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ----- internals ----------------------------------------------------------------------

    /// The slot of the tenant a command names.
    fn command_slot(&self, tenant: &str) -> Result<usize, CommandError> {
        self.tenants
            .slot(tenant)
            .ok_or(CommandError::TenantNotFound)
    }

    /// The state of the tenant an admission or a release names.
    fn admitting(&mut self, tenant: &str) -> Result<&mut TenantState, AdmitError> {
        self.tenants
            .by_id_mut(tenant)
            .ok_or(AdmitError::TenantNotFound)
    }

    /// [`Engine::handle_signal`], uncounted.
    fn signal(&mut self, now_ms: u64, raw: &RawSignal<'_>) -> Result<SignalResult, IngestError> {
        let signal = Signal::parse(raw, now_ms)?;
        let slot = self
            .tenants
            .slot(signal.tenant)
            .ok_or(IngestError::TenantNotFound)?;
        let tenant = self
            .tenants
            .state(slot)
            .ok_or(IngestError::TenantNotFound)?;
        tenant.entitlement.serving(
            now_ms,
            IngestError::EntitlementExpired,
            IngestError::EntitlementNotActive,
        )?;
        // The age bound is the retention: an accepted signal's id is remembered at least as
        // long as a redelivery of it would be accepted.
        debug_assert!(self.dedup.retains(signal.window(), now_ms));
        let id = signal.id();
        if self.dedup.contains(&id, now_ms) {
            return Ok(SignalResult::Duplicate);
        }
        let event = GovernorEvent::Signal(signal.value_pct);
        let step = self.plan(slot, event);
        if !self.has_room(slot, false, &step) {
            return Err(IngestError::Busy);
        }
        let evictions = self.dedup.evictions();
        let inserted = self.dedup.insert(&id, signal.window(), now_ms);
        debug_assert!(inserted);
        let evicted = self.dedup.evictions().saturating_sub(evictions);
        self.stats.count_dedup_evictions(evicted);
        let cause = Cause::Signal {
            metric: signal.metric,
            value_pct: signal.value_pct,
            ts_ms: signal.ts_ms,
        };
        Ok(SignalResult::Governed(
            self.enact(now_ms, slot, cause, step),
        ))
    }

    /// Adds a tenant (Pending, Starter, governor Stable) and returns its slot: a free slot,
    /// or when every slot is taken (or the id arena is full), the slot of the reusable tenant
    /// terminated longest ago (one nothing in the execution books names); `None` if neither.
    /// The live path and [`Engine::restore`] both come here, so a rebuilt table equals the
    /// live one (given the same capacities).
    fn insert_tenant(&mut self, tenant: &str, now_ms: u64) -> Option<usize> {
        monitor::validate_tenant(tenant).ok()?;
        if let Some(slot) = self.tenants.insert(tenant, now_ms) {
            return Some(slot);
        }
        let victim = self
            .tenants
            .reusable_slot(|slot| self.execution.names(slot))?;
        debug_assert!(!self.execution.names(victim));
        self.tenants.replace(victim, tenant, now_ms)
    }

    fn view(&self, now_ms: u64, slot: usize) -> Option<TenantView<'_>> {
        let in_flight = self.execution.in_flight_of(slot);
        self.tenants.view(now_ms, slot, in_flight)
    }

    /// The governor's step for `event`, decided but not applied.
    fn plan(&self, slot: usize, event: GovernorEvent) -> Planned {
        let governor = self
            .tenants
            .state(slot)
            .map_or(Governor::new(0), |t| t.governor);
        Planned::new(&self.config.thresholds, governor, event)
    }

    /// Whether the receipts and commands of `planned` (after completing the in-flight action
    /// when `completing`) fit in the ring, the action queue and the in-flight table.
    fn has_room(&self, slot: usize, completing: bool, planned: &Planned) -> bool {
        let in_flight = self.execution.in_flight_of(slot).is_some() && !completing;
        let mut receipts = usize::from(completing) + usize::from(planned.changes());
        let mut commands = 0;
        if planned.step.action.is_some() {
            receipts += 1 + usize::from(in_flight);
            commands += 1 + usize::from(in_flight);
            let frees_one = in_flight || completing;
            if self.execution.in_flight_full() && !frees_one {
                return false;
            }
        }
        self.ledger.can_append(receipts + self.breaker_room()) && self.execution.can_queue(commands)
    }

    /// Receipts to keep free beyond an input's own for what circuit breakers may add to it
    /// (none while every breaker is off, so such an engine behaves as one without breakers).
    fn breaker_room(&self) -> usize {
        if self.config.breakers_enabled() {
            BREAKER_RECEIPTS_PER_INPUT_MAX
        } else {
            0
        }
    }

    /// Applies a planned step, then lets the governor react to what a circuit refused.
    fn enact(&mut self, now_ms: u64, slot: usize, cause: Cause, planned: Planned) -> Transition {
        let (transition, refused) = self.enact_step(now_ms, slot, cause, planned);
        self.settle(now_ms, slot, refused);
        transition
    }

    /// The governor reacts to a dispatch its circuit refused as to any failed action
    /// (ActionFailed), which may dispatch (and have refused) one more action: a loop bounded
    /// by [`BREAKER_REFUSALS_PER_INPUT_MAX`], not recursion. Room was checked.
    fn settle(&mut self, now_ms: u64, slot: usize, mut refused: bool) {
        for _ in 0..BREAKER_REFUSALS_PER_INPUT_MAX {
            if !refused {
                return;
            }
            let planned = self.plan(slot, GovernorEvent::ActionFailed);
            refused = self
                .enact_step(now_ms, slot, Cause::ActionFailed, planned)
                .1;
        }
        debug_assert!(!refused, "the governor ignores a failure in Degrade");
    }

    /// Applies a planned step: the governor receipt (if anything changed), then the action.
    /// Returns the transition and whether a circuit refused the action.
    fn enact_step(
        &mut self,
        now_ms: u64,
        slot: usize,
        cause: Cause,
        planned: Planned,
    ) -> (Transition, bool) {
        let changes = planned.changes();
        let Planned { from, step, .. } = planned;
        if changes {
            let event = Event::Governor {
                cause,
                from,
                to: step.to,
                consecutive_high: step.consecutive_high,
            };
            let committed = self.commit(now_ms, slot, event);
            debug_assert!(committed.is_some());
        }
        let action = step.action;
        let dispatched = match action {
            Some(order) => self.dispatch(now_ms, slot, order.action(), false),
            None => None,
        };
        debug_assert_eq!(action.is_some(), dispatched.is_some());
        let transition = Transition {
            from,
            to: step.to,
            consecutive_high: step.consecutive_high,
            action,
            receipt: dispatched.map(|d| d.receipt),
        };
        (transition, dispatched.is_some_and(|d| d.refused))
    }

    /// Appends a receipt for `event`, counts it and applies it: the live path. `None` only if
    /// room was not checked first (a bug: debug builds assert).
    fn commit(&mut self, now_ms: u64, slot: usize, event: Event) -> Option<u64> {
        let (id, _) = self.tenants.get(slot)?;
        let appended = self.ledger.append(now_ms, id, &event);
        debug_assert!(appended.is_ok(), "room is checked before every commit");
        let seq = appended.ok()?;
        let ended = self.execution.kind_ended_by(&event);
        self.stats.count_receipt(seq, &event, ended);
        self.apply(slot, seq, now_ms, &event);
        Some(seq)
    }

    /// Whether `event` can follow the current state of `slot` (restore's consistency check).
    fn follows(&self, slot: usize, event: &Event) -> bool {
        let Some(t) = self.tenants.state(slot) else {
            return false;
        };
        match event {
            Event::Governor { from, .. } => *from == t.governor.state,
            Event::Circuit { kind, to } => self.breakers.get(*kind).follows(*to),
            _ => self.execution.follows(slot, event),
        }
    }

    /// The one place where receipts change state (see the module doc): the live path
    /// ([`Engine::commit`]) and [`Engine::restore`] both come here.
    fn apply(&mut self, slot: usize, seq: u64, ts_ms: u64, event: &Event) {
        match event {
            Event::Governor {
                to,
                consecutive_high,
                ..
            } => {
                if let Some(t) = self.tenants.state_mut(slot) {
                    t.apply_governor(ts_ms, *to, *consecutive_high);
                }
            }
            Event::ActionDispatched {
                action,
                deadline_ms,
                manual,
            } => {
                if *manual {
                    self.execution.apply_manual_dispatched(slot);
                }
                self.execution
                    .apply_dispatched(slot, seq, *deadline_ms, action);
                if let (Some(t), Some(enforced)) =
                    (self.tenants.state_mut(slot), Enforced::of(seq, action))
                {
                    t.enforced = Some(enforced);
                }
            }
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => {
                let kind = self.execution.kind_ended_by(event);
                if let Some(breaker) = kind.and_then(|k| self.breakers.get_mut(k)) {
                    breaker.apply_outcome(*outcome);
                }
                if self
                    .execution
                    .apply_action_completed(slot, *receipt, *outcome, undo)
                {
                    self.end_enforcement(slot, *receipt);
                }
            }
            Event::RollbackRequested { receipt } => {
                self.execution.apply_rollback_requested(*receipt);
            }
            Event::RollbackCompleted { receipt, succeeded } => {
                if self
                    .execution
                    .apply_rollback_completed(*receipt, *succeeded)
                {
                    self.end_enforcement(slot, *receipt);
                }
            }
            Event::Entitlement {
                to,
                sku,
                expires_at_ms,
                ..
            } => self
                .tenants
                .apply_entitlement(slot, *to, *sku, *expires_at_ms),
            Event::Circuit { kind, to } => {
                if let Some(breaker) = self.breakers.get_mut(*kind) {
                    breaker.apply_circuit(seq, ts_ms, *to);
                }
            }
            Event::ActionQueued { action } => self.execution.apply_queued(slot, seq, action),
        }
    }

    fn end_enforcement(&mut self, slot: usize, receipt: u64) {
        if let Some(t) = self.tenants.state_mut(slot) {
            t.end_enforcement(receipt);
        }
    }
}

/// Bytes of core state per tenant beside its id (governor + entitlement + enforced action +
/// usage + rate bucket), guarded by a test against the figure in `docs/design.md#memory`.
pub const TENANT_STATE_BYTES: usize = core::mem::size_of::<TenantState>();

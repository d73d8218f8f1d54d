//! The engine: one sans-IO type composing Monitor → Analyze → Plan → Execute → Knowledge.
//!
//! # Call order
//!
//! A driver owns the clock and runs a fixed loop (`docs/design.md#the-sans-io-core`):
//!
//! 1. read the clock once: `now_ms`;
//! 2. feed inputs: [`Engine::handle_signal`], [`Engine::handle_outcome`],
//!    [`Engine::handle_entitlement`], [`Engine::handle_reset`], [`Engine::handle_action`],
//!    [`Engine::handle_rollback`], [`Engine::handle_rollback_outcome`],
//!    [`Engine::handle_config`] (a new configuration, applied whole),
//!    [`Engine::handle_mode`] (a tenant's shadow or enforce mode, in its `mode` file), and
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
//! rollback bookkeeping happens in one place, `apply` (`engine/apply.rs`), given a receipt's
//! event: the live path appends a receipt and applies it, [`Engine::restore`] applies those
//! read back. So a rebuilt engine equals the live one, by construction and by test. Not
//! persisted (so not rebuilt): admission usage and `rate` buckets (callers re-admit after a
//! restart), the Shed spread counter, dedup ids of signals that changed nothing, and the
//! counters of [`Engine::stats`] (they count the live path only).
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
//! its `queue` file; one governor step (plan, room, enact, the reaction to a refused action)
//! in `step`; a new configuration and its system receipt in `reload`; the read-only
//! getters in `getters`.

use crate::breaker::Breakers;
use crate::dedup::{Dedup, Lookup};
use crate::entitlement::{
    self, AdmitError, EntitlementCommand, EntitlementError, EntitlementState, Resource,
};
use crate::execution::Execution;
use crate::governor::{self, GovernorEvent, GovernorState};
use crate::ledger::Ledger;
use crate::monitor::{self, RawSignal, Signal};
use crate::receipt::{Cause, ChainError, Event, Receipt};

mod actions;
mod apply;
mod config;
mod errors;
mod getters;
mod mode;
mod queue;
mod reload;
mod step;
mod tenants;
mod timers;

pub use self::config::{EngineConfig, EngineConfigError};
pub use self::errors::{BuildError, CommandError, IngestError, RestoreError};
pub use self::mode::{Mode, ModeError};
pub use self::reload::{AppliedConfig, ReloadError};
pub use self::tenants::{TenantShapeError, TenantSlot, TenantView};
pub use self::timers::{PendingWarning, Timer};
pub use crate::execution::{ActionCommand, Enforced, InFlight, Queued};
pub use crate::stats::Stats;

use self::tenants::{TenantState, Tenants};
use self::timers::Timers;
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
    /// The tenant is in shadow mode: `action` was recorded (`receipt` is its `ShadowAction`
    /// receipt), not dispatched.
    pub shadow: bool,
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
    timers: Timers<'a>,
    stats: Stats,
    /// The last `ConfigApplied` receipt's seq and hash (`reload`).
    applied_config: Option<AppliedConfig>,
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
            dedup_arrival_windows,
            ledger_spans,
            ledger_arena,
            in_flight,
            rollbackable,
            queued,
            timers,
        } = storage;
        let ledger = Ledger::new(ledger_arena, ledger_spans)?;
        reload::check_ring(&config, &ledger)?;
        Ok(Self {
            config,
            tenants: Tenants::new(tenants, tenant_index, tenant_ids)?,
            dedup: Dedup::new(dedup_fingerprints, dedup_arrivals, dedup_arrival_windows)?,
            ledger,
            execution: Execution::new(in_flight, rollbackable, queued),
            breakers: Breakers::default(),
            timers: Timers::new(timers)?,
            stats: Stats::default(),
            applied_config: None,
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
        let mut step = self.plan(now_ms, slot, GovernorEvent::Reset);
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
        if receipt.event.is_system() {
            return self.restore_system(record, &receipt);
        }
        let slot = match (self.tenants.slot(&receipt.tenant), &receipt.event) {
            (Some(slot), _) => slot,
            (None, Event::Entitlement { from: None, .. }) => self
                .insert_tenant(&receipt.tenant, receipt.ts_ms)
                .ok_or(RestoreError::TenantTableFull(position))?,
            (None, _) => return Err(RestoreError::Inconsistent(position)),
        };
        if matches!(receipt.event, Event::Warning { .. }) && !self.timers_free(1) {
            return Err(RestoreError::TimerTableFull(position));
        }
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

    /// The earliest deadline of an action in flight or of a governor timer (a Refuse timer
    /// or a warning: `docs/governor.md#timing`): call [`Engine::handle_timeout`] then. 0 (in
    /// the past: due now) while a tenant has a queued action and nothing in flight.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_due_ms()
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
        let vacancy = match self.dedup.lookup(&signal.id(), signal.window(), now_ms) {
            Lookup::Seen => return Ok(SignalResult::Duplicate),
            Lookup::New(vacancy) => vacancy,
        };
        let event = GovernorEvent::Signal(signal.value_pct);
        let step = self.plan(now_ms, slot, event);
        let quiet = self.is_quiet(slot, &step);
        if !quiet && !self.has_room(slot, false, &step) {
            return Err(IngestError::Busy);
        }
        let evicted = self.dedup.fill(vacancy);
        self.stats.count_dedup_evictions(u64::from(evicted));
        let cause = Cause::Signal {
            metric: signal.metric,
            value_pct: signal.value_pct,
            ts_ms: signal.ts_ms,
        };
        if quiet {
            return Ok(SignalResult::Governed(Self::quiet(&step)));
        }
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
            .reusable_slot(|slot| self.execution.names(slot) || self.timers.names(slot))?;
        debug_assert!(!self.execution.names(victim));
        self.tenants.replace(victim, tenant, now_ms)
    }

    fn view(&self, now_ms: u64, slot: usize) -> Option<TenantView<'_>> {
        let in_flight = self.execution.in_flight_of(slot);
        self.tenants.view(now_ms, slot, in_flight)
    }
}

/// Bytes of core state per tenant beside its id (governor + entitlement + enforced action +
/// usage + rate bucket), guarded by a test against the figure in `docs/design.md#memory`.
pub const TENANT_STATE_BYTES: usize = core::mem::size_of::<TenantState>();

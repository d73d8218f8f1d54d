//! What an engine shows without changing: tenants, capacities, the execution books, circuits,
//! counters and configuration.

use super::{AppliedConfig, Engine, EngineConfig, InFlight, Stats, TenantView};
use crate::action::ActionKind;
use crate::breaker::CircuitState;
use crate::entitlement::{self, Resource};
use crate::ledger::Ledger;

impl<'a> Engine<'a> {
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

    /// Signal ids the deduplicator holds (expired ones not yet removed included:
    /// [`crate::dedup::Dedup::len`]).
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

    /// Whether a signal with this id, of `window` ([`crate::monitor::window_of`] its
    /// `ts_ms`), would be reported as a duplicate at `now_ms`.
    pub fn is_duplicate(&self, id: &[u8; 32], window: u64, now_ms: u64) -> bool {
        self.dedup.contains(id, window, now_ms)
    }

    /// The configuration.
    pub const fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The last configuration applied by [`Engine::handle_config`] (or restored from its
    /// `ConfigApplied` receipt): its receipt's seq and its file's hash; `None` before any.
    pub const fn applied_config(&self) -> Option<AppliedConfig> {
        self.applied_config
    }

    /// The SHA-256 of the configuration file last applied, if any ([`Engine::applied_config`]).
    pub fn config_hash(&self) -> Option<[u8; 32]> {
        self.applied_config.map(|applied| applied.hash)
    }
}

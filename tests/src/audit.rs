//! Invariants over a running engine, checked from the receipts it emits and from its
//! getters. The simulation (`tests/sim.rs`) and the `governor_ops` fuzz target call
//! [`Auditor::drain`] and [`Auditor::check`] after every step.
//!
//! What it holds the engine to:
//! * every polled record continues the chain (a [`ChainVerifier`] over all of them), and the
//!   in-memory ring verifies from its anchor;
//! * every governor receipt is a row of the governor table (the [`crate::model::governor`]
//!   model), starting from Stable/0 and following on from the tenant's previous receipt,
//!   and one right after a completion reacts to that outcome (a timeout is a failure);
//!   every governor-ordered dispatch is the action that row orders, and every row that orders
//!   an action is followed by its dispatch;
//! * at most one action in flight per tenant; every dispatched action reaches exactly one
//!   outcome (completed, superseded or timed out), and the ones without an outcome yet are
//!   exactly the engine's `in_flight()`;
//! * the enforced action (`docs/entitlements.md#enforcement-how-actions-change-admission`) is
//!   the last dispatched Throttle/Pause/Shed until the governor returns to Stable, it fails,
//!   times out or is superseded, or it is rolled back; a governor receipt that changes nothing
//!   is only a reset ending enforcement; an undo token rides only on a success;
//! * circuits (`docs/actions.md#circuit-breakers`) change only along the breaker's table, a
//!   `half_open` is followed at once by its trial's dispatch, and a `CircuitOpen` completion
//!   follows its dispatch at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use autonomic_core::breaker::CircuitState;
use autonomic_core::engine::{Engine, Mode};
use autonomic_core::receipt::Cause;
use autonomic_core::{ActionKind, ActionOutcome, ChainVerifier, Event, GovernorState, Receipt};

use crate::model::governor::{self, GEvent, GState, MAction, Th};

pub use crate::compare::{gstate, maction};

/// Audits one engine's receipts and state.
#[derive(Debug, Clone)]
pub struct Auditor {
    th: Th,
    /// The governor's dwell or cool-down is on: a step may be held, so the governor receipt
    /// right after a completion need not be its reaction.
    held_steps: bool,
    verifier: ChainVerifier,
    /// Every record polled, in order (for rebuilding an engine from them).
    pub records: Vec<Vec<u8>>,
    /// Governor (state, c) per tenant as the receipts tell it.
    governors: HashMap<String, (GState, u8)>,
    /// An action the table ordered and whose dispatch receipt must come next for the tenant.
    ordered: HashMap<String, MAction>,
    /// Dispatched actions without an outcome yet: receipt → tenant.
    open: BTreeMap<u64, String>,
    /// Dispatched actions with their outcome.
    closed: BTreeMap<u64, ActionOutcome>,
    /// Rollbacks requested and not yet completed.
    rollbacks: BTreeSet<u64>,
    /// The enforced action's receipt id per tenant, as the receipts tell it.
    enforced: HashMap<String, u64>,
    /// Tenants whose entitlement is Terminated: a full tenant table may forget one (its slot
    /// goes to a new tenant), so the same id may later start over with a new entitlement.
    terminated: BTreeSet<String>,
    /// Tenants in shadow mode, as the `mode_set` receipts tell it.
    shadow: BTreeSet<String>,
    /// The last completion receipt: its seq, its tenant and how the action ended.
    last_completion: Option<(u64, String, ActionOutcome)>,
    /// Each kind's circuit as the receipts tell it (absent: closed).
    circuits: HashMap<ActionKind, CircuitState>,
    /// A `half_open` just recorded: its seq and kind (the trial's dispatch must follow).
    trial: Option<(u64, ActionKind)>,
    /// The last dispatch: its seq and kind.
    last_dispatch: Option<(u64, ActionKind)>,
    /// Dispatches seen.
    pub dispatched: u64,
    /// Outcomes by kind: succeeded, failed, timed out, superseded, circuit open.
    pub outcomes: [u64; 5],
    /// Circuit changes by the state entered: closed, open, half-open.
    pub circuits_entered: [u64; 3],
}

impl Auditor {
    /// The engine was reconfigured with `th` (a hot reload): call it once every receipt before
    /// the reload is drained; later governor changes are audited against `th`.
    pub fn reconfigure(&mut self, th: Th) {
        self.th = th;
    }

    /// An auditor for an engine configured with `th`, from genesis.
    pub fn new(th: Th) -> Self {
        Self {
            th,
            held_steps: false,
            verifier: ChainVerifier::new(),
            records: Vec::new(),
            governors: HashMap::new(),
            ordered: HashMap::new(),
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            rollbacks: BTreeSet::new(),
            enforced: HashMap::new(),
            terminated: BTreeSet::new(),
            shadow: BTreeSet::new(),
            last_completion: None,
            circuits: HashMap::new(),
            trial: None,
            last_dispatch: None,
            dispatched: 0,
            outcomes: [0; 5],
            circuits_entered: [0; 3],
        }
    }

    /// The same auditor for an engine whose `min_dwell_ms` or `cooldown_ms` is on
    /// (`docs/governor.md#timing`), when `held_steps`.
    pub fn with_held_steps(self, held_steps: bool) -> Self {
        Self { held_steps, ..self }
    }

    /// Polls every pending record from `engine` and audits each; returns the receipts.
    pub fn drain(&mut self, engine: &mut Engine<'_>) -> Result<Vec<Receipt>, String> {
        let mut out = Vec::new();
        while let Some(record) = engine.poll_record() {
            let record = record.to_vec();
            let receipt = self
                .verifier
                .push(&record)
                .map_err(|e| format!("polled record does not continue the chain: {e}"))?;
            self.records.push(record);
            self.audit(&receipt)?;
            out.push(receipt);
        }
        Ok(out)
    }

    fn audit(&mut self, r: &Receipt) -> Result<(), String> {
        let tenant = r.tenant.as_str().to_string();
        let seq = r.seq;
        if let Some((at, kind)) = self.trial.take() {
            let trial =
                matches!(&r.event, Event::ActionDispatched { action, .. } if action.kind() == kind);
            if at + 1 != seq || !trial {
                return Err(format!(
                    "receipt {seq}: {kind:?} half-opened at {at} without its trial next"
                ));
            }
        }
        if let Some(expected) = self.ordered.get(&tenant).copied() {
            let continues = match &r.event {
                Event::ActionDispatched { action, manual, .. } => {
                    if *manual || maction(action) != Some(expected) {
                        return Err(format!(
                            "receipt {seq}: table ordered {expected:?}, dispatched {action:?} (manual {manual})"
                        ));
                    }
                    self.ordered.remove(&tenant);
                    true
                }
                // A shadow tenant's order is recorded, not dispatched.
                Event::ShadowAction { action } if maction(action) == Some(expected) => {
                    self.ordered.remove(&tenant);
                    true
                }
                Event::ActionCompleted {
                    outcome: ActionOutcome::Superseded,
                    ..
                } => true,
                // With `grace_ms` on: the pending warning cancelled, then the order warned.
                Event::WarningCancelled { .. } => true,
                Event::Warning { action, .. } if maction(action) == Some(expected) => {
                    self.ordered.remove(&tenant);
                    true
                }
                Event::Circuit {
                    to: CircuitState::HalfOpen | CircuitState::Closed,
                    ..
                } => true,
                _ => false,
            };
            if !continues {
                return Err(format!(
                    "receipt {seq}: table ordered {expected:?} for {tenant}, got {:?}",
                    r.event
                ));
            }
        }
        match &r.event {
            Event::Governor {
                cause,
                from,
                to,
                consecutive_high,
            } => self.audit_governor(&tenant, seq, cause, *from, *to, *consecutive_high),
            Event::ActionDispatched { action, manual, .. } => {
                if let Some((old, _)) = self.open.iter().find(|(_, t)| **t == tenant) {
                    return Err(format!(
                        "receipt {seq}: dispatch for {tenant} while {old} is still in flight"
                    ));
                }
                if !manual && self.shadow.contains(&tenant) {
                    return Err(format!(
                        "receipt {seq}: governor dispatch for {tenant}, in shadow mode"
                    ));
                }
                if !manual && !self.governors.contains_key(&tenant) {
                    return Err(format!(
                        "receipt {seq}: governor dispatch for unknown tenant"
                    ));
                }
                if maction(action).is_some() {
                    self.enforced.insert(tenant.clone(), seq);
                }
                self.open.insert(seq, tenant);
                self.last_dispatch = Some((seq, action.kind()));
                self.dispatched += 1;
                Ok(())
            }
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => {
                if *outcome != ActionOutcome::Succeeded && !undo.is_empty() {
                    return Err(format!("receipt {seq}: undo token on a {outcome:?}"));
                }
                if *outcome != ActionOutcome::Succeeded
                    && self.enforced.get(&tenant) == Some(receipt)
                {
                    self.enforced.remove(&tenant);
                }
                match self.open.remove(receipt) {
                    Some(t) if t == tenant => {}
                    Some(t) => {
                        return Err(format!(
                            "receipt {seq}: completes {receipt} of {t} under {tenant}"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "receipt {seq}: outcome for {receipt}, which is not in flight (earlier: {:?})",
                            self.closed.get(receipt)
                        ));
                    }
                }
                if *outcome == ActionOutcome::CircuitOpen {
                    self.audit_refusal(seq, *receipt)?;
                }
                self.closed.insert(*receipt, *outcome);
                self.last_completion = Some((seq, tenant.clone(), *outcome));
                let k = match outcome {
                    ActionOutcome::Succeeded => 0,
                    ActionOutcome::Failed => 1,
                    ActionOutcome::TimedOut => 2,
                    ActionOutcome::Superseded => 3,
                    ActionOutcome::CircuitOpen => 4,
                };
                self.outcomes[k] += 1;
                Ok(())
            }
            Event::RollbackRequested { receipt } => {
                if self.closed.get(receipt) != Some(&ActionOutcome::Succeeded) {
                    return Err(format!(
                        "receipt {seq}: rollback of {receipt}, not a succeeded action"
                    ));
                }
                if !self.rollbacks.insert(*receipt) {
                    return Err(format!(
                        "receipt {seq}: second rollback of {receipt} at once"
                    ));
                }
                Ok(())
            }
            Event::RollbackCompleted { receipt, succeeded } => {
                if !self.rollbacks.remove(receipt) {
                    return Err(format!(
                        "receipt {seq}: rollback outcome of {receipt}, never requested"
                    ));
                }
                if *succeeded && self.enforced.get(&tenant) == Some(receipt) {
                    self.enforced.remove(&tenant);
                }
                Ok(())
            }
            Event::Entitlement { from: None, .. } => {
                let forgotten = self.terminated.remove(&tenant);
                if forgotten && self.open.values().any(|t| *t == tenant) {
                    return Err(format!(
                        "receipt {seq}: {tenant} forgotten with an action in flight"
                    ));
                }
                self.enforced.remove(&tenant);
                // A new tenant starts in enforce mode (a forgotten one starts over).
                self.shadow.remove(&tenant);
                if self.governors.insert(tenant, (GState::Stable, 0)).is_some() && !forgotten {
                    return Err(format!("receipt {seq}: new entitlement for a known tenant"));
                }
                Ok(())
            }
            Event::Entitlement { to, .. } => {
                if *to == autonomic_core::EntitlementState::Terminated {
                    self.terminated.insert(tenant.clone());
                }
                if !self.governors.contains_key(&tenant) {
                    return Err(format!(
                        "receipt {seq}: entitlement change for an unknown tenant"
                    ));
                }
                Ok(())
            }
            Event::Circuit { kind, to } => self.audit_circuit(seq, *kind, *to),
            Event::ActionQueued { .. } if !self.governors.contains_key(&tenant) => Err(format!(
                "receipt {seq}: action queued for an unknown tenant"
            )),
            Event::ActionQueued { .. } => Ok(()),
            Event::ConfigApplied { .. } if !tenant.is_empty() => Err(format!(
                "receipt {seq}: a config receipt names tenant {tenant}"
            )),
            Event::ConfigApplied { .. } => Ok(()),
            Event::ModeSet { mode } => {
                match mode {
                    Mode::Shadow => self.shadow.insert(tenant),
                    Mode::Enforce => self.shadow.remove(&tenant),
                };
                Ok(())
            }
            Event::ShadowAction { .. } if !self.shadow.contains(&tenant) => Err(format!(
                "receipt {seq}: a shadow action for {tenant}, in enforce mode"
            )),
            Event::ShadowAction { .. } => Ok(()),
            Event::Warning { .. } | Event::WarningCancelled { .. } => Ok(()),
        }
    }

    /// A `CircuitOpen` completion: right after its dispatch, whose kind's circuit is open or
    /// half-open.
    fn audit_refusal(&self, seq: u64, receipt: u64) -> Result<(), String> {
        let Some((at, kind)) = self.last_dispatch else {
            return Err(format!("receipt {seq}: circuit refusal without a dispatch"));
        };
        let circuit = self.circuits.get(&kind).copied();
        let open = matches!(circuit, Some(CircuitState::Open | CircuitState::HalfOpen));
        if at != receipt || at + 1 != seq || !open {
            return Err(format!(
                "receipt {seq}: refusal of {receipt} (last dispatch {at}, {kind:?} circuit {circuit:?})"
            ));
        }
        Ok(())
    }

    /// A circuit change: along the breaker's table.
    fn audit_circuit(
        &mut self,
        seq: u64,
        kind: ActionKind,
        to: CircuitState,
    ) -> Result<(), String> {
        use CircuitState as C;
        let from = self.circuits.get(&kind).copied().unwrap_or(C::Closed);
        let allowed = matches!(
            (from, to),
            (C::Closed, C::Open)
                | (C::Open | C::HalfOpen, C::HalfOpen | C::Closed)
                | (C::HalfOpen, C::Open)
        );
        if !allowed {
            return Err(format!(
                "receipt {seq}: {kind:?} circuit {from:?} -> {to:?}"
            ));
        }
        if to == C::HalfOpen {
            self.trial = Some((seq, kind));
        }
        // A circuit change between a completion and the governor's reaction to it.
        if let Some((at, _, _)) = &mut self.last_completion
            && *at + 1 == seq
        {
            *at = seq;
        }
        self.circuits.insert(kind, to);
        self.circuits_entered[to.index()] += 1;
        Ok(())
    }

    fn audit_governor(
        &mut self,
        tenant: &str,
        seq: u64,
        cause: &Cause,
        from: GovernorState,
        to: GovernorState,
        c: u8,
    ) -> Result<(), String> {
        let Some((state, count)) = self.governors.get(tenant).copied() else {
            return Err(format!(
                "receipt {seq}: governor change for unknown tenant {tenant}"
            ));
        };
        if gstate(from) != state {
            return Err(format!(
                "receipt {seq}: from {from:?} but the tenant was in {state:?}"
            ));
        }
        // The governor reacts to a completion with the matching event: a success is
        // ActionSucceeded; a failure or a timeout (ExecutionTimeout) is ActionFailed.
        let reacts = matches!(cause, Cause::ActionSucceeded | Cause::ActionFailed);
        if let Some((at, t, outcome)) = &self.last_completion
            && reacts
            && !self.held_steps
            && *at + 1 == seq
            && t == tenant
        {
            let expected = match outcome {
                ActionOutcome::Succeeded => Some(Cause::ActionSucceeded),
                ActionOutcome::Failed | ActionOutcome::TimedOut | ActionOutcome::CircuitOpen => {
                    Some(Cause::ActionFailed)
                }
                ActionOutcome::Superseded => None,
            };
            if expected != Some(*cause) {
                return Err(format!(
                    "receipt {seq}: governor reacted with {cause:?} to the outcome {outcome:?}"
                ));
            }
        }
        let event = match cause {
            Cause::Signal { value_pct, .. } => GEvent::Signal(*value_pct),
            Cause::ActionSucceeded => GEvent::Succeeded,
            Cause::ActionFailed => GEvent::Failed,
            Cause::Reset => GEvent::Reset,
            // `refuse_max_ms` (docs/governor.md#timing): Refuse steps down to Degrade.
            Cause::RefuseExpired if state == GState::Refuse => GEvent::Succeeded,
            Cause::RefuseExpired => {
                return Err(format!("receipt {seq}: Refuse expired in {state:?}"));
            }
        };
        let (next, next_c, action) = match cause {
            Cause::RefuseExpired => (GState::Degrade, 0, None),
            _ => governor::step(&self.th, state, count, event),
        };
        if (next, next_c) != (gstate(to), c) {
            return Err(format!(
                "receipt {seq}: {state:?}/c={count} + {event:?} went to {to:?}/c={c}; the governor table says {next:?}/c={next_c}"
            ));
        }
        let ends_enforcement = *cause == Cause::Reset && self.enforced.contains_key(tenant);
        if (next, next_c) == (state, count) && !ends_enforcement {
            return Err(format!(
                "receipt {seq}: governor receipt that changes nothing"
            ));
        }
        self.governors.insert(tenant.to_string(), (next, next_c));
        if next == GState::Stable {
            self.enforced.remove(tenant);
        }
        if let Some(a) = action {
            self.ordered.insert(tenant.to_string(), a);
        }
        Ok(())
    }

    /// Checks the engine against the receipts audited so far (call right after `drain`).
    pub fn check(&self, engine: &Engine<'_>, now_ms: u64) -> Result<(), String> {
        engine
            .ledger()
            .verify()
            .map_err(|e| format!("ledger().verify() failed: {e}"))?;
        let ledger = engine.ledger();
        if ledger.head_hash() != self.verifier.head_hash()
            || ledger.next_seq() != self.verifier.next_seq()
        {
            return Err("the ring's head is not the head of the polled records".into());
        }
        if let Some(t) = self.ordered.keys().next() {
            return Err(format!(
                "the table ordered an action for {t} that was never dispatched"
            ));
        }
        let mut flying = BTreeMap::new();
        for f in engine.in_flight() {
            if flying.insert(f.receipt, ()).is_some() {
                return Err(format!("receipt {} in flight twice", f.receipt));
            }
        }
        let open: BTreeSet<u64> = self.open.keys().copied().collect();
        let flying: BTreeSet<u64> = flying.into_keys().collect();
        if open != flying {
            return Err(format!(
                "dispatched without outcome {open:?} but in flight {flying:?}"
            ));
        }
        let mut tenants_flying = BTreeSet::new();
        for view in engine.tenants(now_ms) {
            let expected = self.governors.get(view.tenant).copied();
            let actual = (gstate(view.state), view.consecutive_high);
            if expected != Some(actual) {
                return Err(format!(
                    "{}: engine shows {actual:?}, receipts say {expected:?}",
                    view.tenant
                ));
            }
            let enforced = self.enforced.get(view.tenant).copied();
            if view.enforced.map(|e| e.receipt) != enforced {
                return Err(format!(
                    "{}: engine enforces {:?}, receipts say {enforced:?}",
                    view.tenant, view.enforced
                ));
            }
            if let Some(f) = view.in_flight {
                if self.open.get(&f.receipt).map(String::as_str) != Some(view.tenant) {
                    return Err(format!(
                        "{}: in flight {} is not its own",
                        view.tenant, f.receipt
                    ));
                }
                tenants_flying.insert(view.tenant.to_string());
            }
        }
        if tenants_flying.len() != self.open.len() {
            return Err("more actions in flight than tenants with one: two for one tenant".into());
        }
        Ok(())
    }

    /// The dispatched actions still without an outcome.
    pub fn open(&self) -> impl Iterator<Item = u64> + '_ {
        self.open.keys().copied()
    }
}

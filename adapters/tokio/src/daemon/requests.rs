//! The first half of a round: mutations and queries, applied at the round's clock; their
//! answers wait for the round's commit.

use super::*;

impl Host<'_, '_> {
    /// Applies a mutation (the caller has checked that mutations are taken).
    pub(super) fn mutate(&mut self, now: u64, mutation: Mutation) {
        match mutation {
            Mutation::Signals { signals, reply } => {
                let results = self.signals(now, &signals);
                self.defer(reply, results, true);
            }
            Mutation::Entitlement(Request { input, reply }) => {
                let result = self.apply(now, &input);
                if matches!(input.command, EntitlementCmd::Activate { .. }) && result.is_ok() {
                    self.warn_unactionable(&input.tenant);
                }
                self.defer(reply, result, true);
            }
            Mutation::Reset(request) => self.answer(now, request),
            Mutation::Action(request) => self.answer(now, request),
            Mutation::Rollback(request) => self.answer(now, request),
            Mutation::Config(request) => self.answer(now, request),
            Mutation::Mode(request) => self.answer(now, request),
        }
    }

    /// Applies the request's input and queues its answer.
    fn answer<I, T, E>(&mut self, now: u64, request: Request<I>)
    where
        I: Apply<Output = Result<T, E>>,
        T: 'static,
        E: MaybeBusy + 'static,
    {
        let result = self.apply(now, &request.input);
        self.defer(request.reply, result, true);
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
            let result = self.apply(now, s);
            let label = match &result {
                Ok(SignalResult::Governed(_)) => "governed",
                Ok(SignalResult::Duplicate) => "duplicate",
                Err(e) => e.name(),
            };
            self.shared.metrics.signal(label);
            if let Ok(SignalResult::Governed(t)) = &result
                && t.action.is_some()
                && t.shadow
            {
                info!(tenant = %s.tenant, from = t.from.as_str(), to = t.to.as_str(),
                      action = ?t.dispatched(), receipt = ?t.receipt, "governor: action shadowed (not dispatched)");
            } else if let Ok(SignalResult::Governed(t)) = &result
                && t.action.is_some()
            {
                info!(tenant = %s.tenant, from = t.from.as_str(), to = t.to.as_str(),
                      action = ?t.dispatched(), receipt = ?t.receipt, "governor: action dispatched");
            }
            results.push(SignalResultJson::new(None, &s.tenant, &result));
        }
        results
    }

    /// Answers a query (the caller has checked that it may be answered).
    pub(super) fn query(&mut self, now: u64, query: Query) {
        let shows_state = query.shows_state();
        match query {
            Query::Admit {
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
                let limit = self.engine.admission_limit(&tenant, resource);
                let result = result.map(|in_use| Admitted {
                    in_use,
                    limit: limit.unwrap_or(0),
                });
                self.defer(reply, result, shows_state);
            }
            Query::Tenant { tenant, reply } => {
                let view = self.engine.tenant(now, &tenant).map(|v| {
                    let queued = self.engine.queued(&tenant);
                    let warning = self.engine.warning(&tenant);
                    TenantJson::from(&v)
                        .with_queued(queued)
                        .with_warning(warning)
                });
                self.defer(reply, view, shows_state);
            }
            Query::Verify { reply } => {
                let verify = WindowVerify::of(self.engine.ledger());
                self.defer(reply, verify, shows_state);
            }
            Query::Gauges { reply } => {
                let gauges = self.gauges(now);
                self.defer(reply, gauges, shows_state);
            }
        }
    }

    fn gauges(&self, now: u64) -> EngineGauges {
        let mut tenants_by_state = BTreeMap::new();
        let mut entitlements_by_state = BTreeMap::new();
        for state in autonomic_core::GovernorState::ALL {
            for mode in autonomic_core::engine::Mode::ALL {
                tenants_by_state.insert((state.as_str(), mode.as_str()), 0);
            }
        }
        for v in self.engine.tenants(now) {
            *tenants_by_state
                .entry((v.state.as_str(), v.mode.as_str()))
                .or_insert(0) += 1;
            *entitlements_by_state
                .entry(v.entitlement.as_str())
                .or_insert(0) += 1;
        }
        EngineGauges {
            tenants_by_state,
            entitlements_by_state,
            in_flight: self.engine.in_flight().len() as u64,
            dedup_evictions: self.engine.dedup_evictions(),
            tables: self.tables(),
        }
    }

    /// Each sized table of the engine: name, in use, capacity.
    fn tables(&self) -> Vec<(&'static str, u64, u64)> {
        let e = &self.engine;
        let (id_bytes, id_capacity) = e.tenant_id_bytes();
        let (queued, queued_capacity) = e.queued_len();
        let (timers, timers_capacity) = e.timers_len();
        [
            ("tenants", e.tenant_count(), e.tenant_capacity()),
            ("tenant_id_bytes", id_bytes, id_capacity),
            ("dedup_ids", e.dedup_len(), e.dedup_capacity()),
            ("receipts", e.ledger().len(), e.ledger().capacity()),
            ("queued_actions", queued, queued_capacity),
            ("governor_timers", timers, timers_capacity),
        ]
        .into_iter()
        .map(|(table, used, capacity)| (table, used as u64, capacity as u64))
        .collect()
    }
}

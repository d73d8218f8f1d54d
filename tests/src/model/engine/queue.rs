//! The queued manual actions of [`EngineModel`] (see the parent module's doc).

use super::{EngineModel, GEvent, MAction};

/// Most queued actions per tenant.
const QUEUED_PER_TENANT: usize = 4;

impl EngineModel {
    /// The first queued action of each tenant with nothing in flight, one per tenant.
    pub(super) fn dispatch_queued(&mut self, now_ms: u64) {
        let mut served: Vec<String> = Vec::new();
        loop {
            let next = self.queued.iter().position(|(r, id, _)| {
                let head = self.queued.iter().find(|(_, h, _)| h == id);
                let flying = self.tenant(id).is_some_and(|t| t.in_flight.is_some());
                !served.contains(id) && !flying && head.is_some_and(|(h, _, _)| h == r)
            });
            let Some(at) = next else { return };
            let (_, id, action) = self.queued.remove(at);
            let Some(i) = self.find(&id) else { return };
            served.push(id);
            let (_, refused) = self.dispatch(now_ms, i, action);
            if refused {
                self.govern(now_ms, i, GEvent::Failed);
            }
        }
    }

    /// When the engine wants a timeout call: at once (0) while a tenant has a queued action
    /// and nothing in flight, else the earliest deadline (of an action or a governor timer).
    pub fn poll_timeout(&self) -> Option<u64> {
        let due = self
            .queued
            .iter()
            .any(|(_, id, _)| self.tenant(id).is_some_and(|t| t.in_flight.is_none()));
        if due {
            return Some(0);
        }
        let flights = self.tenants.iter().filter_map(|t| t.in_flight);
        let deadlines = flights.map(|f| f.deadline_ms);
        deadlines.chain(self.timers_due()).min()
    }

    /// The receipts of `tenant`'s queued actions, first to run first.
    pub fn queued_of(&self, tenant: &str) -> Vec<u64> {
        let mine = self.queued.iter().filter(|(_, id, _)| id == tenant);
        mine.map(|(r, _, _)| *r).collect()
    }

    /// A manual action that waits its turn: dispatched at once when the tenant has nothing in
    /// flight or queued, else queued (`QueueFull` beyond 4 for the tenant or the capacity).
    pub fn queued_manual(
        &mut self,
        now_ms: u64,
        tenant: &str,
        action: MAction,
    ) -> Result<u64, &'static str> {
        let flying = self.tenant(tenant).ok_or("TenantNotFound")?.in_flight;
        let waiting = self.queued_of(tenant).len();
        if flying.is_none() && waiting == 0 {
            return self.manual(now_ms, tenant, action);
        }
        if waiting >= QUEUED_PER_TENANT || self.queued.len() >= self.queued_capacity {
            return Err("QueueFull");
        }
        let receipt = self.receipt();
        self.queued.push((receipt, tenant.to_string(), action));
        Ok(receipt)
    }
}

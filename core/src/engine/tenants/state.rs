//! One tenant's state beside its id: governor, entitlement, enforced action, admission usage
//! and the `rate` bucket, and the changes receipts and admissions make to it.

use crate::engine::Mode;
use crate::entitlement::{
    AdmitError, Bucket, Entitlement, EntitlementState, RateLimits, Resource, Sku, Usage,
};
use crate::execution::Enforced;
use crate::governor::{Governor, GovernorState};

/// One tenant's state beside its id: 80 bytes (a test guards the figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TenantState {
    pub(in crate::engine) governor: Governor,
    pub(in crate::engine) entitlement: Entitlement,
    pub(in crate::engine) enforced: Option<Enforced>,
    pub(in crate::engine) usage: Usage,
    /// Enforce (the default) or shadow (`ModeSet` receipts).
    pub(in crate::engine) mode: Mode,
    /// The `rate` bucket (not persisted: full after a restart).
    rate: Bucket,
    /// Once Terminated: the table's termination count when this tenant was revoked, so the
    /// lowest is the one terminated longest ago (receipt order). A `u32` fits the padding
    /// (a `u64` seq would grow the state past 80 bytes).
    pub(super) terminated_rank: u32,
}

impl TenantState {
    /// A new tenant: Pending, Starter, never expiring, governor Stable since `now_ms`, nothing
    /// in use, its `rate` bucket full, in enforce mode.
    pub(crate) const fn new(now_ms: u64) -> Self {
        TenantState {
            governor: Governor::new(now_ms),
            entitlement: Entitlement::recorded(EntitlementState::Pending, Sku::Starter, None),
            enforced: None,
            usage: Usage::new(),
            mode: Mode::Enforce,
            rate: Bucket::full(now_ms),
            terminated_rank: 0,
        }
    }

    /// Admits `amount` of `resource` at `now_ms`: units of a quota resource ([`Usage::admit`]),
    /// or tokens from the bucket under the SKU's limit in `rates` ([`Usage::admit_rate`]).
    pub(in crate::engine) fn admit(
        &mut self,
        rates: &RateLimits,
        now_ms: u64,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let (e, enforced) = (self.entitlement, self.enforced);
        let rate = rates.of(e.sku);
        match resource {
            Resource::Rate => {
                self.usage
                    .admit_rate(&mut self.rate, rate, &e, enforced, now_ms, amount)
            }
            _ => self.usage.admit(&e, enforced, now_ms, resource, amount),
        }
    }

    /// A governor receipt: back in Stable, nothing is enforced any more.
    pub(in crate::engine) fn apply_governor(
        &mut self,
        ts_ms: u64,
        to: GovernorState,
        consecutive_high: u8,
    ) {
        self.governor.apply(ts_ms, to, consecutive_high);
        if to == GovernorState::Stable {
            self.enforced = None;
        }
    }

    /// The action dispatched with `receipt` ended without taking effect, or was rolled back:
    /// it is no longer enforced, if it was.
    pub(in crate::engine) fn end_enforcement(&mut self, receipt: u64) {
        if self.enforced.is_some_and(|e| e.receipt == receipt) {
            self.enforced = None;
        }
    }
}

//! The engine's tenant table: each tenant's governor, entitlement, enforced action and
//! admission usage by slot, and the reuse of Terminated tenants' slots when it is full.

use heapless::index_map::FnvIndexMap;

use crate::entitlement::{Entitlement, EntitlementState, Sku, Usage};
use crate::execution::{Enforced, InFlight};
use crate::governor::{Governor, GovernorState};
use crate::monitor::TenantId;

/// One tenant's state beside its id: 64 bytes (a test guards the figure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TenantState {
    pub(super) governor: Governor,
    pub(super) entitlement: Entitlement,
    pub(super) enforced: Option<Enforced>,
    pub(super) usage: Usage,
    /// Once Terminated: the table's termination count when this tenant was revoked, so the
    /// lowest is the one terminated longest ago (receipt order). A `u32` fits the padding
    /// (a `u64` seq would grow the state past 64 bytes).
    terminated_rank: u32,
}

impl TenantState {
    /// A new tenant: Pending, Starter, never expiring, governor Stable since `now_ms`.
    const fn new(now_ms: u64) -> Self {
        TenantState {
            governor: Governor::new(now_ms),
            entitlement: Entitlement::recorded(EntitlementState::Pending, Sku::Starter, None),
            enforced: None,
            usage: Usage::new(),
            terminated_rank: 0,
        }
    }

    /// A governor receipt: back in Stable, nothing is enforced any more.
    pub(super) fn apply_governor(&mut self, ts_ms: u64, to: GovernorState, consecutive_high: u8) {
        self.governor.apply(ts_ms, to, consecutive_high);
        if to == GovernorState::Stable {
            self.enforced = None;
        }
    }

    /// The action dispatched with `receipt` ended without taking effect, or was rolled back:
    /// it is no longer enforced, if it was.
    pub(super) fn end_enforcement(&mut self, receipt: u64) {
        if self.enforced.is_some_and(|e| e.receipt == receipt) {
            self.enforced = None;
        }
    }
}

/// A tenant, as the getters show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantView<'a> {
    /// The id.
    pub tenant: &'a str,
    /// The entitlement state at the `now_ms` asked about.
    pub entitlement: EntitlementState,
    /// The tier.
    pub sku: Sku,
    /// When the entitlement expires (`None`: never).
    pub expires_at_ms: Option<u64>,
    /// The governor's state.
    pub state: GovernorState,
    /// Its consecutive-high count.
    pub consecutive_high: u8,
    /// When the governor entered its state.
    pub entered_at_ms: u64,
    /// Milliseconds in the state at the `now_ms` asked about.
    pub time_in_state_ms: u64,
    /// The action in flight, if any.
    pub in_flight: Option<&'a InFlight>,
    /// The action enforced at admission, if any.
    pub enforced: Option<Enforced>,
    /// Units in use, by [`crate::entitlement::Resource`] index.
    pub usage: [u16; 4],
}

/// At most `T` tenants by id (a power of two), each at a slot `0..len`.
#[derive(Debug, Clone)]
pub(super) struct Tenants<const T: usize> {
    map: FnvIndexMap<TenantId, TenantState, T>,
    /// Terminations applied so far (saturating): the next Terminated tenant's rank.
    terminations: u32,
}

impl<const T: usize> Tenants<T> {
    const SHAPE_OK: () = assert!(T <= u32::MAX as usize, "tenant capacity must fit in u32");

    /// An empty table.
    pub(super) fn new() -> Self {
        let () = Self::SHAPE_OK;
        Self {
            map: FnvIndexMap::new(),
            terminations: 0,
        }
    }

    /// Number of tenants.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The slot of `tenant`.
    pub(super) fn slot(&self, tenant: &str) -> Option<usize> {
        self.map.get_index_of(tenant)
    }

    /// The id and state in `slot`.
    pub(super) fn get(&self, slot: usize) -> Option<(&TenantId, &TenantState)> {
        self.map.get_index(slot)
    }

    /// The state in `slot`.
    pub(super) fn state(&self, slot: usize) -> Option<&TenantState> {
        self.get(slot).map(|(_, t)| t)
    }

    /// The state in `slot`, to change.
    pub(super) fn state_mut(&mut self, slot: usize) -> Option<&mut TenantState> {
        self.map.get_index_mut(slot).map(|(_, t)| t)
    }

    /// The state of `tenant`, to change.
    pub(super) fn by_id_mut(&mut self, tenant: &str) -> Option<&mut TenantState> {
        self.map.get_mut(tenant)
    }

    /// A copy of the id in `slot`.
    pub(super) fn id(&self, slot: usize) -> Option<TenantId> {
        self.get(slot).map(|(id, _)| id.clone())
    }

    /// Adds a new tenant (see [`TenantState::new`]) and returns its slot; `None` when full.
    pub(super) fn insert(&mut self, id: TenantId, now_ms: u64) -> Option<usize> {
        debug_assert!(self.slot(&id).is_none());
        let slot = self.map.len();
        self.map.insert(id, TenantState::new(now_ms)).ok()?;
        Some(slot)
    }

    /// Whether no tenant can be added without freeing a slot.
    pub(super) fn is_full(&self) -> bool {
        self.map.len() == T
    }

    /// The slot a new tenant may take when the table is full: the Terminated tenant with the
    /// lowest termination rank (ties, possible only after `u32::MAX` terminations: the lowest
    /// slot) that `named` (anything else indexed by slot) does not name.
    pub(super) fn reusable_slot(&self, named: impl Fn(usize) -> bool) -> Option<usize> {
        self.map
            .values()
            .enumerate()
            .filter(|(_, t)| t.entitlement.stored == EntitlementState::Terminated)
            .filter(|(slot, _)| !named(*slot))
            .min_by_key(|(slot, t)| (t.terminated_rank, *slot))
            .map(|(slot, _)| slot)
    }

    /// Forgets the tenant in `slot`. The map's `swap_remove` moves its last tenant into
    /// `slot`: returns `(from, to)`, the moved tenant's old and new slot, for whatever else
    /// names it by slot to follow.
    pub(super) fn remove(&mut self, slot: usize) -> Option<(u32, u32)> {
        let last = self.map.len().checked_sub(1)?;
        let id = self.id(slot)?;
        self.map.swap_remove(id.as_str())?;
        // T fits in u32 (SHAPE_OK), so slots do.
        Some((last as u32, slot as u32))
    }

    /// An entitlement receipt: the tenant's entitlement becomes the one it records; a
    /// Terminated tenant takes the next termination rank.
    pub(super) fn apply_entitlement(
        &mut self,
        slot: usize,
        to: EntitlementState,
        sku: Sku,
        expires_at_ms: Option<u64>,
    ) {
        let rank = self.terminations;
        let terminated = to == EntitlementState::Terminated;
        if let Some(t) = self.state_mut(slot) {
            t.entitlement = Entitlement::recorded(to, sku, expires_at_ms);
            if terminated {
                t.terminated_rank = rank;
            }
        }
        if terminated {
            self.terminations = self.terminations.saturating_add(1);
        }
    }

    /// The tenant in `slot` as of `now_ms`, with its action in flight.
    pub(super) fn view<'a>(
        &'a self,
        now_ms: u64,
        slot: usize,
        in_flight: Option<&'a InFlight>,
    ) -> Option<TenantView<'a>> {
        let (id, t) = self.get(slot)?;
        Some(TenantView {
            tenant: id.as_str(),
            entitlement: t.entitlement.state_at(now_ms),
            sku: t.entitlement.sku,
            expires_at_ms: t.entitlement.expires_at(),
            state: t.governor.state,
            consecutive_high: t.governor.consecutive_high,
            entered_at_ms: t.governor.entered_at_ms,
            time_in_state_ms: t.governor.time_in_state_ms(now_ms),
            in_flight,
            enforced: t.enforced,
            usage: t.usage.in_use(),
        })
    }
}

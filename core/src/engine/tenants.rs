//! The engine's tenant table: each tenant's state ([`TenantState`], in `tenants/state.rs`) by
//! slot, and the reuse of Terminated tenants' slots when it is full.
//!
//! Three caller-provided slices hold it (see [`crate::storage`]):
//!
//! * `slots`: one [`TenantSlot`] per tenant (its state and where its id lives), in use from
//!   0 up; a slot is never moved, a Terminated tenant's slot is reused in place;
//! * `ids`: the ids, back to back in a byte arena, so a tenant costs its id's real length;
//! * `index`: an open-addressed table from a 64-bit hash of an id to its slot (linear probing,
//!   backward-shift deletion). Each entry keeps 32 bits of the hash beside the slot, so a probe
//!   reads the id only when those match (the hash and the comparison: `tenants/ids.rs`).

use crate::entitlement::{Entitlement, EntitlementState, Sku};
use crate::execution::{Enforced, InFlight};
use crate::governor::GovernorState;
use crate::monitor::TenantId;
use crate::storage::{clear, index_slots_for};

mod ids;
mod state;

use ids::{same_id, tag_of};
pub(crate) use state::TenantState;

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
    /// Enforce or shadow.
    pub mode: super::Mode,
}

/// One tenant's place in the table: its state and its id's bytes in the id arena. The storage
/// element of [`crate::storage::Storage::tenants`]; what a slot holds before the engine uses
/// it is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSlot {
    state: TenantState,
    /// Where the id starts in the arena.
    id_start: u32,
    /// The id's length.
    id_len: u16,
    /// Arena bytes this slot owns from `id_start` (at least `id_len`; a reused slot keeps the
    /// room of the id it first held).
    id_room: u16,
}

impl TenantSlot {
    /// An unused slot, for `static` storage (`[TenantSlot::EMPTY; N]`).
    pub const EMPTY: TenantSlot = TenantSlot {
        state: TenantState::new(0),
        id_start: 0,
        id_len: 0,
        id_room: 0,
    };
}

impl Default for TenantSlot {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Storage the tenant table cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TenantShapeError {
    /// No tenant slot.
    #[error("the tenant table needs at least one slot")]
    NoSlots,
    /// More slots than a `u32` can number.
    #[error("the tenant table can have at most 4294967294 slots, got {0}")]
    TooManySlots(usize),
    /// An index that is not a power of two of at least `index_slots_for(slots)` entries.
    #[error("the tenant index needs a power of two of at least {needed} entries, got {got}")]
    IndexSize {
        /// The entries the index needs.
        needed: usize,
        /// The entries it has.
        got: usize,
    },
    /// An id arena larger than a `u32` offset can address.
    #[error("the tenant id arena can be at most 4294967295 bytes, got {0}")]
    IdArenaTooLarge(usize),
}

/// The tenants by id, each at a slot `0..len` that it keeps until it is replaced.
#[derive(Debug)]
pub(crate) struct Tenants<'a> {
    slots: &'a mut [TenantSlot],
    /// 0 when empty, else `tag << 32 | (slot + 1)`, `tag` the high 32 bits of the id's hash.
    index: &'a mut [u64],
    ids: &'a mut [u8],
    /// Slots in use: `0..len`.
    len: usize,
    /// Arena bytes handed out: `0..ids_used`.
    ids_used: usize,
    /// Terminations applied so far (saturating): the next Terminated tenant's rank.
    terminations: u32,
}

impl<'a> Tenants<'a> {
    /// An empty table over `slots` (its capacity), `index` and the id arena `ids`.
    pub(crate) fn new(
        slots: &'a mut [TenantSlot],
        index: &'a mut [u64],
        ids: &'a mut [u8],
    ) -> Result<Self, TenantShapeError> {
        if slots.is_empty() {
            return Err(TenantShapeError::NoSlots);
        }
        if slots.len() >= u32::MAX as usize {
            return Err(TenantShapeError::TooManySlots(slots.len()));
        }
        let needed = index_slots_for(slots.len());
        if !index.len().is_power_of_two() || index.len() < needed {
            return Err(TenantShapeError::IndexSize {
                needed,
                got: index.len(),
            });
        }
        if u32::try_from(ids.len()).is_err() {
            return Err(TenantShapeError::IdArenaTooLarge(ids.len()));
        }
        clear(index);
        Ok(Self {
            slots,
            index,
            ids,
            len: 0,
            ids_used: 0,
            terminations: 0,
        })
    }

    /// Number of tenants.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// The most tenants it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Id arena bytes in use and in all.
    pub(crate) fn id_bytes(&self) -> (usize, usize) {
        (self.ids_used, self.ids.len())
    }

    /// The slot of `tenant`.
    pub(crate) fn slot(&self, tenant: &str) -> Option<usize> {
        self.find(tenant).map(|(_, slot)| slot)
    }

    /// The id and state in `slot`.
    pub(crate) fn get(&self, slot: usize) -> Option<(&str, &TenantState)> {
        if slot >= self.len {
            return None;
        }
        let t = self.slots.get(slot)?;
        Some((self.id_of(t)?, &t.state))
    }

    /// The state in `slot`.
    pub(crate) fn state(&self, slot: usize) -> Option<&TenantState> {
        if slot >= self.len {
            return None;
        }
        self.slots.get(slot).map(|t| &t.state)
    }

    /// The state in `slot`, to change.
    pub(crate) fn state_mut(&mut self, slot: usize) -> Option<&mut TenantState> {
        if slot >= self.len {
            return None;
        }
        self.slots.get_mut(slot).map(|t| &mut t.state)
    }

    /// The state of `tenant`, to change.
    pub(crate) fn by_id_mut(&mut self, tenant: &str) -> Option<&mut TenantState> {
        let slot = self.slot(tenant)?;
        self.state_mut(slot)
    }

    /// A copy of the id in `slot`.
    pub(crate) fn id(&self, slot: usize) -> Option<TenantId> {
        self.get(slot)
            .and_then(|(id, _)| TenantId::try_from(id).ok())
    }

    /// Adds a new tenant (see [`TenantState::new`]) in the next free slot and returns it;
    /// `None` when every slot is in use or the id arena has no room for `tenant`.
    pub(super) fn insert(&mut self, tenant: &str, now_ms: u64) -> Option<usize> {
        debug_assert!(self.slot(tenant).is_none());
        if self.len == self.slots.len() {
            return None;
        }
        let start = self.take_id_room(tenant.len())?;
        let slot = self.len;
        let len = u16::try_from(tenant.len()).ok()?;
        *self.slots.get_mut(slot)? = TenantSlot {
            state: TenantState::new(now_ms),
            id_start: start,
            id_len: len,
            id_room: len,
        };
        self.write_id(slot, tenant)?;
        self.len += 1;
        self.index_insert(tenant, slot);
        Some(slot)
    }

    /// Puts a new tenant in `slot` in place of the one there (which is forgotten). The id goes
    /// in the slot's own room if it fits, else at the end of the arena; `None` (and nothing
    /// changed) if neither has room.
    pub(super) fn replace(&mut self, slot: usize, tenant: &str, now_ms: u64) -> Option<usize> {
        debug_assert!(self.slot(tenant).is_none());
        let old = *self.slots.get(slot).filter(|_| slot < self.len)?;
        let len = u16::try_from(tenant.len()).ok()?;
        let (start, room) = if len <= old.id_room {
            (old.id_start, old.id_room)
        } else {
            (self.take_id_room(tenant.len())?, len)
        };
        let old_tag = tag_of(self.id_of(&old)?);
        self.index_remove(entry_of(old_tag, slot));
        *self.slots.get_mut(slot)? = TenantSlot {
            state: TenantState::new(now_ms),
            id_start: start,
            id_len: len,
            id_room: room,
        };
        self.write_id(slot, tenant)?;
        self.index_insert(tenant, slot);
        Some(slot)
    }

    /// The slot a new tenant may take when the table is full: the Terminated tenant with the
    /// lowest termination rank (ties, possible only after `u32::MAX` terminations: the lowest
    /// slot) that `named` (anything else indexed by slot) does not name.
    pub(super) fn reusable_slot(&self, named: impl Fn(usize) -> bool) -> Option<usize> {
        self.slots
            .iter()
            .take(self.len)
            .enumerate()
            .filter(|(_, t)| t.state.entitlement.stored == EntitlementState::Terminated)
            .filter(|(slot, _)| !named(*slot))
            .min_by_key(|(slot, t)| (t.state.terminated_rank, *slot))
            .map(|(slot, _)| slot)
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
    pub(super) fn view<'v>(
        &'v self,
        now_ms: u64,
        slot: usize,
        in_flight: Option<&'v InFlight>,
    ) -> Option<TenantView<'v>> {
        let (id, t) = self.get(slot)?;
        Some(TenantView {
            tenant: id,
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
            mode: t.mode,
        })
    }

    // ----- the id arena -------------------------------------------------------------------

    /// The id a slot holds.
    fn id_of(&self, t: &TenantSlot) -> Option<&str> {
        core::str::from_utf8(self.id_bytes_of(t)?).ok()
    }

    /// The id a slot holds, as bytes (what lookups compare: no UTF-8 check).
    fn id_bytes_of(&self, t: &TenantSlot) -> Option<&[u8]> {
        let start = t.id_start as usize;
        self.ids.get(start..start + usize::from(t.id_len))
    }

    /// Hands out `len` bytes at the end of the arena: their offset.
    fn take_id_room(&mut self, len: usize) -> Option<u32> {
        let end = self.ids_used.checked_add(len)?;
        if end > self.ids.len() {
            return None;
        }
        let start = u32::try_from(self.ids_used).ok()?;
        self.ids_used = end;
        Some(start)
    }

    /// Copies `tenant` into the room of `slot`.
    fn write_id(&mut self, slot: usize, tenant: &str) -> Option<()> {
        let t = *self.slots.get(slot)?;
        let start = t.id_start as usize;
        self.ids
            .get_mut(start..start + tenant.len())?
            .copy_from_slice(tenant.as_bytes());
        Some(())
    }

    // ----- the index ----------------------------------------------------------------------

    fn mask(&self) -> usize {
        self.index.len() - 1
    }

    fn entry(&self, at: usize) -> u64 {
        self.index.get(at).copied().unwrap_or(0)
    }

    /// The index position and slot of `tenant`.
    fn find(&self, tenant: &str) -> Option<(usize, usize)> {
        let tag = tag_of(tenant);
        let mut at = home(tag, self.mask());
        // The index is at most 3/4 full, so an empty entry ends every probe; the bound is
        // defence.
        for _ in 0..self.index.len() {
            let entry = self.entry(at);
            if entry == 0 {
                return None;
            }
            if (entry >> 32) as u32 == tag {
                let slot = (entry & u64::from(u32::MAX)) as usize - 1;
                let id = self.slots.get(slot).and_then(|t| self.id_bytes_of(t));
                if id.is_some_and(|id| same_id(id, tenant.as_bytes())) {
                    return Some((at, slot));
                }
            }
            at = (at + 1) & self.mask();
        }
        None
    }

    fn index_insert(&mut self, tenant: &str, slot: usize) {
        let tag = tag_of(tenant);
        let mut at = home(tag, self.mask());
        while self.entry(at) != 0 {
            at = (at + 1) & self.mask();
        }
        if let Some(entry) = self.index.get_mut(at) {
            *entry = entry_of(tag, slot);
        }
    }

    /// Removes the index entry `entry` (an entry names one slot, so it is unique; backward-shift
    /// deletion: later entries of the probe run move into the hole unless their home lies
    /// cyclically within (hole, j]).
    fn index_remove(&mut self, entry: u64) {
        let mask = self.mask();
        let mut hole = home((entry >> 32) as u32, mask);
        while self.entry(hole) != entry {
            if self.entry(hole) == 0 {
                return;
            }
            hole = (hole + 1) & mask;
        }
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let entry = self.entry(j);
            if entry == 0 {
                break;
            }
            let home_j = home((entry >> 32) as u32, mask);
            if (j.wrapping_sub(home_j) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(target) = self.index.get_mut(hole) {
                    *target = entry;
                }
                hole = j;
            }
        }
        if let Some(target) = self.index.get_mut(hole) {
            *target = 0;
        }
    }
}

/// The index entry of the tenant with `tag` in `slot`. `slot < slots.len() < u32::MAX` (checked
/// in `Tenants::new`), so `slot + 1` fits in 32 bits and is never 0.
fn entry_of(tag: u32, slot: usize) -> u64 {
    (u64::from(tag) << 32) | (slot as u64 + 1)
}

fn home(tag: u32, mask: usize) -> usize {
    tag as usize & mask
}

//! The governor's timers (`docs/governor.md#timing`): a tenant in Refuse while
//! `refuse_max_ms` is on (due at `entered_at_ms + refuse_max_ms`, read from the config when
//! polled), and a pending warning while `grace_ms` is on (due at the deadline its receipt
//! records). Both are held in one table over the caller's [`crate::storage::Storage::timers`]
//! slice (`Capacities::timers` entries, 1..=[`TIMERS_MAX`]), so [`Engine::poll_timeout`] scans
//! the timers held, never the tenants. Both are the fold of the receipts: a governor receipt
//! into Refuse adds a Refuse timer (while `refuse_max_ms` is on), one out of Refuse removes
//! it; a `Warning` receipt adds a warning, its `WarningCancelled` or the tenant's next
//! governor-ordered `ActionDispatched` removes it. [`Engine::handle_timeout`] fires the due
//! ones.

use core::num::NonZeroU64;

use super::{BuildError, Engine};
use crate::entitlement::EntitlementState;
use crate::governor::{GovernorEvent, GovernorState, Order, Planned};
use crate::limits::TIMERS_MAX;
use crate::receipt::{Cause, Event};
use crate::table::Table;

/// One entry of the governor's timer table ([`crate::storage::Storage::timers`]). Opaque: a
/// driver only sizes and declares the slice (`[Timer::EMPTY; N]`); what it holds on entry is
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer(Kind);

impl Timer {
    /// An unused entry, for `static` storage. (Never read: the table reads only the entries
    /// it holds.)
    pub const EMPTY: Timer = Timer(Kind::Refuse { slot: u32::MAX });

    const fn slot(&self) -> usize {
        match self.0 {
            Kind::Refuse { slot } | Kind::Warning { slot, .. } => slot as usize,
        }
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The tenant in `slot` is in Refuse (entered while `refuse_max_ms` was on).
    Refuse {
        /// The tenant.
        slot: u32,
    },
    /// A pending warning.
    Warning {
        /// The tenant.
        slot: u32,
        /// The warning's receipt id.
        receipt: u64,
        /// What will be dispatched.
        order: Order,
        /// When.
        deadline_ms: u64,
    },
}

/// A tenant's pending warning (`docs/governor.md#grace-before-pause-and-shed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWarning {
    /// The warning's receipt id.
    pub receipt: u64,
    /// The Pause or Shed that will be dispatched.
    pub order: Order,
    /// When it will be.
    pub deadline_ms: u64,
}

/// The timer table (see the module doc).
#[derive(Debug)]
pub(crate) struct Timers<'a> {
    held: Table<'a, Timer>,
}

impl<'a> Timers<'a> {
    /// An empty table in `slots`: 1..=[`TIMERS_MAX`] of them.
    pub(crate) fn new(slots: &'a mut [Timer]) -> Result<Self, BuildError> {
        if !(1..=TIMERS_MAX).contains(&slots.len()) {
            return Err(BuildError::Timers(slots.len()));
        }
        Ok(Self {
            held: Table::new(slots),
        })
    }

    /// The most timers it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.held.capacity()
    }

    /// The pending warning of the tenant in `slot`.
    pub(crate) fn warning_of(&self, slot: usize) -> Option<PendingWarning> {
        self.held.iter().find_map(|t| match t.0 {
            Kind::Warning {
                slot: s,
                receipt,
                order,
                deadline_ms,
            } if s as usize == slot => Some(PendingWarning {
                receipt,
                order,
                deadline_ms,
            }),
            _ => None,
        })
    }

    /// Whether any timer names the tenant in `slot` (its slot is then not reused).
    pub(crate) fn names(&self, slot: usize) -> bool {
        self.held.iter().any(|t| t.slot() == slot)
    }

    /// Free entries.
    pub(crate) fn free(&self) -> usize {
        self.held.capacity() - self.held.len()
    }

    /// A governor receipt to `to`: entering Refuse (only Degrade leads there) adds a Refuse
    /// timer when `timed` (`refuse_max_ms` on) and there is room; any other state removes
    /// the tenant's.
    pub(crate) fn apply_governor(&mut self, slot: usize, to: GovernorState, timed: bool) {
        if to == GovernorState::Refuse {
            if timed {
                // The room was checked on the live path; a restore under a newly enabled
                // `refuse_max_ms` leaves a tenant beyond the table untimed (until reset).
                let _ = self.held.push(Timer(Kind::Refuse { slot: slot as u32 }));
            }
        } else {
            self.held
                .retain(|t| !matches!(t.0, Kind::Refuse { slot: s } if s as usize == slot));
        }
    }

    /// Whether a warning event can follow (restore's consistency check): a `Warning` of a
    /// Pause or Shed for a tenant without one pending; a `WarningCancelled` naming the
    /// tenant's pending warning. (Room in the table is restore's own check, made first:
    /// `RestoreError::TimerTableFull`.)
    pub(crate) fn follows(&self, slot: usize, event: &Event) -> bool {
        let pending = self.warning_of(slot);
        match event {
            Event::Warning { action, .. } => {
                let warned = matches!(Order::of(action), Some(Order::Pause | Order::Shed(_)));
                warned && pending.is_none()
            }
            Event::WarningCancelled { receipt } => pending.is_some_and(|w| w.receipt == *receipt),
            _ => true,
        }
    }

    /// A `Warning` receipt `seq` (the tenant's warning is pending until its deadline) or a
    /// `WarningCancelled` one (it ends). `slot` fits in `u32`.
    pub(crate) fn apply_warning(&mut self, slot: usize, seq: u64, event: &Event) {
        match event {
            Event::Warning {
                action,
                deadline_ms,
            } => {
                let Some(order) = Order::of(action) else {
                    return;
                };
                let warning = Timer(Kind::Warning {
                    slot: slot as u32,
                    receipt: seq,
                    order,
                    deadline_ms: *deadline_ms,
                });
                let pushed = self.held.push(warning).is_ok();
                debug_assert!(pushed, "room is checked before a warning is written");
            }
            Event::WarningCancelled { .. } => self.apply_warning_ended(slot),
            _ => {}
        }
    }

    /// The warning of the tenant in `slot` ended: cancelled, or its action dispatched.
    pub(crate) fn apply_warning_ended(&mut self, slot: usize) {
        self.held
            .retain(|t| !matches!(t.0, Kind::Warning { slot: s, .. } if s as usize == slot));
    }
}

impl Engine<'_> {
    /// The pending warning of `tenant`, if any.
    pub fn warning(&self, tenant: &str) -> Option<PendingWarning> {
        self.timers.warning_of(self.tenants.slot(tenant)?)
    }

    /// The governor's timers held (Refuse timers and pending warnings), and the most that
    /// can be (`Capacities::timers`).
    pub fn timers_len(&self) -> (usize, usize) {
        (self.timers.held.len(), self.timers.capacity())
    }

    /// [`Engine::poll_timeout`]: the earlier of the execution books' and the timers'.
    pub(super) fn next_due_ms(&self) -> Option<u64> {
        match (self.execution.next_timeout_ms(), self.next_timer_ms()) {
            (Some(a), Some(t)) => Some(a.min(t)),
            (a, t) => a.or(t),
        }
    }

    /// A governor-ordered dispatch at `ts_ms` (`apply`): it ends the tenant's pending
    /// warning, and its cool-down starts.
    pub(super) fn apply_order(&mut self, slot: usize, ts_ms: u64) {
        self.timers.apply_warning_ended(slot);
        if let Some(t) = self.tenants.state_mut(slot) {
            t.governor.apply_order(ts_ms);
        }
    }

    /// The earliest instant a timer is due, if any.
    fn next_timer_ms(&self) -> Option<u64> {
        self.timers.held.iter().filter_map(|t| self.due_ms(t)).min()
    }

    /// When `timer` is due: a warning at its deadline (not while it would dispatch into a
    /// full in-flight table: only a completion makes it due then); a Refuse timer at
    /// `entered_at_ms + refuse_max_ms` while that is on.
    fn due_ms(&self, timer: &Timer) -> Option<u64> {
        match timer.0 {
            Kind::Warning { deadline_ms, .. } => {
                let slot = timer.slot();
                let waits = self.active(deadline_ms, slot)
                    && self.execution.in_flight_full()
                    && self.execution.in_flight_of(slot).is_none();
                (!waits).then_some(deadline_ms)
            }
            Kind::Refuse { .. } => {
                // 0 (turned off since the tenant entered Refuse) holds it there.
                let refuse_max_ms = NonZeroU64::new(self.config.timing.refuse_max_ms)?;
                let governor = self.tenants.state(timer.slot())?.governor;
                let timed = governor.state == GovernorState::Refuse;
                timed.then(|| governor.entered_at_ms.saturating_add(refuse_max_ms.get()))
            }
        }
    }

    /// Whether the tenant in `slot` is Active at `now_ms`.
    fn active(&self, now_ms: u64, slot: usize) -> bool {
        self.tenants
            .state(slot)
            .is_some_and(|t| t.entitlement.state_at(now_ms) == EntitlementState::Active)
    }

    /// Fires every timer due at `now_ms`, the earliest first (ties: lower slot, then a Refuse
    /// timer before a warning). Stops when the receipts or commands would not fit
    /// ([`Engine::poll_timeout`] then stays in the past).
    pub(super) fn fire_timers(&mut self, now_ms: u64) {
        // Each firing removes its timer (through `apply`), so this ends.
        for _ in 0..self.timers.capacity() {
            let due = self
                .timers
                .held
                .iter()
                .filter_map(|t| {
                    let due_ms = self.due_ms(t).filter(|d| *d <= now_ms)?;
                    let rank = u8::from(matches!(t.0, Kind::Warning { .. }));
                    Some(((due_ms, t.slot(), rank), *t))
                })
                .min_by_key(|(key, _)| *key);
            let Some((_, timer)) = due else {
                break;
            };
            let done = match timer.0 {
                Kind::Refuse { slot } => self.expire_refuse(now_ms, slot as usize),
                Kind::Warning {
                    slot,
                    receipt,
                    order,
                    ..
                } => self.end_warning(now_ms, slot as usize, receipt, order),
            };
            if !done {
                break;
            }
        }
    }

    /// Refuse steps down to Degrade (cause `RefuseExpired`); a pending warning is cancelled.
    fn expire_refuse(&mut self, now_ms: u64, slot: usize) -> bool {
        let planned = self.plan(now_ms, slot, GovernorEvent::RefuseExpired);
        if !self.has_room(slot, false, &planned) {
            return false;
        }
        self.enact(now_ms, slot, Cause::RefuseExpired, planned);
        true
    }

    /// A warning's deadline: its action is dispatched (governor-ordered, superseding the
    /// action in flight), recorded as a shadow action if the tenant is in shadow mode now, or
    /// cancelled if the tenant is not Active any more.
    fn end_warning(&mut self, now_ms: u64, slot: usize, receipt: u64, order: Order) -> bool {
        if !self.active(now_ms, slot) {
            if !self.ledger.can_append(1) {
                return false;
            }
            let cancelled = self.commit(now_ms, slot, Event::WarningCancelled { receipt });
            return cancelled.is_some();
        }
        if self.shadowed(slot) {
            return self.ledger.can_append(1)
                && self.shadow(now_ms, slot, order.action()).is_some();
        }
        let in_flight = usize::from(self.execution.in_flight_of(slot).is_some());
        let room = (in_flight == 1 || !self.execution.in_flight_full())
            && self.ledger.can_append(1 + in_flight + self.breaker_room())
            && self.execution.can_queue(1 + in_flight);
        if !room {
            return false;
        }
        let Some(dispatched) = self.dispatch(now_ms, slot, order.action(), false) else {
            return false;
        };
        self.settle(now_ms, slot, dispatched.refused);
        true
    }

    /// The receipt id of the tenant's pending warning when `planned` cancels it: it changes
    /// the governor's state, or it is a signal below `recover`.
    pub(super) fn cancelled_warning(&self, slot: usize, planned: &Planned) -> Option<u64> {
        let warning = self.timers.warning_of(slot)?;
        let recover = self.config.thresholds.recover();
        let below = matches!(planned.event, GovernorEvent::Signal(v) if v < recover);
        (planned.step.to != planned.from || below).then_some(warning.receipt)
    }

    /// Whether the timers `planned` starts fit, net of the warning it cancels: a warning for
    /// a Pause or Shed under `grace_ms`, a Refuse timer for entering Refuse under
    /// `refuse_max_ms`, and one spare for the warning a circuit-refused dispatch may bring
    /// ([`Engine::settle`]). (A step leaving Refuse never starts one.)
    pub(super) fn timers_fit(&self, slot: usize, planned: &Planned) -> bool {
        let timing = self.config.timing;
        let refuse = GovernorState::Refuse;
        let (from, to) = (planned.from, planned.step.to);
        let mut needed = match planned.step.action {
            Some(order) if timing.warns(order) => 1,
            Some(_) => self.settle_timer_reserve(),
            None => 0,
        };
        needed += usize::from(from != refuse && to == refuse && timing.refuse_max_ms > 0);
        let freed = usize::from(self.cancelled_warning(slot, planned).is_some());
        self.timers.free() + freed >= needed
    }

    /// Whether `entries` timer entries are free.
    pub(super) fn timers_free(&self, entries: usize) -> bool {
        self.timers.free() >= entries
    }

    /// Timer entries to keep free for a dispatch a circuit may refuse: the governor's
    /// reaction (Intervene → Degrade) orders a Pause, a warning under `grace_ms`.
    pub(super) fn settle_timer_reserve(&self) -> usize {
        usize::from(self.config.breakers_enabled() && self.config.timing.grace_ms > 0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_timer_costs_what_the_limits_say() {
        // `storage`'s module doc and `docs/design.md#memory` quote 24 bytes an entry.
        assert_eq!(core::mem::size_of::<super::Timer>(), 24);
    }
}

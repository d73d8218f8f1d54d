//! The governor's timing (`docs/governor.md#timing`) in [`EngineModel`], from the docs:
//!
//! - `min_dwell_ms`: a step leaving Intervene or Degrade for a lower state (any event but a
//!   reset) before this long in the state is held: nothing changes, nothing is written.
//! - `cooldown_ms`: a step that orders an action sooner than this after the tenant's last
//!   governor-ordered dispatch is held the same way.
//! - `refuse_max_ms`: a tenant that entered Refuse while it was on steps down to Degrade
//!   (one governor receipt) at `entered_at_ms + refuse_max_ms`.
//! - `grace_ms`: an ordered Pause or Shed is a warning receipt instead of a dispatch, due at
//!   now + `grace_ms`; any state change of the tenant, or a signal below `recover`, cancels
//!   it (one receipt, after the governor's); at its deadline it is dispatched as the
//!   governor's (superseding the action in flight) if the tenant is Active, else cancelled.
//!
//! Timers fire in each timeout call after the action timeouts and before the queued
//! actions, earliest first (ties: the earlier tenant, then Refuse before a warning).

use super::{EngineModel, GEvent, GState, MAction};
use crate::model::entitlement::EState;
use crate::model::mode::{self, MMode};

/// The four timings, ms; 0 is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MTiming {
    /// No de-escalation from Intervene or Degrade before this long.
    pub min_dwell_ms: u64,
    /// No governor order sooner than this after the last.
    pub cooldown_ms: u64,
    /// Refuse lasts at most this long.
    pub refuse_max_ms: u64,
    /// A Pause or Shed is announced this long ahead.
    pub grace_ms: u64,
}

/// A pending warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MWarning {
    /// Its receipt id.
    pub receipt: u64,
    /// What will be dispatched.
    pub action: MAction,
    /// When.
    pub deadline_ms: u64,
}

fn rank(s: GState) -> usize {
    GState::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

impl EngineModel {
    /// The same model with the governor's timing.
    pub fn with_timing(self, timing: MTiming) -> Self {
        Self { timing, ..self }
    }

    /// The table's step with dwell and cool-down applied.
    pub(super) fn timed_step(
        &self,
        now_ms: u64,
        i: usize,
        event: GEvent,
    ) -> (GState, u8, Option<MAction>) {
        let t = &self.tenants[i];
        let pct = self.percents_of(t.sku);
        let (to, c, action) = mode::step_with(&self.th, &pct, t.state, t.c, event);
        let dwelling = matches!(t.state, GState::Intervene | GState::Degrade)
            && event != GEvent::Reset
            && rank(to) < rank(t.state)
            && now_ms.saturating_sub(t.entered_at_ms) < self.timing.min_dwell_ms;
        let cooling = action.is_some()
            && t.last_order_ms
                .is_some_and(|at| now_ms.saturating_sub(at) < self.timing.cooldown_ms);
        if dwelling || cooling {
            return (t.state, t.c, None);
        }
        (to, c, action)
    }

    /// A governor receipt moving tenant `i` to `to`: its Refuse timer starts or ends.
    pub(super) fn refuse_timer(&mut self, i: usize, to: GState) {
        let on = self.timing.refuse_max_ms > 0;
        let t = &mut self.tenants[i];
        if t.state != GState::Refuse && to == GState::Refuse && on {
            t.refuse_timed = true;
        }
        if to != GState::Refuse {
            t.refuse_timed = false;
        }
    }

    /// After the governor's receipt: the pending warning is cancelled by a change of state
    /// or a signal below recover; then an ordered Pause or Shed under grace becomes a
    /// warning. Returns the action to dispatch now.
    pub(super) fn warn_or_order(
        &mut self,
        now_ms: u64,
        i: usize,
        from: GState,
        event: GEvent,
        ordered: Option<MAction>,
    ) -> Option<MAction> {
        let below = matches!(event, GEvent::Signal(v) if v < self.th.recover);
        if self.tenants[i].warning.is_some() && (self.tenants[i].state != from || below) {
            self.receipt();
            self.tenants[i].warning = None;
        }
        let warned = matches!(ordered, Some(MAction::Pause | MAction::Shed(_)));
        if !(warned && self.timing.grace_ms > 0) {
            return ordered;
        }
        let receipt = self.receipt();
        self.tenants[i].warning = ordered.map(|action| MWarning {
            receipt,
            action,
            deadline_ms: now_ms + self.timing.grace_ms,
        });
        None
    }

    /// A governor-ordered action at `now_ms`: dispatched, or only recorded for a tenant in
    /// shadow mode; either way its cool-down starts. Returns its receipt and whether a
    /// circuit refused it.
    pub(super) fn order(&mut self, now_ms: u64, i: usize, action: MAction) -> (u64, bool) {
        self.tenants[i].last_order_ms = Some(now_ms);
        if self.tenants[i].mode == MMode::Shadow {
            return (self.receipt(), false);
        }
        self.dispatch(now_ms, i, action)
    }

    /// The governor timers' due instants.
    pub(super) fn timers_due(&self) -> Vec<u64> {
        self.timers(u64::MAX)
            .into_iter()
            .map(|(due, ..)| due)
            .collect()
    }

    /// The timers due at `now_ms`, earliest first: (due, tenant, 0 Refuse / 1 warning).
    fn timers(&self, now_ms: u64) -> Vec<(u64, usize, u8)> {
        let mut due = Vec::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if t.refuse_timed && t.state == GState::Refuse && self.timing.refuse_max_ms > 0 {
                due.push((t.entered_at_ms + self.timing.refuse_max_ms, i, 0));
            }
            if let Some(w) = t.warning {
                due.push((w.deadline_ms, i, 1));
            }
        }
        due.retain(|(d, ..)| *d <= now_ms);
        due.sort();
        due
    }

    /// Fires the timers due at `now_ms`, one at a time, earliest first.
    pub(super) fn fire_timers(&mut self, now_ms: u64) {
        while let Some(&(_, i, kind)) = self.timers(now_ms).first() {
            if kind == 0 {
                self.expire_refuse(now_ms, i);
                continue;
            }
            let Some(w) = self.tenants[i].warning.take() else {
                return;
            };
            if self.tenants[i].entitlement(now_ms) != EState::Active {
                self.receipt(); // cancelled
                continue;
            }
            let (_, refused) = self.order(now_ms, i, w.action);
            if refused {
                self.govern(now_ms, i, GEvent::Failed);
            }
        }
    }

    /// Refuse steps down to Degrade; a pending warning is cancelled.
    fn expire_refuse(&mut self, now_ms: u64, i: usize) {
        self.receipt();
        let t = &mut self.tenants[i];
        t.state = GState::Degrade;
        t.c = 0;
        t.entered_at_ms = now_ms;
        t.refuse_timed = false;
        if t.warning.take().is_some() {
            self.receipt();
        }
    }
}

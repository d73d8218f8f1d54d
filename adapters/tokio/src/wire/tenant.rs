//! `GET /v1/tenants/{id}`, and the in-memory window's verification.

use autonomic_core::engine::{InFlight, PendingWarning, Queued, TenantView};
use serde::Serialize;

use super::ActionJson;

/// `GET /v1/tenants/{id}` (`docs/http-api.md`): the base fields, then the extras.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantJson {
    /// The id.
    pub tenant: String,
    /// Entitlement state now.
    pub entitlement: &'static str,
    /// The SKU.
    pub sku: &'static str,
    /// The governor's state.
    pub state: &'static str,
    /// Its consecutive-high count.
    pub consecutive_high: u8,
    /// Milliseconds in the state.
    pub time_in_state_ms: u64,
    /// The action in flight, or `null`.
    pub action_in_flight: Option<InFlightJson>,
    /// Extra: when the entitlement expires (`null`: never).
    pub expires_at_ms: Option<u64>,
    /// Extra: the action enforced at admission, or `null`.
    pub enforced: Option<EnforcedJson>,
    /// Extra: units admitted and not released, per resource.
    pub usage: UsageJson,
    /// Extra: `enforce` or `shadow` (`docs/governor.md#shadow-mode`).
    pub mode: &'static str,
    /// Extra: the manual actions queued behind the one in flight, first to run first
    /// (left out when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<QueuedJson>,
    /// Extra: the Pause or Shed warned under `grace_ms` and not yet dispatched
    /// (`docs/governor.md#grace-before-pause-and-shed`; left out when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<WarningJson>,
}

/// A pending warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarningJson {
    /// Its `warning` receipt id.
    pub receipt: u64,
    /// The action dispatched at the deadline.
    pub action: ActionJson,
    /// When (Unix ms).
    pub deadline_ms: u64,
}

/// A queued manual action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedJson {
    /// Its `ActionQueued` receipt id.
    pub receipt: u64,
    /// The action.
    pub action: ActionJson,
}

impl TenantJson {
    /// The same, listing the tenant's `queued` actions.
    #[must_use]
    pub fn with_queued<'a>(self, queued: impl Iterator<Item = &'a Queued>) -> Self {
        let queued = queued
            .map(|q| QueuedJson {
                receipt: q.receipt,
                action: ActionJson::from(&q.action),
            })
            .collect();
        Self { queued, ..self }
    }

    /// The same, with the tenant's pending `warning`.
    #[must_use]
    pub fn with_warning(self, warning: Option<PendingWarning>) -> Self {
        let warning = warning.map(|w| WarningJson {
            receipt: w.receipt,
            action: ActionJson::from(&w.order.action()),
            deadline_ms: w.deadline_ms,
        });
        Self { warning, ..self }
    }
}

/// An action in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFlightJson {
    /// Its receipt id.
    pub receipt: u64,
    /// The action.
    pub action: ActionJson,
    /// When the engine times it out (Unix ms).
    pub deadline_ms: u64,
}

/// The action enforced at admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnforcedJson {
    /// The dispatch receipt.
    pub receipt: u64,
    /// `throttle`, `pause` or `shed`.
    pub kind: &'static str,
    /// Throttle's or Shed's percent (0 for pause).
    pub percent: u8,
}

/// Units in use per resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageJson {
    /// Cores.
    pub cpu: u16,
    /// GiB.
    pub memory: u16,
    /// Concurrent requests.
    pub requests: u16,
    /// GiB.
    pub storage: u16,
}

impl From<&InFlight> for InFlightJson {
    fn from(f: &InFlight) -> Self {
        Self {
            receipt: f.receipt,
            action: ActionJson::from(&f.action),
            deadline_ms: f.deadline_ms,
        }
    }
}

impl From<&TenantView<'_>> for TenantJson {
    fn from(v: &TenantView<'_>) -> Self {
        let [cpu, memory, requests, storage] = v.usage;
        Self {
            tenant: v.tenant.to_owned(),
            entitlement: v.entitlement.as_str(),
            sku: v.sku.as_str(),
            state: v.state.as_str(),
            consecutive_high: v.consecutive_high,
            time_in_state_ms: v.time_in_state_ms,
            action_in_flight: v.in_flight.map(InFlightJson::from),
            expires_at_ms: v.expires_at_ms,
            enforced: v.enforced.map(|e| EnforcedJson {
                receipt: e.receipt,
                kind: e.kind.as_str(),
                percent: e.percent,
            }),
            usage: UsageJson {
                cpu,
                memory,
                requests,
                storage,
            },
            mode: v.mode.as_str(),
            queued: Vec::new(),
            warning: None,
        }
    }
}

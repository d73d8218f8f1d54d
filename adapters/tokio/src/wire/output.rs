//! Result lines: what one input did, shaped alike for `replay` (with `line`) and the HTTP
//! answers (without).

use autonomic_core::Resource;
use autonomic_core::engine::{IngestError, SignalResult, Transition};
use autonomic_core::entitlement::AdmitError;
use serde::{Deserialize, Serialize};

use super::{ActionJson, cut};
use crate::input::Applied;

/// A governor event: `{"line":3,"tenant":"acme","from":"Stable","to":"Warn",
/// "consecutive_high":1,"action":null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GovernorLine {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The tenant.
    pub tenant: String,
    /// State before.
    pub from: &'static str,
    /// State after.
    pub to: &'static str,
    /// `consecutive_high` after.
    pub consecutive_high: u8,
    /// The action dispatched, or `null`.
    pub action: Option<ActionJson>,
    /// Present (`true`) only when the tenant is in shadow mode and `action` was recorded,
    /// not dispatched.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

impl GovernorLine {
    /// The line for a transition.
    #[must_use]
    pub fn new(line: Option<u64>, tenant: &str, t: &Transition) -> Self {
        Self {
            line,
            tenant: tenant.to_owned(),
            from: t.from.as_str(),
            to: t.to.as_str(),
            consecutive_high: t.consecutive_high,
            action: t.dispatched().as_ref().map(ActionJson::from),
            shadow: t.shadow,
        }
    }
}

/// An entitlement command's result: `{"line":1,"tenant":"acme","entitlement":"Active"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntitlementLine<'a> {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The tenant.
    pub tenant: &'a str,
    /// The new state.
    pub entitlement: &'static str,
}

/// A duplicate signal: `{"line":4,"tenant":"acme","duplicate":true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateLine {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The tenant.
    pub tenant: String,
    /// Always `true`.
    pub duplicate: bool,
}

/// An error: `{"line":5,"error":"InvalidTenantId","message":"..."}`; over HTTP without `line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLine {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
    /// The error's name.
    pub error: String,
    /// Its description.
    pub message: String,
}

impl ErrorLine {
    /// An error object.
    #[must_use]
    pub fn new(line: Option<u64>, error: &str, message: &str) -> Self {
        Self {
            line,
            error: error.to_owned(),
            message: cut(message),
        }
    }
}

/// A `rate` admission refused for lack of tokens: the error line plus when they will be
/// there, `{"line":7,"error":"RateLimited","message":"...","retry_after_ms":100}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitedLine {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// `RateLimited`.
    pub error: &'static str,
    /// Its description.
    pub message: String,
    /// Until the bucket holds the tokens asked for, ms.
    pub retry_after_ms: u64,
}

impl RateLimitedLine {
    /// The line of `e`, or `None` when `e` is not `RateLimited`.
    #[must_use]
    pub fn of(line: Option<u64>, e: &AdmitError) -> Option<Self> {
        let AdmitError::RateLimited { retry_after_ms, .. } = *e else {
            return None;
        };
        Some(Self {
            line,
            error: e.name(),
            message: e.to_string(),
            retry_after_ms,
        })
    }
}

/// An admission's or release's result: `{"line":8,"tenant":"acme","resource":"cpu",
/// "in_use":3}`, or for `rate` `{"line":9,"tenant":"acme","resource":"rate","tokens_left":19}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdmissionLine {
    /// Input line, from 1 (replay only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The tenant.
    pub tenant: String,
    /// The resource's name.
    pub resource: &'static str,
    /// A quota resource's units now in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_use: Option<u16>,
    /// `rate`'s whole tokens left in the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_left: Option<u16>,
    /// With `[fleet]`: the fleet's units in use after a counted admission (HTTP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_in_use: Option<u64>,
}

impl AdmissionLine {
    /// The line of an admission or release of `resource` that answered `value` (the engine's
    /// units in use, or for `rate` tokens left).
    #[must_use]
    pub fn new(line: Option<u64>, tenant: &str, resource: Resource, value: u16) -> Self {
        let rate = resource == Resource::Rate;
        Self {
            line,
            tenant: tenant.to_owned(),
            resource: resource.as_str(),
            in_use: (!rate).then_some(value),
            tokens_left: rate.then_some(value),
            fleet_in_use: None,
        }
    }
}

/// The line for an admission's or release's result (replay's output line, with `line`).
#[must_use]
pub fn admission_line(
    line: Option<u64>,
    tenant: &str,
    resource: Resource,
    result: &Result<u16, AdmitError>,
) -> String {
    match result {
        Ok(value) => to_line(&AdmissionLine::new(line, tenant, resource, *value)),
        Err(e) => match RateLimitedLine::of(line, e) {
            Some(limited) => to_line(&limited),
            None => to_line(&ErrorLine::new(line, e.name(), &e.to_string())),
        },
    }
}

/// Serializes a value to one JSON line (no newline). These shapes cannot fail to serialize;
/// should one ever, an `Internal` error object stands in rather than a panic.
pub fn to_line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        format!(
            "{{\"error\":\"Internal\",\"message\":{}}}",
            serde_json::Value::String(e.to_string())
        )
    })
}

/// The result of one signal, shaped like a replay line (keys in the documented
/// order, `docs/replay.md#output-lines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SignalResultJson {
    /// A governor event.
    Governed(GovernorLine),
    /// A duplicate.
    Duplicate(DuplicateLine),
    /// An error.
    Error(ErrorLine),
}

impl SignalResultJson {
    /// The result of one signal, with `line` when replaying.
    #[must_use]
    pub fn new(
        line: Option<u64>,
        tenant: &str,
        result: &Result<SignalResult, IngestError>,
    ) -> Self {
        match result {
            Ok(SignalResult::Governed(t)) => Self::Governed(GovernorLine::new(line, tenant, t)),
            Ok(SignalResult::Duplicate) => Self::Duplicate(DuplicateLine {
                line,
                tenant: tenant.to_owned(),
                duplicate: true,
            }),
            Err(e) => Self::Error(ErrorLine::new(line, e.name(), &e.to_string())),
        }
    }
}

/// The line for what an input did: a governor event, a duplicate, an entitlement or an error
/// (replay's output line, with `line`).
#[must_use]
pub fn applied_line(line: Option<u64>, tenant: &str, applied: &Applied) -> String {
    match applied {
        Applied::Signal(result) => to_line(&SignalResultJson::new(line, tenant, result)),
        Applied::Entitlement(Ok(state)) => to_line(&EntitlementLine {
            line,
            tenant,
            entitlement: state.as_str(),
        }),
        Applied::Governor(Ok(t)) => to_line(&GovernorLine::new(line, tenant, t)),
        Applied::Entitlement(Err(e)) => to_line(&ErrorLine::new(line, e.name(), &e.to_string())),
        Applied::Governor(Err(e)) => to_line(&ErrorLine::new(line, e.name(), &e.to_string())),
    }
}

//! Inputs: replay lines and `POST` bodies.

use serde::Deserialize;

use super::{check_unique_keys, cut};
use crate::input::{Entitlement, EntitlementCmd, Input, Outcome, Reset};

/// Most signals accepted in one `POST /v1/signals` array.
pub const SIGNALS_PER_REQUEST_MAX: usize = 10_000;

/// One replay input line (`docs/replay.md#input-lines`); `type` picks the variant. Every
/// variant also accepts an optional `now_ms` (the simulated arrival time).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputLine {
    /// `{"type":"activate","tenant":..,"sku":..}` with optional `expires_at_ms`.
    Activate {
        /// The tenant.
        tenant: String,
        /// `starter`, `pro` or `enterprise`.
        sku: String,
        /// From this instant on the entitlement is Expired.
        #[serde(default)]
        expires_at_ms: Option<u64>,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"pause","tenant":..}`.
    Pause {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"resume","tenant":..}`.
    Resume {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"revoke","tenant":..}`.
    Revoke {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"signal","tenant":..,"metric":..,"value":..,"ts_ms":..}`; `now_ms` defaults
    /// to `ts_ms`.
    Signal {
        /// The tenant.
        tenant: String,
        /// The metric name.
        metric: String,
        /// The reading, percent.
        value: f64,
        /// When it was measured.
        ts_ms: u64,
        /// Simulated arrival time (default: `ts_ms`).
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"action_succeeded","tenant":..}`.
    ActionSucceeded {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"action_failed","tenant":..}`.
    ActionFailed {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
    /// `{"type":"reset","tenant":..}`.
    Reset {
        /// The tenant.
        tenant: String,
        /// Simulated arrival time.
        #[serde(default)]
        now_ms: Option<u64>,
    },
}

impl InputLine {
    /// The clock this line sets: its `now_ms`, or for a signal its `ts_ms`.
    #[must_use]
    pub fn now_ms(&self) -> Option<u64> {
        match self {
            InputLine::Signal { now_ms, ts_ms, .. } => Some(now_ms.unwrap_or(*ts_ms)),
            InputLine::Activate { now_ms, .. }
            | InputLine::Pause { now_ms, .. }
            | InputLine::Resume { now_ms, .. }
            | InputLine::Revoke { now_ms, .. }
            | InputLine::ActionSucceeded { now_ms, .. }
            | InputLine::ActionFailed { now_ms, .. }
            | InputLine::Reset { now_ms, .. } => *now_ms,
        }
    }

    /// What the line asks of the engine. An outcome line is about the tenant's action in
    /// flight, whatever its receipt, and carries no undo token (replay has no backends).
    #[must_use]
    pub fn into_input(self) -> Input {
        let entitlement = |tenant, command| Input::Entitlement(Entitlement { tenant, command });
        let outcome = |tenant, succeeded| {
            Input::Outcome(Outcome {
                tenant,
                receipt: None,
                succeeded,
                undo: Vec::new(),
            })
        };
        match self {
            InputLine::Signal {
                tenant,
                metric,
                value,
                ts_ms,
                ..
            } => Input::Signal(SignalIn {
                tenant,
                metric,
                value,
                ts_ms,
            }),
            InputLine::Activate {
                tenant,
                sku,
                expires_at_ms,
                ..
            } => entitlement(tenant, EntitlementCmd::Activate { sku, expires_at_ms }),
            InputLine::Pause { tenant, .. } => entitlement(tenant, EntitlementCmd::Pause),
            InputLine::Resume { tenant, .. } => entitlement(tenant, EntitlementCmd::Resume),
            InputLine::Revoke { tenant, .. } => entitlement(tenant, EntitlementCmd::Revoke),
            InputLine::ActionSucceeded { tenant, .. } => outcome(tenant, true),
            InputLine::ActionFailed { tenant, .. } => outcome(tenant, false),
            InputLine::Reset { tenant, .. } => Input::Reset(Reset { tenant }),
        }
    }
}

/// A replay admission line (`docs/replay.md#input-lines`), `{"type":"admit",..}` or
/// `{"type":"release",..}`. Read apart from [`InputLine`]: admissions change no receipt, so
/// they are not engine inputs (the sidecar answers them as queries), and the `MalformedInput`
/// messages of the other lines stay as they were.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdmissionInput {
    /// Admit `amount` of `resource`.
    Admit(Admission),
    /// Release `amount` of `resource`.
    Release(Admission),
}

/// The fields of an admission line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Admission {
    /// The tenant.
    pub tenant: String,
    /// `cpu`, `memory`, `requests`, `storage` or `rate`.
    pub resource: String,
    /// Units or tokens (default 1).
    #[serde(default = "one")]
    pub amount: u32,
    /// Simulated arrival time.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

/// The `type` of a line, and nothing else.
#[derive(Deserialize)]
struct LineType<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl AdmissionInput {
    /// `bytes` as an admission line: `None` when its `type` is not `admit` or `release`
    /// (or it has none), else the line or its `MalformedInput` message.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Result<Self, String>> {
        let line: LineType<'_> = serde_json::from_slice(bytes).ok()?;
        if !matches!(line.kind.as_ref(), "admit" | "release") {
            return None;
        }
        Some(serde_json::from_slice(bytes).map_err(|e| cut(&e.to_string())))
    }

    /// Whether it releases, and its fields.
    #[must_use]
    pub fn parts(&self) -> (bool, &Admission) {
        match self {
            AdmissionInput::Admit(a) => (false, a),
            AdmissionInput::Release(a) => (true, a),
        }
    }
}

fn one() -> u32 {
    1
}

/// A signal as `POST /v1/signals` takes it (unknown keys are ignored, like replay's `type`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SignalIn {
    /// The tenant.
    pub tenant: String,
    /// The metric name.
    pub metric: String,
    /// The reading, percent.
    pub value: f64,
    /// When it was measured, Unix ms.
    pub ts_ms: u64,
}

/// Parses a `POST /v1/signals` body: one signal object or an array of them.
/// The error is the `MalformedInput` message.
pub fn parse_signals(body: &[u8]) -> Result<Vec<SignalIn>, String> {
    check_unique_keys(body).map_err(|e| cut(&format!("body is not JSON: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| cut(&format!("body is not JSON: {e}")))?;
    match value {
        serde_json::Value::Array(items) => {
            if items.len() > SIGNALS_PER_REQUEST_MAX {
                return Err(format!(
                    "at most {SIGNALS_PER_REQUEST_MAX} signals per request, got {}",
                    items.len()
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    SignalIn::deserialize(item)
                        .map_err(|e| cut(&format!("signal [{i}] is not a signal: {e}")))
                })
                .collect()
        }
        other => SignalIn::deserialize(other)
            .map(|s| vec![s])
            .map_err(|e| cut(&format!("body is not a signal: {e}"))),
    }
}

/// Parses a request body as `T`, refusing duplicate keys at any depth first (serde_json
/// keeps the last of them, a JSON parser elsewhere may keep the first). The error is the
/// `MalformedInput` message.
pub fn from_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    check_unique_keys(body)
        .and_then(|()| serde_json::from_slice(body))
        .map_err(|e| cut(&format!("body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_lines_are_read_apart_from_the_others() {
        // Proves admit/release lines parse (amount defaulting to 1), a bad one gets its own
        // message, and any other type is left to `InputLine`.
        let admit = AdmissionInput::parse(br#"{"type":"admit","tenant":"a","resource":"rate"}"#);
        let Some(Ok(AdmissionInput::Admit(a))) = admit else {
            panic!("{admit:?}");
        };
        assert_eq!((a.amount, a.now_ms), (1, None));
        let release = br#"{"now_ms":5,"type":"release","tenant":"a","resource":"cpu","amount":2}"#;
        assert!(matches!(
            AdmissionInput::parse(release),
            Some(Ok(AdmissionInput::Release(Admission {
                amount: 2,
                now_ms: Some(5),
                ..
            })))
        ));
        let missing = AdmissionInput::parse(br#"{"type":"admit","tenant":"a"}"#);
        assert!(matches!(missing, Some(Err(m)) if m.contains("resource")));
        assert_eq!(
            AdmissionInput::parse(br#"{"type":"reset","tenant":"a"}"#),
            None
        );
        assert_eq!(AdmissionInput::parse(b"not json"), None);
    }

    #[test]
    fn signal_body_is_one_object_or_an_array() {
        // Proves both body forms parse and a missing field is refused with a message.
        let one = br#"{"tenant":"a","metric":"cpu","value":1,"ts_ms":2}"#;
        assert_eq!(parse_signals(one).map(|v| v.len()), Ok(1));
        let many = br#"[{"tenant":"a","metric":"cpu","value":1,"ts_ms":2},
                        {"tenant":"b","metric":"cpu","value":1.5,"ts_ms":3}]"#;
        assert_eq!(parse_signals(many).map(|v| v.len()), Ok(2));
        let missing = br#"{"tenant":"a","metric":"cpu","value":1}"#;
        assert!(parse_signals(missing).is_err_and(|m| m.contains("ts_ms")));
    }
}

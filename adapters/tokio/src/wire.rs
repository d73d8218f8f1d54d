//! The JSON shapes of SPEC sections 7 and 8: replay input lines, result lines, tenants,
//! receipts and errors.
//!
//! Every output shape is a struct whose fields serialize in declaration order, so the keys
//! come out in the SPEC's order. The same result shapes serve `replay` (with `line`) and
//! `POST /v1/signals` (without).

use autonomic_core::engine::{InFlight, IngestError, SignalResult, TenantView, Transition};
use autonomic_core::entitlement::CommandKind;
use autonomic_core::receipt::to_hex;
use autonomic_core::{Action, Cause, EntitlementState, Event, Receipt};
use serde::{Deserialize, Serialize};

/// Most signals accepted in one `POST /v1/signals` array.
pub const SIGNALS_PER_REQUEST_MAX: usize = 10_000;
/// Longest `message` in an error object built from a parse failure, in bytes.
pub const MESSAGE_BYTES_MAX: usize = 512;

/// One replay input line (SPEC section 7); `type` picks the variant. Every variant also
/// accepts an optional `now_ms` (the simulated arrival time).
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

/// Checks that `json` is one JSON value whose objects, at every depth, name each key once
/// (after unescaping: `"a"` and `"\u0061"` are the same key). serde_json's own depth limit
/// (128) bounds the recursion.
pub fn check_unique_keys(json: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    UniqueKeys::deserialize(&mut de)?;
    de.end()
}

/// Keys of one object compared by a linear scan before a hash set takes over.
const LINEAR_KEYS_MAX: usize = 16;

/// A JSON value walked only to find duplicate keys.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        // Request objects have a handful of keys: a linear scan over borrowed keys beats
        // hashing owned copies (this runs for every signal of every batch). A hostile object
        // with many keys switches to a hash set, so the check stays linear.
        let mut few: Vec<Key<'de>> = Vec::new();
        let mut many: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            map.next_value::<UniqueKeys>()?;
            let repeated = if few.len() < LINEAR_KEYS_MAX {
                let repeated = few.iter().any(|k| k.as_str() == key.as_str());
                few.push(key);
                repeated.then(|| few.last().map_or("", Key::as_str).to_owned())
            } else {
                if many.is_empty() {
                    many.extend(few.iter().map(|k| k.as_str().to_owned()));
                }
                let k = key.as_str().to_owned();
                (!many.insert(k.clone())).then_some(k)
            };
            if let Some(key) = repeated {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    cut(&key)
                )));
            }
        }
        Ok(UniqueKeys)
    }
}

/// An object key: borrowed from the body when it has no escapes, else unescaped and owned.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(s.to_owned()))
    }
}

/// Cuts a message to [`MESSAGE_BYTES_MAX`] bytes on one line.
#[must_use]
pub fn cut(message: &str) -> String {
    crate::text::one_line(message, MESSAGE_BYTES_MAX)
}

/// An action on the wire: `{"kind":"throttle","percent":50}`, `{"kind":"pause"}`,
/// `{"kind":"shed","percent":50}`, `{"kind":"rollback","revision":"r1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionJson {
    /// Throttle(percent).
    Throttle {
        /// 0..=100.
        percent: u8,
    },
    /// Pause.
    Pause,
    /// Shed(percent).
    Shed {
        /// 0..=100.
        percent: u8,
    },
    /// Rollback(revision).
    Rollback {
        /// 1..=128 visible-ASCII bytes.
        revision: String,
    },
}

impl From<&Action> for ActionJson {
    fn from(action: &Action) -> Self {
        match action {
            Action::Throttle { percent } => ActionJson::Throttle { percent: *percent },
            Action::Pause => ActionJson::Pause,
            Action::Shed { percent } => ActionJson::Shed { percent: *percent },
            Action::Rollback { revision } => ActionJson::Rollback {
                revision: revision.as_str().to_owned(),
            },
        }
    }
}

impl ActionJson {
    /// The validated core action (`InvalidAction` when out of range).
    pub fn to_action(&self) -> Result<Action, autonomic_core::InvalidAction> {
        match self {
            ActionJson::Throttle { percent } => Action::throttle(*percent),
            ActionJson::Pause => Ok(Action::Pause),
            ActionJson::Shed { percent } => Action::shed(*percent),
            ActionJson::Rollback { revision } => Action::rollback(revision),
        }
    }
}

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
            action: t.action.as_ref().map(ActionJson::from),
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

/// The result of one signal, shaped like a replay line (keys in the SPEC's order).
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

/// `GET /v1/tenants/{id}`: the SPEC's fields, then the extras.
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
        }
    }
}

/// A receipt as a JSON line (`autonomic ledger`, `GET /v1/ledger`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptJson {
    /// Position in the chain.
    pub seq: u64,
    /// When it was appended.
    pub ts_ms: u64,
    /// The tenant.
    pub tenant: String,
    /// What happened, tagged by `type`.
    pub event: EventJson,
    /// The previous receipt's hash, 64 lowercase hex.
    pub prev_hash: String,
    /// This receipt's hash, 64 lowercase hex.
    pub hash: String,
}

impl From<&Receipt> for ReceiptJson {
    fn from(r: &Receipt) -> Self {
        Self {
            seq: r.seq,
            ts_ms: r.ts_ms,
            tenant: r.tenant.as_str().to_owned(),
            event: EventJson::from(&r.event),
            prev_hash: to_hex(&r.prev_hash).as_str().to_owned(),
            hash: to_hex(&r.hash).as_str().to_owned(),
        }
    }
}

/// A receipt's event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventJson {
    /// A governor change.
    Governor {
        /// Why.
        cause: CauseJson,
        /// State before.
        from: &'static str,
        /// State after.
        to: &'static str,
        /// c after.
        consecutive_high: u8,
    },
    /// An action dispatched; the receipt's seq is its id.
    ActionDispatched {
        /// The action.
        action: ActionJson,
        /// Its deadline.
        deadline_ms: u64,
        /// Requested by an operator.
        manual: bool,
    },
    /// An action ended.
    ActionCompleted {
        /// The action's receipt id.
        receipt: u64,
        /// `Succeeded`, `Failed`, `ExecutionTimeout` or `Superseded`.
        outcome: &'static str,
        /// The backend's undo token, lowercase hex (`""` when none).
        undo: String,
    },
    /// A rollback was requested.
    RollbackRequested {
        /// The rolled-back action's receipt id.
        receipt: u64,
    },
    /// A rollback ended.
    RollbackCompleted {
        /// The rolled-back action's receipt id.
        receipt: u64,
        /// Whether the backend undid it.
        succeeded: bool,
    },
    /// An entitlement changed.
    Entitlement {
        /// `provision`, `activate`, `pause`, `resume` or `revoke`.
        command: &'static str,
        /// State before (`null` for a new tenant).
        from: Option<&'static str>,
        /// State after.
        to: &'static str,
        /// SKU after.
        sku: &'static str,
        /// Expiry after (`null`: never).
        expires_at_ms: Option<u64>,
    },
}

/// Why a governor changed, tagged by `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CauseJson {
    /// A signal.
    Signal {
        /// The metric.
        metric: &'static str,
        /// Its normalized value.
        value_pct: u8,
        /// Its timestamp.
        ts_ms: u64,
    },
    /// The action in flight succeeded.
    ActionSucceeded,
    /// The action in flight failed or timed out.
    ActionFailed,
    /// An operator reset.
    Reset,
}

/// The wire name of an entitlement command.
#[must_use]
pub fn command_name(command: CommandKind) -> &'static str {
    match command {
        CommandKind::Provision => "provision",
        CommandKind::Activate => "activate",
        CommandKind::Pause => "pause",
        CommandKind::Resume => "resume",
        CommandKind::Revoke => "revoke",
    }
}

impl From<&Event> for EventJson {
    fn from(event: &Event) -> Self {
        match event {
            Event::Governor {
                cause,
                from,
                to,
                consecutive_high,
            } => EventJson::Governor {
                cause: match *cause {
                    Cause::Signal {
                        metric,
                        value_pct,
                        ts_ms,
                    } => CauseJson::Signal {
                        metric: metric.as_str(),
                        value_pct,
                        ts_ms,
                    },
                    Cause::ActionSucceeded => CauseJson::ActionSucceeded,
                    Cause::ActionFailed => CauseJson::ActionFailed,
                    Cause::Reset => CauseJson::Reset,
                },
                from: from.as_str(),
                to: to.as_str(),
                consecutive_high: *consecutive_high,
            },
            Event::ActionDispatched {
                action,
                deadline_ms,
                manual,
            } => EventJson::ActionDispatched {
                action: ActionJson::from(action),
                deadline_ms: *deadline_ms,
                manual: *manual,
            },
            Event::ActionCompleted {
                receipt,
                outcome,
                undo,
            } => EventJson::ActionCompleted {
                receipt: *receipt,
                outcome: outcome.as_str(),
                undo: hex::encode(undo),
            },
            Event::RollbackRequested { receipt } => {
                EventJson::RollbackRequested { receipt: *receipt }
            }
            Event::RollbackCompleted { receipt, succeeded } => EventJson::RollbackCompleted {
                receipt: *receipt,
                succeeded: *succeeded,
            },
            Event::Entitlement {
                command,
                from,
                to,
                sku,
                expires_at_ms,
            } => EventJson::Entitlement {
                command: command_name(*command),
                from: from.map(EntitlementState::as_str),
                to: to.as_str(),
                sku: sku.as_str(),
                expires_at_ms: *expires_at_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_json_matches_the_spec() {
        // Proves the four action shapes of SPEC section 7, keys in order.
        let cases = [
            (Action::THROTTLE_50, r#"{"kind":"throttle","percent":50}"#),
            (Action::Pause, r#"{"kind":"pause"}"#),
            (Action::SHED_50, r#"{"kind":"shed","percent":50}"#),
            (
                Action::rollback("r1").unwrap_or(Action::Pause),
                r#"{"kind":"rollback","revision":"r1"}"#,
            ),
        ];
        for (action, want) in cases {
            assert_eq!(to_line(&ActionJson::from(&action)), want);
        }
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

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        // Proves a key named twice in one object is refused, escaped or not, nested or
        // not, while the same key in sibling objects is fine.
        for body in [
            r#"{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"value":99}"#,
            r#"{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"x":1,"x":2}"#,
            r#"[{"tenant":"a","metric":"cpu","value":1,"ts_ms":2,"pad":{"k":1,"\u006b":2}}]"#,
        ] {
            let refused = parse_signals(body.as_bytes());
            assert!(
                refused.is_err_and(|m| m.contains("duplicate key")),
                "{body}"
            );
        }
        let siblings = br#"[{"tenant":"a","metric":"cpu","value":1,"ts_ms":2},
                            {"tenant":"a","metric":"cpu","value":1,"ts_ms":3}]"#;
        assert_eq!(parse_signals(siblings).map(|v| v.len()), Ok(2));
        assert!(check_unique_keys(br#"{"a":[{"b":1},{"b":2}]}"#).is_ok());
        assert!(check_unique_keys(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn many_keys_are_checked_past_the_linear_scan() {
        // Proves the hash-set path: an object with more keys than the linear scan holds finds
        // a repeat before and after the switch, and accepts 10 000 distinct keys.
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        let distinct = format!("{{{}}}", keys(10_000).join(","));
        assert!(check_unique_keys(distinct.as_bytes()).is_ok());
        for at in [
            3,
            LINEAR_KEYS_MAX - 1,
            LINEAR_KEYS_MAX,
            LINEAR_KEYS_MAX + 5,
            9_999,
        ] {
            let mut k = keys(10_000);
            k.push(format!("\"k{at}\":0"));
            let body = format!("{{{}}}", k.join(","));
            let refused = check_unique_keys(body.as_bytes());
            assert!(
                refused.is_err_and(|e| e.to_string().contains("duplicate key")),
                "{at}"
            );
        }
    }
}

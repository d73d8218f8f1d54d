//! Actions on the wire, and the actuators' view of a core action.

use autonomic_core::Action;
use serde::{Deserialize, Serialize};

use crate::actuator::ActionRequest;

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

/// A manual action's request body: the action, and `"queue": true` to wait behind the one
/// in flight (absent or `false`: refused while one is in flight, as before).
pub fn parse_action_request(body: &[u8]) -> Result<(ActionJson, bool), String> {
    let mut value: serde_json::Value = super::from_body(body)?;
    let Some(map) = value.as_object_mut() else {
        return super::from_body(body).map(|action| (action, false));
    };
    let Some(queue) = map.remove("queue") else {
        return super::from_body(body).map(|action| (action, false));
    };
    let queue = queue
        .as_bool()
        .ok_or_else(|| "body: queue must be true or false".to_owned())?;
    let action = serde_json::from_value(value).map_err(|e| super::cut(&format!("body: {e}")))?;
    Ok((action, queue))
}

/// The actuator's view of a core action.
#[must_use]
pub fn action_request(tenant: &str, receipt: u64, action: &Action) -> ActionRequest {
    ActionRequest {
        tenant: tenant.to_owned(),
        kind: action.kind(),
        percent: action.percent(),
        revision: action.revision().map(str::to_owned),
        receipt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::to_line;

    #[test]
    fn action_json_matches_the_spec() {
        // Proves the four action shapes of docs/actions.md#kinds, keys in order.
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
}

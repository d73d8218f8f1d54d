//! How the suites compare the core with the models: the core's governor states, actions and
//! action commands in the models' terms.

use autonomic_core::engine::{ActionCommand, Engine};
use autonomic_core::{Action, GovernorState};

use crate::model::engine::MCommand;
use crate::model::governor::{GState, MAction};

/// The model's state for a core state.
pub fn gstate(s: GovernorState) -> GState {
    match s {
        GovernorState::Stable => GState::Stable,
        GovernorState::Warn => GState::Warn,
        GovernorState::Intervene => GState::Intervene,
        GovernorState::Degrade => GState::Degrade,
        GovernorState::Refuse => GState::Refuse,
    }
}

/// The model's action for a core action (`None` for Rollback, which the table never orders).
pub fn maction(a: &Action) -> Option<MAction> {
    match a {
        Action::Throttle { percent } => Some(MAction::Throttle(*percent)),
        Action::Pause => Some(MAction::Pause),
        Action::Shed { percent } => Some(MAction::Shed(*percent)),
        Action::Rollback { .. } => None,
    }
}

/// The engine's pending action commands as the model writes them ([`MCommand`]), sorted;
/// rollbacks (which the model does not hold) are left out.
pub fn commands(engine: &mut Engine<'_>) -> Vec<MCommand> {
    let mut out: Vec<MCommand> = std::iter::from_fn(|| engine.poll_action())
        .filter_map(|c| match c {
            ActionCommand::Run {
                receipt,
                tenant,
                action,
                deadline_ms,
            } => Some(MCommand::Run {
                receipt,
                tenant: tenant.to_string(),
                action: format!("{:?}", maction(&action)?),
                deadline_ms,
            }),
            ActionCommand::Cancel { receipt, tenant } => Some(MCommand::Cancel {
                receipt,
                tenant: tenant.to_string(),
            }),
            ActionCommand::Rollback { .. } => None,
        })
        .collect();
    out.sort();
    out
}

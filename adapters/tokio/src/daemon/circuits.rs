//! Circuit breakers as the sidecar shows them (`docs/actions.md#circuit-breakers`): each
//! kind's circuit for `/readyz` and the metrics, and a log line for every circuit change and
//! every action a circuit refused. The engine decides and records; this only reports.

use autonomic_core::stats::Stats;
use autonomic_core::{ActionOutcome, Event, Receipt};

use super::*;

/// Circuit receipts and refusals the engine counted on the live path.
fn circuit_events(stats: &Stats) -> u64 {
    let per_kind = |kind| {
        let refused = stats.actions_completed(kind, ActionOutcome::CircuitOpen);
        let changes = CircuitState::ALL.map(|to| stats.circuit_transitions(kind, to));
        refused + changes.iter().sum::<u64>()
    };
    ActionKind::ALL.map(per_kind).iter().sum()
}

/// Log lines for a round's circuit receipts. Records are decoded only in rounds whose
/// receipts include one (the engine's counts moved), so other rounds cost nothing.
#[derive(Debug, Default)]
pub(super) struct CircuitLog {
    seen: u64,
    reading: bool,
    /// The kind of the last dispatch read (a refusal's completion follows its dispatch).
    last_kind: &'static str,
}

impl CircuitLog {
    /// Before a round's records are drained: whether to read them.
    pub(super) fn begin(&mut self, stats: &Stats) {
        let events = circuit_events(stats);
        self.reading = events != self.seen;
        self.seen = events;
    }

    /// One record of the round.
    pub(super) fn record(&mut self, record: &[u8]) {
        if !self.reading {
            return;
        }
        let Ok(receipt) = Receipt::decode(record) else {
            return;
        };
        let tenant = receipt.tenant.as_str();
        match receipt.event {
            Event::ActionDispatched { action, .. } => self.last_kind = action.kind().as_str(),
            Event::ActionCompleted {
                receipt,
                outcome: ActionOutcome::CircuitOpen,
                ..
            } => {
                let kind = self.last_kind;
                warn!(%tenant, receipt, kind, ok = false, timed_out = false,
                      detail = "circuit open", "actuator: action failed");
            }
            Event::Circuit { kind, to } => {
                let (kind, to) = (kind.as_str(), to.as_str());
                match to {
                    "open" => warn!(%tenant, kind, to,
                        "actuator: circuit opened; actions of this kind fail at once until the cool-down ends"),
                    "half_open" => info!(%tenant, kind, to,
                        "actuator: circuit half-open; this action is the trial call"),
                    _ => info!(%tenant, kind, to, "actuator: circuit closed"),
                }
            }
            _ => {}
        }
    }
}

/// Shows each kind's circuit of `engine` (for `/readyz` and the metrics).
pub(super) fn publish_circuits(engine: &Engine<'_>, shared: &Shared) {
    for kind in ActionKind::ALL {
        shared.set_circuit(kind, engine.circuit(kind));
    }
}

//! The actuators of a running sidecar: one per action kind, built once at start.

use std::sync::Arc;

use autonomic_core::limits::ACTION_TIMEOUT_MS_MAX;

use super::{ActionKind, Actuator, ActuatorConfigError, ProcessRecords};
use crate::config::{ActuatorsSection, SetupError};
use crate::daemon::ACTUATOR_GRACE_MS;

/// One actuator per action kind, in [`ActionKind::index`] order.
#[derive(Debug, Clone)]
pub struct Actuators {
    by_kind: [Arc<Actuator>; 4],
}

impl Actuators {
    /// Builds every actuator; each gets its section's `timeout_ms` plus
    /// [`ACTUATOR_GRACE_MS`] (so that the engine's own deadline fires first), and `exec`
    /// ones record their process groups in `records` (so a restarted sidecar can kill what
    /// a dead one left).
    pub fn from_config(
        sections: &ActuatorsSection,
        records: Option<ProcessRecords>,
    ) -> Result<Self, SetupError> {
        let build = |kind| {
            let mut section = sections.get(kind).clone();
            section.timeout_ms = section
                .timeout_ms
                .saturating_add(ACTUATOR_GRACE_MS)
                .min(ACTION_TIMEOUT_MS_MAX);
            let actuator = Actuator::from_config(kind, &section)?;
            let actuator = match &records {
                Some(r) => actuator.with_process_records(r.clone()),
                None => actuator,
            };
            Ok::<_, ActuatorConfigError>(Arc::new(actuator))
        };
        let [throttle, pause, shed, rollback] = ActionKind::ALL;
        Ok(Self {
            by_kind: [
                build(throttle)?,
                build(pause)?,
                build(shed)?,
                build(rollback)?,
            ],
        })
    }

    /// The actuator of `kind`.
    #[must_use]
    pub fn get(&self, kind: ActionKind) -> Option<&Arc<Actuator>> {
        self.by_kind.get(kind.index())
    }

    /// Every actuator, in [`ActionKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Actuator>> {
        self.by_kind.iter()
    }
}

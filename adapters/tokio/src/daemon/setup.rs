//! The engine's and the actuators' settings, built from the config: they live in
//! [`crate::config::DaemonConfig`] and [`crate::actuator::Actuators`], re-exported here so the
//! engine thread's callers need one path.

pub use crate::actuator::Actuators;
pub use crate::config::{CheckpointSetup, DaemonConfig, SetupError};

//! Hot reload in [`EngineModel`] (`docs/config.md#hot-reload`): a new configuration replaces
//! the thresholds and the action timeouts whole and appends one `config_applied` receipt,
//! which concerns no tenant (`docs/receipts.md#system-receipts`).

use super::EngineModel;
use crate::model::governor::Th;

impl EngineModel {
    /// Applies `th` and the action timeouts of Throttle, Pause and Shed from now on: actions
    /// in flight keep the deadlines they were dispatched with, governors keep their state and
    /// `c`. Returns the receipt's seq.
    pub fn reload(&mut self, th: Th, timeout_ms: [u64; 3]) -> u64 {
        self.th = th;
        self.timeout_ms = timeout_ms;
        self.receipt()
    }
}

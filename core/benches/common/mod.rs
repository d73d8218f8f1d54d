//! What the benches share: tenants activated the way the signal-path benches need them.

use autonomic_core::EntitlementCommand;
use autonomic_core::engine::Engine;

/// Activates every id of `ids` on the pro SKU at time 0 and polls away their receipts.
pub fn activate_all(engine: &mut Engine<'_>, ids: &[String]) {
    for id in ids {
        let activate = EntitlementCommand::Activate {
            sku: "pro",
            expires_at_ms: None,
        };
        engine.handle_entitlement(0, id, activate).unwrap();
        while engine.poll_record().is_some() {}
    }
}

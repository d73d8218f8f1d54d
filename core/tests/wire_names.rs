//! The names a user reads on the wire, in receipts, in metrics labels and in error answers
//! (`docs/actions.md`, `docs/governor.md`, `docs/entitlements.md`, `docs/signals.md`,
//! `docs/http-api.md`) come from the core, so the core's tests pin them: every kind, state,
//! outcome and error has exactly its documented name, and its place in its `ALL` array.

use autonomic_core::breaker::CircuitState;
use autonomic_core::engine::{CommandError, IngestError};
use autonomic_core::entitlement::{AdmitError, CommandKind, EntitlementError};
use autonomic_core::{
    ActionKind, ActionOutcome, EntitlementState, GovernorState, MetricKind, Resource, SignalError,
    Sku,
};

#[test]
fn kinds_states_and_outcomes_have_their_documented_names_in_index_order() {
    // Proves each enum's wire name, and that `index` is its position in `ALL` (the metrics
    // tables are indexed by it).
    let kinds: Vec<_> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(kinds, ["throttle", "pause", "shed", "rollback"]);
    for (i, k) in ActionKind::ALL.into_iter().enumerate() {
        assert_eq!(k.index(), i, "{k:?}");
    }

    let outcomes: Vec<_> = ActionOutcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "Succeeded",
            "Failed",
            "ExecutionTimeout",
            "Superseded",
            "CircuitOpen"
        ]
    );
    for (i, o) in ActionOutcome::ALL.into_iter().enumerate() {
        assert_eq!(o.index(), i, "{o:?}");
    }

    let circuits: Vec<_> = CircuitState::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(circuits, ["closed", "open", "half_open"]);
    for (i, c) in CircuitState::ALL.into_iter().enumerate() {
        assert_eq!(c.index(), i, "{c:?}");
    }

    let states: Vec<_> = GovernorState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(states, ["Stable", "Warn", "Intervene", "Degrade", "Refuse"]);
    for (i, s) in GovernorState::ALL.into_iter().enumerate() {
        assert_eq!(s.index(), i, "{s:?}");
    }

    // The kinds, in order, are the list the refusal of an unknown metric gives.
    let metrics: Vec<_> = MetricKind::ALL.iter().map(|m| m.as_str()).collect();
    let refusal = SignalError::InvalidMetricName.to_string();
    let listed = format!("one of {} (", metrics.join(" "));
    assert!(refusal.contains(&listed), "{listed:?} not in {refusal:?}");
    assert_eq!(metrics.len(), 7);
    let resources: Vec<_> = Resource::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(resources, ["cpu", "memory", "requests", "storage"]);
}

#[test]
fn entitlements_and_tiers_have_their_documented_names() {
    // Proves the entitlement states and SKUs as `GET /v1/tenants/{id}` shows them.
    let states = [
        (EntitlementState::Pending, "Pending"),
        (EntitlementState::Active, "Active"),
        (EntitlementState::Paused, "Paused"),
        (EntitlementState::Expired, "Expired"),
        (EntitlementState::Terminated, "Terminated"),
    ];
    for (state, name) in states {
        assert_eq!(state.as_str(), name);
    }
    for (sku, name) in [
        (Sku::Starter, "starter"),
        (Sku::Pro, "pro"),
        (Sku::Enterprise, "enterprise"),
    ] {
        assert_eq!(sku.as_str(), name);
        assert_eq!(Sku::parse(name), Ok(sku));
    }
}

#[test]
fn every_error_has_its_documented_name() {
    // Proves the `"error"` names of the HTTP answers and replay lines, for each operation's
    // error enum, and that `IngestError::index` is its position in `ALL`.
    let ingest: Vec<_> = IngestError::ALL.iter().map(|e| e.name()).collect();
    let documented = "InvalidTenantId InvalidMetricName ValueOutOfBounds InvalidTimestamp \
                      TenantNotFound EntitlementExpired EntitlementNotActive Busy";
    assert_eq!(ingest, documented.split_whitespace().collect::<Vec<_>>());
    for (i, e) in IngestError::ALL.into_iter().enumerate() {
        assert_eq!(e.index(), i, "{e:?}");
    }
    for (i, e) in SignalError::ALL.into_iter().enumerate() {
        assert_eq!((e.index(), e.name()), (i, ingest[i]), "{e:?}");
    }

    let command = [
        (CommandError::TenantNotFound, "TenantNotFound"),
        (CommandError::StaleOutcome(7), "StaleOutcome"),
        (CommandError::AlreadyExecuting(7), "AlreadyExecuting"),
        (CommandError::ReceiptNotFound(7), "ReceiptNotFound"),
        (CommandError::UndoTooLarge(65), "UndoTooLarge"),
        (CommandError::Busy, "Busy"),
    ];
    for (e, name) in command {
        assert_eq!(e.name(), name);
    }

    let refused = EntitlementError::InvalidStateTransition {
        from: EntitlementState::Terminated,
        command: CommandKind::Pause,
    };
    let entitlement = [
        (EntitlementError::InvalidTenantId, "InvalidTenantId"),
        (EntitlementError::TenantNotFound, "TenantNotFound"),
        (EntitlementError::InvalidSku, "InvalidSku"),
        (refused, "InvalidStateTransition"),
        (EntitlementError::TenantTableFull, "TenantTableFull"),
        (EntitlementError::Busy, "Busy"),
    ];
    for (e, name) in entitlement {
        assert_eq!(e.name(), name);
    }

    let admit = [
        (AdmitError::TenantNotFound, "TenantNotFound"),
        (AdmitError::EntitlementExpired, "EntitlementExpired"),
        (AdmitError::EntitlementNotActive, "EntitlementNotActive"),
        (AdmitError::UnknownResource, "UnknownResource"),
        (AdmitError::InvalidAmount, "InvalidAmount"),
        (
            AdmitError::RefusedByAction(ActionKind::Shed),
            "RefusedByAction",
        ),
    ];
    for (e, name) in admit {
        assert_eq!(e.name(), name);
    }
}

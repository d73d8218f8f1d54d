//! A tenant's mode through the C ABI, called as a C caller would: a shadow tenant's governor
//! records its actions and runs none; bad mode values and unknown tenants are refused.

mod common;

use std::ptr::{null, null_mut};

use autonomic_c::*;
use autonomic_core::engine::Mode;
use autonomic_core::{Action, Event};
use common::{Block, NOW_MS, running};

/// `autonomic_tenant_mode` of `tenant`: its status and the mode.
fn tenant_mode(block: &Block, tenant: &str) -> (i32, u32) {
    let mut mode = 9;
    let status =
        unsafe { autonomic_tenant_mode(block.e, tenant.as_ptr(), tenant.len(), &mut mode) };
    (status, mode)
}

#[test]
fn a_shadow_tenant_records_the_governors_action_and_nothing_runs() {
    let block = running(&["acme", "beta"]);
    let mut seq = 0;
    assert_eq!(
        block.mode("acme", AutonomicMode::Shadow as u32, &mut seq),
        0
    );
    let receipts = block.drain();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].0.seq, seq);
    assert_eq!(receipts[0].0.event, Event::ModeSet { mode: Mode::Shadow });
    assert_eq!(
        tenant_mode(&block, "acme"),
        (0, AutonomicMode::Shadow as u32)
    );

    let (status, t) = block.signal("acme", 92.0, NOW_MS);
    assert_eq!(status, 0);
    assert_eq!(t.to, AutonomicGovernorState::Intervene as u32);
    assert!(block.actions().is_empty(), "a shadow tenant's action ran");
    assert_eq!(
        (t.action_kind, t.action_percent),
        (AutonomicActionKind::Throttle as u32, 50)
    );
    let receipts = block.drain();
    let shadow = Event::ShadowAction {
        action: Action::Throttle { percent: 50 },
    };
    let recorded = receipts.iter().find(|(r, _)| r.event == shadow);
    assert_eq!(
        recorded.map(|(r, _)| r.seq),
        Some(t.receipt),
        "{receipts:?}"
    );

    let (status, _) = block.signal("beta", 92.0, NOW_MS);
    assert_eq!(status, 0);
    let runs = block.actions();
    assert_eq!(runs.len(), 1, "an enforcing tenant's action runs");
    assert_eq!(&runs[0].tenant[..runs[0].tenant_len], b"beta");
    assert_eq!(runs[0].command, AutonomicCommandKind::Run as u32);

    assert_eq!(
        block.mode("acme", AutonomicMode::Enforce as u32, &mut seq),
        0
    );
    assert_eq!(
        tenant_mode(&block, "acme"),
        (0, AutonomicMode::Enforce as u32)
    );
}

#[test]
fn bad_mode_arguments_are_refused_and_change_nothing() {
    use AutonomicStatus as S;
    let block = running(&["acme"]);
    let (mut seq, shadow, e) = (5, AutonomicMode::Shadow as u32, block.e);
    let refused = [
        (block.mode("acme", 2, &mut seq), S::InvalidArgument),
        (block.mode("acme", u32::MAX, &mut seq), S::InvalidArgument),
        (block.mode("ghost", shadow, &mut seq), S::TenantNotFound),
        (block.mode("", shadow, &mut seq), S::TenantNotFound),
        (
            unsafe { autonomic_mode(e, NOW_MS, null(), 4, shadow, &mut seq) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_mode(null_mut(), NOW_MS, b"acme".as_ptr(), 4, shadow, &mut seq) },
            S::NullPointer,
        ),
        (
            unsafe { autonomic_mode(e, NOW_MS, [0xFFu8].as_ptr(), 1, shadow, &mut seq) },
            S::InvalidUtf8,
        ),
        (tenant_mode(&block, "ghost").0, S::TenantNotFound),
        (
            unsafe { autonomic_tenant_mode(e, b"acme".as_ptr(), 4, null_mut()) },
            S::NullPointer,
        ),
    ];
    for (got, want) in refused {
        assert_eq!(got, want.code(), "{}", want.name().to_str().unwrap());
    }
    assert_eq!(seq, 5);
    assert!(block.drain().is_empty());
    assert_eq!(
        tenant_mode(&block, "acme"),
        (0, AutonomicMode::Enforce as u32)
    );
}

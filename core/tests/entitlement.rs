//! `docs/entitlements.md`: every (entitlement state, command) pair, expiry, signal gating
//! and admission.

use crate::common;

use autonomic_core::engine::IngestError;
use autonomic_core::entitlement::{AdmitError, CommandKind, EntitlementError, shed_refuses};
use autonomic_core::{
    Action, ActionKind, EntitlementCommand as C, EntitlementState as S, Resource,
};
use common::{SmallEngine, drain_records, engine, raw};

const ACT: C<'static> = C::Activate {
    sku: "pro",
    expires_at_ms: None,
};

/// Brings tenant `t` into `state` through public commands.
fn in_state(state: Option<S>) -> SmallEngine {
    let mut e = engine();
    let path: &[C] = match state {
        None => &[],
        Some(S::Pending) => &[C::Provision { sku: "pro" }],
        Some(S::Active) => &[ACT],
        Some(S::Paused) => &[ACT, C::Pause],
        Some(S::Expired) => &[C::Activate {
            sku: "pro",
            expires_at_ms: Some(50),
        }],
        Some(S::Terminated) => &[ACT, C::Revoke],
    };
    for c in path {
        e.handle_entitlement(10, "t", *c).unwrap();
    }
    drain_records(&mut e);
    e
}

fn expected(from: Option<S>, cmd: CommandKind) -> Result<S, &'static str> {
    use CommandKind as K;
    match (from, cmd) {
        (None, K::Provision) => Ok(S::Pending),
        (None | Some(S::Pending | S::Active | S::Expired), K::Activate) => Ok(S::Active),
        (None, _) => Err("TenantNotFound"),
        (Some(S::Active), K::Pause) => Ok(S::Paused),
        (Some(S::Paused), K::Resume) => Ok(S::Active),
        (Some(S::Terminated), K::Revoke) => Err("InvalidStateTransition"),
        (Some(_), K::Revoke) => Ok(S::Terminated),
        _ => Err("InvalidStateTransition"),
    }
}

#[test]
fn every_state_command_pair() {
    // Proves the lifecycle table for all 6 × 5 pairs; refused ones change nothing and leave
    // no receipt, accepted ones leave exactly one.
    let commands = [
        C::Provision { sku: "pro" },
        ACT,
        C::Pause,
        C::Resume,
        C::Revoke,
    ];
    for from in [
        None,
        Some(S::Pending),
        Some(S::Active),
        Some(S::Paused),
        Some(S::Expired),
        Some(S::Terminated),
    ] {
        for cmd in commands {
            let mut e = in_state(from);
            let now = 100; // past the Expired arrangement's expiry
            let before = e.tenant(now, "t").map(|v| (v.entitlement, v.sku));
            assert_eq!(before.map(|b| b.0), from, "arrangement for {from:?}");
            let got = e
                .handle_entitlement(now, "t", cmd)
                .map_err(|err| err.name());
            assert_eq!(got, expected(from, cmd.kind()), "{from:?} × {cmd:?}");
            let receipts = drain_records(&mut e).len();
            match got {
                Ok(to) => {
                    assert_eq!(receipts, 1, "{from:?} × {cmd:?} leaves one receipt");
                    assert_eq!(e.tenant(now, "t").unwrap().entitlement, to);
                }
                Err(_) => {
                    assert_eq!(receipts, 0, "{from:?} × {cmd:?} leaves none");
                    assert_eq!(e.tenant(now, "t").map(|v| (v.entitlement, v.sku)), before);
                }
            }
        }
    }
}

#[test]
fn invalid_sku_and_tenant_are_refused() {
    // Proves InvalidSku and InvalidTenantId come before any state change.
    let mut e = engine();
    assert_eq!(
        e.handle_entitlement(
            0,
            "t",
            C::Activate {
                sku: "gold",
                expires_at_ms: None
            }
        ),
        Err(EntitlementError::InvalidSku)
    );
    assert_eq!(
        e.handle_entitlement(0, "a b", ACT),
        Err(EntitlementError::InvalidTenantId)
    );
    assert_eq!(e.tenant_count(), 0);
    assert!(drain_records(&mut e).is_empty());
}

#[test]
fn plan_change_keeps_active() {
    // Proves Active → Active on activate changes the SKU.
    let mut e = in_state(Some(S::Active));
    assert_eq!(
        e.handle_entitlement(
            20,
            "t",
            C::Activate {
                sku: "enterprise",
                expires_at_ms: None
            }
        ),
        Ok(S::Active)
    );
    assert_eq!(
        e.tenant(20, "t").unwrap().sku,
        autonomic_core::Sku::Enterprise
    );
}

#[test]
fn expiry_takes_effect_at_its_instant() {
    // Proves an entitlement is Active before expires_at_ms and Expired from it on, and that
    // signals are then refused with EntitlementExpired.
    let mut e = engine();
    e.handle_entitlement(
        0,
        "t",
        C::Activate {
            sku: "pro",
            expires_at_ms: Some(1_000),
        },
    )
    .unwrap();
    assert_eq!(e.tenant(999, "t").unwrap().entitlement, S::Active);
    assert_eq!(e.tenant(1_000, "t").unwrap().entitlement, S::Expired);
    assert!(e.handle_signal(999, &raw("t", 10.0, 999)).is_ok());
    assert_eq!(
        e.handle_signal(1_000, &raw("t", 10.0, 1_000)),
        Err(IngestError::EntitlementExpired)
    );
}

#[test]
fn signals_are_gated_by_entitlement_state() {
    // Proves TenantNotFound / EntitlementNotActive for Pending, Paused and Terminated, and
    // that a refused signal is not remembered: its redelivery after resume counts.
    let mut e = engine();
    assert_eq!(
        e.handle_signal(0, &raw("t", 80.0, 0)),
        Err(IngestError::TenantNotFound)
    );
    for state in [S::Pending, S::Paused, S::Terminated] {
        let mut e = in_state(Some(state));
        assert_eq!(
            e.handle_signal(20, &raw("t", 80.0, 20)),
            Err(IngestError::EntitlementNotActive),
            "{state:?}"
        );
        assert!(drain_records(&mut e).is_empty());
    }
    let mut e = in_state(Some(S::Paused));
    assert!(e.handle_signal(20, &raw("t", 80.0, 20)).is_err());
    e.handle_entitlement(30, "t", C::Resume).unwrap();
    let r = e.handle_signal(30, &raw("t", 80.0, 20)).unwrap();
    assert!(
        matches!(r, autonomic_core::SignalResult::Governed(_)),
        "redelivery after resume is governed"
    );
}

#[test]
fn quotas_follow_the_sku() {
    // Proves admission up to the SKU's limit and QuotaExceeded past it, with in_use/requested/limit.
    let mut e = in_state(Some(S::Active));
    assert_eq!(e.admit(20, "t", Resource::Cpu, 8), Ok(8));
    assert_eq!(
        e.admit(20, "t", Resource::Cpu, 1),
        Err(AdmitError::QuotaExceeded {
            resource: Resource::Cpu,
            in_use: 8,
            requested: 1,
            limit: 8
        })
    );
    assert_eq!(
        e.admit(20, "t", Resource::Cpu, 1).unwrap_err().to_string(),
        "cpu: 8 in use + 1 requested exceeds the limit of 8",
        "the message uses the wire names and the same numbers"
    );
    assert_eq!(e.release("t", Resource::Cpu, 3), Ok(5));
    assert_eq!(
        e.release("t", Resource::Cpu, 6),
        Err(AdmitError::ReleaseExceedsUsage {
            resource: Resource::Cpu,
            current: 5,
            amount: 6
        })
    );
    assert_eq!(
        e.admit(20, "t", Resource::Requests, 0),
        Err(AdmitError::InvalidAmount)
    );
    assert_eq!(
        e.admit(20, "nobody", Resource::Requests, 1),
        Err(AdmitError::TenantNotFound)
    );
    let mut paused = in_state(Some(S::Paused));
    assert_eq!(
        paused.admit(20, "t", Resource::Requests, 1),
        Err(AdmitError::EntitlementNotActive)
    );
}

#[test]
fn throttle_lowers_the_effective_limit() {
    // Proves Throttle(p) limits to p% of the SKU's limit, rounded down, at least 1.
    let mut e = in_state(Some(S::Active));
    e.handle_action(20, "t", Action::throttle(50).unwrap())
        .unwrap();
    assert_eq!(e.admit(20, "t", Resource::Requests, 500), Ok(500));
    assert_eq!(
        e.admit(20, "t", Resource::Requests, 1),
        Err(AdmitError::QuotaExceeded {
            resource: Resource::Requests,
            in_use: 500,
            requested: 1,
            limit: 500
        })
    );
    let mut e = in_state(Some(S::Active));
    e.handle_action(20, "t", Action::throttle(1).unwrap())
        .unwrap();
    assert_eq!(
        e.admit(20, "t", Resource::Cpu, 1),
        Ok(1),
        "1% of 8 cores rounds to at least 1"
    );
    assert!(e.admit(20, "t", Resource::Cpu, 1).is_err());
}

#[test]
fn pause_refuses_everything_and_shed_spreads_refusals() {
    // Proves Pause refuses all admissions and Shed(50) refuses exactly every other one.
    let mut e = in_state(Some(S::Active));
    e.handle_action(20, "t", Action::Pause).unwrap();
    assert_eq!(
        e.admit(20, "t", Resource::Requests, 1),
        Err(AdmitError::RefusedByAction(ActionKind::Pause))
    );
    let mut e = in_state(Some(S::Active));
    e.handle_action(20, "t", Action::shed(50).unwrap()).unwrap();
    let outcomes: Vec<bool> = (0..100)
        .map(|_| {
            let ok = e.admit(20, "t", Resource::Requests, 1).is_ok();
            if ok {
                e.release("t", Resource::Requests, 1).unwrap();
            }
            ok
        })
        .collect();
    assert_eq!(outcomes.iter().filter(|ok| !**ok).count(), 50);
    assert!(
        outcomes.windows(2).all(|w| w[0] != w[1]),
        "alternates: evenly spread"
    );
}

#[test]
fn shed_refuses_p_of_every_100_and_repeats_every_100() {
    // Proves the spread rule as a function: for every percent, exactly p of 100 consecutive
    // attempts are refused, attempt n + 100 is refused as n is (every u8 attempt), and a
    // percent above 100 sheds as 100 (everything).
    for p in 0..=100u8 {
        let refused = (0..100u8).filter(|n| shed_refuses(*n, p)).count();
        assert_eq!(refused, usize::from(p), "Shed({p})");
        for n in 100..=u8::MAX {
            assert_eq!(
                shed_refuses(n, p),
                shed_refuses(n % 100, p),
                "Shed({p}), attempt {n}"
            );
        }
    }
    for p in [101, 150, u8::MAX] {
        assert!((0..=u8::MAX).all(|n| shed_refuses(n, p)), "Shed({p})");
    }
}

#[test]
fn enforcement_ends_when_the_governor_returns_to_stable() {
    // Proves the enforced action is cleared by a Reset (governor back to Stable).
    let mut e = in_state(Some(S::Active));
    e.handle_signal(20, &raw("t", 95.0, 20)).unwrap();
    assert!(
        e.admit(21, "t", Resource::Cpu, 5).is_err(),
        "Throttle(50): 4 cores"
    );
    e.handle_reset(22, "t").unwrap();
    assert_eq!(e.admit(23, "t", Resource::Cpu, 5), Ok(5));
}

#[test]
fn each_resource_is_counted_apart() {
    // Proves admission keeps one count per resource: cpu, memory, requests and storage each
    // start from zero whatever the others hold, and the tenant view reports each in its place.
    let mut e = in_state(Some(S::Active));
    let resources = [
        Resource::Cpu,
        Resource::Memory,
        Resource::Requests,
        Resource::Storage,
    ];
    for (amount, resource) in (1u16..).zip(resources) {
        assert_eq!(
            e.admit(20, "t", resource, u32::from(amount)),
            Ok(amount),
            "{resource:?}"
        );
    }
    assert_eq!(e.tenant(20, "t").unwrap().usage, [1, 2, 3, 4]);
    assert_eq!(e.release("t", Resource::Storage, 4), Ok(0));
    assert_eq!(e.tenant(20, "t").unwrap().usage, [1, 2, 3, 0]);
}

#[test]
fn an_expiry_is_reported_and_kept_by_later_commands() {
    // Proves the tenant view reports expires_at_ms (None when it never expires), and that a
    // later command keeps it: after a pause and a resume the tenant still expires at its
    // instant.
    let mut e = engine();
    let expiring = C::Activate {
        sku: "pro",
        expires_at_ms: Some(1_000),
    };
    e.handle_entitlement(0, "t", expiring).unwrap();
    assert_eq!(e.tenant(0, "t").unwrap().expires_at_ms, Some(1_000));
    e.handle_entitlement(10, "t", C::Pause).unwrap();
    e.handle_entitlement(20, "t", C::Resume).unwrap();
    assert_eq!(e.tenant(20, "t").unwrap().expires_at_ms, Some(1_000));
    assert_eq!(e.tenant(999, "t").unwrap().entitlement, S::Active);
    assert_eq!(e.tenant(1_000, "t").unwrap().entitlement, S::Expired);
    let never = in_state(Some(S::Active));
    assert_eq!(never.tenant(20, "t").unwrap().expires_at_ms, None);
}

//! The boundary itself: the status codes are pinned, every core error name has one, and bad
//! pointers, lengths and blocks are refused without touching anything.

use std::ffi::CStr;

use autonomic_c::*;
use autonomic_core::engine::{CommandError, IngestError};
use autonomic_core::entitlement::EntitlementError;

/// The released table: code, name. Codes never change meaning; new ones go at the end.
const PINNED: [(i32, &str); 36] = [
    (0, "Ok"),
    (1, "Empty"),
    (2, "NullPointer"),
    (3, "BufferTooSmall"),
    (4, "Misaligned"),
    (5, "InvalidUtf8"),
    (6, "InvalidArgument"),
    (7, "Panicked"),
    (8, "InvalidTenantId"),
    (9, "InvalidMetricName"),
    (10, "ValueOutOfBounds"),
    (11, "InvalidTimestamp"),
    (12, "TenantNotFound"),
    (13, "EntitlementExpired"),
    (14, "EntitlementNotActive"),
    (15, "Busy"),
    (16, "InvalidSku"),
    (17, "InvalidStateTransition"),
    (18, "TenantTableFull"),
    (19, "StaleOutcome"),
    (20, "AlreadyExecuting"),
    (21, "ReceiptNotFound"),
    (22, "UndoTooLarge"),
    (23, "InvalidAction"),
    (24, "InvalidCapacities"),
    (25, "Malformed"),
    (26, "SeqMismatch"),
    (27, "BrokenLink"),
    (28, "BadHash"),
    (29, "InvalidThresholds"),
    (30, "InvalidActionTimeout"),
    (31, "InvalidBreaker"),
    (32, "BreakerRingTooSmall"),
    (33, "InvalidRateLimit"),
    (34, "InvalidActionPercent"),
    (35, "InvalidTiming"),
];

#[test]
fn status_codes_and_names_are_pinned() {
    for (status, (code, name)) in AutonomicStatus::ALL.into_iter().zip(PINNED) {
        assert_eq!(
            (status.code(), status.name().to_str().unwrap()),
            (code, name)
        );
        let from_c = unsafe { CStr::from_ptr(autonomic_error_name(code)) };
        assert_eq!(from_c.to_str().unwrap(), name);
    }
    let unknown = unsafe { CStr::from_ptr(autonomic_error_name(-1)) };
    assert_eq!(unknown.to_str().unwrap(), "Unknown");
}

#[test]
fn every_core_error_name_has_a_code() {
    let mut names: Vec<&str> = IngestError::ALL.iter().map(|e| e.name()).collect();
    names.extend(
        [
            CommandError::TenantNotFound,
            CommandError::StaleOutcome(0),
            CommandError::AlreadyExecuting(0),
            CommandError::ReceiptNotFound(0),
            CommandError::UndoTooLarge(0),
            CommandError::Busy,
        ]
        .map(CommandError::name),
    );
    names.extend(
        [
            EntitlementError::InvalidTenantId,
            EntitlementError::TenantNotFound,
            EntitlementError::InvalidSku,
            EntitlementError::TenantTableFull,
            EntitlementError::Busy,
        ]
        .map(EntitlementError::name),
    );
    for name in names {
        assert!(
            AutonomicStatus::from_name(name).is_some(),
            "{name} has no code"
        );
    }
}

#[test]
fn bad_pointers_and_blocks_are_refused() {
    let mut caps = AutonomicCapacities::from(autonomic_core::Capacities::with_tenants(2));
    caps.dedup_ids = 16;
    let (mut size, mut align) = (0, 0);
    let code = |s: AutonomicStatus| s.code();
    unsafe {
        assert_eq!(
            autonomic_storage_size(std::ptr::null(), &mut size, &mut align),
            code(AutonomicStatus::NullPointer)
        );
        assert_eq!(autonomic_storage_size(&caps, &mut size, &mut align), 0);
        let mut block = vec![0u64; size / 8 + 2];
        let base = block.as_mut_ptr().cast::<u8>();
        let mut e = std::ptr::null_mut();
        assert_eq!(
            autonomic_engine_init(base, size - 1, &caps, &mut e),
            code(AutonomicStatus::BufferTooSmall)
        );
        assert_eq!(
            autonomic_engine_init(base.add(1), size, &caps, &mut e),
            code(AutonomicStatus::Misaligned)
        );
        let mut none = caps;
        none.tenants = 0;
        assert_eq!(
            autonomic_engine_init(base, size, &none, &mut e),
            code(AutonomicStatus::InvalidCapacities)
        );
        let no_timers = AutonomicCapacities { timers: 0, ..caps };
        assert_eq!(
            autonomic_engine_init(base, size, &no_timers, &mut e),
            code(AutonomicStatus::InvalidCapacities)
        );
        let mut huge = caps;
        huge.dedup_ids = usize::MAX / 2;
        assert_eq!(
            autonomic_storage_size(&huge, &mut size, &mut align),
            code(AutonomicStatus::InvalidArgument)
        );
        assert!(e.is_null());
        assert_eq!(autonomic_engine_init(base, size, &caps, &mut e), 0);
        assert_eq!(
            autonomic_signal(
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
                1.0,
                0,
                std::ptr::null_mut()
            ),
            code(AutonomicStatus::NullPointer)
        );
        let bad = [0xFFu8, 0xFE];
        let cpu = "cpu";
        assert_eq!(
            autonomic_signal(
                e,
                0,
                bad.as_ptr(),
                2,
                cpu.as_ptr(),
                3,
                1.0,
                0,
                std::ptr::null_mut()
            ),
            code(AutonomicStatus::InvalidUtf8)
        );
        assert_eq!(
            autonomic_signal(
                e,
                0,
                std::ptr::null(),
                5,
                cpu.as_ptr(),
                3,
                1.0,
                0,
                std::ptr::null_mut()
            ),
            code(AutonomicStatus::NullPointer)
        );
        assert_eq!(
            autonomic_entitlement(
                e,
                0,
                cpu.as_ptr(),
                3,
                9,
                cpu.as_ptr(),
                3,
                AUTONOMIC_NONE,
                std::ptr::null_mut()
            ),
            code(AutonomicStatus::InvalidArgument)
        );
        let mut len = 0;
        let mut buf = [0u8; 8];
        assert_eq!(
            autonomic_poll_record(e, buf.as_mut_ptr(), buf.len(), &mut len),
            code(AutonomicStatus::Empty)
        );
        assert_eq!(autonomic_engine_fini(e), 0);
    }
}

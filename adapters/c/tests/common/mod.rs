//! An engine behind the C ABI in a block of its own, driven as a C caller would.

use std::alloc::Layout;
use std::ptr::null_mut;

use autonomic_c::*;
use autonomic_core::{Capacities, Receipt};

/// The clock of every input.
pub const NOW_MS: u64 = 1_000_000;

/// An engine behind the C ABI and the block it lives in.
pub struct Block {
    pub e: *mut AutonomicEngine,
    pub mem: *mut u8,
    pub layout: Layout,
}

impl Block {
    /// Room for an engine of `caps`; no engine yet.
    pub fn new(caps: &AutonomicCapacities) -> Block {
        let (mut size, mut align) = (0, 0);
        assert_eq!(
            unsafe { autonomic_storage_size(caps, &mut size, &mut align) },
            0
        );
        let layout = Layout::from_size_align(size, align).unwrap_or_else(|e| unreachable!("{e}"));
        let mem = unsafe { std::alloc::alloc(layout) };
        assert!(!mem.is_null());
        Block {
            e: null_mut(),
            mem,
            layout,
        }
    }

    /// `autonomic_engine_init_config`'s status; the engine is kept when it is 0.
    pub fn init(&mut self, caps: &AutonomicCapacities, config: Option<&AutonomicConfig>) -> i32 {
        let size = self.layout.size();
        unsafe {
            match config {
                Some(config) => {
                    autonomic_engine_init_config(self.mem, size, caps, config, &mut self.e)
                }
                None => autonomic_engine_init(self.mem, size, caps, &mut self.e),
            }
        }
    }

    /// Every receipt not yet polled, decoded, and its bytes.
    pub fn drain(&self) -> Vec<(Receipt, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; AUTONOMIC_RECORD_MAX_BYTES];
        let mut len = 0;
        while unsafe { autonomic_poll_record(self.e, buf.as_mut_ptr(), buf.len(), &mut len) } == 0 {
            let bytes = buf.get(..len).unwrap_or_default().to_vec();
            let receipt = Receipt::decode(&bytes).unwrap_or_else(|e| unreachable!("{e:?}"));
            out.push((receipt, bytes));
        }
        out
    }

    /// Every action command waiting.
    pub fn actions(&self) -> Vec<AutonomicAction> {
        let mut out = Vec::new();
        let mut action = AutonomicAction::ZERO;
        while unsafe { autonomic_poll_action(self.e, &mut action) } == 0 {
            out.push(action);
        }
        out
    }

    /// Activates `tenant` on `pro`.
    pub fn activate(&self, tenant: &str) {
        let (t, sku) = (tenant.as_bytes(), b"pro");
        let status = unsafe {
            autonomic_entitlement(
                self.e,
                NOW_MS,
                t.as_ptr(),
                t.len(),
                AutonomicEntitlementCommand::Activate as u32,
                sku.as_ptr(),
                sku.len(),
                AUTONOMIC_NONE,
                null_mut(),
            )
        };
        assert_eq!(status, 0);
    }

    /// A cpu signal for `tenant` at `at_ms`, measured then: its status and the governor's step.
    pub fn signal(&self, tenant: &str, value: f64, at_ms: u64) -> (i32, AutonomicTransition) {
        let mut result = AutonomicSignalResult::default();
        let status = unsafe {
            autonomic_signal(
                self.e,
                at_ms,
                tenant.as_ptr(),
                tenant.len(),
                b"cpu".as_ptr(),
                3,
                value,
                at_ms,
                &mut result,
            )
        };
        (status, result.transition)
    }

    /// `autonomic_mode` for `tenant`: its status.
    pub fn mode(&self, tenant: &str, mode: u32, seq: &mut u64) -> i32 {
        unsafe { autonomic_mode(self.e, NOW_MS, tenant.as_ptr(), tenant.len(), mode, seq) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        unsafe {
            assert_eq!(autonomic_engine_fini(self.e), 0);
            std::alloc::dealloc(self.mem, self.layout);
        }
    }
}

/// Small capacities: `tenants` tenants, 16 receipts, 64 dedup ids.
pub fn caps(tenants: usize) -> AutonomicCapacities {
    let mut caps = AutonomicCapacities::from(Capacities::with_tenants(tenants));
    caps.dedup_ids = 64;
    caps.receipts = 16;
    caps
}

/// An engine of `caps(4)` on the default configuration with `tenants` activated on `pro`,
/// their receipts drained.
pub fn running(tenants: &[&str]) -> Block {
    let caps = caps(4);
    let mut block = Block::new(&caps);
    assert_eq!(block.init(&caps, None), 0);
    for tenant in tenants {
        block.activate(tenant);
    }
    assert_eq!(block.drain().len(), tenants.len());
    block
}

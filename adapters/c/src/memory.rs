//! Carving one caller-provided block into the engine value and its twelve storage slices.
//!
//! The block starts with the engine itself; each slice follows at the next offset aligned
//! for its element type. The block's alignment is the largest of them, so fixed offsets from
//! an aligned start are aligned too. Nothing is allocated.

use core::mem::{align_of, size_of};

use autonomic_core::engine::{Engine, EngineConfig, InFlight, Queued, TenantSlot, Timer};
use autonomic_core::execution::Completed;
use autonomic_core::ledger::Span;
use autonomic_core::storage::{Capacities, Storage};

use crate::status::AutonomicStatus;
use crate::types::AutonomicCapacities;
use crate::{AutonomicEngine, out, put};

/// Where each part of an engine's block starts, and the block's size and alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the whole block.
    pub size: usize,
    /// The alignment its start must have.
    pub align: usize,
    tenants: usize,
    tenant_index: usize,
    tenant_ids: usize,
    dedup_arrivals: usize,
    dedup_fingerprints: usize,
    dedup_arrival_windows: usize,
    ledger_spans: usize,
    ledger_arena: usize,
    in_flight: usize,
    rollbackable: usize,
    queued: usize,
    timers: usize,
}

/// Lays parts out one after the other.
struct Cursor {
    end: usize,
    align: usize,
}

impl Cursor {
    /// Room for `count` values of `T` at the next offset aligned for `T`: its offset.
    fn take<T>(&mut self, count: usize) -> Option<usize> {
        let start = self.end.checked_next_multiple_of(align_of::<T>())?;
        let bytes = count.checked_mul(size_of::<T>())?;
        self.end = start.checked_add(bytes)?;
        self.align = self.align.max(align_of::<T>());
        Some(start)
    }
}

impl Layout {
    /// The layout of an engine of `caps`; `None` when its size overflows (or exceeds
    /// `isize::MAX`, the most any object may span).
    pub fn of(caps: &Capacities) -> Option<Layout> {
        let mut at = Cursor { end: 0, align: 1 };
        let engine = at.take::<AutonomicEngine>(1)?;
        debug_assert_eq!(engine, 0);
        let dedup_index = caps.dedup_index_entries();
        let layout = Layout {
            tenants: at.take::<TenantSlot>(caps.tenants)?,
            tenant_index: at.take::<u64>(caps.tenant_index_entries())?,
            tenant_ids: at.take::<u8>(caps.tenant_id_bytes)?,
            dedup_arrivals: at.take::<u64>(caps.dedup_ids)?,
            dedup_fingerprints: at.take::<u64>(dedup_index)?,
            dedup_arrival_windows: at.take::<u32>(caps.dedup_ids)?,
            ledger_spans: at.take::<Span>(caps.receipts)?,
            ledger_arena: at.take::<u8>(caps.ledger_arena_bytes())?,
            in_flight: at.take::<InFlight>(caps.in_flight)?,
            rollbackable: at.take::<Completed>(caps.rollbackable)?,
            queued: at.take::<Queued>(caps.queued)?,
            timers: at.take::<Timer>(caps.timers)?,
            size: 0,
            align: 0,
        };
        let size = at.end.checked_next_multiple_of(at.align)?;
        isize::try_from(size).ok()?;
        Some(Layout {
            size,
            align: at.align,
            ..layout
        })
    }
}

/// `count` copies of `empty` written at `offset` in the block at `base`, as a slice.
///
/// # Safety
///
/// `base + offset` is aligned for `T` and the `count` values from there lie inside a block
/// the caller lends for `'static`, overlapping no other slice handed out.
unsafe fn carve<T: Clone>(
    base: *mut u8,
    offset: usize,
    count: usize,
    empty: T,
) -> &'static mut [T] {
    // SAFETY: the caller guarantees the range is inside the block, aligned and unshared; every
    // element is written before the slice is made, so the slice only covers initialized values.
    unsafe {
        let start = base.add(offset).cast::<T>();
        for i in 0..count {
            start.add(i).write(empty.clone());
        }
        core::slice::from_raw_parts_mut(start, count)
    }
}

/// Builds an engine of `caps` running `config` in the block `mem[..len]` and returns it.
///
/// # Safety
///
/// `mem` is valid for writes of `len` bytes, and stays valid, unmoved and otherwise unused
/// until the engine is finished.
pub unsafe fn build(
    mem: *mut u8,
    len: usize,
    caps: &Capacities,
    config: EngineConfig,
) -> Result<*mut AutonomicEngine, AutonomicStatus> {
    let layout = Layout::of(caps).ok_or(AutonomicStatus::InvalidArgument)?;
    if mem.is_null() {
        return Err(AutonomicStatus::NullPointer);
    }
    if mem.align_offset(layout.align) != 0 {
        return Err(AutonomicStatus::Misaligned);
    }
    if len < layout.size {
        return Err(AutonomicStatus::BufferTooSmall);
    }
    let dedup_index = caps.dedup_index_entries();
    // SAFETY: `mem` is aligned to `layout.align` and holds `layout.size` bytes (checked above);
    // the layout's parts are disjoint, each aligned for its type and inside `layout.size`
    // (`Cursor::take`); the caller lends the block until `autonomic_engine_fini`.
    let storage = unsafe {
        Storage {
            tenants: carve(mem, layout.tenants, caps.tenants, TenantSlot::EMPTY),
            tenant_index: carve(mem, layout.tenant_index, caps.tenant_index_entries(), 0u64),
            tenant_ids: carve(mem, layout.tenant_ids, caps.tenant_id_bytes, 0u8),
            dedup_arrivals: carve(mem, layout.dedup_arrivals, caps.dedup_ids, 0u64),
            dedup_fingerprints: carve(mem, layout.dedup_fingerprints, dedup_index, 0u64),
            dedup_arrival_windows: carve(mem, layout.dedup_arrival_windows, caps.dedup_ids, 0u32),
            ledger_spans: carve(mem, layout.ledger_spans, caps.receipts, Span::EMPTY),
            ledger_arena: carve(mem, layout.ledger_arena, caps.ledger_arena_bytes(), 0u8),
            in_flight: carve(mem, layout.in_flight, caps.in_flight, InFlight::EMPTY),
            rollbackable: carve(
                mem,
                layout.rollbackable,
                caps.rollbackable,
                Completed::EMPTY,
            ),
            queued: carve(mem, layout.queued, caps.queued, Queued::EMPTY),
            timers: carve(mem, layout.timers, caps.timers, Timer::EMPTY),
        }
    };
    let engine = Engine::new(config, storage)?;
    let at = mem.cast::<AutonomicEngine>();
    // SAFETY: offset 0 of the block is reserved for the engine value and aligned for it.
    unsafe { at.write(AutonomicEngine { engine }) };
    Ok(at)
}

/// The capacities behind a checked pointer.
pub(crate) fn read_caps(caps: *const AutonomicCapacities) -> Result<Capacities, AutonomicStatus> {
    let caps = crate::checked(caps)?;
    // SAFETY: checked non-null and aligned; valid for a read by the caller's contract.
    Ok(unsafe { caps.read() }.into())
}

/// Builds an engine of `caps` running `config` in `mem[..len]`; its handle goes to
/// `out_engine`.
///
/// # Safety
///
/// As `autonomic_engine_init`.
pub(crate) unsafe fn init(
    mem: *mut u8,
    len: usize,
    caps: *const AutonomicCapacities,
    config: EngineConfig,
    out_engine: *mut *mut AutonomicEngine,
) -> Result<(), AutonomicStatus> {
    let handle = out(out_engine)?;
    let caps = read_caps(caps)?;
    // SAFETY: the caller lends the block until fini.
    let engine = unsafe { build(mem, len, &caps, config) }?;
    // SAFETY: checked; valid for a write.
    unsafe { put(Some(handle), engine) };
    Ok(())
}

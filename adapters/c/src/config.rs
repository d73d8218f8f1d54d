//! The engine's configuration and a tenant's mode from C: [`AutonomicConfig`] mirrors the
//! core's `EngineConfig` field for field, flat, and the entry points build an engine with it,
//! replace it at run time (`handle_config`) and set a tenant's mode (`handle_mode`).
//!
//! # Safety (all of them)
//!
//! As the engine's entry points: every pointer argument is null or valid for what its type
//! says for the whole call; `e` came from `autonomic_engine_init` (or
//! `autonomic_engine_init_config`) and was not finished; one thread at a time.

use autonomic_core::breaker::BreakerConfig;
use autonomic_core::engine::{Engine, EngineConfig, Mode};
use autonomic_core::entitlement::{RateLimit, RateLimits};
use autonomic_core::governor::{ActionPercents, GovernorTiming, SkuActions};
use autonomic_core::{ActionKind, Sku, Thresholds};

use crate::status::AutonomicStatus;
use crate::{
    AutonomicEngine, bytes_arg, checked, engine_mut, guard, optional_out, out, put, str_arg,
};

/// Entries of a per-kind array of [`AutonomicConfig`]: throttle, pause, shed, rollback (the
/// `AutonomicActionKind` value minus 1).
pub const AUTONOMIC_ACTION_KINDS: usize = 4;
/// Entries of a per-SKU array of [`AutonomicConfig`]: starter, pro, enterprise (the
/// `AutonomicSku` value).
pub const AUTONOMIC_SKUS: usize = 3;
/// Bytes of a configuration hash (`autonomic_config`'s `hash`).
pub const AUTONOMIC_CONFIG_HASH_BYTES: usize = 32;

const _: () = assert!(AUTONOMIC_ACTION_KINDS == ActionKind::ALL.len());

/// A tenant's mode, as the `uint32_t` argument of `autonomic_mode`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutonomicMode {
    /// The governor's actions run (the default).
    Enforce = 0,
    /// The governor's actions are recorded as `ShadowAction` receipts; none runs.
    Shadow = 1,
}

/// What an engine is configured with (the core's `EngineConfig`, flat). Fill it with
/// `autonomic_config_default`, then change what you need; it is checked whole when used.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutonomicConfig {
    /// The governor's warn threshold (default 75).
    pub warn: u8,
    /// Below this, Warn steps down to Stable (default 70; `<= warn`).
    pub recover: u8,
    /// The intervene threshold (default 90; `warn < intervene <= refuse`).
    pub intervene: u8,
    /// Above this, Degrade steps up to Refuse (default 95; `<= 100`).
    pub refuse: u8,
    /// Consecutive high readings that count as sustained (default 3; `>= 1`).
    pub sustain: u8,
    /// Each kind's action deadline, 1..=3 600 000 ms (default 30 000).
    pub action_timeout_ms: [u64; AUTONOMIC_ACTION_KINDS],
    /// Each kind's consecutive failures that open its circuit, 0..=1 000 (0, the default:
    /// no breaker).
    pub breaker_failures: [u32; AUTONOMIC_ACTION_KINDS],
    /// Each kind's open-circuit cool-down, 1..=3 600 000 ms (default 30 000).
    pub breaker_cooldown_ms: [u64; AUTONOMIC_ACTION_KINDS],
    /// Each SKU's `rate` refill, tokens a second, 1..=1 000 000 (default 10, 100, 1 000).
    pub rate_per_s: [u32; AUTONOMIC_SKUS],
    /// Each SKU's `rate` bucket size, 1..=65 535 tokens (default 20, 200, 2 000).
    pub rate_burst: [u32; AUTONOMIC_SKUS],
    /// Each SKU's Throttle percent on Stable/Warn → Intervene, 1..=100 (default 50).
    pub intervene_throttle_pct: [u8; AUTONOMIC_SKUS],
    /// Each SKU's Throttle percent on Warn sustained → Degrade, 1..=100 (default 25).
    pub degrade_throttle_pct: [u8; AUTONOMIC_SKUS],
    /// Each SKU's Shed percent on Degrade → Refuse, 1..=100 (default 50).
    pub refuse_shed_pct: [u8; AUTONOMIC_SKUS],
    /// The governor's minimum time in Intervene or Degrade before stepping down,
    /// 0..=86 400 000 ms (0, the default: off).
    pub min_dwell_ms: u64,
    /// The governor's least time between two ordered actions of a tenant, 0..=86 400 000 ms
    /// (0: off).
    pub cooldown_ms: u64,
    /// Refuse steps down to Degrade after this long, 0..=86 400 000 ms (0: only a reset).
    pub refuse_max_ms: u64,
    /// An ordered Pause or Shed is announced this long before it runs, 0..=86 400 000 ms
    /// (0: off).
    pub grace_ms: u64,
}

/// The SKUs in the order of a per-SKU array.
const SKUS: [Sku; AUTONOMIC_SKUS] = [Sku::Starter, Sku::Pro, Sku::Enterprise];

/// The entry of a per-SKU array for `sku`.
fn of_sku<T: Copy>(values: [T; AUTONOMIC_SKUS], sku: Sku) -> T {
    let [starter, pro, enterprise] = values;
    match sku {
        Sku::Starter => starter,
        Sku::Pro => pro,
        Sku::Enterprise => enterprise,
    }
}

impl From<&EngineConfig> for AutonomicConfig {
    fn from(c: &EngineConfig) -> Self {
        let th = c.thresholds;
        let rates = SKUS.map(|sku| c.rates.of(sku));
        let percents = SKUS.map(|sku| c.actions.of(sku));
        Self {
            warn: th.warn(),
            recover: th.recover(),
            intervene: th.intervene(),
            refuse: th.refuse(),
            sustain: th.sustain(),
            action_timeout_ms: c.action_timeout_ms,
            breaker_failures: c.breakers.map(|b| b.failures),
            breaker_cooldown_ms: c.breakers.map(|b| b.cooldown_ms),
            rate_per_s: rates.map(|r| r.rate_per_s),
            rate_burst: rates.map(|r| r.burst),
            intervene_throttle_pct: percents.map(|p| p.intervene_throttle_pct),
            degrade_throttle_pct: percents.map(|p| p.degrade_throttle_pct),
            refuse_shed_pct: percents.map(|p| p.refuse_shed_pct),
            min_dwell_ms: c.timing.min_dwell_ms,
            cooldown_ms: c.timing.cooldown_ms,
            refuse_max_ms: c.timing.refuse_max_ms,
            grace_ms: c.timing.grace_ms,
        }
    }
}

impl TryFrom<&AutonomicConfig> for EngineConfig {
    type Error = AutonomicStatus;

    /// The core's configuration; only the thresholds are checked here
    /// (`AUTONOMIC_STATUS_INVALID_THRESHOLDS`), the rest where the engine takes it.
    fn try_from(c: &AutonomicConfig) -> Result<Self, AutonomicStatus> {
        let thresholds = Thresholds::new(c.warn, c.recover, c.intervene, c.refuse, c.sustain)?;
        let mut breakers = [BreakerConfig::DEFAULT; AUTONOMIC_ACTION_KINDS];
        let settings = c.breaker_failures.into_iter().zip(c.breaker_cooldown_ms);
        for (breaker, (failures, cooldown_ms)) in breakers.iter_mut().zip(settings) {
            *breaker = BreakerConfig {
                failures,
                cooldown_ms,
            };
        }
        let rate = |sku| RateLimit {
            rate_per_s: of_sku(c.rate_per_s, sku),
            burst: of_sku(c.rate_burst, sku),
        };
        let percents = |sku| ActionPercents {
            intervene_throttle_pct: of_sku(c.intervene_throttle_pct, sku),
            degrade_throttle_pct: of_sku(c.degrade_throttle_pct, sku),
            refuse_shed_pct: of_sku(c.refuse_shed_pct, sku),
        };
        Ok(EngineConfig {
            thresholds,
            action_timeout_ms: c.action_timeout_ms,
            breakers,
            rates: RateLimits {
                starter: rate(Sku::Starter),
                pro: rate(Sku::Pro),
                enterprise: rate(Sku::Enterprise),
            },
            actions: SkuActions {
                starter: percents(Sku::Starter),
                pro: percents(Sku::Pro),
                enterprise: percents(Sku::Enterprise),
            },
            timing: GovernorTiming {
                min_dwell_ms: c.min_dwell_ms,
                cooldown_ms: c.cooldown_ms,
                refuse_max_ms: c.refuse_max_ms,
                grace_ms: c.grace_ms,
            },
        })
    }
}

/// The core's configuration behind a checked pointer (thresholds checked).
fn read_config(config: *const AutonomicConfig) -> Result<EngineConfig, AutonomicStatus> {
    let config = checked(config)?;
    // SAFETY: checked non-null and aligned; valid for a read by the caller's contract.
    EngineConfig::try_from(&unsafe { config.read() })
}

/// The core's mode for a C mode value.
pub fn mode_of(mode: u32) -> Result<Mode, AutonomicStatus> {
    match mode {
        m if m == AutonomicMode::Enforce as u32 => Ok(Mode::Enforce),
        m if m == AutonomicMode::Shadow as u32 => Ok(Mode::Shadow),
        _ => Err(AutonomicStatus::InvalidArgument),
    }
}

/// An entry point's body: checks `answer_out` (checked by the caller: null is allowed only
/// where the answer is optional) and `e`, runs `body` on the engine (which reads the other
/// arguments, then calls the core) and writes its answer.
///
/// # Safety
///
/// As the entry points (module doc); `body` reads only arguments valid by the same contract.
unsafe fn run<T>(
    e: *mut AutonomicEngine,
    answer_out: Result<Option<*mut T>, AutonomicStatus>,
    body: impl FnOnce(&mut Engine<'static>) -> Result<T, AutonomicStatus>,
) -> i32 {
    guard(|| {
        let answer_out = answer_out?;
        // SAFETY: the caller's contract.
        let engine = unsafe { engine_mut(e) }?;
        let answer = body(engine)?;
        // SAFETY: checked; valid for a write.
        unsafe { put(answer_out, answer) };
        Ok(())
    })
}

/// Writes the core's default configuration to `out_config` (its circuit breakers off).
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_config_default(out_config: *mut AutonomicConfig) -> i32 {
    guard(|| {
        let p = out(out_config)?;
        // SAFETY: checked; valid for a write by the caller's contract.
        unsafe { put(Some(p), (&EngineConfig::default()).into()) };
        Ok(())
    })
}

/// As `autonomic_engine_init`, with `config` instead of the default configuration. An
/// invalid one is refused with its status (`AUTONOMIC_STATUS_INVALID_THRESHOLDS`, ...) and
/// no engine is built.
///
/// # Safety
///
/// As `autonomic_engine_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_engine_init_config(
    mem: *mut u8,
    len: usize,
    caps: *const crate::types::AutonomicCapacities,
    config: *const AutonomicConfig,
    out_engine: *mut *mut AutonomicEngine,
) -> i32 {
    guard(|| {
        let config = read_config(config)?;
        // SAFETY: the caller's contract is autonomic_engine_init's.
        unsafe { crate::memory::init(mem, len, caps, config, out_engine) }
    })
}

/// Writes the configuration the engine runs now to `out_config`.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_engine_config(
    e: *mut AutonomicEngine,
    out_config: *mut AutonomicConfig,
) -> i32 {
    // SAFETY: the caller's contract (module doc).
    unsafe {
        run(e, out(out_config).map(Some), |engine| {
            Ok(engine.config().into())
        })
    }
}

/// Replaces the engine's configuration with `config`, whole, from the next input on: one
/// `ConfigApplied` receipt carrying `hash[0..32]` (the SHA-256 of wherever the configuration
/// came from); its seq goes to `out_seq` (may be null). An invalid configuration is refused
/// with its status, `AUTONOMIC_STATUS_BUSY` when the receipt ring is full; then nothing
/// changed.
///
/// # Safety
///
/// See the module doc; `hash` is valid for reads of 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_config(
    e: *mut AutonomicEngine,
    now_ms: u64,
    config: *const AutonomicConfig,
    hash: *const u8,
    out_seq: *mut u64,
) -> i32 {
    // SAFETY: the caller's contract (module doc).
    unsafe {
        run(e, optional_out(out_seq), |engine| {
            let hash = bytes_arg(hash, AUTONOMIC_CONFIG_HASH_BYTES)?;
            let hash = <[u8; AUTONOMIC_CONFIG_HASH_BYTES]>::try_from(hash)
                .map_err(|_| AutonomicStatus::InvalidArgument)?;
            let config = read_config(config)?;
            Ok(engine.handle_config(now_ms, config, hash)?)
        })
    }
}

/// Sets `tenant`'s mode (`AutonomicMode`): one `ModeSet` receipt, whose seq goes to
/// `out_seq` (may be null). In shadow mode the governor's actions are recorded as
/// `ShadowAction` receipts and not run; manual actions still run. An unknown mode value is
/// `AUTONOMIC_STATUS_INVALID_ARGUMENT`, a tenant without an entitlement
/// `AUTONOMIC_STATUS_TENANT_NOT_FOUND`.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_mode(
    e: *mut AutonomicEngine,
    now_ms: u64,
    tenant: *const u8,
    tenant_len: usize,
    mode: u32,
    out_seq: *mut u64,
) -> i32 {
    // SAFETY: the caller's contract (module doc).
    unsafe {
        run(e, optional_out(out_seq), |engine| {
            let (tenant, mode) = (str_arg(tenant, tenant_len)?, mode_of(mode)?);
            Ok(engine.handle_mode(now_ms, tenant, mode)?)
        })
    }
}

/// Writes `tenant`'s mode (`AutonomicMode`) to `out_mode`;
/// `AUTONOMIC_STATUS_TENANT_NOT_FOUND` for an unknown tenant.
///
/// # Safety
///
/// See the module doc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn autonomic_tenant_mode(
    e: *mut AutonomicEngine,
    tenant: *const u8,
    tenant_len: usize,
    out_mode: *mut u32,
) -> i32 {
    // SAFETY: the caller's contract (module doc).
    unsafe {
        run(e, out(out_mode).map(Some), |engine| {
            let tenant = str_arg(tenant, tenant_len)?;
            match engine.mode(tenant) {
                Some(Mode::Enforce) => Ok(AutonomicMode::Enforce as u32),
                Some(Mode::Shadow) => Ok(AutonomicMode::Shadow as u32),
                None => Err(AutonomicStatus::TenantNotFound),
            }
        })
    }
}

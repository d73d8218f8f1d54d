//! Analyze (SPEC §3): SKUs, quotas, the entitlement lifecycle and admission.
//!
//! The lifecycle, as [`transition`] implements it (`ISE` = `InvalidStateTransition`,
//! `none` = the tenant has no entitlement yet):
//!
//! | from \ command | provision | activate | pause | resume | revoke |
//! |---|---|---|---|---|---|
//! | none | Pending | Active | TenantNotFound | TenantNotFound | TenantNotFound |
//! | Pending | ISE | Active | ISE | ISE | Terminated |
//! | Active | ISE | Active (plan change) | Paused | ISE | Terminated |
//! | Paused | ISE | ISE | ISE | Active | Terminated |
//! | Expired | ISE | Active | ISE | ISE | Terminated |
//! | Terminated | ISE | ISE | ISE | ISE | ISE |
//!
//! `provision` is this crate's way into `Pending` (the SPEC names the state but no command
//! for it). An entitlement with `expires_at_ms` is Expired from that instant on, whatever it
//! was (Terminated stays Terminated): the state is derived from the clock, so expiry needs
//! no receipt of its own — the receipt that set `expires_at_ms` already decides it.

use serde::{Deserialize, Serialize};

/// The lifecycle states of an entitlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntitlementState {
    /// Provisioned, not yet active.
    Pending,
    /// Signals are governed, admissions served.
    Active,
    /// Suspended by an operator.
    Paused,
    /// Past `expires_at_ms`.
    Expired,
    /// Revoked for good.
    Terminated,
}

impl EntitlementState {
    /// The state's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntitlementState::Pending => "Pending",
            EntitlementState::Active => "Active",
            EntitlementState::Paused => "Paused",
            EntitlementState::Expired => "Expired",
            EntitlementState::Terminated => "Terminated",
        }
    }
}

/// The product tiers (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sku {
    /// 2 cores, 4 GiB, 100 concurrent requests, 10 GiB storage.
    Starter,
    /// 8 cores, 32 GiB, 1000 concurrent requests, 100 GiB storage.
    Pro,
    /// 64 cores, 256 GiB, 10000 concurrent requests, 1024 GiB storage.
    Enterprise,
}

impl Sku {
    /// Parses `starter`, `pro` or `enterprise` (exact, lowercase).
    pub fn parse(name: &str) -> Result<Sku, EntitlementError> {
        match name {
            "starter" => Ok(Sku::Starter),
            "pro" => Ok(Sku::Pro),
            "enterprise" => Ok(Sku::Enterprise),
            _ => Err(EntitlementError::InvalidSku),
        }
    }

    /// The SKU's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Sku::Starter => "starter",
            Sku::Pro => "pro",
            Sku::Enterprise => "enterprise",
        }
    }

    /// The SKU's limit for one resource.
    pub const fn limit(self, resource: Resource) -> u16 {
        let limits: [u16; 4] = match self {
            Sku::Starter => [2, 4, 100, 10],
            Sku::Pro => [8, 32, 1000, 100],
            Sku::Enterprise => [64, 256, 10000, 1024],
        };
        match resource {
            Resource::Cpu => limits[0],
            Resource::Memory => limits[1],
            Resource::Requests => limits[2],
            Resource::Storage => limits[3],
        }
    }
}

/// The quota-bearing resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resource {
    /// `cpu`: cores.
    Cpu,
    /// `memory`: GiB.
    Memory,
    /// `requests`: concurrent requests.
    Requests,
    /// `storage`: GiB.
    Storage,
}

impl Resource {
    /// Every resource, in index order.
    pub const ALL: [Resource; 4] = [
        Resource::Cpu,
        Resource::Memory,
        Resource::Requests,
        Resource::Storage,
    ];

    /// Parses `cpu`, `memory`, `requests` or `storage`.
    pub fn parse(name: &str) -> Result<Resource, AdmitError> {
        Resource::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or(AdmitError::UnknownResource)
    }

    /// The resource's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Requests => "requests",
            Resource::Storage => "storage",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The lifecycle commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitlementCommand<'a> {
    /// none → Pending.
    Provision {
        /// `starter`, `pro` or `enterprise`.
        sku: &'a str,
    },
    /// none, Pending, Expired → Active; Active → Active (plan change).
    Activate {
        /// `starter`, `pro` or `enterprise`.
        sku: &'a str,
        /// From this instant on the entitlement is Expired; `None` never expires.
        expires_at_ms: Option<u64>,
    },
    /// Active → Paused.
    Pause,
    /// Paused → Active.
    Resume,
    /// Anything but Terminated → Terminated.
    Revoke,
}

impl EntitlementCommand<'_> {
    /// The command's kind, without its arguments.
    pub const fn kind(&self) -> CommandKind {
        match self {
            EntitlementCommand::Provision { .. } => CommandKind::Provision,
            EntitlementCommand::Activate { .. } => CommandKind::Activate,
            EntitlementCommand::Pause => CommandKind::Pause,
            EntitlementCommand::Resume => CommandKind::Resume,
            EntitlementCommand::Revoke => CommandKind::Revoke,
        }
    }
}

/// A lifecycle command's kind, as receipts record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandKind {
    /// `provision`
    Provision,
    /// `activate`
    Activate,
    /// `pause`
    Pause,
    /// `resume`
    Resume,
    /// `revoke`
    Revoke,
}

/// Why an entitlement command (or a signal's entitlement check) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    /// The tenant id is not 1..=256 visible-ASCII bytes.
    #[error("tenant id must be 1..=256 visible-ASCII bytes")]
    InvalidTenantId,
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// Not `starter`, `pro` or `enterprise`.
    #[error("sku must be starter, pro or enterprise")]
    InvalidSku,
    /// The command is not allowed from the current state.
    #[error("{command:?} is not allowed from {from:?}")]
    InvalidStateTransition {
        /// The current state.
        from: EntitlementState,
        /// The refused command.
        command: CommandKind,
    },
    /// The tenant table is full and no Terminated tenant's slot can be reused; nothing was
    /// added. Not transient: it stays full until tenants are revoked.
    #[error("the tenant table is full and no terminated tenant's slot is free")]
    TenantTableFull,
    /// The engine's output queues are full; retry after draining them.
    #[error("output queues are full; retry later")]
    Busy,
}

impl EntitlementError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            EntitlementError::InvalidTenantId => "InvalidTenantId",
            EntitlementError::TenantNotFound => "TenantNotFound",
            EntitlementError::InvalidSku => "InvalidSku",
            EntitlementError::InvalidStateTransition { .. } => "InvalidStateTransition",
            EntitlementError::TenantTableFull => "TenantTableFull",
            EntitlementError::Busy => "Busy",
        }
    }
}

/// The lifecycle table (see the module doc). `from` is the effective state (expiry applied),
/// `None` when the tenant has no entitlement.
pub fn transition(
    from: Option<EntitlementState>,
    command: CommandKind,
) -> Result<EntitlementState, EntitlementError> {
    use CommandKind as C;
    use EntitlementState as S;
    let Some(from) = from else {
        return match command {
            C::Provision => Ok(S::Pending),
            C::Activate => Ok(S::Active),
            C::Pause | C::Resume | C::Revoke => Err(EntitlementError::TenantNotFound),
        };
    };
    match (from, command) {
        (S::Pending | S::Active | S::Expired, C::Activate) => Ok(S::Active),
        (S::Active, C::Pause) => Ok(S::Paused),
        (S::Paused, C::Resume) => Ok(S::Active),
        (S::Pending | S::Active | S::Paused | S::Expired, C::Revoke) => Ok(S::Terminated),
        (from, command) => Err(EntitlementError::InvalidStateTransition { from, command }),
    }
}

/// An `expires_at_ms` of this value means "never".
pub const NEVER_MS: u64 = u64::MAX;

/// One tenant's entitlement: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entitlement {
    /// The stored state; [`Entitlement::state_at`] applies expiry.
    pub stored: EntitlementState,
    /// The tier.
    pub sku: Sku,
    /// From this instant on the entitlement is Expired; [`NEVER_MS`] when it never expires.
    pub expires_at_ms: u64,
}

impl Entitlement {
    /// The state at `now_ms`: Expired once `expires_at_ms` has passed (unless Terminated).
    pub const fn state_at(&self, now_ms: u64) -> EntitlementState {
        match self.stored {
            EntitlementState::Terminated => EntitlementState::Terminated,
            _ if now_ms >= self.expires_at_ms => EntitlementState::Expired,
            stored => stored,
        }
    }
}

/// Why an admission or release was refused; nothing changes when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// No entitlement for this tenant.
    #[error("no entitlement for this tenant")]
    TenantNotFound,
    /// The entitlement has expired.
    #[error("the entitlement has expired")]
    EntitlementExpired,
    /// The entitlement is Pending, Paused or Terminated.
    #[error("the entitlement is not active")]
    EntitlementNotActive,
    /// Not `cpu`, `memory`, `requests` or `storage`.
    #[error("resource must be cpu, memory, requests or storage")]
    UnknownResource,
    /// The amount is zero or larger than any quota.
    #[error("amount must be within 1..=65535")]
    InvalidAmount,
    /// Admitting would exceed the (effective) limit: `in_use + requested > limit`.
    #[error(
        "{resource}: {in_use} in use + {requested} requested exceeds the limit of {limit}",
        resource = resource.as_str()
    )]
    QuotaExceeded {
        /// The resource.
        resource: Resource,
        /// Units in use now (SPEC §3's `current`).
        in_use: u16,
        /// Units this admission asked for.
        requested: u16,
        /// The effective limit (the SKU's, reduced by a Throttle in force).
        limit: u16,
    },
    /// The governor's current action refuses this admission (Pause, or Shed's share).
    #[error("refused by the current action ({0:?})")]
    RefusedByAction(crate::action::ActionKind),
    /// Releasing more than is in use.
    #[error(
        "{resource}: releasing {amount} but only {current} in use",
        resource = resource.as_str()
    )]
    ReleaseExceedsUsage {
        /// The resource.
        resource: Resource,
        /// Units in use now.
        current: u16,
        /// Units asked to release.
        amount: u16,
    },
}

impl AdmitError {
    /// The error's name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            AdmitError::TenantNotFound => "TenantNotFound",
            AdmitError::EntitlementExpired => "EntitlementExpired",
            AdmitError::EntitlementNotActive => "EntitlementNotActive",
            AdmitError::UnknownResource => "UnknownResource",
            AdmitError::InvalidAmount => "InvalidAmount",
            AdmitError::QuotaExceeded { .. } => "QuotaExceeded",
            AdmitError::RefusedByAction(_) => "RefusedByAction",
            AdmitError::ReleaseExceedsUsage { .. } => "ReleaseExceedsUsage",
        }
    }
}

/// The limit in force under Throttle(p): p% of the SKU's limit, rounded down, at least 1.
pub const fn throttled_limit(limit: u16, percent: u8) -> u16 {
    let scaled = (limit as u32 * percent as u32) / 100;
    if scaled == 0 { 1 } else { scaled as u16 }
}

/// Shed(p) refuses p of every 100 consecutive admissions, spread evenly (Bresenham):
/// attempt `n` (0..100, cycling) is refused when `floor((n+1)p/100) > floor(np/100)`.
pub const fn shed_refuses(attempt: u8, percent: u8) -> bool {
    let n = attempt as u32 % 100;
    let p = if percent > 100 { 100 } else { percent as u32 };
    ((n + 1) * p) / 100 > (n * p) / 100
}

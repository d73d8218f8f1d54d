//! Analyze (`docs/entitlements.md`): SKUs, quotas, the entitlement lifecycle and admission.
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
//! `provision` is this crate's way into `Pending` (HTTP, replay and the config have no
//! command for it). An entitlement with `expires_at_ms` is Expired from that instant on,
//! whatever it was (Terminated stays Terminated): the state is derived from the clock, so
//! expiry needs no receipt of its own — the receipt that set `expires_at_ms` already decides it.

use serde::{Deserialize, Serialize};

use crate::receipt::Event;

mod admission;
mod rate;

pub use admission::{AdmitError, Usage, effective_limit, shed_refuses, throttled_limit};
pub use rate::{Bucket, RateLimit, RateLimitError, RateLimits, UNITS_PER_TOKEN};

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

/// The product tiers (`docs/entitlements.md#skus-and-quotas`).
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

    /// The SKU's limit for one quota resource; `rate` has no quota here (0): its bucket is
    /// [`RateLimits`] in the engine's configuration.
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
            Resource::Rate => 0,
        }
    }
}

/// The resources admission knows: four quotas (units in use) and `rate` (a token bucket).
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
    /// `rate`: tokens from the tenant's bucket (`docs/entitlements.md#rate-limits`).
    Rate,
}

impl Resource {
    /// The quota resources, in index order (a tenant's usage is indexed by these; not
    /// [`Resource::Rate`]).
    pub const ALL: [Resource; 4] = [
        Resource::Cpu,
        Resource::Memory,
        Resource::Requests,
        Resource::Storage,
    ];

    /// Parses `cpu`, `memory`, `requests`, `storage` or `rate`.
    pub fn parse(name: &str) -> Result<Resource, AdmitError> {
        Resource::ALL
            .into_iter()
            .chain([Resource::Rate])
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
            Resource::Rate => "rate",
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

    /// The entitlement an [`Event::Entitlement`] receipt records (`None`: never expires).
    pub const fn recorded(to: EntitlementState, sku: Sku, expires_at_ms: Option<u64>) -> Self {
        let expires_at_ms = match expires_at_ms {
            Some(at_ms) => at_ms,
            None => NEVER_MS,
        };
        Entitlement {
            stored: to,
            sku,
            expires_at_ms,
        }
    }

    /// When it expires; `None` when it never does.
    pub const fn expires_at(&self) -> Option<u64> {
        if self.expires_at_ms == NEVER_MS {
            None
        } else {
            Some(self.expires_at_ms)
        }
    }

    /// Whether it serves signals and admissions at `now_ms`: only when Active. Otherwise the
    /// caller's error for an Expired entitlement, or for any other state (Pending, Paused,
    /// Terminated).
    pub fn serving<E>(&self, now_ms: u64, expired: E, not_active: E) -> Result<(), E> {
        match self.state_at(now_ms) {
            EntitlementState::Active => Ok(()),
            EntitlementState::Expired => Err(expired),
            _ => Err(not_active),
        }
    }
}

/// What `command` does to a tenant whose entitlement is `current` (`None`: it has none) at
/// `now_ms`: the new state and the receipt event that records it, decided but not applied.
/// The SKU is checked before the lifecycle; a command without a SKU keeps the current one
/// (and its expiry).
pub(crate) fn event_for(
    current: Option<Entitlement>,
    now_ms: u64,
    command: EntitlementCommand<'_>,
) -> Result<(EntitlementState, Event), EntitlementError> {
    let new_sku = match command {
        EntitlementCommand::Provision { sku } | EntitlementCommand::Activate { sku, .. } => {
            Some(Sku::parse(sku)?)
        }
        _ => None,
    };
    let from = current.map(|e| e.state_at(now_ms));
    let to = transition(from, command.kind())?;
    let (sku, expires_at_ms) = match (command, current) {
        (EntitlementCommand::Activate { expires_at_ms, .. }, _) => (new_sku, expires_at_ms),
        (EntitlementCommand::Provision { .. }, _) => (new_sku, None),
        (_, Some(e)) => (Some(e.sku), e.expires_at()),
        (_, None) => (None, None),
    };
    let event = Event::Entitlement {
        command: command.kind(),
        from,
        to,
        sku: sku.unwrap_or(Sku::Starter),
        expires_at_ms,
    };
    Ok((to, event))
}

//! Admission: units in use against the SKU's quota, or tokens from the `rate` bucket, under
//! the action the governor enforces (Throttle lowers the limit or the refill rate, Pause
//! refuses, Shed refuses a share).

use super::rate::{Bucket, RateLimit};
use super::{Entitlement, Resource, Sku};
use crate::action::ActionKind;
use crate::execution::Enforced;

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
    /// Not `cpu`, `memory`, `requests`, `storage` or `rate`.
    #[error("resource must be cpu, memory, requests, storage or rate")]
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
        /// Units in use now.
        in_use: u16,
        /// Units this admission asked for.
        requested: u16,
        /// The effective limit (the SKU's, reduced by a Throttle in force).
        limit: u16,
    },
    /// The governor's current action refuses this admission (Pause, or Shed's share).
    #[error("refused by the current action ({0:?})")]
    RefusedByAction(ActionKind),
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
    /// `rate`: the bucket holds fewer than `requested` tokens; they will be there in
    /// `retry_after_ms` at the rate in force.
    #[error("rate: {requested} requested, not in the bucket yet; retry in {retry_after_ms} ms")]
    RateLimited {
        /// Tokens this admission asked for.
        requested: u16,
        /// Until the bucket holds `requested` tokens, ms.
        retry_after_ms: u64,
    },
    /// `rate`: more tokens than the bucket holds when full; never admitted.
    #[error("rate: {requested} requested, more than the burst of {burst}")]
    ExceedsBurst {
        /// Tokens this admission asked for.
        requested: u16,
        /// The SKU's burst.
        burst: u32,
    },
    /// A release of `rate`: tokens taken are not given back (the bucket refills with time).
    #[error("rate: tokens are not released; the bucket refills with time")]
    NothingToRelease,
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
            AdmitError::RateLimited { .. } => "RateLimited",
            AdmitError::ExceedsBurst { .. } => "ExceedsBurst",
            AdmitError::NothingToRelease => "NothingToRelease",
        }
    }
}

/// The limit in force under Throttle(p): p% of the SKU's limit, rounded down, at least 1.
pub const fn throttled_limit(limit: u16, percent: u8) -> u16 {
    let scaled = (limit as u32 * percent as u32) / 100;
    if scaled == 0 { 1 } else { scaled as u16 }
}

/// The limit of a quota `resource` in force for `sku` under `enforced`: the SKU's, or under
/// Throttle(p) [`throttled_limit`]. The one rule both admissions and a fleet-wide count use.
pub fn effective_limit(sku: Sku, resource: Resource, enforced: Option<Enforced>) -> u16 {
    let limit = sku.limit(resource);
    match enforced {
        Some(Enforced {
            kind: ActionKind::Throttle,
            percent,
            ..
        }) => throttled_limit(limit, percent),
        _ => limit,
    }
}

/// Shed(p) refuses p of every 100 consecutive admissions, spread evenly (Bresenham):
/// attempt `n` is refused when `floor((n+1)p/100) > floor(np/100)`, a pattern that repeats
/// every 100 attempts (adding 100 to `n` adds `p` to both sides). At 100 or more, every
/// attempt is refused (the left side is then at least one above the right).
pub const fn shed_refuses(attempt: u8, percent: u8) -> bool {
    let (n, p) = (attempt as u32, percent as u32);
    ((n + 1) * p) / 100 > (n * p) / 100
}

/// One tenant's admission bookkeeping: units in use and where Shed's spread is. Not
/// persisted (callers re-admit after a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Units in use, by [`Resource`] index.
    in_use: [u16; 4],
    /// The position of the next admission in Shed's cycle of 100 (0..100).
    shed_attempt: u8,
}

impl Usage {
    /// Nothing in use.
    pub const fn new() -> Self {
        Usage {
            in_use: [0; 4],
            shed_attempt: 0,
        }
    }

    /// Units in use, by [`Resource`] index.
    pub const fn in_use(&self) -> [u16; 4] {
        self.in_use
    }

    /// Admits `amount` units of a quota `resource` (`rate`: [`Usage::admit_rate`]) under
    /// `entitlement`'s quota and the `enforced` action: Throttle(p) lowers the limit to p% (at
    /// least 1), Pause refuses all, Shed(p) refuses p of every 100 attempts, evenly spread.
    /// Returns the units now in use.
    ///
    /// On refusal nothing changes, except that a Shed-refused attempt still advances the
    /// spread counter (otherwise Shed would refuse forever).
    pub fn admit(
        &mut self,
        entitlement: &Entitlement,
        enforced: Option<Enforced>,
        now_ms: u64,
        resource: Resource,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let (amount, _) = self.gate(entitlement, enforced, now_ms, amount)?;
        let limit = effective_limit(entitlement.sku, resource, enforced);
        let used = self
            .in_use
            .get_mut(resource.index())
            .ok_or(AdmitError::UnknownResource)?;
        let current = *used;
        if u32::from(current) + u32::from(amount) > u32::from(limit) {
            return Err(AdmitError::QuotaExceeded {
                resource,
                in_use: current,
                requested: amount,
                limit,
            });
        }
        *used = current + amount;
        Ok(*used)
    }

    /// Releases units admitted before. Returns the units still in use. `rate` has nothing
    /// to release (`NothingToRelease`).
    pub fn release(&mut self, resource: Resource, amount: u32) -> Result<u16, AdmitError> {
        if resource == Resource::Rate {
            return Err(AdmitError::NothingToRelease);
        }
        let amount = units(amount)?;
        let used = self
            .in_use
            .get_mut(resource.index())
            .ok_or(AdmitError::UnknownResource)?;
        let current = *used;
        let left = current
            .checked_sub(amount)
            .ok_or(AdmitError::ReleaseExceedsUsage {
                resource,
                current,
                amount,
            })?;
        *used = left;
        Ok(left)
    }

    /// Takes `amount` tokens from `bucket` (the `rate` resource) under `limit`, the
    /// entitlement and the `enforced` action: Throttle(p) scales the refill rate by p%, Pause
    /// refuses, Shed refuses its share (the same spread counter as the quota resources).
    /// Returns the whole tokens left. The rules: [`Bucket::take`].
    pub fn admit_rate(
        &mut self,
        bucket: &mut Bucket,
        limit: RateLimit,
        entitlement: &Entitlement,
        enforced: Option<Enforced>,
        now_ms: u64,
        amount: u32,
    ) -> Result<u16, AdmitError> {
        let (amount, throttle) = self.gate(entitlement, enforced, now_ms, amount)?;
        bucket.take(limit, throttle.unwrap_or(100), now_ms, amount)
    }

    /// The checks every admission passes first, in order: the entitlement serves at
    /// `now_ms`, the amount is 1..=65535, the enforced action lets it through
    /// ([`Usage::enforce`]). Returns the amount and a Throttle's percent.
    fn gate(
        &mut self,
        entitlement: &Entitlement,
        enforced: Option<Enforced>,
        now_ms: u64,
        amount: u32,
    ) -> Result<(u16, Option<u8>), AdmitError> {
        entitlement.serving(
            now_ms,
            AdmitError::EntitlementExpired,
            AdmitError::EntitlementNotActive,
        )?;
        let amount = units(amount)?;
        Ok((amount, self.enforce(enforced)?))
    }

    /// What `enforced` does to one admission: refuses it (Pause; Shed's share), or lets it
    /// through, under Throttle with its percent. A Shed attempt advances the spread counter,
    /// refused or not.
    fn enforce(&mut self, enforced: Option<Enforced>) -> Result<Option<u8>, AdmitError> {
        let Some(Enforced { kind, percent, .. }) = enforced else {
            return Ok(None);
        };
        match kind {
            ActionKind::Pause => Err(AdmitError::RefusedByAction(ActionKind::Pause)),
            ActionKind::Shed => {
                let refused = shed_refuses(self.shed_attempt, percent);
                self.shed_attempt = (self.shed_attempt + 1) % 100;
                if refused {
                    return Err(AdmitError::RefusedByAction(ActionKind::Shed));
                }
                Ok(None)
            }
            ActionKind::Throttle => Ok(Some(percent)),
            ActionKind::Rollback => Ok(None),
        }
    }
}

/// An admission's or release's amount: 1..=65535 units.
fn units(amount: u32) -> Result<u16, AdmitError> {
    u16::try_from(amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or(AdmitError::InvalidAmount)
}

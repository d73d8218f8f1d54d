//! The `rate` resource: a token bucket per tenant (`docs/entitlements.md#rate-limits`).
//!
//! A bucket holds at most `burst` tokens and refills at `rate_per_s` tokens a second; an
//! admission of `amount` takes `amount` tokens or is refused with the time until they are
//! there. It is refilled from the caller's `now_ms` only, in integer arithmetic that is exact
//! over any split of time: it counts in [`UNITS_PER_TOKEN`]ths of a token, so a millisecond
//! at `rate_per_s` throttled to `percent` % refills exactly `rate_per_s × percent` units.
//!
//! The bucket keeps what is *missing* from full (its deficit), so a new bucket (deficit 0) is
//! full whatever its SKU's burst, and a plan change keeps what was taken.

use super::{AdmitError, Sku};
use crate::limits::{RATE_BURST_MAX, RATE_PER_S_MAX};

/// A token is this many units: 1 000 ms/s × 100 % (so refill per ms = rate × percent).
pub const UNITS_PER_TOKEN: u64 = 100_000;

/// The slowest a Throttle makes a bucket refill, in units per ms: 1 token a second (as a
/// throttled quota is at least 1).
const THROTTLED_UNITS_PER_MS_MIN: u64 = UNITS_PER_TOKEN / 1_000;

/// One SKU's bucket: refill rate and size, in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added per second: 1..=[`RATE_PER_S_MAX`].
    pub rate_per_s: u32,
    /// Tokens the bucket holds when full: 1..=[`RATE_BURST_MAX`].
    pub burst: u32,
}

impl RateLimit {
    /// A limit within the bounds, or which of its two numbers is not.
    pub const fn new(rate_per_s: u32, burst: u32) -> Result<Self, RateLimitError> {
        if rate_per_s == 0 || rate_per_s > RATE_PER_S_MAX {
            return Err(RateLimitError::RatePerS(rate_per_s));
        }
        if burst == 0 || burst > RATE_BURST_MAX {
            return Err(RateLimitError::Burst(burst));
        }
        Ok(Self { rate_per_s, burst })
    }

    /// The SKU's default: starter 10/s burst 20, pro 100/s burst 200, enterprise 1 000/s
    /// burst 2 000.
    pub const fn default_for(sku: Sku) -> Self {
        let (rate_per_s, burst) = match sku {
            Sku::Starter => (10, 20),
            Sku::Pro => (100, 200),
            Sku::Enterprise => (1_000, 2_000),
        };
        Self { rate_per_s, burst }
    }

    /// Units refilled per ms under `percent` (100: no Throttle): `rate_per_s × percent`, at
    /// least 1 token a second when throttled.
    const fn units_per_ms(&self, percent: u8) -> u64 {
        let percent = if percent > 100 { 100 } else { percent };
        let units = self.rate_per_s as u64 * percent as u64;
        if units < THROTTLED_UNITS_PER_MS_MIN {
            THROTTLED_UNITS_PER_MS_MIN
        } else {
            units
        }
    }

    /// The bucket's size in units.
    const fn capacity(&self) -> u64 {
        self.burst as u64 * UNITS_PER_TOKEN
    }
}

/// A rate limit out of bounds (the refused value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// `rate_per_s` outside 1..=[`RATE_PER_S_MAX`].
    #[error("rate_per_s must be within 1..={RATE_PER_S_MAX}, got {0}")]
    RatePerS(u32),
    /// `burst` outside 1..=[`RATE_BURST_MAX`].
    #[error("rate_burst must be within 1..={RATE_BURST_MAX}, got {0}")]
    Burst(u32),
}

/// The rate limit of each SKU (part of [`crate::engine::EngineConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `starter`'s.
    pub starter: RateLimit,
    /// `pro`'s.
    pub pro: RateLimit,
    /// `enterprise`'s.
    pub enterprise: RateLimit,
}

impl RateLimits {
    /// Every SKU's default ([`RateLimit::default_for`]).
    pub const DEFAULT: RateLimits = RateLimits {
        starter: RateLimit::default_for(Sku::Starter),
        pro: RateLimit::default_for(Sku::Pro),
        enterprise: RateLimit::default_for(Sku::Enterprise),
    };

    /// The limit of one SKU.
    pub const fn of(&self, sku: Sku) -> RateLimit {
        match sku {
            Sku::Starter => self.starter,
            Sku::Pro => self.pro,
            Sku::Enterprise => self.enterprise,
        }
    }

    /// The first SKU (starter, pro, enterprise) whose limit is out of bounds, and why.
    pub fn validate(&self) -> Result<(), (Sku, RateLimitError)> {
        [Sku::Starter, Sku::Pro, Sku::Enterprise]
            .into_iter()
            .try_for_each(|sku| {
                let limit = self.of(sku);
                RateLimit::new(limit.rate_per_s, limit.burst)
                    .map(|_| ())
                    .map_err(|e| (sku, e))
            })
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One tenant's token bucket: 16 bytes. Not persisted: a restart starts it full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Units missing from full (0: full).
    deficit: u64,
    /// The latest `now_ms` it was refilled at; never moves back.
    at_ms: u64,
}

impl Bucket {
    /// A full bucket, last refilled at `now_ms`.
    pub const fn full(now_ms: u64) -> Self {
        Bucket {
            deficit: 0,
            at_ms: now_ms,
        }
    }

    /// Whole tokens in it under `limit` (after the last refill; rounded down).
    pub const fn tokens(&self, limit: RateLimit) -> u64 {
        limit.capacity().saturating_sub(self.deficit) / UNITS_PER_TOKEN
    }

    /// The latest `now_ms` it was refilled at.
    pub const fn at_ms(&self) -> u64 {
        self.at_ms
    }

    /// Refills it for the time since the last refill at `limit`'s rate scaled by `percent`,
    /// capped at full. A `now_ms` at or before the last one refills nothing and leaves the
    /// bucket's time where it is. Exact: refilling to `t1` then `t2` equals refilling to `t2`.
    pub const fn refill(&mut self, limit: RateLimit, percent: u8, now_ms: u64) {
        if now_ms <= self.at_ms {
            return;
        }
        let elapsed_ms = now_ms - self.at_ms;
        // Saturates only far beyond any deficit (at most 2^48 units), so the cap is exact.
        let units = elapsed_ms.saturating_mul(limit.units_per_ms(percent));
        self.deficit = self.deficit.saturating_sub(units);
        self.at_ms = now_ms;
    }

    /// Takes `amount` tokens at `now_ms` (after refilling, see [`Bucket::refill`]) and
    /// returns the whole tokens left; or refuses, changing nothing but the refill:
    /// `ExceedsBurst` when `amount` is more than the bucket ever holds, else `RateLimited`
    /// with the ms until `amount` tokens are there at this rate.
    pub fn take(
        &mut self,
        limit: RateLimit,
        percent: u8,
        now_ms: u64,
        amount: u16,
    ) -> Result<u16, AdmitError> {
        if u32::from(amount) > limit.burst {
            return Err(AdmitError::ExceedsBurst {
                requested: amount,
                burst: limit.burst,
            });
        }
        self.refill(limit, percent, now_ms);
        let need = u64::from(amount) * UNITS_PER_TOKEN;
        let after = self.deficit.saturating_add(need);
        let capacity = limit.capacity();
        if after > capacity {
            let short = after - capacity;
            let per_ms = limit.units_per_ms(percent);
            return Err(AdmitError::RateLimited {
                requested: amount,
                retry_after_ms: short.div_ceil(per_ms),
            });
        }
        self.deficit = after;
        let left = self.tokens(limit);
        Ok(u16::try_from(left).unwrap_or(u16::MAX))
    }
}

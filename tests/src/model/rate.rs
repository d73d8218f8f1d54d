//! `docs/entitlements.md#rate-limits`: one tenant's token bucket, in plain u128 arithmetic.
//!
//! The level is kept in hundred-thousandths of a token (1 000 ms × 100 %), so that a
//! millisecond at `rate_per_s` tokens a second under Throttle(p) adds exactly
//! `rate_per_s × p` of them; nothing here can overflow a u128 for any u64 time.

/// A level unit per token.
pub const UNITS: u128 = 100_000;

/// What an admission of `rate` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MRate {
    /// Admitted: whole tokens left.
    Admitted(u128),
    /// Not enough tokens: ms until there are.
    Limited(u128),
    /// More than the burst: never admitted.
    ExceedsBurst,
}

/// One bucket of a fixed limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateModel {
    /// Tokens per second.
    pub rate_per_s: u128,
    /// Tokens when full.
    pub burst: u128,
    /// Units in the bucket.
    pub level: u128,
    /// The latest time seen, ms.
    pub at_ms: u64,
}

impl RateModel {
    /// A full bucket at `now_ms`.
    pub fn new(rate_per_s: u32, burst: u32, now_ms: u64) -> Self {
        Self {
            rate_per_s: u128::from(rate_per_s),
            burst: u128::from(burst),
            level: u128::from(burst) * UNITS,
            at_ms: now_ms,
        }
    }

    /// Units added per ms under Throttle(`percent`) (100: none): `rate × percent`, at least
    /// one token a second.
    pub fn per_ms(&self, percent: u8) -> u128 {
        let percent = u128::from(percent.min(100));
        (self.rate_per_s * percent).max(UNITS / 1000)
    }

    /// Brings the level to `now_ms` (later times only), capped at the burst.
    pub fn refill(&mut self, percent: u8, now_ms: u64) {
        if now_ms <= self.at_ms {
            return;
        }
        let elapsed = u128::from(now_ms - self.at_ms);
        self.level = (self.level + elapsed * self.per_ms(percent)).min(self.burst * UNITS);
        self.at_ms = now_ms;
    }

    /// Whole tokens in the bucket.
    pub fn tokens(&self) -> u128 {
        self.level / UNITS
    }

    /// Admits `amount` tokens at `now_ms` under Throttle(`percent`).
    pub fn admit(&mut self, percent: u8, now_ms: u64, amount: u16) -> MRate {
        let amount = u128::from(amount);
        if amount > self.burst {
            return MRate::ExceedsBurst;
        }
        self.refill(percent, now_ms);
        let need = amount * UNITS;
        if need > self.level {
            let missing = need - self.level;
            return MRate::Limited(missing.div_ceil(self.per_ms(percent)));
        }
        self.level -= need;
        MRate::Admitted(self.tokens())
    }
}

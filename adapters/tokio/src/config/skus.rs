//! `[skus.<sku>]`: per-SKU overrides of the `rate` bucket (`docs/config.md#skus`), checked
//! against the core's bounds (`RATE_PER_S_MAX`, `RATE_BURST_MAX`).

use autonomic_core::Sku;
use autonomic_core::entitlement::{RateLimit, RateLimits};
use autonomic_core::limits::{RATE_BURST_MAX, RATE_PER_S_MAX};
use serde::Deserialize;

use super::InvalidKey;
use super::checks::check_range;

/// `[skus]`: one optional section per SKU; another name is an unknown key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkusSection {
    /// `[skus.starter]`.
    pub starter: SkuSection,
    /// `[skus.pro]`.
    pub pro: SkuSection,
    /// `[skus.enterprise]`.
    pub enterprise: SkuSection,
}

/// `[skus.<sku>]`: what differs from the SKU's default rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkuSection {
    /// Tokens per second the `rate` bucket refills (default: the SKU's).
    pub rate_per_s: Option<u64>,
    /// Tokens the `rate` bucket holds when full (default: the SKU's).
    pub rate_burst: Option<u64>,
}

impl SkusSection {
    /// Each SKU's rate limit: its default with this section's keys over it; the first key
    /// out of bounds is the error, named `skus.<sku>.<key>`.
    pub fn rates(&self) -> Result<RateLimits, InvalidKey> {
        Ok(RateLimits {
            starter: self.starter.limit(Sku::Starter)?,
            pro: self.pro.limit(Sku::Pro)?,
            enterprise: self.enterprise.limit(Sku::Enterprise)?,
        })
    }

    /// [`SkusSection::rates`], for its error only.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.rates().map(|_| ())
    }
}

impl SkuSection {
    /// The SKU's rate limit with these overrides, each within the core's bounds.
    fn limit(&self, sku: Sku) -> Result<RateLimit, InvalidKey> {
        let default = RateLimit::default_for(sku);
        let key = |name: &str| format!("skus.{}.{name}", sku.as_str());
        let rate_per_s = self.rate_per_s.unwrap_or(default.rate_per_s.into());
        let burst = self.rate_burst.unwrap_or(default.burst.into());
        check_range(&key("rate_per_s"), rate_per_s, 1, RATE_PER_S_MAX.into())?;
        check_range(&key("rate_burst"), burst, 1, RATE_BURST_MAX.into())?;
        let narrow = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        RateLimit::new(narrow(rate_per_s), narrow(burst))
            .map_err(|e| InvalidKey::new(format!("skus.{}", sku.as_str()), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SkusSection, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides_per_sku() {
        // Proves an absent section keeps the SKU's default and a key overrides only itself.
        let skus = parse("[starter]\nrate_burst = 5\n[enterprise]\nrate_per_s = 7\n").unwrap();
        let rates = skus.rates().unwrap();
        assert_eq!(rates.starter, RateLimit::new(10, 5).unwrap());
        assert_eq!(rates.pro, RateLimit::default_for(Sku::Pro));
        assert_eq!(rates.enterprise, RateLimit::new(7, 2_000).unwrap());
    }

    #[test]
    fn out_of_bounds_names_the_key_and_the_bound() {
        // Proves 0, a value past the bound and one past u32 are refused, naming the key.
        let err = |text: &str| parse(text).unwrap().rates().unwrap_err().to_string();
        assert_eq!(
            err("[pro]\nrate_per_s = 0\n"),
            "skus.pro.rate_per_s: must be within 1..=1000000, got 0"
        );
        assert_eq!(
            err("[starter]\nrate_burst = 65536\n"),
            "skus.starter.rate_burst: must be within 1..=65535, got 65536"
        );
        assert_eq!(
            err("[enterprise]\nrate_per_s = 5000000000\n"),
            "skus.enterprise.rate_per_s: must be within 1..=1000000, got 5000000000"
        );
    }

    #[test]
    fn unknown_sku_or_key_is_refused() {
        // Proves `[gold]` and a misspelt key are parse errors (unknown keys).
        assert!(parse("[gold]\nrate_per_s = 1\n").is_err());
        assert!(parse("[pro]\nrate = 1\n").is_err());
    }
}

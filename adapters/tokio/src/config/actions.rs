//! `[actions.<sku>]`: per-SKU percents of the actions the governor orders
//! (`docs/config.md#actionssku`), each 1..=100; an absent key keeps today's table (50, 25, 50).

use autonomic_core::Sku;
use autonomic_core::governor::{ActionPercents, SkuActions};
use autonomic_core::limits::{ORDERED_ACTION_PCT_MAX, ORDERED_ACTION_PCT_MIN};
use serde::Deserialize;

use super::InvalidKey;
use super::checks::check_range;

/// `[actions]`: one optional section per SKU; another name is an unknown key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsSection {
    /// `[actions.starter]`.
    pub starter: SkuActionsSection,
    /// `[actions.pro]`.
    pub pro: SkuActionsSection,
    /// `[actions.enterprise]`.
    pub enterprise: SkuActionsSection,
}

/// `[actions.<sku>]`: what differs from the default percents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkuActionsSection {
    /// Throttle(p) when the governor enters Intervene (default 50).
    pub intervene_throttle_pct: Option<u64>,
    /// Throttle(p) when Warn sustained enters Degrade (default 25).
    pub degrade_throttle_pct: Option<u64>,
    /// Shed(p) when Degrade enters Refuse (default 50).
    pub refuse_shed_pct: Option<u64>,
}

impl ActionsSection {
    /// Each SKU's percents: the defaults with this section's keys over them; the first key
    /// out of 1..=100 is the error, named `actions.<sku>.<key>`.
    pub fn percents(&self) -> Result<SkuActions, InvalidKey> {
        Ok(SkuActions {
            starter: self.starter.percents(Sku::Starter)?,
            pro: self.pro.percents(Sku::Pro)?,
            enterprise: self.enterprise.percents(Sku::Enterprise)?,
        })
    }

    /// [`ActionsSection::percents`], for its error only.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.percents().map(|_| ())
    }
}

impl SkuActionsSection {
    /// The SKU's percents with these overrides, each within 1..=100.
    fn percents(&self, sku: Sku) -> Result<ActionPercents, InvalidKey> {
        let default = ActionPercents::DEFAULT;
        let pct = |name: &str, value: Option<u64>, default: u8| {
            let value = value.unwrap_or(default.into());
            let key = format!("actions.{}.{name}", sku.as_str());
            let (min, max) = (ORDERED_ACTION_PCT_MIN, ORDERED_ACTION_PCT_MAX);
            check_range(&key, value, min.into(), max.into())?;
            Ok::<u8, InvalidKey>(u8::try_from(value).unwrap_or(max))
        };
        Ok(ActionPercents {
            intervene_throttle_pct: pct(
                "intervene_throttle_pct",
                self.intervene_throttle_pct,
                default.intervene_throttle_pct,
            )?,
            degrade_throttle_pct: pct(
                "degrade_throttle_pct",
                self.degrade_throttle_pct,
                default.degrade_throttle_pct,
            )?,
            refuse_shed_pct: pct(
                "refuse_shed_pct",
                self.refuse_shed_pct,
                default.refuse_shed_pct,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ActionsSection, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides_per_sku() {
        // Proves an absent section keeps today's table and a key overrides only itself.
        let actions =
            parse("[enterprise]\nrefuse_shed_pct = 10\n[starter]\nintervene_throttle_pct = 70\n")
                .unwrap()
                .percents()
                .unwrap();
        assert_eq!(actions.pro, ActionPercents::DEFAULT);
        assert_eq!(
            actions.enterprise,
            ActionPercents {
                refuse_shed_pct: 10,
                ..ActionPercents::DEFAULT
            }
        );
        assert_eq!(
            actions.starter,
            ActionPercents {
                intervene_throttle_pct: 70,
                ..ActionPercents::DEFAULT
            }
        );
        assert_eq!(parse("").unwrap().percents().unwrap(), SkuActions::DEFAULT);
    }

    #[test]
    fn out_of_bounds_names_the_key_and_the_bound() {
        // Proves 0 and 101 are refused in one line naming the key.
        let err = |text: &str| parse(text).unwrap().percents().unwrap_err().to_string();
        assert_eq!(
            err("[pro]\ndegrade_throttle_pct = 0\n"),
            "actions.pro.degrade_throttle_pct: must be within 1..=100, got 0"
        );
        assert_eq!(
            err("[enterprise]\nrefuse_shed_pct = 101\n"),
            "actions.enterprise.refuse_shed_pct: must be within 1..=100, got 101"
        );
    }

    #[test]
    fn unknown_sku_or_key_is_refused() {
        // Proves `[gold]` and a misspelt key are parse errors (unknown keys).
        assert!(parse("[gold]\nrefuse_shed_pct = 1\n").is_err());
        assert!(parse("[pro]\nshed_pct = 1\n").is_err());
    }
}

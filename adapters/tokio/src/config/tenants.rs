//! `[sampler]` and `[[tenants]]`: the tenants activated at start. Tenant ids and SKUs are
//! checked by the core's rules ([`validate_tenant`], [`Sku::parse`]).

use std::collections::HashSet;

use autonomic_core::Sku;
use autonomic_core::engine::Mode;
use autonomic_core::limits::TENANT_ID_MAX_BYTES;
use autonomic_core::monitor::validate_tenant;
use serde::Deserialize;

use super::checks::check_range;
use super::{
    InvalidKey, SAMPLER_INTERVAL_MS_DEFAULT, SAMPLER_INTERVAL_MS_MAX, SAMPLER_INTERVAL_MS_MIN,
    TENANTS_MAX,
};

/// `[sampler]`: the host sampler's tenant and period.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerSection {
    /// Whether the sampler runs (default true).
    pub enabled: bool,
    /// The tenant its signals are for (default `local`).
    pub tenant: String,
    /// The SKU that tenant is activated with (default `pro`).
    pub sku: String,
    /// Period between samples (default 1000, 100..=3600000).
    pub interval_ms: u64,
}

impl Default for SamplerSection {
    fn default() -> Self {
        Self {
            enabled: true,
            tenant: "local".to_owned(),
            sku: Sku::Pro.as_str().to_owned(),
            interval_ms: SAMPLER_INTERVAL_MS_DEFAULT,
        }
    }
}

/// One `[[tenants]]` entry: activated at start unless the ledger already knows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Tenant id (1..=256 visible ASCII bytes, like every tenant id).
    pub id: String,
    /// `starter`, `pro` or `enterprise`.
    pub sku: String,
    /// When the entitlement expires (Unix ms), if ever.
    pub expires_at_ms: Option<u64>,
    /// `enforce` (default) or `shadow`; applied when the tenant is activated at start
    /// (a tenant the ledger knows keeps its recorded mode).
    pub mode: Option<String>,
}

impl TenantSection {
    /// The configured mode (`enforce` when absent; validated).
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
            .as_deref()
            .and_then(Mode::parse)
            .unwrap_or_default()
    }
}

impl SamplerSection {
    /// `interval_ms` within bounds; `tenant` a valid id; `sku` a known SKU.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_range(
            "sampler.interval_ms",
            self.interval_ms,
            SAMPLER_INTERVAL_MS_MIN,
            SAMPLER_INTERVAL_MS_MAX,
        )?;
        check_tenant_id("sampler.tenant", &self.tenant)?;
        check_sku("sampler.sku", &self.sku)
    }
}

/// At most [`TENANTS_MAX`] entries, each with a valid id and SKU, no id twice.
pub(super) fn validate_tenants(tenants: &[TenantSection]) -> Result<(), InvalidKey> {
    if tenants.len() > TENANTS_MAX {
        return Err(InvalidKey::new(
            "tenants",
            format!("at most {TENANTS_MAX} entries, got {}", tenants.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(tenants.len());
    for (i, tenant) in tenants.iter().enumerate() {
        check_tenant_id(&format!("tenants[{i}].id"), &tenant.id)?;
        check_sku(&format!("tenants[{i}].sku"), &tenant.sku)?;
        if let Some(mode) = tenant.mode.as_deref()
            && Mode::parse(mode).is_none()
        {
            return Err(InvalidKey::new(
                format!("tenants[{i}].mode"),
                format!("must be one of enforce, shadow, got {mode:?}"),
            ));
        }
        if !seen.insert(tenant.id.as_str()) {
            return Err(InvalidKey::new(
                format!("tenants[{i}].id"),
                format!("duplicate tenant {:?}", tenant.id),
            ));
        }
    }
    Ok(())
}

/// The core's tenant id rule; the message says which part of it `id` breaks.
fn check_tenant_id(key: &str, id: &str) -> Result<(), InvalidKey> {
    if validate_tenant(id).is_ok() {
        return Ok(());
    }
    let message = if id.is_empty() {
        "must not be empty".to_owned()
    } else if id.len() > TENANT_ID_MAX_BYTES {
        format!("at most {TENANT_ID_MAX_BYTES} bytes, got {}", id.len())
    } else {
        format!("only visible ASCII (no spaces), got {id:?}")
    };
    Err(InvalidKey::new(key, message))
}

/// The core's SKU names.
fn check_sku(key: &str, sku: &str) -> Result<(), InvalidKey> {
    match Sku::parse(sku) {
        Ok(_) => Ok(()),
        Err(_) => Err(InvalidKey::new(
            key,
            format!("must be one of starter, pro, enterprise, got {sku:?}"),
        )),
    }
}

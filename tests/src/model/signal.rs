//! `docs/signals.md`: validation of a raw signal, in order, and normalization.

/// The known metrics, canonical spelling.
pub const METRICS: [&str; 7] = [
    "cpu",
    "memory",
    "latency",
    "error_rate",
    "disk",
    "network",
    "connections",
];

/// Round half up to an integer percent. For non-negative numbers `f64::round` (half away
/// from zero) is exactly "half up", and it is exact: no addition, so no rounding error.
pub fn normalize(value: f64) -> Option<u8> {
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return None;
    }
    Some(value.round() as u8)
}

/// Validates in the documented order; `Ok((canonical metric, normalized value))` or the error's
/// name.
pub fn validate(
    tenant: &str,
    metric: &str,
    value: f64,
    ts_ms: u64,
    now_ms: u64,
) -> Result<(&'static str, u8), &'static str> {
    let tenant_ok = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant.bytes().all(|b| (0x21..=0x7E).contains(&b));
    if !tenant_ok {
        return Err("InvalidTenantId");
    }
    let known = METRICS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(metric))
        .filter(|_| metric.len() <= 128);
    let Some(metric) = known else {
        return Err("InvalidMetricName");
    };
    let Some(value) = normalize(value) else {
        return Err("ValueOutOfBounds");
    };
    // More than an hour ahead, or older than the dedup retention (60 s).
    let (ts, now) = (i128::from(ts_ms), i128::from(now_ms));
    if ts > now + 3_600_000 || ts < now - 60_000 {
        return Err("InvalidTimestamp");
    }
    Ok((metric, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        // Proves the model on the examples of docs/signals.md and its order of checks.
        assert_eq!(normalize(74.5), Some(75));
        assert_eq!(normalize(74.49), Some(74));
        assert_eq!(normalize(100.0), Some(100));
        assert_eq!(normalize(-0.0), Some(0));
        assert_eq!(normalize(100.01), None);
        assert_eq!(
            validate("", "nope", f64::NAN, 9e18 as u64, 0),
            Err("InvalidTenantId")
        );
        assert_eq!(
            validate("a", "nope", f64::NAN, 0, 0),
            Err("InvalidMetricName")
        );
        assert_eq!(
            validate("a", "CPU", f64::NAN, u64::MAX, 0),
            Err("ValueOutOfBounds")
        );
        assert_eq!(
            validate("a", "CPU", 1.0, 3_600_001, 0),
            Err("InvalidTimestamp")
        );
        assert_eq!(
            validate("a", "Error_Rate", 1.0, 3_600_000, 0),
            Ok(("error_rate", 1))
        );
        assert_eq!(validate("a", "cpu", 1.0, 40_000, 100_000), Ok(("cpu", 1)));
        assert_eq!(
            validate("a", "cpu", 1.0, 39_999, 100_000),
            Err("InvalidTimestamp")
        );
        assert_eq!(validate("a", "cpu", 1.0, 0, 60_000), Ok(("cpu", 1)));
    }
}

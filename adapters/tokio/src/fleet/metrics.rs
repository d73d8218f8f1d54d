//! The fleet's metrics, exposed on `/metrics` after the process's own when `[fleet]` is
//! configured (absent otherwise).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `autonomic_fleet_redis_up` | gauge | 1 while this sidecar has a working Redis connection |
//! | `autonomic_fleet_admissions_total` | counter | `result`: `admitted`, `quota_exceeded` (the fleet's count refused), `admitted_locally`, `fleet_unavailable` (decided without Redis) |
//! | `autonomic_fleet_unavailable_total` | counter | `policy`: `local`, `refuse`: admissions decided without Redis |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::PREFIX;

/// Every value of `autonomic_fleet_admissions_total`'s `result`.
pub const RESULTS: [&str; 4] = [
    "admitted",
    "quota_exceeded",
    "admitted_locally",
    "fleet_unavailable",
];

type Counters = Family<[(&'static str, &'static str); 1], Counter>;

/// The fleet's metrics.
#[derive(Debug)]
pub struct FleetMetrics {
    registry: Registry,
    redis_up: Gauge<u64, AtomicU64>,
    admissions: Counters,
    unavailable: Counters,
}

impl FleetMetrics {
    /// Registered, every `result` and the configured `policy` exposed from the start at 0.
    #[must_use]
    pub fn new(policy: &'static str) -> FleetMetrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let redis_up = Gauge::<u64, AtomicU64>::default();
        let admissions = Counters::default();
        let unavailable = Counters::default();
        for result in RESULTS {
            admissions.get_or_create(&[("result", result)]).inc_by(0);
        }
        unavailable.get_or_create(&[("policy", policy)]).inc_by(0);
        let help = "1 while this sidecar has a working Redis connection for fleet counts";
        registry.register("fleet_redis_up", help, redis_up.clone());
        let help = "Admissions through the fleet's count, by result";
        registry.register("fleet_admissions", help, admissions.clone());
        let help = "Admissions decided without Redis, by the on_unavailable policy";
        registry.register("fleet_unavailable", help, unavailable.clone());
        FleetMetrics {
            registry,
            redis_up,
            admissions,
            unavailable,
        }
    }

    /// Sets `autonomic_fleet_redis_up`.
    pub fn set_up(&self, up: bool) {
        self.redis_up.set(u64::from(up));
    }

    /// Counts one admission's result (one of [`RESULTS`]).
    pub fn admission(&self, result: &'static str) {
        self.admissions.get_or_create(&[("result", result)]).inc();
    }

    /// Counts one admission decided without Redis under `policy`.
    pub fn unavailable(&self, policy: &'static str) {
        self.unavailable.get_or_create(&[("policy", policy)]).inc();
    }

    /// Appends the exposition text to `out`.
    pub fn render(&self, out: &mut String) {
        // Writing to a `String` cannot fail.
        let _ = prometheus_text::encode(out, &self.registry);
    }
}

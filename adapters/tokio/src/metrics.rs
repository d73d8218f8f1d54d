//! Prometheus metrics, kept and encoded by `prometheus-client` in the Prometheus text format
//! (version 0.0.4). The engine's gauges, readiness and poisoning are read at each scrape.
//!
//! Every name is prefixed `autonomic_`; counters end in `_total` (the encoder appends it:
//! they are registered without it), histograms in `_seconds`.
//! Every label value is a `&'static str` from a closed set (state names, action kinds,
//! outcome and error names), so the number of series is bounded, and every one is exposed in
//! lower snake case: `Warn` is `warn`, `TimedOut` `timed_out`, `InvalidTenantId`
//! `invalid_tenant_id`.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `autonomic_signals_total` | counter | `result`: `governed`, `duplicate` or the error name |
//! | `autonomic_transitions_total` | counter | `from`, `to` (governor states), `mode` (`enforce`, `shadow`: the tenant's) |
//! | `autonomic_tenants` | gauge | `state` (governor state), `mode` |
//! | `autonomic_tenant_entitlements` | gauge | `state` (entitlement state) |
//! | `autonomic_actions_total` | counter | `kind`, `outcome` (from the completion receipts), `mode` |
//! | `autonomic_actions_shadowed_total` | counter | `kind`: actions shadow tenants' governors ordered, not dispatched |
//! | `autonomic_rollbacks_total` | counter | `kind`, `outcome` (`succeeded`/`failed`) |
//! | `autonomic_actions_in_flight` | gauge | |
//! | `autonomic_dedup_evictions_total` | counter | signal ids evicted inside the 60 s retention (deduplicator full); each one's redelivery would be governed again |
//! | `autonomic_table_capacity` | gauge | `table`: `tenants`, `tenant_id_bytes`, `dedup_ids`, `receipts`, `queued_actions`, `governor_timers` (the configured capacities) |
//! | `autonomic_table_used` | gauge | `table`: as above, what is in use now |
//! | `autonomic_action_duration_seconds` | histogram | `kind` (actuator run time) |
//! | `autonomic_receipts_total` | counter | receipts appended by this process |
//! | `autonomic_ledger_head_seq` | gauge | seq of the newest receipt (absent when empty) |
//! | `autonomic_ledger_fsync_duration_seconds` | histogram | |
//! | `autonomic_ledger_torn_tails_recovered_total` | counter | |
//! | `autonomic_checkpoints_total` | counter | `outcome`: `written`, `failed` (any path failed) |
//! | `autonomic_checkpoint_witness_posts_total` | counter | `outcome`: `ok`, `failed` (webhook) |
//! | `autonomic_ledger_poisoned` | gauge | 1 after a ledger write or fsync error |
//! | `autonomic_ready` | gauge | 1 while `/readyz` is green |
//! | `autonomic_requests_rejected_total` | counter | `reason`: `queue_full` |
//! | `autonomic_notify_events_total` | counter | `subscriber` (its position in `[[notify]]`, from 0), `outcome`: `delivered`, `dropped` |
//! | `autonomic_notify_retries_total` | counter | `subscriber`: attempts that failed and were retried |
//! | `autonomic_actuator_circuit_open` | gauge | `kind`: 1 while the kind's circuit is open or half-open |
//! | `autonomic_actuator_circuit_transitions_total` | counter | `kind`, `to` (`closed`, `open`, `half_open`) |
//!
//! With `[fleet]`, `/metrics` adds the fleet's metrics after these ([`crate::fleet::FleetMetrics`]).
//! | `autonomic_admissions_total` | counter | `result`: `admitted`, `released` or the error name (`rate_limited`, `quota_exceeded`, ...) |

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use autonomic_core::breaker::CircuitState;
use autonomic_core::stats::Stats;
use autonomic_core::{ActionKind, ActionOutcome, GovernorState};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder, prometheus_text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

mod by_mode;

use by_mode::Counters3;

/// Every metric's name starts with this and `_`.
pub const PREFIX: &str = "autonomic";
/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;
/// Upper bounds of the action duration histogram, seconds.
pub const ACTION_BUCKETS_SECONDS: [f64; 11] =
    [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Upper bounds of the fsync duration histogram, seconds.
pub const FSYNC_BUCKETS_SECONDS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// A label: its name and its value, both from closed sets.
type Label = (&'static str, Value);

/// A label value as the code names it (`Warn`, `TimedOut`, `InvalidTenantId`, `throttle`,
/// `queue_full`), exposed in one casing, lower snake case (`warn`, `timed_out`,
/// `invalid_tenant_id`): the rule is applied here, when the exposition is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Value(&'static str);

impl EncodeLabelValue for Value {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let mut previous_lower = false;
        for c in self.0.chars() {
            if c.is_ascii_uppercase() && previous_lower {
                encoder.write_char('_')?;
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            encoder.write_char(c.to_ascii_lowercase())?;
        }
        Ok(())
    }
}
/// A counter family keyed by one label.
type Counters1 = Family<[Label; 1], Counter>;
/// A counter family keyed by two labels.
type Counters2 = Family<[Label; 2], Counter>;
/// A gauge of a `u64`.
type GaugeU64 = Gauge<u64, AtomicU64>;

/// Gauges read from the engine when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineGauges {
    /// Tenants per (governor state, mode).
    pub tenants_by_state: BTreeMap<(&'static str, &'static str), u64>,
    /// Tenants per entitlement state.
    pub entitlements_by_state: BTreeMap<&'static str, u64>,
    /// Actions in flight.
    pub in_flight: u64,
    /// Dedup ids evicted inside the retention ([`autonomic_core::Engine::dedup_evictions`]).
    pub dedup_evictions: u64,
    /// Each sized table: its name, what is in use, its capacity.
    pub tables: Vec<(&'static str, u64, u64)>,
}

/// Every metric of the process; shared behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    signals: Counters1,
    transitions: Counters3,
    actions: Counters3,
    actions_shadowed: Counters1,
    rollbacks: Counters2,
    action_duration: Family<[Label; 1], Histogram>,
    fsync: Histogram,
    receipts: Counter,
    /// No labels; empty (so not exposed) until the ledger has a receipt.
    head_seq: Family<[Label; 0], GaugeU64>,
    torn_tails: Counter,
    checkpoints: Counters1,
    witness_posts: Counters1,
    rejected: Counters1,
    notify: Counters2,
    notify_retries: Counters1,
    circuit_open: Family<[Label; 1], GaugeU64>,
    circuit_transitions: Counters2,
    admissions: Counters1,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::with_prefix(PREFIX),
            signals: Family::default(),
            transitions: Family::default(),
            actions: Family::default(),
            actions_shadowed: Family::default(),
            rollbacks: Family::default(),
            action_duration: Family::new_with_constructor(action_histogram),
            fsync: Histogram::new(FSYNC_BUCKETS_SECONDS),
            receipts: Counter::default(),
            head_seq: Family::default(),
            torn_tails: Counter::default(),
            checkpoints: Family::default(),
            witness_posts: Family::default(),
            rejected: Family::default(),
            notify: Family::default(),
            notify_retries: Family::default(),
            circuit_open: Family::default(),
            circuit_transitions: Family::default(),
            admissions: Family::default(),
        };
        // Every outcome is exposed from the start, at 0.
        for outcome in ["written", "failed"] {
            metrics
                .checkpoints
                .get_or_create(&[("outcome", Value(outcome))])
                .inc_by(0);
        }
        for outcome in ["ok", "failed"] {
            metrics
                .witness_posts
                .get_or_create(&[("outcome", Value(outcome))])
                .inc_by(0);
        }
        for kind in ActionKind::ALL {
            metrics.set_circuit(kind, CircuitState::Closed);
        }
        metrics.registered()
    }
}

fn action_histogram() -> Histogram {
    Histogram::new(ACTION_BUCKETS_SECONDS)
}

impl Metrics {
    /// Registers every metric this process keeps, in the order they are exposed.
    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register("signals", "Signals by result", self.signals.clone());
        r.register(
            "transitions",
            "Governor transitions",
            self.transitions.clone(),
        );
        r.register("actions", "Completed actions", self.actions.clone());
        let help = "Actions shadow tenants' governors ordered and did not dispatch";
        r.register("actions_shadowed", help, self.actions_shadowed.clone());
        r.register("rollbacks", "Completed rollbacks", self.rollbacks.clone());
        let duration = self.action_duration.clone();
        r.register("action_duration_seconds", "Actuator run time", duration);
        let help = "Receipts written by this process";
        r.register("receipts", help, self.receipts.clone());
        let help = "Seq of the newest receipt";
        r.register("ledger_head_seq", help, self.head_seq.clone());
        let help = "Ledger fdatasync time";
        r.register("ledger_fsync_duration_seconds", help, self.fsync.clone());
        let help = "Torn ledger tails truncated at start";
        r.register("ledger_torn_tails_recovered", help, self.torn_tails.clone());
        let help = "Signed checkpoints of the ledger head, by outcome";
        r.register("checkpoints", help, self.checkpoints.clone());
        let help = "Checkpoints POSTed to the witness webhook, by outcome";
        r.register("checkpoint_witness_posts", help, self.witness_posts.clone());
        r.register(
            "requests_rejected",
            "Refused requests",
            self.rejected.clone(),
        );
        let help = "CloudEvents for [[notify]] subscribers, by outcome";
        r.register("notify_events", help, self.notify.clone());
        let help = "Failed CloudEvents POSTs that were retried";
        r.register("notify_retries", help, self.notify_retries.clone());
        let help = "1 while the action kind's circuit breaker is open or half-open";
        r.register("actuator_circuit_open", help, self.circuit_open.clone());
        let help = "Circuit breaker changes by action kind and state entered";
        r.register(
            "actuator_circuit_transitions",
            help,
            self.circuit_transitions.clone(),
        );
        let help = "Admissions and releases by result";
        r.register("admissions", help, self.admissions.clone());
        self
    }

    /// Shows one kind's circuit (1 while open or half-open: actions of the kind are refused
    /// or only a trial runs).
    pub fn set_circuit(&self, kind: ActionKind, state: CircuitState) {
        let open = u64::from(state != CircuitState::Closed);
        self.circuit_open
            .get_or_create(&[("kind", Value(kind.as_str()))])
            .set(open);
    }

    /// Sets the count of `kind`'s circuit changes to `to` (`closed`, `open`, `half_open`).
    pub fn set_circuit_transitions(&self, kind: &'static str, to: &'static str, total: u64) {
        let labels = [("kind", Value(kind)), ("to", Value(to))];
        set_count(&self.circuit_transitions, labels, total);
    }

    /// Counts one signal's result (`governed`, `duplicate` or an error name).
    pub fn signal(&self, result: &'static str) {
        self.signals
            .get_or_create(&[("result", Value(result))])
            .inc();
    }

    /// Counts one completed rollback (from its receipt).
    pub fn rollback(&self, kind: &'static str, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.rollbacks
            .get_or_create(&[("kind", Value(kind)), ("outcome", Value(outcome))])
            .inc();
    }

    /// Records how long an actuator ran.
    pub fn action_duration(&self, kind: &'static str, duration: Duration) {
        let histogram = self.action_duration.get_or_create(&[("kind", Value(kind))]);
        histogram.observe(duration.as_secs_f64());
    }

    /// Records one fdatasync.
    pub fn fsync(&self, duration: Duration) {
        self.fsync.observe(duration.as_secs_f64());
    }

    /// Shows the engine's own counts (receipts appended, governor transitions, completed
    /// actions, from [`Stats`]): the engine counts them as it appends receipts, this only
    /// copies. A series appears at its first count.
    pub fn publish(&self, stats: &Stats) {
        // Transitions and completions are receipts: no new receipt, nothing new to copy
        // (this runs at every commit, also after rounds that appended nothing).
        if self.receipts.get() == stats.receipts() {
            return;
        }
        self.receipts
            .inner()
            .store(stats.receipts(), Ordering::Relaxed);
        if let Some(seq) = stats.last_seq() {
            self.set_head_seq(Some(seq));
        }
        self.publish_by_mode(stats);
        for kind in ActionKind::ALL {
            for to in CircuitState::ALL {
                let total = stats.circuit_transitions(kind, to);
                if total > 0 {
                    self.set_circuit_transitions(kind.as_str(), to.as_str(), total);
                }
            }
        }
    }

    /// Sets the head after a restore.
    pub fn set_head_seq(&self, seq: Option<u64>) {
        match seq {
            Some(seq) => {
                self.head_seq.get_or_create(&[]).set(seq);
            }
            None => self.head_seq.clear(),
        }
    }

    /// Counts a torn tail truncated at start.
    pub fn torn_tail_recovered(&self) {
        self.torn_tails.inc();
    }

    /// Counts a checkpoint signed and written to every path (`written`) or not (`failed`).
    pub fn checkpoint(&self, written: bool) {
        let outcome = if written { "written" } else { "failed" };
        self.checkpoints
            .get_or_create(&[("outcome", Value(outcome))])
            .inc();
    }

    /// Counts a checkpoint POSTed to the witness webhook (`ok`) or not (`failed`).
    pub fn checkpoint_witness(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.witness_posts
            .get_or_create(&[("outcome", Value(outcome))])
            .inc();
    }

    /// Counts an event delivered to subscriber `subscriber`.
    pub fn notify_delivered(&self, subscriber: &'static str) {
        let labels = [
            ("subscriber", Value(subscriber)),
            ("outcome", Value("delivered")),
        ];
        self.notify.get_or_create(&labels).inc();
    }

    /// Counts `count` events dropped for subscriber `subscriber`.
    pub fn notify_dropped(&self, subscriber: &'static str, count: u64) {
        let labels = [
            ("subscriber", Value(subscriber)),
            ("outcome", Value("dropped")),
        ];
        self.notify.get_or_create(&labels).inc_by(count);
    }

    /// Counts a failed POST to subscriber `subscriber` that will be retried.
    pub fn notify_retry(&self, subscriber: &'static str) {
        let labels = [("subscriber", Value(subscriber))];
        self.notify_retries.get_or_create(&labels).inc();
    }

    /// Counts a request refused before reaching the engine.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected
            .get_or_create(&[("reason", Value(reason))])
            .inc();
    }

    /// Counts one admission's or release's answer (`admitted`, `released` or an error name).
    pub fn admission(&self, result: &'static str) {
        self.admissions
            .get_or_create(&[("result", Value(result))])
            .inc();
    }

    /// The exposition text: this process's metrics, then what is read at the scrape (the
    /// engine's gauges when it answered, poisoning and readiness).
    #[must_use]
    pub fn render(&self, gauges: Option<&EngineGauges>, ready: bool, poisoned: bool) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a `String` cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_text::encode(&mut out, &scrape_registry(gauges, ready, poisoned));
        out
    }
}

/// Sets the counter of `labels` in `family` to `total`, whatever it counted before.
fn set_count(family: &Counters2, labels: [Label; 2], total: u64) {
    family
        .get_or_create(&labels)
        .inner()
        .store(total, Ordering::Relaxed);
}

/// The metrics read at a scrape.
fn scrape_registry(gauges: Option<&EngineGauges>, ready: bool, poisoned: bool) -> Registry {
    let mut r = Registry::with_prefix(PREFIX);
    if let Some(g) = gauges {
        let help = "Tenants by governor state";
        r.register(
            "tenants",
            help,
            by_mode::tenants_by_state(&g.tenants_by_state),
        );
        let help = "Tenants by entitlement state";
        r.register(
            "tenant_entitlements",
            help,
            by_state(&g.entitlements_by_state),
        );
        let in_flight = ConstGauge::new(g.in_flight);
        r.register("actions_in_flight", "Actions executing", in_flight);
        let help = "Signal ids evicted inside the 60 s retention because the deduplicator was full";
        r.register(
            "dedup_evictions",
            help,
            ConstCounter::new(g.dedup_evictions),
        );
        let capacity = Family::<[Label; 1], GaugeU64>::default();
        let used = Family::<[Label; 1], GaugeU64>::default();
        for (table, in_use, cap) in &g.tables {
            capacity.get_or_create(&[("table", Value(table))]).set(*cap);
            used.get_or_create(&[("table", Value(table))]).set(*in_use);
        }
        let help = "What each table of the engine holds at most (configured at start)";
        r.register("table_capacity", help, capacity);
        r.register(
            "table_used",
            "What each table of the engine holds now",
            used,
        );
    }
    let help = "1 after a ledger I/O error";
    r.register(
        "ledger_poisoned",
        help,
        ConstGauge::new(u64::from(poisoned)),
    );
    let help = "1 while /readyz is green";
    r.register("ready", help, ConstGauge::new(u64::from(ready)));
    r
}

/// A gauge family with one `state` label from counts per state.
fn by_state(counts: &BTreeMap<&'static str, u64>) -> Family<[Label; 1], GaugeU64> {
    let family = Family::<[Label; 1], GaugeU64>::default();
    for (state, n) in counts {
        family.get_or_create(&[("state", Value(state))]).set(*n);
    }
    family
}

#[cfg(test)]
mod tests {
    use autonomic_core::engine::Mode;

    use super::*;

    #[test]
    fn every_name_is_prefixed_and_histograms_are_cumulative() {
        // Proves the exposition's names carry the prefix and buckets accumulate.
        let m = Metrics::default();
        m.signal("governed");
        m.fsync(Duration::from_micros(300));
        m.action_duration("throttle", Duration::from_millis(20));
        let text = m.render(Some(&EngineGauges::default()), true, false);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("autonomic_"), "{line}");
        }
        assert!(text.contains("autonomic_ledger_fsync_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("autonomic_ledger_fsync_duration_seconds_bucket{le=\"0.00025\"} 0"));
        assert!(text.contains("autonomic_signals_total{result=\"governed\"} 1"));
        let gauges = EngineGauges {
            dedup_evictions: 7,
            ..EngineGauges::default()
        };
        let text = m.render(Some(&gauges), true, false);
        assert!(text.contains("autonomic_dedup_evictions_total 7"), "{text}");
        let gauges = EngineGauges {
            tables: vec![("tenant_id_bytes", 48, 32_768)],
            ..EngineGauges::default()
        };
        let text = m.render(Some(&gauges), true, false);
        let capacity = "autonomic_table_capacity{table=\"tenant_id_bytes\"} 32768";
        assert!(text.contains(capacity), "{text}");
        assert!(
            text.contains("autonomic_table_used{table=\"tenant_id_bytes\"} 48"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_lower_snake_case() {
        // Proves the one casing rule: the code's names are exposed in lower snake case.
        let m = Metrics::default();
        m.signal("InvalidTenantId");
        m.set_transitions("Warn", "Intervene", Mode::Enforce, 1);
        m.set_actions("throttle", "TimedOut", Mode::Shadow, 2);
        m.rejected("queue_full");
        m.admission("RateLimited");
        let gauges = EngineGauges {
            entitlements_by_state: BTreeMap::from([("Active", 1)]),
            ..EngineGauges::default()
        };
        let text = m.render(Some(&gauges), true, false);
        for line in [
            "autonomic_signals_total{result=\"invalid_tenant_id\"} 1",
            "autonomic_transitions_total{from=\"warn\",to=\"intervene\",mode=\"enforce\"} 1",
            "autonomic_actions_total{kind=\"throttle\",outcome=\"timed_out\",mode=\"shadow\"} 2",
            "autonomic_requests_rejected_total{reason=\"queue_full\"} 1",
            "autonomic_admissions_total{result=\"rate_limited\"} 1",
            "autonomic_tenant_entitlements{state=\"active\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }
}

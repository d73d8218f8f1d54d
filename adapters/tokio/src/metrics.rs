//! Prometheus metrics, hand-written text exposition (format 0.0.4).
//!
//! Every name is prefixed `autonomic_`; counters end in `_total`, histograms in `_seconds`.
//! Every label value is a `&'static str` from a closed set (state names, action kinds,
//! outcome and error names), so the number of series is bounded.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `autonomic_signals_total` | counter | `result`: `governed`, `duplicate` or the error name |
//! | `autonomic_transitions_total` | counter | `from`, `to` (governor states) |
//! | `autonomic_tenants` | gauge | `state` (governor state) |
//! | `autonomic_tenant_entitlements` | gauge | `state` (entitlement state) |
//! | `autonomic_actions_total` | counter | `kind`, `outcome` (from the completion receipts) |
//! | `autonomic_rollbacks_total` | counter | `kind`, `outcome` (`succeeded`/`failed`) |
//! | `autonomic_actions_in_flight` | gauge | |
//! | `autonomic_dedup_evictions_total` | counter | signal ids evicted inside the 60 s retention (deduplicator full); each one's redelivery would be governed again |
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds of the action duration histogram, seconds.
pub const ACTION_BUCKETS_SECONDS: [f64; 11] =
    [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Upper bounds of the fsync duration histogram, seconds.
pub const FSYNC_BUCKETS_SECONDS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], seconds: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (count, bound) in self.counts.iter_mut().zip(bounds) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum_seconds += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let count = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    signals: BTreeMap<&'static str, u64>,
    transitions: BTreeMap<(&'static str, &'static str), u64>,
    actions: BTreeMap<(&'static str, &'static str), u64>,
    rollbacks: BTreeMap<(&'static str, &'static str), u64>,
    action_duration: BTreeMap<&'static str, Histogram>,
    fsync: Histogram,
    receipts_total: u64,
    head_seq: Option<u64>,
    torn_tails: u64,
    checkpoints: BTreeMap<&'static str, u64>,
    witness_posts: BTreeMap<&'static str, u64>,
    rejected: BTreeMap<&'static str, u64>,
}

/// Gauges read from the engine when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineGauges {
    /// Tenants per governor state.
    pub tenants_by_state: BTreeMap<&'static str, u64>,
    /// Tenants per entitlement state.
    pub entitlements_by_state: BTreeMap<&'static str, u64>,
    /// Actions in flight.
    pub in_flight: u64,
    /// Dedup ids evicted inside the retention ([`autonomic_core::Engine::dedup_evictions`]).
    pub dedup_evictions: u64,
}

/// Every metric of the process; shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters: keep serving them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one signal's result (`governed`, `duplicate` or an error name).
    pub fn signal(&self, result: &'static str) {
        *self.lock().signals.entry(result).or_default() += 1;
    }

    /// Counts one governor transition (from its receipt).
    pub fn transition(&self, from: &'static str, to: &'static str) {
        *self.lock().transitions.entry((from, to)).or_default() += 1;
    }

    /// Counts one completed action (from its receipt).
    pub fn action(&self, kind: &'static str, outcome: &'static str) {
        *self.lock().actions.entry((kind, outcome)).or_default() += 1;
    }

    /// Counts one completed rollback (from its receipt).
    pub fn rollback(&self, kind: &'static str, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        *self.lock().rollbacks.entry((kind, outcome)).or_default() += 1;
    }

    /// Records how long an actuator ran.
    pub fn action_duration(&self, kind: &'static str, duration: Duration) {
        self.lock()
            .action_duration
            .entry(kind)
            .or_default()
            .observe(&ACTION_BUCKETS_SECONDS, duration.as_secs_f64());
    }

    /// Records one fdatasync.
    pub fn fsync(&self, duration: Duration) {
        self.lock()
            .fsync
            .observe(&FSYNC_BUCKETS_SECONDS, duration.as_secs_f64());
    }

    /// Counts one receipt written, and moves the head.
    pub fn receipt(&self, seq: u64) {
        let mut inner = self.lock();
        inner.receipts_total += 1;
        inner.head_seq = Some(seq);
    }

    /// Sets the head after a restore.
    pub fn set_head_seq(&self, seq: Option<u64>) {
        self.lock().head_seq = seq;
    }

    /// Counts a torn tail truncated at start.
    pub fn torn_tail_recovered(&self) {
        self.lock().torn_tails += 1;
    }

    /// Counts a checkpoint signed and written to every path (`written`) or not (`failed`).
    pub fn checkpoint(&self, written: bool) {
        let outcome = if written { "written" } else { "failed" };
        *self.lock().checkpoints.entry(outcome).or_default() += 1;
    }

    /// Counts a checkpoint POSTed to the witness webhook (`ok`) or not (`failed`).
    pub fn checkpoint_witness(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        *self.lock().witness_posts.entry(outcome).or_default() += 1;
    }

    /// Counts a request refused before reaching the engine.
    pub fn rejected(&self, reason: &'static str) {
        *self.lock().rejected.entry(reason).or_default() += 1;
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self, gauges: Option<&EngineGauges>, ready: bool, poisoned: bool) -> String {
        let inner = self.lock();
        let mut out = String::with_capacity(4096);
        header(&mut out, "signals_total", "counter", "Signals by result.");
        for (result, n) in &inner.signals {
            let _ = writeln!(out, "autonomic_signals_total{{result=\"{result}\"}} {n}");
        }
        header(
            &mut out,
            "transitions_total",
            "counter",
            "Governor transitions.",
        );
        for ((from, to), n) in &inner.transitions {
            let _ = writeln!(
                out,
                "autonomic_transitions_total{{from=\"{from}\",to=\"{to}\"}} {n}"
            );
        }
        if let Some(g) = gauges {
            render_gauges(&mut out, g);
        }
        header(&mut out, "actions_total", "counter", "Completed actions.");
        for ((kind, outcome), n) in &inner.actions {
            let _ = writeln!(
                out,
                "autonomic_actions_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        header(
            &mut out,
            "rollbacks_total",
            "counter",
            "Completed rollbacks.",
        );
        for ((kind, outcome), n) in &inner.rollbacks {
            let _ = writeln!(
                out,
                "autonomic_rollbacks_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let name = "autonomic_action_duration_seconds";
        header(
            &mut out,
            "action_duration_seconds",
            "histogram",
            "Actuator run time.",
        );
        for (kind, h) in &inner.action_duration {
            h.render(
                &mut out,
                name,
                &format!("kind=\"{kind}\""),
                &ACTION_BUCKETS_SECONDS,
            );
        }
        render_ledger(&mut out, &inner);
        header(
            &mut out,
            "requests_rejected_total",
            "counter",
            "Refused requests.",
        );
        for (reason, n) in &inner.rejected {
            let _ = writeln!(
                out,
                "autonomic_requests_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        header(
            &mut out,
            "ledger_poisoned",
            "gauge",
            "1 after a ledger I/O error.",
        );
        let _ = writeln!(out, "autonomic_ledger_poisoned {}", u8::from(poisoned));
        header(&mut out, "ready", "gauge", "1 while /readyz is green.");
        let _ = writeln!(out, "autonomic_ready {}", u8::from(ready));
        out
    }
}

fn render_gauges(out: &mut String, g: &EngineGauges) {
    header(out, "tenants", "gauge", "Tenants by governor state.");
    for (state, n) in &g.tenants_by_state {
        let _ = writeln!(out, "autonomic_tenants{{state=\"{state}\"}} {n}");
    }
    header(
        out,
        "tenant_entitlements",
        "gauge",
        "Tenants by entitlement state.",
    );
    for (state, n) in &g.entitlements_by_state {
        let _ = writeln!(
            out,
            "autonomic_tenant_entitlements{{state=\"{state}\"}} {n}"
        );
    }
    header(out, "actions_in_flight", "gauge", "Actions executing.");
    let _ = writeln!(out, "autonomic_actions_in_flight {}", g.in_flight);
    header(
        out,
        "dedup_evictions_total",
        "counter",
        "Signal ids evicted inside the 60 s retention because the deduplicator was full.",
    );
    let _ = writeln!(out, "autonomic_dedup_evictions_total {}", g.dedup_evictions);
}

fn render_ledger(out: &mut String, inner: &Inner) {
    header(
        out,
        "receipts_total",
        "counter",
        "Receipts written by this process.",
    );
    let _ = writeln!(out, "autonomic_receipts_total {}", inner.receipts_total);
    if let Some(seq) = inner.head_seq {
        header(
            out,
            "ledger_head_seq",
            "gauge",
            "Seq of the newest receipt.",
        );
        let _ = writeln!(out, "autonomic_ledger_head_seq {seq}");
    }
    header(
        out,
        "ledger_fsync_duration_seconds",
        "histogram",
        "Ledger fdatasync time.",
    );
    inner.fsync.render(
        out,
        "autonomic_ledger_fsync_duration_seconds",
        "",
        &FSYNC_BUCKETS_SECONDS,
    );
    header(
        out,
        "ledger_torn_tails_recovered_total",
        "counter",
        "Torn ledger tails truncated at start.",
    );
    let _ = writeln!(
        out,
        "autonomic_ledger_torn_tails_recovered_total {}",
        inner.torn_tails
    );
    let help = "Signed checkpoints of the ledger head, by outcome.";
    let outcomes = ["written", "failed"];
    render_outcomes(
        out,
        "checkpoints_total",
        help,
        &outcomes,
        &inner.checkpoints,
    );
    let help = "Checkpoints POSTed to the witness webhook, by outcome.";
    let outcomes = ["ok", "failed"];
    let name = "checkpoint_witness_posts_total";
    render_outcomes(out, name, help, &outcomes, &inner.witness_posts);
}

/// A counter with one `outcome` label, every outcome listed (0 when none yet).
fn render_outcomes(
    out: &mut String,
    name: &str,
    help: &str,
    outcomes: &[&'static str],
    counts: &BTreeMap<&'static str, u64>,
) {
    header(out, name, "counter", help);
    for outcome in outcomes {
        let n = counts.get(outcome).copied().unwrap_or(0);
        let _ = writeln!(out, "autonomic_{name}{{outcome=\"{outcome}\"}} {n}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP autonomic_{name} {help}");
    let _ = writeln!(out, "# TYPE autonomic_{name} {kind}");
}

#[cfg(test)]
mod tests {
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
    }
}

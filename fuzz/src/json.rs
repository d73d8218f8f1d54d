//! `signal_json`: arbitrary bytes as replay input (JSON lines, `docs/replay.md`) or as the
//! body of `POST /v1/signals` (one signal object or an array, `docs/http-api.md`), parsed with
//! serde_json into the raw shapes `docs/replay.md` describes and driven through
//! `Signal::parse` and an engine.
//!
//! The adapter's own parser was not ready when this was written: switch this target to it (see
//! fuzz/README.md). Checks: nothing panics; `Signal::parse` agrees with the reference model of
//! `docs/signals.md` (verdict, error name, normalized value); a signal is accepted only with a
//! normalized value <= 100 and a timestamp within [now - 60 000, now + 3 600 000], and the
//! engine's verdict agrees with `Signal::parse`; a governed signal redelivered at once is a
//! duplicate; every error has a documented wire name; the engine's invariants (the `Auditor`)
//! hold after every line.

use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::storage::{Capacities, OwnedStorage};
use autonomic_core::{EntitlementCommand, RawSignal, Signal};
use autonomic_tests::audit::Auditor;
use autonomic_tests::model::governor::Th;
use autonomic_tests::model::signal;
use serde::Deserialize;

/// 8 tenants, a ring of 16 receipts, 64 dedup ids.
const CAPS: Capacities = Capacities {
    tenant_id_bytes: 8 * 256,
    dedup_ids: 64,
    receipts: 16,
    ..Capacities::with_tenants(8)
};

/// One replay line.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Activate { tenant: String, sku: String },
    Pause { tenant: String },
    Resume { tenant: String },
    Revoke { tenant: String },
    Signal(SignalBody),
    ActionSucceeded { tenant: String },
    ActionFailed { tenant: String },
    Reset { tenant: String },
}

/// A signal as the HTTP API and replay carry it.
#[derive(Debug, Deserialize)]
struct SignalBody {
    tenant: String,
    metric: String,
    value: f64,
    ts_ms: u64,
    #[serde(default)]
    now_ms: Option<u64>,
}

/// `POST /v1/signals`: one object or an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    One(SignalBody),
    Many(Vec<SignalBody>),
}

const NAMES: [&str; 10] = [
    "InvalidTenantId",
    "InvalidMetricName",
    "ValueOutOfBounds",
    "InvalidTimestamp",
    "TenantNotFound",
    "EntitlementExpired",
    "EntitlementNotActive",
    "InvalidSku",
    "InvalidStateTransition",
    "TenantTableFull",
];

struct Replay<'a> {
    engine: Engine<'a>,
    auditor: Auditor,
    clock: u64,
}

impl Replay<'_> {
    fn signal(&mut self, s: &SignalBody) {
        let now = s.now_ms.unwrap_or(s.ts_ms);
        self.clock = now;
        let raw = RawSignal {
            tenant: &s.tenant,
            metric: &s.metric,
            value: s.value,
            ts_ms: s.ts_ms,
        };
        let parsed = Signal::parse(&raw, now);
        // Validation as the reference model reads it: same verdict, same normalized value.
        let model = signal::validate(&s.tenant, &s.metric, s.value, s.ts_ms, now);
        match (&parsed, &model) {
            (Ok(p), Ok((m, v))) => {
                assert_eq!((p.metric.as_str(), p.value_pct), (*m, *v), "{raw:?}")
            }
            (Err(e), Err(m)) => assert_eq!(e.name(), *m, "{raw:?}"),
            _ => panic!("{raw:?}: core {parsed:?}, model {model:?}"),
        }
        if let Ok(p) = &parsed {
            assert!(
                p.value_pct <= 100,
                "accepted value {} normalized to {}",
                s.value,
                p.value_pct
            );
            assert!(s.value.is_finite() && (0.0..=100.0).contains(&s.value));
            assert!(
                s.ts_ms >= now.saturating_sub(60_000) && s.ts_ms <= now.saturating_add(3_600_000),
                "accepted ts_ms {} at now {now}",
                s.ts_ms
            );
        }
        match (self.engine.handle_signal(now, &raw), parsed) {
            (Ok(autonomic_core::SignalResult::Governed(_)), Ok(_)) => {
                self.settle();
                let again = self.engine.handle_signal(now, &raw);
                assert_eq!(
                    again,
                    Ok(autonomic_core::SignalResult::Duplicate),
                    "{raw:?}"
                );
            }
            (Ok(_), Ok(_)) => {}
            (Err(e), Err(p)) => {
                assert_eq!(e.name(), p.name(), "engine and parse name different errors")
            }
            (Err(e), Ok(_)) => assert!(
                NAMES[4..7].contains(&e.name()),
                "valid signal refused with {e:?}"
            ),
            (Ok(r), Err(p)) => panic!("invalid signal ({p:?}) accepted: {r:?}"),
        }
    }

    fn line(&mut self, line: Line) {
        let now = self.clock;
        let name = match line {
            Line::Signal(s) => {
                self.signal(&s);
                None
            }
            Line::Activate { tenant, sku } => {
                let cmd = EntitlementCommand::Activate {
                    sku: &sku,
                    expires_at_ms: None,
                };
                self.engine
                    .handle_entitlement(now, &tenant, cmd)
                    .err()
                    .map(|e| e.name())
            }
            Line::Pause { tenant } => self
                .engine
                .handle_entitlement(now, &tenant, EntitlementCommand::Pause)
                .err()
                .map(|e| e.name()),
            Line::Resume { tenant } => self
                .engine
                .handle_entitlement(now, &tenant, EntitlementCommand::Resume)
                .err()
                .map(|e| e.name()),
            Line::Revoke { tenant } => self
                .engine
                .handle_entitlement(now, &tenant, EntitlementCommand::Revoke)
                .err()
                .map(|e| e.name()),
            Line::ActionSucceeded { tenant } => self
                .engine
                .handle_outcome(now, &tenant, None, true, &[])
                .err()
                .map(|e| e.name()),
            Line::ActionFailed { tenant } => self
                .engine
                .handle_outcome(now, &tenant, None, false, &[])
                .err()
                .map(|e| e.name()),
            Line::Reset { tenant } => self
                .engine
                .handle_reset(now, &tenant)
                .err()
                .map(|e| e.name()),
        };
        if let Some(name) = name {
            assert!(NAMES.contains(&name), "unexpected error {name}");
        }
        self.settle();
    }

    fn settle(&mut self) {
        if let Err(e) = self.auditor.drain(&mut self.engine) {
            panic!("audit: {e}");
        }
        while self.engine.poll_action().is_some() {}
        if let Err(e) = self.auditor.check(&self.engine, self.clock) {
            panic!("check: {e}");
        }
    }
}

/// The target's body.
pub fn run(data: &[u8]) {
    let mut mem = OwnedStorage::new(&CAPS);
    let mut replay = Replay {
        engine: Engine::new(EngineConfig::default(), mem.storage()).expect("config"),
        auditor: Auditor::new(Th::DEFAULT),
        clock: 0,
    };
    // As an HTTP body first: one object or an array of them.
    if let Ok(body) = serde_json::from_slice::<Body>(data) {
        // Let the body's tenants exist, so signals get past the entitlement check.
        let signals = match body {
            Body::One(s) => vec![s],
            Body::Many(v) => v,
        };
        for s in signals.iter().take(64) {
            let _ = replay.engine.handle_entitlement(
                0,
                &s.tenant,
                EntitlementCommand::Activate {
                    sku: "pro",
                    expires_at_ms: None,
                },
            );
            replay.settle();
            replay.signal(s);
            replay.settle();
        }
        return;
    }
    // As replay input: JSON lines; a bad line is MalformedInput and replay goes on.
    for raw in data.split(|b| *b == b'\n').take(256) {
        if let Ok(line) = serde_json::from_slice::<Line>(raw) {
            replay.line(line);
        }
    }
}

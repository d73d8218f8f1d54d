//! The `webhook` actuator with `batch_ms`, against a real axum server on 127.0.0.1: runs
//! dispatched within one window share a POST and each gets its own outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autonomic_tokio::actuator::{ActionKind, ActionRequest, Actuator, ActuatorConfigError};
use autonomic_tokio::config::{ActuatorSection, BackendKind};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio_util::sync::CancellationToken;

/// The bodies the server received, in order.
type Seen = Arc<Mutex<Vec<serde_json::Value>>>;

/// Serves `/batch` (200, failing receipt 13 by name in `results`), `/plain` (200, no results)
/// and `/fail` (503) on 127.0.0.1:0.
async fn server() -> (String, Seen) {
    let seen = Seen::default();
    let record = |s: &Seen, body: &[u8]| {
        s.lock()
            .unwrap()
            .push(serde_json::from_slice(body).unwrap());
    };
    let app = Router::new()
        .route(
            "/batch",
            post(move |State(s): State<Seen>, b: axum::body::Bytes| async move {
                record(&s, &b);
                let results = r#"{"results":[{"receipt":13,"ok":false,"detail":"tenant unknown here"},{"receipt":11,"ok":true}]}"#;
                (StatusCode::OK, results)
            }),
        )
        .route(
            "/plain",
            post(move |State(s): State<Seen>, b: axum::body::Bytes| async move {
                record(&s, &b);
                (StatusCode::OK, "thanks")
            }),
        )
        .route(
            "/fail",
            post(move |State(s): State<Seen>, b: axum::body::Bytes| async move {
                record(&s, &b);
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn batched(url: &str, batch_ms: u64) -> ActuatorSection {
    ActuatorSection {
        backend: BackendKind::Webhook,
        url: Some(url.to_owned()),
        batch_ms: Some(batch_ms),
        ..ActuatorSection::default()
    }
}

fn throttle(tenant: &str, receipt: u64) -> ActionRequest {
    ActionRequest {
        tenant: tenant.into(),
        kind: ActionKind::Throttle,
        percent: Some(50),
        revision: None,
        receipt,
    }
}

/// The tenants of one batched body, in order.
fn tenants(body: &serde_json::Value) -> Vec<String> {
    body["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenant"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn runs_within_the_window_share_one_post_and_keep_their_own_outcomes() {
    // Proves: three runs dispatched within the window go out as ONE POST {"batch":[...]},
    // each element the unbatched body; the receiver's per-receipt result fails receipt 13
    // only, with its detail; unlisted receipts succeed.
    let (base, seen) = server().await;
    let url = format!("{base}/batch");
    let actuator =
        Arc::new(Actuator::from_config(ActionKind::Throttle, &batched(&url, 300)).unwrap());
    let mut runs = Vec::new();
    for (tenant, receipt) in [("acme", 11), ("globex", 12), ("initech", 13)] {
        let a = Arc::clone(&actuator);
        runs.push(tokio::spawn(async move {
            a.run(&throttle(tenant, receipt), CancellationToken::new())
                .await
        }));
    }
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.unwrap());
    }

    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one POST for the window: {bodies:?}");
    assert_eq!(tenants(&bodies[0]), ["acme", "globex", "initech"]);
    assert_eq!(
        bodies[0]["batch"][1],
        serde_json::json!({"tenant":"globex","action":"throttle","percent":50,"revision":null,"receipt":12})
    );
    assert!(reports[0].ok && reports[1].ok, "{reports:?}");
    assert!(
        reports[0].detail.contains("batch of 3"),
        "{}",
        reports[0].detail
    );
    assert!(!reports[2].ok);
    assert!(
        reports[2].detail.contains("tenant unknown here"),
        "{}",
        reports[2].detail
    );
}

#[tokio::test]
async fn the_next_window_is_a_new_post() {
    // Proves: a run after the batch went out opens a new batch (a second POST).
    let (base, seen) = server().await;
    let url = format!("{base}/plain");
    let actuator = Actuator::from_config(ActionKind::Throttle, &batched(&url, 50)).unwrap();
    let first = actuator
        .run(&throttle("acme", 1), CancellationToken::new())
        .await;
    let second = actuator
        .run(&throttle("globex", 2), CancellationToken::new())
        .await;
    assert!(first.ok && second.ok, "{first:?} {second:?}");
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(tenants(&bodies[0]), ["acme"]);
    assert_eq!(tenants(&bodies[1]), ["globex"]);
}

#[tokio::test]
async fn a_run_cancelled_before_the_batch_goes_out_leaves_it() {
    // Proves: cancelling a waiting run (superseded by the engine) takes it out of the batch:
    // the POST carries only the others, and the cancelled run reports cancelled.
    let (base, seen) = server().await;
    let url = format!("{base}/plain");
    let actuator =
        Arc::new(Actuator::from_config(ActionKind::Throttle, &batched(&url, 400)).unwrap());
    let cancel = CancellationToken::new();
    let (a, c) = (Arc::clone(&actuator), cancel.clone());
    let doomed = tokio::spawn(async move { a.run(&throttle("acme", 1), c).await });
    let a = Arc::clone(&actuator);
    let kept = tokio::spawn(async move {
        a.run(&throttle("globex", 2), CancellationToken::new())
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let doomed = doomed.await.unwrap();
    let kept = kept.await.unwrap();

    assert!(doomed.cancelled && !doomed.ok, "{doomed:?}");
    assert!(kept.ok, "{kept:?}");
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(tenants(&bodies[0]), ["globex"]);
}

#[tokio::test]
async fn a_refused_batch_fails_every_run_in_it() {
    // Proves: a non-2xx answer fails every action of the batch with the status and body.
    let (base, seen) = server().await;
    let url = format!("{base}/fail");
    let actuator = Arc::new(Actuator::from_config(ActionKind::Shed, &batched(&url, 200)).unwrap());
    let (a, b) = (Arc::clone(&actuator), Arc::clone(&actuator));
    let one =
        tokio::spawn(async move { a.run(&throttle("acme", 1), CancellationToken::new()).await });
    let two = tokio::spawn(async move {
        b.run(&throttle("globex", 2), CancellationToken::new())
            .await
    });
    for report in [one.await.unwrap(), two.await.unwrap()] {
        assert!(!report.ok);
        assert!(report.detail.contains("503"), "{}", report.detail);
        assert!(report.detail.contains("overloaded"), "{}", report.detail);
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_batch_that_never_goes_out_times_out_within_the_run_timeout() {
    // Proves: the run's own timeout bounds the wait for the window (window longer than the
    // timeout): the run times out, is taken out of the batch, and no POST is ever made.
    let (base, seen) = server().await;
    let mut section = batched(&format!("{base}/plain"), 2_000);
    section.timeout_ms = 150;
    let actuator = Actuator::from_config(ActionKind::Throttle, &section).unwrap();
    let start = Instant::now();
    let report = actuator
        .run(&throttle("acme", 1), CancellationToken::new())
        .await;
    assert!(report.timed_out && !report.ok, "{report:?}");
    assert!(start.elapsed() < Duration::from_millis(1_500));
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "an empty batch is never sent"
    );
}

#[tokio::test]
async fn rollbacks_are_not_batched() {
    // Proves: a rollback POSTs at once, alone, with the unbatched body and "rollback": true.
    let (base, seen) = server().await;
    let url = format!("{base}/plain");
    let actuator = Actuator::from_config(ActionKind::Throttle, &batched(&url, 5_000)).unwrap();
    let start = Instant::now();
    let report = actuator.rollback(&throttle("acme", 4), &[]).await;
    assert!(report.ok, "{report:?}");
    assert!(
        start.elapsed() < Duration::from_millis(4_000),
        "did not wait for a window"
    );
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["rollback"], true);
    assert_eq!(bodies[0]["tenant"], "acme");
}

#[test]
fn batch_ms_is_checked() {
    // Proves: batch_ms outside 1..=10000 and batch_ms on another backend are refused by name.
    for ms in [0, 10_001] {
        let err = Actuator::from_config(ActionKind::Throttle, &batched("http://127.0.0.1:9/x", ms))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ActuatorConfigError::BadValue {
                    key: "batch_ms",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let on_dry_run = ActuatorSection {
        batch_ms: Some(100),
        ..ActuatorSection::default()
    };
    let err = Actuator::from_config(ActionKind::Throttle, &on_dry_run).unwrap_err();
    assert!(
        matches!(
            err,
            ActuatorConfigError::UnusedKey {
                key: "batch_ms",
                ..
            }
        ),
        "{err:?}"
    );
}

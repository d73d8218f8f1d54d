//! The `webhook` actuator against a real axum server on 127.0.0.1.
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
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the server saw: (path, content-type, body) per request.
#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(String, String, Bytes)>>>,
    hanging: Arc<Notify>,
}

impl Seen {
    fn record(&self, path: &str, headers: &HeaderMap, body: Bytes) {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.requests
            .lock()
            .unwrap()
            .push((path.to_owned(), content_type, body));
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .map(|(_, _, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

/// Serves /ok (204), /fail (500 with a body) and /hang (never answers) on 127.0.0.1:0.
async fn server() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/ok",
            post(|State(s): State<Seen>, h: HeaderMap, b: Bytes| async move {
                s.record("/ok", &h, b);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/fail",
            post(|State(s): State<Seen>, h: HeaderMap, b: Bytes| async move {
                s.record("/fail", &h, b);
                (StatusCode::INTERNAL_SERVER_ERROR, "backend\nexploded")
            }),
        )
        .route(
            "/hang",
            post(|State(s): State<Seen>, h: HeaderMap, b: Bytes| async move {
                s.record("/hang", &h, b);
                s.hanging.notify_one();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn webhook(url: &str) -> ActuatorSection {
    ActuatorSection {
        backend: BackendKind::Webhook,
        url: Some(url.to_owned()),
        ..ActuatorSection::default()
    }
}

fn shed() -> ActionRequest {
    ActionRequest {
        tenant: "acme".into(),
        kind: ActionKind::Shed,
        percent: Some(50),
        revision: None,
        receipt: 7,
    }
}

#[tokio::test]
async fn posts_the_action_as_exact_json() {
    // Proves: the body is exactly {tenant, action, percent, revision, receipt} with null for
    // absent values and a numeric receipt, sent as application/json; 2xx is ok.
    let (base, seen) = server().await;
    let actuator =
        Actuator::from_config(ActionKind::Shed, &webhook(&format!("{base}/ok"))).unwrap();

    let report = actuator.run(&shed(), CancellationToken::new()).await;

    assert!(report.ok, "{report:?}");
    assert!(report.detail.contains("204"), "{}", report.detail);
    assert_eq!(actuator.backend(), BackendKind::Webhook);
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, "/ok");
    assert_eq!(requests[0].1, "application/json");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&requests[0].2).unwrap(),
        serde_json::json!({
            "tenant": "acme", "action": "shed", "percent": 50, "revision": null, "receipt": 7
        })
    );
}

#[tokio::test]
async fn a_rollback_request_carries_its_revision() {
    // Proves: a Rollback action sends its revision and a null percent.
    let (base, seen) = server().await;
    let actuator =
        Actuator::from_config(ActionKind::Rollback, &webhook(&format!("{base}/ok"))).unwrap();
    let req = ActionRequest {
        tenant: "acme".into(),
        kind: ActionKind::Rollback,
        percent: None,
        revision: Some("r1".into()),
        receipt: u64::MAX,
    };

    let report = actuator.run(&req, CancellationToken::new()).await;

    assert!(report.ok, "{report:?}");
    assert_eq!(
        seen.bodies(),
        vec![serde_json::json!({
            "tenant": "acme", "action": "rollback", "percent": null, "revision": "r1",
            "receipt": u64::MAX
        })]
    );
}

#[tokio::test]
async fn a_server_error_is_a_failure_with_the_status() {
    // Proves: a non-2xx status is ok=false with the status and a one-line body excerpt.
    let (base, _seen) = server().await;
    let actuator =
        Actuator::from_config(ActionKind::Shed, &webhook(&format!("{base}/fail"))).unwrap();

    let report = actuator.run(&shed(), CancellationToken::new()).await;

    assert!(
        !report.ok && !report.cancelled && !report.timed_out,
        "{report:?}"
    );
    assert_eq!(
        report.detail,
        "HTTP 500 Internal Server Error: backend exploded"
    );
}

#[tokio::test]
async fn rollback_posts_the_same_body_with_rollback_true() {
    // Proves: rollback POSTs the action's body plus "rollback": true.
    let (base, seen) = server().await;
    let actuator =
        Actuator::from_config(ActionKind::Shed, &webhook(&format!("{base}/ok"))).unwrap();

    let report = actuator.rollback(&shed(), &[]).await;

    assert!(report.ok, "{report:?}");
    assert_eq!(
        seen.bodies(),
        vec![serde_json::json!({
            "tenant": "acme", "action": "shed", "percent": 50, "revision": null, "receipt": 7,
            "rollback": true
        })]
    );
}

#[tokio::test]
async fn cancel_while_the_server_hangs_returns_promptly() {
    // Proves: cancelling drops the in-flight request: the run returns at once, cancelled.
    let (base, seen) = server().await;
    let actuator =
        Actuator::from_config(ActionKind::Shed, &webhook(&format!("{base}/hang"))).unwrap();
    let cancel = CancellationToken::new();
    let running = {
        let cancel = cancel.clone();
        tokio::spawn(async move { actuator.run(&shed(), cancel).await })
    };
    tokio::time::timeout(Duration::from_secs(10), seen.hanging.notified())
        .await
        .unwrap();

    let start = Instant::now();
    cancel.cancel();
    let report = running.await.unwrap();

    assert!(
        start.elapsed() < Duration::from_millis(500),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        report.cancelled && !report.ok && !report.timed_out,
        "{report:?}"
    );
}

#[tokio::test]
async fn the_section_timeout_bounds_a_hanging_server() {
    // Proves: with nobody cancelling, timeout_ms still ends the request: timed_out=true.
    let (base, _seen) = server().await;
    let mut section = webhook(&format!("{base}/hang"));
    section.timeout_ms = 200;
    let actuator = Actuator::from_config(ActionKind::Shed, &section).unwrap();

    let start = Instant::now();
    let report = actuator.rollback(&shed(), &[]).await;

    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(report.timed_out && !report.ok, "{report:?}");
}

#[tokio::test]
async fn connection_refused_is_a_failure_naming_the_cause() {
    // Proves: nothing listening on the port is ok=false with the connect error, no panic.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let actuator = Actuator::from_config(ActionKind::Shed, &webhook(&url)).unwrap();

    let report = actuator.run(&shed(), CancellationToken::new()).await;

    assert!(!report.ok && !report.cancelled, "{report:?}");
    assert!(
        report.detail.to_lowercase().contains("connection refused"),
        "{}",
        report.detail
    );
}

#[test]
fn bad_urls_are_typed_config_errors() {
    // Proves: a missing URL, a non-http scheme, a relative or unparsable URL and a stray
    // exec key are rejected when the config is loaded; a good URL loads even outside a
    // tokio runtime (the daemon reads its config before starting one).
    let cases = [
        ActuatorSection {
            backend: BackendKind::Webhook,
            ..ActuatorSection::default()
        },
        webhook("https://example.com/hook"),
        webhook("/just/a/path"),
        webhook("http://exa mple.com/"),
        ActuatorSection {
            program: Some("/bin/true".into()),
            ..webhook("http://127.0.0.1:1/")
        },
    ];

    let errors = cases.map(|s| Actuator::from_config(ActionKind::Shed, &s).unwrap_err());
    let good = Actuator::from_config(ActionKind::Shed, &webhook("http://127.0.0.1:9/hook?x=1"));

    assert!(matches!(
        errors[0],
        ActuatorConfigError::MissingKey { key: "url", .. }
    ));
    for e in &errors[1..4] {
        assert!(
            matches!(e, ActuatorConfigError::BadValue { key: "url", .. }),
            "{e}"
        );
    }
    assert!(
        errors[1].to_string().contains("only http is supported"),
        "{}",
        errors[1]
    );
    assert!(matches!(
        errors[4],
        ActuatorConfigError::UnusedKey { key: "program", .. }
    ));
    assert_eq!(good.unwrap().backend(), BackendKind::Webhook);
}

//! The `webhook` backend: POST the action as JSON to an `http://` URL.
//!
//! Body: `{"tenant":..,"action":..,"percent":..,"revision":..,"receipt":..}` (`percent` and
//! `revision` are `null` when absent, `receipt` is a number), `content-type:
//! application/json`. A rollback POSTs the same body plus `"rollback": true`. Any 2xx status is
//! success; another status fails with the status and the start of the response body in the
//! detail; a connection error fails with its cause. Cancelling or timing out drops the request
//! (the connection is closed). The URL is checked when the config is loaded.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio_util::sync::CancellationToken;

use super::{
    ActionKind, ActionReport, ActionRequest, ActuatorConfigError, error_chain, one_line, required,
};
use crate::config::ActuatorSection;

/// Bytes of a failed response's body read for the report.
const RESPONSE_EXCERPT_BYTES_MAX: usize = 4096;
/// Idle pooled connections kept per host.
const POOL_IDLE_PER_HOST_MAX: usize = 4;
/// How long an idle pooled connection is kept.
const POOL_IDLE_MS: u64 = 30_000;

/// POSTs actions to one URL.
#[derive(Debug)]
pub(super) struct WebhookBackend {
    uri: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl WebhookBackend {
    pub(super) fn from_config(
        kind: ActionKind,
        s: &ActuatorSection,
        timeout: Duration,
    ) -> Result<Self, ActuatorConfigError> {
        let url = required(kind, "webhook", "url", s.url.as_ref())?;
        let uri = parse_url(url).map_err(|reason| ActuatorConfigError::BadValue {
            kind,
            key: "url",
            reason,
        })?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(POOL_IDLE_MS))
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST_MAX)
            .build(connector);
        Ok(Self { uri, client })
    }

    /// POSTs the action (or its rollback), bounded by `cancel` and `timeout`.
    pub(super) async fn run(
        &self,
        req: &ActionRequest,
        cancel: &CancellationToken,
        timeout: Duration,
        rollback: bool,
    ) -> ActionReport {
        tokio::select! {
            biased;
            () = cancel.cancelled() => ActionReport::cancelled("cancelled: request dropped"),
            done = tokio::time::timeout(timeout, self.post(req, rollback)) => match done {
                Ok(report) => report,
                Err(_) => ActionReport::timed_out(timeout, "request dropped"),
            },
        }
    }

    async fn post(&self, req: &ActionRequest, rollback: bool) -> ActionReport {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("autonomic"))
            .body(Full::new(Bytes::from(body(req, rollback))));
        let request = match request {
            Ok(r) => r,
            Err(e) => return ActionReport::failed(&format!("cannot build request: {e}")),
        };
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => {
                return ActionReport::failed(&format!(
                    "POST {} failed: {}",
                    self.uri,
                    error_chain(&e)
                ));
            }
        };
        let status = response.status();
        if status.is_success() {
            return ActionReport::succeeded(&format!("HTTP {status}"));
        }
        let limited = Limited::new(response.into_body(), RESPONSE_EXCERPT_BYTES_MAX);
        let text = match limited.collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(_) => String::new(),
        };
        ActionReport::failed(&format!("HTTP {status}: {}", one_line(&text)))
    }
}

/// The JSON body of SPEC section 5.
fn body(req: &ActionRequest, rollback: bool) -> Vec<u8> {
    let mut value = serde_json::json!({
        "tenant": req.tenant,
        "action": req.kind.as_str(),
        "percent": req.percent,
        "revision": req.revision,
        "receipt": req.receipt,
    });
    if let (true, Some(map)) = (rollback, value.as_object_mut()) {
        map.insert("rollback".to_owned(), serde_json::Value::Bool(true));
    }
    // Serializing a `Value` with string keys cannot fail; an empty body would be refused
    // by the receiver, which is the honest outcome if it ever did.
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Accepts `http://host[:port][/path][?query]` only.
fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(format!("{url:?}: scheme {other:?}, only http is supported")),
        None => return Err(format!("{url:?}: not an absolute http:// URL")),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(uri),
        _ => Err(format!("{url:?}: no host")),
    }
}

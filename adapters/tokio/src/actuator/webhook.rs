//! The `webhook` backend: POST the action as JSON to an `http://` URL.
//!
//! Body: `{"tenant":..,"action":..,"percent":..,"revision":..,"receipt":..}` (`percent` and
//! `revision` are `null` when absent, `receipt` is a number), `content-type:
//! application/json`. A rollback POSTs the same body plus `"rollback": true`. Any 2xx status is
//! success; another status fails with the status and the start of the response body in the
//! detail; a connection error fails with its cause. Cancelling or timing out drops the request
//! (the connection is closed). The URL is checked when the config is loaded. With `batch_ms`,
//! runs go out in batches ([`super::batch`]); rollbacks never do.

use std::sync::Arc;
use std::time::Duration;

use super::batch::{BATCH_MS_MAX, Batcher};
use super::section::{batch_ms_ok, required};
use super::{ActionKind, ActionReport, ActionRequest, ActuatorConfigError, Bounds};
use crate::config::ActuatorSection;
use crate::http_post::Poster;

/// POSTs actions to one URL.
#[derive(Debug)]
pub(super) struct WebhookBackend {
    poster: Poster,
    batcher: Option<Arc<Batcher>>,
}

impl WebhookBackend {
    pub(super) fn from_config(
        kind: ActionKind,
        s: &ActuatorSection,
        timeout: Duration,
    ) -> Result<Self, ActuatorConfigError> {
        let url = required(kind, "webhook", "url", s.url.as_ref())?;
        let poster = Poster::new(url, timeout).map_err(|reason| ActuatorConfigError::BadValue {
            kind,
            key: "url",
            reason,
        })?;
        let batcher = match s.batch_ms {
            Some(ms) if !batch_ms_ok(ms) => {
                return Err(ActuatorConfigError::BadValue {
                    kind,
                    key: "batch_ms",
                    reason: format!("{ms} is outside 1..={BATCH_MS_MAX}"),
                });
            }
            Some(ms) => Some(Batcher::new(poster.clone(), Duration::from_millis(ms))),
            None => None,
        };
        Ok(Self { poster, batcher })
    }

    /// POSTs the action (or its rollback), bounded by the cancellation token and timeout.
    pub(super) async fn run(
        &self,
        req: &ActionRequest,
        bounds: Bounds<'_>,
        rollback: bool,
    ) -> ActionReport {
        if let (Some(batcher), false) = (&self.batcher, rollback) {
            return batcher.run(req.receipt, body(req, false), bounds).await;
        }
        let Bounds { cancel, timeout } = bounds;
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
        match self
            .poster
            .post("application/json", to_bytes(&body(req, rollback)))
            .await
        {
            Ok(status) => ActionReport::succeeded(&format!("HTTP {status}")),
            Err(e) => ActionReport::failed(&e),
        }
    }
}

/// The JSON body of `docs/actions.md#webhook`.
fn body(req: &ActionRequest, rollback: bool) -> serde_json::Value {
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
    value
}

/// The body's bytes.
pub(super) fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    // Serializing a `Value` with string keys cannot fail; an empty body would be refused
    // by the receiver, which is the honest outcome if it ever did.
    serde_json::to_vec(value).unwrap_or_default()
}

//! The `webhook` backend: POST the action as JSON to an `http://` URL.
//!
//! Body: `{"tenant":..,"action":..,"percent":..,"revision":..,"receipt":..}` (`percent` and
//! `revision` are `null` when absent, `receipt` is a number), `content-type:
//! application/json`. A rollback POSTs the same body plus `"rollback": true`. Any 2xx status is
//! success; another status fails with the status and the start of the response body in the
//! detail; a connection error fails with its cause. Cancelling or timing out drops the request
//! (the connection is closed). The URL is checked when the config is loaded.

use std::time::Duration;

use super::section::required;
use super::{ActionKind, ActionReport, ActionRequest, ActuatorConfigError, Bounds};
use crate::config::ActuatorSection;
use crate::http_post::Poster;

/// POSTs actions to one URL.
#[derive(Debug)]
pub(super) struct WebhookBackend {
    poster: Poster,
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
        Ok(Self { poster })
    }

    /// POSTs the action (or its rollback), bounded by the cancellation token and timeout.
    pub(super) async fn run(
        &self,
        req: &ActionRequest,
        bounds: Bounds<'_>,
        rollback: bool,
    ) -> ActionReport {
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
            .post("application/json", body(req, rollback))
            .await
        {
            Ok(status) => ActionReport::succeeded(&format!("HTTP {status}")),
            Err(e) => ActionReport::failed(&e),
        }
    }
}

/// The JSON body of `docs/actions.md#webhook`.
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

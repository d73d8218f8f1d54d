//! State changes for the world outside the process (`docs/events.md`): every committed receipt
//! becomes a CloudEvents 1.0 event, streamed to `GET /v1/events` (Server-Sent Events) and
//! POSTed to the `[[notify]]` subscribers.
//!
//! Both follow the ledger FILE, never the engine thread: a follower pages through the
//! committed receipts after a cursor (the same reads as `GET /v1/ledger`), so an event exists
//! only once its receipt is committed (and, with `fsync = "always"`, synced), a slow consumer
//! never delays an acknowledgement, and a consumer resumes from any seq the file still holds.
//! The event's `id` is the receipt's seq and its `source` names the ledger, so
//! (`source`, `id`) is unique and `Last-Event-ID` is a ledger position.
//!
//! Files: this one (the event, the follower), `sse.rs` (`GET /v1/events`), `notify.rs` (the
//! subscribers).

pub mod notify;
pub mod sse;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::daemon::Shared;
use crate::ledger_file::FILE_NAME;
use crate::ledger_reads::{LedgerReads, PAGE_MAX, ReadError, durable_view, read_range};
use crate::wire::ReceiptJson;

/// How often a follower at the head looks for new commits.
pub const FOLLOW_POLL_MS: u64 = 100;
/// `GET /v1/events` streams open at once; one more is refused 503.
pub const SSE_CLIENTS_MAX: usize = 16;

/// What the event streams and the subscribers share: where the ledger is and how to read it.
#[derive(Debug)]
pub struct Events {
    shared: Arc<Shared>,
    data_dir: PathBuf,
    reads: LedgerReads,
    /// `GET /v1/events` slots.
    clients: Arc<Semaphore>,
    /// Fires at shutdown: streams end, subscribers stop.
    stop: CancellationToken,
}

impl Events {
    /// Events of the ledger in `data_dir`, as committed by the engine thread behind `shared`.
    pub fn new(shared: Arc<Shared>, data_dir: PathBuf, stop: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            shared,
            data_dir,
            reads: LedgerReads::default(),
            clients: Arc::new(Semaphore::new(SSE_CLIENTS_MAX)),
            stop,
        })
    }

    /// A follower starting after `after` (`None`: after the current head, so only new
    /// receipts), or `None` when the ledger cannot be read (poisoned, not open).
    fn follower(&self, after: Option<u64>) -> Option<Follower> {
        let view = durable_view(&self.shared)?;
        let source = format!("urn:autonomic:ledger:{}", hex::encode(view.ledger_id));
        let next = match after {
            Some(seq) => seq.saturating_add(1),
            None => view.committed.records,
        };
        Some(Follower { next, source })
    }

    /// The next receipts at or after the follower's cursor (at most a page), waiting while
    /// there are none; `None` at shutdown, an error when the ledger cannot be read.
    async fn next_page(&self, follower: &mut Follower) -> Option<Result<Vec<CloudEvent>, String>> {
        loop {
            if self.stop.is_cancelled() {
                return None;
            }
            let page = match self.read_from(follower.next).await {
                Ok(page) => page,
                // Poisoned: nothing durable can be read any more (an open stream ends; a
                // subscriber retries later).
                Err(ReadError::Unavailable) => {
                    return Some(Err("the ledger is unavailable".into()));
                }
                Err(ReadError::Failed(e)) => return Some(Err(e)),
            };
            if let Some(last) = page.last() {
                follower.next = last.seq.saturating_add(1);
                let events = page.iter().map(|r| cloud_event(r, &follower.source));
                return Some(Ok(events.collect()));
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(FOLLOW_POLL_MS)) => {}
                () = self.stop.cancelled() => return None,
            }
        }
    }

    /// Up to a page of committed receipts from seq `first` on, oldest first.
    async fn read_from(&self, first: u64) -> Result<Vec<ReceiptJson>, ReadError> {
        let view = durable_view(&self.shared).ok_or(ReadError::Unavailable)?;
        let path = self.data_dir.join(FILE_NAME);
        let read = move || read_range(&path, &view, first, PAGE_MAX, None, true);
        let page = self.reads.run(read).await.map_err(ReadError::Failed)?;
        Ok(page.receipts)
    }
}

/// A position in the ledger: the next seq to hand out, and the ledger's CloudEvents source.
#[derive(Debug, Clone)]
struct Follower {
    next: u64,
    source: String,
}

/// The CloudEvents `type` of a receipt's event `type`.
#[must_use]
pub fn event_type(receipt_type: &str) -> String {
    let known = match receipt_type {
        "governor" => "autonomic.governor.transition",
        "entitlement" => "autonomic.entitlement.changed",
        "action_dispatched" => "autonomic.action.dispatched",
        "action_completed" => "autonomic.action.completed",
        "rollback_requested" => "autonomic.action.rollback_requested",
        "rollback_completed" => "autonomic.action.rollback_completed",
        "circuit" => "autonomic.actuator.circuit",
        "action_queued" => "autonomic.action.queued",
        "config_applied" => "autonomic.config.applied",
        "mode_set" => "autonomic.tenant.mode_set",
        "shadow_action" => "autonomic.action.shadowed",
        "warning" => "autonomic.warning",
        "warning_cancelled" => "autonomic.warning.cancelled",
        other => return format!("autonomic.receipt.{other}"),
    };
    known.to_owned()
}

/// One receipt as a CloudEvents 1.0 event in structured JSON mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// The receipt's seq (the event's `id`).
    pub seq: u64,
    /// The event's `type`.
    pub kind: String,
    /// The event, one line of JSON.
    pub json: String,
}

/// The event's fields in the order CloudEvents lists them.
#[derive(serde::Serialize)]
struct Structured<'a> {
    specversion: &'static str,
    id: String,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    /// Absent for a system receipt (its tenant is empty; CloudEvents forbids an empty one).
    #[serde(skip_serializing_if = "str::is_empty")]
    subject: &'a str,
    time: String,
    datacontenttype: &'static str,
    data: &'a ReceiptJson,
}

/// `receipt` as a CloudEvent: `id` is the seq, `subject` the tenant (none for a system
/// receipt), `time` the receipt's
/// `ts_ms` (RFC 3339, UTC), `data` the receipt as `GET /v1/ledger` shows it.
#[must_use]
pub fn cloud_event(receipt: &ReceiptJson, source: &str) -> CloudEvent {
    let event = serde_json::to_value(&receipt.event).unwrap_or(Value::Null);
    let kind = event_type(
        event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown"),
    );
    let structured = Structured {
        specversion: "1.0",
        id: receipt.seq.to_string(),
        source,
        kind: &kind,
        subject: &receipt.tenant,
        time: rfc3339_ms(receipt.ts_ms),
        datacontenttype: "application/json",
        data: receipt,
    };
    // These shapes always serialize; an empty body would be refused by any receiver.
    let json = serde_json::to_string(&structured).unwrap_or_default();
    CloudEvent {
        seq: receipt.seq,
        kind,
        json,
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`1970-01-01T00:00:00.000Z`).
#[must_use]
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let days = unix_ms / 86_400_000;
    let ms_of_day = unix_ms % 86_400_000;
    let (year, month, day) = civil_from_days(days);
    let (h, m) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (s, ms) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_796_000_000_123), "2026-11-30T00:53:20.123Z");
        assert_eq!(rfc3339_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_system_receipt_has_no_subject() {
        let receipt = ReceiptJson {
            seq: 3,
            ts_ms: 0,
            tenant: String::new(),
            event: crate::wire::EventJson::ConfigApplied {
                hash: "ab".repeat(32),
            },
            prev_hash: "00".repeat(32),
            hash: "11".repeat(32),
        };
        let event = cloud_event(&receipt, "urn:autonomic:ledger:x");
        assert_eq!(event.kind, "autonomic.config.applied");
        let json: Value = serde_json::from_str(&event.json).unwrap_or(Value::Null);
        assert_eq!(json.get("subject"), None);
        assert_eq!(json["data"]["event"]["type"], "config_applied");
    }

    #[test]
    fn every_receipt_type_has_an_event_type() {
        assert_eq!(event_type("governor"), "autonomic.governor.transition");
        assert_eq!(event_type("entitlement"), "autonomic.entitlement.changed");
        assert_eq!(event_type("action_completed"), "autonomic.action.completed");
        assert_eq!(event_type("config_applied"), "autonomic.config.applied");
        assert_eq!(event_type("shadow_action"), "autonomic.action.shadowed");
        assert_eq!(event_type("mode_set"), "autonomic.tenant.mode_set");
        assert_eq!(event_type("warning"), "autonomic.warning");
        assert_eq!(
            event_type("warning_cancelled"),
            "autonomic.warning.cancelled"
        );
        assert_eq!(
            event_type("something_new"),
            "autonomic.receipt.something_new"
        );
    }
}

//! `[[notify]]` subscribers: every committed receipt POSTed as a CloudEvent (structured JSON
//! mode, `Content-Type: application/cloudevents+json`) to each subscriber's URL, in seq order.
//!
//! Each subscriber has its own task and its own cursor in the ledger, so a slow or dead one
//! delays no one else and never the engine. A POST answered 2xx is delivered; anything else is
//! retried after a backoff that doubles from [`RETRY_FIRST_MS`] to [`RETRY_MAX_MS`], at most
//! [`ATTEMPTS_MAX`] attempts, then the event is dropped and counted. The queue is the ledger
//! itself, bounded: a subscriber more than [`BACKLOG_MAX`] receipts behind the head skips to
//! that bound and the skipped events are counted as dropped. A subscriber starts at the head
//! when the sidecar starts: delivery is at most once across restarts (`GET /v1/events` with
//! `Last-Event-ID`, or `GET /v1/ledger`, resumes from any seq).

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::{CloudEvent, Events, Follower};
use crate::http_post::Poster;
use crate::ledger_reads::durable_view;

/// The `Content-Type` of a CloudEvent in structured JSON mode.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";
/// Attempts per event before it is dropped.
pub const ATTEMPTS_MAX: u32 = 5;
/// The first retry's delay; each next one doubles, up to [`RETRY_MAX_MS`].
pub const RETRY_FIRST_MS: u64 = 200;
/// The longest delay between two attempts.
pub const RETRY_MAX_MS: u64 = 5_000;
/// Most receipts a subscriber may be behind the head before it skips ahead.
pub const BACKLOG_MAX: u64 = 10_000;
/// Most `[[notify]]` subscribers.
pub const SUBSCRIBERS_MAX: usize = 16;
/// The `subscriber` label of each subscriber's metrics: its position in the config.
pub const SUBSCRIBER_LABELS: [&str; SUBSCRIBERS_MAX] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];

/// One subscriber: its URL's client and its metrics label.
#[derive(Debug)]
pub struct Subscriber {
    poster: Poster,
    timeout: Duration,
    label: &'static str,
}

impl Subscriber {
    /// The `index`th subscriber (`index` < [`SUBSCRIBERS_MAX`]), POSTing to `url` with
    /// `timeout` per attempt.
    pub fn new(index: usize, url: &str, timeout: Duration) -> Result<Self, String> {
        let label = SUBSCRIBER_LABELS
            .get(index)
            .ok_or_else(|| format!("at most {SUBSCRIBERS_MAX} [[notify]] subscribers"))?;
        let poster = Poster::new(url, timeout)?;
        Ok(Self {
            poster,
            timeout,
            label,
        })
    }

    /// Delivers events from the head on until shutdown.
    pub async fn run(self, events: Arc<Events>) {
        let Some(mut follower) = events.follower(None) else {
            warn!(
                subscriber = self.label,
                "notify: ledger unreadable; not started"
            );
            return;
        };
        info!(subscriber = self.label, url = %self.poster.uri(), "notify: delivering events");
        loop {
            self.skip_backlog(&events, &mut follower);
            let page = match events.next_page(&mut follower).await {
                None => return,
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    warn!(subscriber = self.label, error = %e, "notify: ledger read failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(RETRY_MAX_MS)) => continue,
                        () = events.stop.cancelled() => return,
                    }
                }
            };
            for event in page {
                if !self.deliver(&events, &event).await {
                    return;
                }
            }
        }
    }

    /// Skips to [`BACKLOG_MAX`] behind the head, counting what it skips as dropped.
    fn skip_backlog(&self, events: &Events, follower: &mut Follower) {
        let Some(view) = durable_view(&events.shared) else {
            return;
        };
        let oldest_kept = view.committed.records.saturating_sub(BACKLOG_MAX);
        if follower.next < oldest_kept {
            let skipped = oldest_kept - follower.next;
            warn!(
                subscriber = self.label,
                skipped, "notify: too far behind; events dropped"
            );
            events.shared.metrics.notify_dropped(self.label, skipped);
            follower.next = oldest_kept;
        }
    }

    /// POSTs one event with retries; false at shutdown.
    async fn deliver(&self, events: &Events, event: &CloudEvent) -> bool {
        let body = event.json.clone().into_bytes();
        let metrics = &events.shared.metrics;
        let mut delay_ms = RETRY_FIRST_MS;
        for attempt in 1..=ATTEMPTS_MAX {
            let post = self.poster.post(CONTENT_TYPE, body.clone());
            let posted = tokio::select! {
                posted = tokio::time::timeout(self.timeout, post) => posted
                    .unwrap_or_else(|_| Err(format!("no answer within {} ms", self.timeout.as_millis()))),
                () = events.stop.cancelled() => return false,
            };
            match posted {
                Ok(_) => {
                    metrics.notify_delivered(self.label);
                    return true;
                }
                Err(e) if attempt == ATTEMPTS_MAX => {
                    warn!(subscriber = self.label, id = event.seq, error = %e,
                          "notify: event dropped after {ATTEMPTS_MAX} attempts");
                    metrics.notify_dropped(self.label, 1);
                }
                Err(_) => {
                    metrics.notify_retry(self.label);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                        () = events.stop.cancelled() => return false,
                    }
                    delay_ms = (delay_ms * 2).min(RETRY_MAX_MS);
                }
            }
        }
        true
    }
}

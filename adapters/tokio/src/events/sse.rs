//! `GET /v1/events`: the receipts as CloudEvents over Server-Sent Events.
//!
//! Each event is `id: <seq>`, `event: <CloudEvents type>`, `data: <the CloudEvent, one line of
//! JSON>`. Without `Last-Event-ID` the stream starts after the current head (new receipts
//! only); with it, right after that seq, replayed from the ledger file, so a client that
//! reconnects misses nothing the file still holds. A comment line every
//! [`KEEP_ALIVE_MS`] keeps proxies from closing a quiet stream. The stream ends at shutdown or
//! when the ledger becomes unreadable (the client reconnects with its last id). At most
//! [`super::SSE_CLIENTS_MAX`] streams are open at once.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OwnedSemaphorePermit;

use super::{CloudEvent, Events, Follower};
use crate::http::ApiError;

/// A comment line is sent after this long without an event.
pub const KEEP_ALIVE_MS: u64 = 15_000;

/// One open stream: where it is in the ledger, the events read but not yet sent, its slot.
struct Stream {
    events: Arc<Events>,
    follower: Follower,
    pending: VecDeque<CloudEvent>,
    _slot: OwnedSemaphorePermit,
}

/// Answers `GET /v1/events`: 400 for a `Last-Event-ID` that is not a seq, 503 when the ledger
/// cannot be read or every stream slot is taken, else the stream.
pub async fn stream(events: Arc<Events>, headers: &HeaderMap) -> Response {
    let after = match headers.get("last-event-id").map(HeaderValue::to_str) {
        None => None,
        Some(Ok(text)) => match text.trim().parse::<u64>() {
            Ok(seq) => Some(seq),
            Err(_) => {
                let message = format!("Last-Event-ID must be a receipt seq, got {text:?}");
                return ApiError::MalformedInput(message).into_response();
            }
        },
        Some(Err(_)) => {
            let message = "Last-Event-ID must be a receipt seq".to_owned();
            return ApiError::MalformedInput(message).into_response();
        }
    };
    let Ok(slot) = Arc::clone(&events.clients).try_acquire_owned() else {
        return ApiError::NotReady("too many event streams").into_response();
    };
    let Some(follower) = events.follower(after) else {
        return ApiError::LedgerFailed.into_response();
    };
    let state = Stream {
        events,
        follower,
        pending: VecDeque::new(),
        _slot: slot,
    };
    let body = futures_util::stream::unfold(state, next_chunk);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| ApiError::LedgerFailed.into_response())
}

/// The next bytes of the stream: an event, a keep-alive comment, or the end.
async fn next_chunk(mut s: Stream) -> Option<(Result<Bytes, Infallible>, Stream)> {
    if let Some(event) = s.pending.pop_front() {
        return Some((Ok(frame(&event)), s));
    }
    let keep_alive = Duration::from_millis(KEEP_ALIVE_MS);
    let page = tokio::time::timeout(keep_alive, s.events.next_page(&mut s.follower)).await;
    match page {
        Err(_) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), s)),
        Ok(None | Some(Err(_))) => None,
        Ok(Some(Ok(page))) => {
            s.pending.extend(page);
            let event = s.pending.pop_front()?;
            Some((Ok(frame(&event)), s))
        }
    }
}

/// One CloudEvent as an SSE event (its JSON is one line, so one `data:` line).
fn frame(event: &CloudEvent) -> Bytes {
    let CloudEvent { seq, kind, json } = event;
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n"))
}

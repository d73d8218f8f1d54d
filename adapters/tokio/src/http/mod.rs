//! The HTTP API of `docs/http-api.md` (axum), JSON errors `{"error":"<Name>","message":"..."}`.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `POST /v1/signals` (object or array) | 200, one result per signal | 400 `MalformedInput`, 413 `PayloadTooLarge`, 503 |
//! | `GET /v1/tenants/{id}` | 200 tenant | 404 `TenantNotFound` |
//! | `POST /v1/tenants/{id}/activate` `{"sku":..,"expires_at_ms":..?}` | 200 `{"tenant","entitlement"}` | 400 `InvalidSku`/`InvalidTenantId`/`MalformedInput`, 409 `InvalidStateTransition`/`TenantTableFull` |
//! | `POST /v1/tenants/{id}/pause`, `/resume`, `/revoke` | 200 `{"tenant","entitlement"}` | 404, 409 |
//! | `POST /v1/tenants/{id}/reset` | 200 governor event | 404 |
//! | `POST /v1/tenants/{id}/mode` `{"mode":"shadow"}` | 200 `{"tenant","mode","receipt"}` | 400 `InvalidMode`/`MalformedInput`, 404 |
//! | `POST /v1/tenants/{id}/actions` `{"kind":"throttle","percent":30}` (extension) | 200 `{"tenant","receipt","action"}` | 400 `InvalidAction`, 404, 409 `AlreadyExecuting` |
//! | `POST /v1/actions/{receipt}/rollback` | 200 `{"receipt","rollback_receipt"}` | 404 `ReceiptNotFound`, 409 `AlreadyExecuting` |
//! | `POST /v1/tenants/{id}/admit`, `/release` `{"resource":..,"amount":1}` | 200 `{"tenant","resource","in_use"}` (`rate`: `"tokens_left"`; + `fleet_in_use` with `[fleet]`) | 429 `QuotaExceeded` (+ `resource`,`in_use`,`requested`,`limit`)/`RefusedByAction`/`RateLimited` (+ `retry_after_ms`, `Retry-After`), 404, 403 `EntitlementNotActive`/`EntitlementExpired`, 400, 503 `FleetUnavailable` |
//! | `GET /v1/ledger?tail=N&tenant=T` | 200 array of receipts (in-memory ring; default tail 100) | 400 |
//! | `GET /v1/ledger/verify` | 200 `{"ok":true,"file":..,"memory":..}` | 500 `ChainBroken` |
//! | `GET /v1/config` | 200 `{"hash","applied_seq","path"}` | |
//! | `POST /v1/config/reload` (no body) | 200 as `GET /v1/config` | 400 `ConfigInvalid`, 503 |
//! | `GET /metrics`, `/healthz`, `/readyz` | 200 | `/readyz` 503 `NotReady` |
//!
//! Every request passes these checks, in this order, before its handler runs:
//! 1. `Host` (exactly one) names the listen address, `localhost`, a loopback address or an
//!    `allowed_hosts` entry, with any port or none (with an absolute-form request target its
//!    authority must pass too), else 421 `MisdirectedRequest` (DNS rebinding);
//! 2. an `Origin` header, if any, is in `allowed_origins`, else 403 `ForbiddenOrigin`;
//! 3. a `POST` carries `Content-Type: application/json` (parameters allowed), else 415
//!    `UnsupportedMediaType` (a browser sends neither cross-site without a CORS preflight);
//! 4. a `POST` carries `Authorization: Bearer <token>` when `token` is configured (the scheme
//!    in any case; SHA-256 digests compared in constant time, so neither the token's bytes
//!    nor its length leak), else 401 `Unauthorized`;
//! 5. a `POST`'s body is read whole, at most `max_body_bytes` (413 `PayloadTooLarge`) within
//!    `body_read_timeout_ms` (408 `RequestTimeout`, connection closed);
//! 6. only then does the request take one of `max_concurrent_requests` slots (`/healthz`,
//!    `/readyz` and `/metrics` take none).
//!
//! A body with a key named twice in one object is 400 `MalformedInput`. Every endpoint that reaches the engine answers
//! 503 `Busy` with `Retry-After: 1` when the engine's queue is full (nothing applied), and
//! 503 `LedgerUnavailable` after a ledger I/O error. Mutating answers are sent only after
//! their receipts are committed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autonomic_core::ActionKind;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::daemon::{EngineHandle, Refused, Shared};
use crate::ledger_reads;
use crate::wire;

mod checks;
mod config;
mod error;
mod handlers;
mod ledger;
mod mode;

pub use checks::{Guard, token_digest};
use checks::{guard, read_body, require_token, take_slot};
pub use error::ApiError;
use handlers::{
    action, activate, admit, pause, release, reset, resume, revoke, rollback, signals, tenant,
};
pub use ledger::NEXT_AFTER_SEQ;
use ledger::{ledger, verify};

/// How long one request may take before 408.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// What the handlers share.
#[derive(Debug)]
pub struct HttpState {
    /// The engine thread.
    pub engine: EngineHandle,
    /// Readiness and metrics.
    pub shared: Arc<Shared>,
    /// SHA-256 of the bearer token for `POST`s, if one is configured.
    pub token_digest: Option<[u8; 32]>,
    /// Where `ledger.log` lives (ledger pages and verification read it).
    pub data_dir: PathBuf,
    /// Ledger readers: their concurrency bound and the verification cache.
    pub reads: ledger_reads::LedgerReads,
    /// Who may be named in `Host` and `Origin`.
    pub guard: Guard,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time allowed to receive a request's body.
    pub body_read_timeout: Duration,
    /// `max_concurrent_requests` slots.
    pub slots: Semaphore,
    /// The receipts as CloudEvents (`GET /v1/events`).
    pub events: Arc<crate::events::Events>,
    /// `[fleet]`: admissions also counted fleet-wide in Redis.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// Hot reload of the config file (`GET /v1/config`, `POST /v1/config/reload`).
    pub reloader: Arc<crate::daemon::Reloader>,
}

impl HttpState {
    /// Sends a request to the engine thread without waiting for room in its queue. A full
    /// queue is counted (`autonomic_requests_rejected_total{reason="queue_full"}`) and
    /// answered 503 `Busy`; nothing was applied.
    async fn call<T>(
        &self,
        request: impl Future<Output = Result<T, Refused>>,
    ) -> Result<T, ApiError> {
        request.await.map_err(|r| {
            if r == Refused::QueueFull {
                self.shared.metrics.rejected("queue_full");
            }
            ApiError::from(r)
        })
    }
}

/// The API's routes with their checks and limits (see the module's documentation).
pub fn router(state: Arc<HttpState>) -> Router {
    let st = || Arc::clone(&state);
    let posts = Router::new()
        .route("/v1/signals", post(signals))
        .route("/v1/tenants/{id}/activate", post(activate))
        .route("/v1/tenants/{id}/pause", post(pause))
        .route("/v1/tenants/{id}/resume", post(resume))
        .route("/v1/tenants/{id}/revoke", post(revoke))
        .route("/v1/tenants/{id}/reset", post(reset))
        .route("/v1/tenants/{id}/mode", post(mode::set_mode))
        .route("/v1/tenants/{id}/actions", post(action))
        .route("/v1/tenants/{id}/admit", post(admit))
        .route("/v1/tenants/{id}/release", post(release))
        .route("/v1/actions/{receipt}/rollback", post(rollback))
        .route("/v1/config/reload", post(config::reload))
        .route_layer(middleware::from_fn_with_state(st(), take_slot))
        .route_layer(middleware::from_fn_with_state(st(), read_body))
        .route_layer(middleware::from_fn_with_state(st(), require_token));
    let gets = Router::new()
        .route("/v1/tenants/{id}", get(tenant))
        .route("/v1/ledger", get(ledger))
        .route("/v1/ledger/verify", get(verify))
        .route("/v1/events", get(events))
        .route("/v1/config", get(config::status))
        .route_layer(middleware::from_fn_with_state(st(), take_slot));
    let ops = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let max_body_bytes = state.max_body_bytes;
    posts
        .merge(gets)
        .merge(ops)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(st(), guard))
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(REQUEST_TIMEOUT_MS),
        ))
}

type St = State<Arc<HttpState>>;

/// `GET /v1/events`: the receipts as CloudEvents over Server-Sent Events.
async fn events(State(state): St, headers: axum::http::HeaderMap) -> Response {
    crate::events::sse::stream(Arc::clone(&state.events), &headers).await
}

/// A JSON answer whose body borrows (handlers with owned answers return `Json` itself).
fn json<T: serde::Serialize>(value: &T) -> Response {
    Json(value).into_response()
}

async fn metrics(State(state): St) -> Response {
    let gauges = state.engine.gauges().await.ok();
    let mut text = state.shared.metrics.render(
        gauges.as_ref(),
        state.shared.ready.load(Ordering::SeqCst),
        state.shared.poisoned.load(Ordering::SeqCst),
    );
    state.reloader.render_metrics(&mut text);
    if let Some(fleet) = &state.fleet {
        fleet.render_metrics(&mut text);
    }
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

#[derive(serde::Serialize)]
struct Status {
    status: &'static str,
    /// `/readyz` only: each action kind's circuit breaker (`closed`, `open`, `half_open`).
    #[serde(skip_serializing_if = "Option::is_none")]
    circuits: Option<BTreeMap<&'static str, &'static str>>,
    /// With `[fleet]` only: Redis's state and the policy. Readiness does not depend on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetStatus>,
}

#[derive(serde::Serialize)]
struct FleetStatus {
    redis: &'static str,
    on_unavailable: &'static str,
}

async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok",
        circuits: None,
        fleet: None,
    })
}

async fn readyz(State(state): St) -> Result<Json<Status>, ApiError> {
    if state.shared.poisoned.load(Ordering::SeqCst) {
        return Err(ApiError::LedgerFailed);
    }
    if !state.shared.ready.load(Ordering::SeqCst) {
        return Err(ApiError::NotReady("starting or shutting down"));
    }
    let circuits = ActionKind::ALL
        .map(|kind| (kind.as_str(), state.shared.circuit(kind).as_str()))
        .into_iter()
        .collect();
    let fleet = state.fleet.as_ref().map(|f| FleetStatus {
        redis: if f.redis_up() { "up" } else { "down" },
        on_unavailable: f.policy().as_str(),
    });
    Ok(Json(Status {
        status: "ready",
        circuits: Some(circuits),
        fleet,
    }))
}

async fn not_found() -> ApiError {
    ApiError::NoSuchEndpoint
}

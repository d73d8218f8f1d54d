//! The HTTP API of SPEC section 8 (axum), JSON errors `{"error":"<Name>","message":"..."}`.
//!
//! | endpoint | success | errors |
//! |---|---|---|
//! | `POST /v1/signals` (object or array) | 200, one result per signal | 400 `MalformedInput`, 413 `PayloadTooLarge`, 503 |
//! | `GET /v1/tenants/{id}` | 200 tenant | 404 `TenantNotFound` |
//! | `POST /v1/tenants/{id}/activate` `{"sku":..,"expires_at_ms":..?}` | 200 `{"tenant","entitlement"}` | 400 `InvalidSku`/`InvalidTenantId`/`MalformedInput`, 409 `InvalidStateTransition`/`TenantTableFull` |
//! | `POST /v1/tenants/{id}/pause`, `/resume`, `/revoke` | 200 `{"tenant","entitlement"}` | 404, 409 |
//! | `POST /v1/tenants/{id}/reset` | 200 governor event | 404 |
//! | `POST /v1/tenants/{id}/actions` `{"kind":"throttle","percent":30}` (extension) | 200 `{"tenant","receipt","action"}` | 400 `InvalidAction`, 404, 409 `AlreadyExecuting` |
//! | `POST /v1/actions/{receipt}/rollback` | 200 `{"receipt","rollback_receipt"}` | 404 `ReceiptNotFound`, 409 `AlreadyExecuting` |
//! | `POST /v1/tenants/{id}/admit`, `/release` `{"resource":..,"amount":1}` | 200 `{"tenant","resource","in_use"}` | 429 `QuotaExceeded` (+ `resource`,`in_use`,`requested`,`limit`)/`RefusedByAction`, 404, 403 `EntitlementNotActive`/`EntitlementExpired`, 400 |
//! | `GET /v1/ledger?tail=N&tenant=T` | 200 array of receipts (in-memory ring; default tail 100) | 400 |
//! | `GET /v1/ledger/verify` | 200 `{"ok":true,"file":..,"memory":..}` | 500 `ChainBroken` |
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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autonomic_core::Resource;
use autonomic_core::engine::CommandError;
use autonomic_core::entitlement::{AdmitError, EntitlementError};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::daemon::{EngineHandle, EntitlementCmd, Refused, Shared};
use crate::ledger_file::FILE_NAME;
use crate::ledger_reads;
use crate::wire::{self, ActionJson, EntitlementLine, ErrorLine, GovernorLine};

mod checks;
mod ledger;

pub use checks::{Guard, token_digest};
use checks::{guard, read_body, require_token, take_slot};
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
        .route("/v1/tenants/{id}/actions", post(action))
        .route("/v1/tenants/{id}/admit", post(admit))
        .route("/v1/tenants/{id}/release", post(release))
        .route("/v1/actions/{receipt}/rollback", post(rollback))
        .route_layer(middleware::from_fn_with_state(st(), take_slot))
        .route_layer(middleware::from_fn_with_state(st(), read_body))
        .route_layer(middleware::from_fn_with_state(st(), require_token));
    let gets = Router::new()
        .route("/v1/tenants/{id}", get(tenant))
        .route("/v1/ledger", get(ledger))
        .route("/v1/ledger/verify", get(verify))
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

/// A JSON error response.
fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, axum::Json(ErrorLine::new(None, name, message))).into_response()
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

fn refused(state: &HttpState, r: Refused) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, r.name(), &r.to_string());
    if r == Refused::QueueFull {
        state.shared.metrics.rejected("queue_full");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn body_rejection(r: &BytesRejection) -> Response {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            "request body is over the limit",
        );
    }
    error(StatusCode::BAD_REQUEST, "MalformedInput", &r.body_text())
}

/// Parses an optional JSON body (absent or empty: `T::default()`).
fn parse_body<T: for<'de> Deserialize<'de> + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Box<Response>> {
    let body = body.map_err(|r| Box::new(body_rejection(&r)))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    wire::from_body(&body)
        .map_err(|message| Box::new(error(StatusCode::BAD_REQUEST, "MalformedInput", &message)))
}

async fn signals(State(state): St, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(r) => return body_rejection(&r),
    };
    let signals = match wire::parse_signals(&body) {
        Ok(signals) => signals,
        Err(message) => return error(StatusCode::BAD_REQUEST, "MalformedInput", &message),
    };
    match state.engine.signals(signals).await {
        Ok(results) => json(&results),
        Err(r) => refused(&state, r),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ActivateBody {
    sku: Option<String>,
    expires_at_ms: Option<u64>,
}

async fn activate(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body: ActivateBody = match parse_body(body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let Some(sku) = body.sku else {
        return error(
            StatusCode::BAD_REQUEST,
            "MalformedInput",
            "body: missing field `sku`",
        );
    };
    let command = EntitlementCmd::Activate {
        sku,
        expires_at_ms: body.expires_at_ms,
    };
    entitlement(&state, id, command).await
}

async fn pause(State(state): St, Path(id): Path<String>) -> Response {
    entitlement(&state, id, EntitlementCmd::Pause).await
}

async fn resume(State(state): St, Path(id): Path<String>) -> Response {
    entitlement(&state, id, EntitlementCmd::Resume).await
}

async fn revoke(State(state): St, Path(id): Path<String>) -> Response {
    entitlement(&state, id, EntitlementCmd::Revoke).await
}

async fn entitlement(state: &HttpState, tenant: String, command: EntitlementCmd) -> Response {
    let answer = state.engine.entitlement(tenant.clone(), command).await;
    match answer {
        Ok(Ok(to)) => json(&EntitlementLine {
            line: None,
            tenant: &tenant,
            entitlement: to.as_str(),
        }),
        Ok(Err(e)) => {
            let status = match e {
                EntitlementError::InvalidTenantId | EntitlementError::InvalidSku => {
                    StatusCode::BAD_REQUEST
                }
                EntitlementError::TenantNotFound => StatusCode::NOT_FOUND,
                // A full table is not transient (retrying does not help until tenants are
                // revoked): 409, not 503, which tells clients to retry.
                EntitlementError::InvalidStateTransition { .. }
                | EntitlementError::TenantTableFull => StatusCode::CONFLICT,
                EntitlementError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, e.name(), &e.to_string())
        }
        Err(r) => refused(state, r),
    }
}

fn command_error(e: CommandError) -> Response {
    let status = match e {
        CommandError::TenantNotFound | CommandError::ReceiptNotFound(_) => StatusCode::NOT_FOUND,
        CommandError::AlreadyExecuting(_) | CommandError::StaleOutcome(_) => StatusCode::CONFLICT,
        CommandError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        CommandError::UndoTooLarge(_) => StatusCode::BAD_REQUEST,
    };
    error(status, e.name(), &e.to_string())
}

async fn reset(State(state): St, Path(id): Path<String>) -> Response {
    let answer = state.engine.reset(id.clone()).await;
    match answer {
        Ok(Ok(t)) => json(&GovernorLine::new(None, &id, &t)),
        Ok(Err(e)) => command_error(e),
        Err(r) => refused(&state, r),
    }
}

#[derive(serde::Serialize)]
struct ActionAnswer<'a> {
    tenant: &'a str,
    receipt: u64,
    action: ActionJson,
}

async fn action(
    State(state): St,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(r) => return body_rejection(&r),
    };
    let requested: ActionJson = match wire::from_body(&body) {
        Ok(a) => a,
        Err(message) => return error(StatusCode::BAD_REQUEST, "MalformedInput", &message),
    };
    let action = match requested.to_action() {
        Ok(action) => action,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidAction", &e.to_string()),
    };
    let answer = state.engine.action(id.clone(), action).await;
    match answer {
        Ok(Ok(receipt)) => json(&ActionAnswer {
            tenant: &id,
            receipt,
            action: requested,
        }),
        Ok(Err(e)) => command_error(e),
        Err(r) => refused(&state, r),
    }
}

#[derive(serde::Serialize)]
struct RollbackAnswer {
    receipt: u64,
    rollback_receipt: u64,
}

async fn rollback(State(state): St, Path(receipt): Path<String>) -> Response {
    let Ok(receipt) = receipt.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "MalformedInput",
            "receipt id must be an unsigned integer",
        );
    };
    let answer = state.engine.rollback(receipt).await;
    match answer {
        Ok(Ok(seq)) => json(&RollbackAnswer {
            receipt,
            rollback_receipt: seq,
        }),
        Ok(Err(e)) => command_error(e),
        Err(r) => refused(&state, r),
    }
}

#[derive(Debug, Deserialize)]
struct AdmitBody {
    resource: String,
    #[serde(default = "one")]
    amount: u32,
}

fn one() -> u32 {
    1
}

impl Default for AdmitBody {
    fn default() -> Self {
        Self {
            resource: String::new(),
            amount: 1,
        }
    }
}

#[derive(serde::Serialize)]
struct AdmitAnswer<'a> {
    tenant: &'a str,
    resource: &'static str,
    in_use: u16,
}

async fn admit(State(s): St, Path(id): Path<String>, b: Result<Bytes, BytesRejection>) -> Response {
    admission(&s, id, b, false).await
}

async fn release(
    State(s): St,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    admission(&s, id, b, true).await
}

async fn admission(
    state: &HttpState,
    tenant: String,
    body: Result<Bytes, BytesRejection>,
    release: bool,
) -> Response {
    let body: AdmitBody = match parse_body(body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let resource = match Resource::parse(&body.resource) {
        Ok(r) => r,
        Err(e) => return admit_error(e),
    };
    let answer = state
        .engine
        .admit(tenant.clone(), resource, body.amount, release)
        .await;
    match answer {
        Ok(Ok(in_use)) => json(&AdmitAnswer {
            tenant: &tenant,
            resource: resource.as_str(),
            in_use,
        }),
        Ok(Err(e)) => admit_error(e),
        Err(r) => refused(state, r),
    }
}

/// 429 `QuotaExceeded`: the error line plus its numbers as fields.
#[derive(serde::Serialize)]
struct QuotaExceededBody<'a> {
    error: &'a str,
    message: String,
    resource: &'a str,
    in_use: u16,
    requested: u16,
    limit: u16,
}

fn admit_error(e: AdmitError) -> Response {
    if let AdmitError::QuotaExceeded {
        resource,
        in_use,
        requested,
        limit,
    } = e
    {
        let body = QuotaExceededBody {
            error: e.name(),
            message: e.to_string(),
            resource: resource.as_str(),
            in_use,
            requested,
            limit,
        };
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    }
    let status = match e {
        AdmitError::TenantNotFound => StatusCode::NOT_FOUND,
        AdmitError::EntitlementExpired | AdmitError::EntitlementNotActive => StatusCode::FORBIDDEN,
        AdmitError::QuotaExceeded { .. } | AdmitError::RefusedByAction(_) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        AdmitError::UnknownResource
        | AdmitError::InvalidAmount
        | AdmitError::ReleaseExceedsUsage { .. } => StatusCode::BAD_REQUEST,
    };
    error(status, e.name(), &e.to_string())
}

async fn tenant(State(state): St, Path(id): Path<String>) -> Response {
    let answer = state.engine.tenant(id.clone()).await;
    match answer {
        Ok(Some(view)) => json(&view),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "TenantNotFound",
            &format!("no entitlement for tenant {id:?}"),
        ),
        Err(r) => refused(&state, r),
    }
}

async fn metrics(State(state): St) -> Response {
    let gauges = state.engine.gauges().await.ok();
    let text = state.shared.metrics.render(
        gauges.as_ref(),
        state.shared.ready.load(Ordering::SeqCst),
        state.shared.poisoned.load(Ordering::SeqCst),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct Status {
    status: &'static str,
}

async fn healthz() -> Response {
    json(&Status { status: "ok" })
}

async fn readyz(State(state): St) -> Response {
    if state.shared.poisoned.load(Ordering::SeqCst) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "LedgerUnavailable",
            "the ledger file failed; restart to recover",
        );
    }
    if !state.shared.ready.load(Ordering::SeqCst) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NotReady",
            "starting or shutting down",
        );
    }
    json(&Status { status: "ready" })
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint")
}

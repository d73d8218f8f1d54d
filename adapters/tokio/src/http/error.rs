//! [`ApiError`]: every error answer of the API — its status, its name and its body — decided
//! in one place. Handlers return `Result<_, ApiError>` and meet the core's and the engine
//! thread's errors through the `From` impls here.

use autonomic_core::engine::{CommandError, IngestError, ModeError};
use autonomic_core::entitlement::{AdmitError, EntitlementError};
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use crate::daemon::Refused;
use crate::ledger_reads::ReadError;
use crate::wire::{ErrorLine, RateLimitedLine};

/// An error answer: `{"error":"<Name>","message":"..."}` with its status (429
/// `QuotaExceeded` adds its numbers; 429 `RateLimited` adds `retry_after_ms` and
/// `Retry-After`; 503 `Busy` adds `Retry-After: 1`). Its `Display` is
/// the body's `message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// The engine thread refused the request before applying it (503).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A reset, an action or a rollback was refused.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// An entitlement command was refused.
    #[error(transparent)]
    Entitlement(#[from] EntitlementError),
    /// An admission or a release was refused.
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// A signal was refused.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The hash chain (in memory or in the file) does not verify, or reading it failed (500).
    #[error("{0}")]
    ChainBroken(String),
    /// The request's body, path or query cannot be read (400).
    #[error("{0}")]
    MalformedInput(String),
    /// The requested action is not one the engine can run (400).
    #[error("{0}")]
    InvalidAction(String),
    /// The body is over the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// `GET /v1/tenants/{id}` of a tenant with no entitlement (404); holds the id.
    #[error("no entitlement for tenant {0:?}")]
    TenantNotFound(String),
    /// No route matches (404).
    #[error("no such endpoint")]
    NoSuchEndpoint,
    /// Starting or shutting down (503); holds the message.
    #[error("{0}")]
    NotReady(&'static str),
    /// `/readyz` after a ledger I/O error (503).
    #[error("the ledger file failed; restart to recover")]
    LedgerFailed,
    /// `Host` names another server (421).
    #[error(
        "Host must name this server: its listen address, localhost, a loopback address or an \
         allowed_hosts entry"
    )]
    MisdirectedRequest,
    /// `Origin` is not in `allowed_origins` (403).
    #[error("requests from browser pages are refused unless their Origin is in allowed_origins")]
    ForbiddenOrigin,
    /// A `POST` without `Content-Type: application/json` (415).
    #[error("every POST needs Content-Type: application/json")]
    UnsupportedMediaType,
    /// A `POST` without the configured bearer token (401).
    #[error("this endpoint needs Authorization: Bearer <token>")]
    Unauthorized,
    /// The body did not arrive in time (408); holds the message.
    #[error("{0}")]
    RequestTimeout(String),
    /// `[fleet]` with `on_unavailable = "refuse"`: Redis did not answer in time (503).
    #[error("the fleet's admission count (redis) is unavailable; nothing was admitted")]
    FleetUnavailable,
    /// A config reload refused the file (400); holds its one line.
    #[error("{0}")]
    ConfigInvalid(String),
    /// A mode change was refused.
    #[error(transparent)]
    Mode(#[from] ModeError),
    /// A mode body whose `mode` is not `enforce` or `shadow` (400); holds the message.
    #[error("{0}")]
    InvalidMode(String),
}

impl ApiError {
    /// The HTTP status of this error: the API's one status mapping.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Refused(_)
            | ApiError::NotReady(_)
            | ApiError::LedgerFailed
            | ApiError::FleetUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Command(e) => match e {
                CommandError::TenantNotFound | CommandError::ReceiptNotFound(_) => {
                    StatusCode::NOT_FOUND
                }
                CommandError::AlreadyExecuting(_)
                | CommandError::StaleOutcome(_)
                | CommandError::QueueFull => StatusCode::CONFLICT,
                CommandError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                CommandError::UndoTooLarge(_) => StatusCode::BAD_REQUEST,
            },
            ApiError::Entitlement(e) => match e {
                EntitlementError::InvalidTenantId | EntitlementError::InvalidSku => {
                    StatusCode::BAD_REQUEST
                }
                EntitlementError::TenantNotFound => StatusCode::NOT_FOUND,
                // A full table is not transient (retrying does not help until tenants are
                // revoked): 409, not 503, which tells clients to retry.
                EntitlementError::InvalidStateTransition { .. }
                | EntitlementError::TenantTableFull => StatusCode::CONFLICT,
                EntitlementError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Admit(e) => match e {
                AdmitError::TenantNotFound => StatusCode::NOT_FOUND,
                AdmitError::EntitlementExpired | AdmitError::EntitlementNotActive => {
                    StatusCode::FORBIDDEN
                }
                AdmitError::QuotaExceeded { .. }
                | AdmitError::RefusedByAction(_)
                | AdmitError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                // Never admitted or released whatever the wait: not 429, which says retry.
                AdmitError::UnknownResource
                | AdmitError::InvalidAmount
                | AdmitError::ReleaseExceedsUsage { .. }
                | AdmitError::ExceedsBurst { .. }
                | AdmitError::NothingToRelease => StatusCode::BAD_REQUEST,
            },
            ApiError::Ingest(e) => match e {
                IngestError::Invalid(_) => StatusCode::BAD_REQUEST,
                IngestError::TenantNotFound => StatusCode::NOT_FOUND,
                IngestError::EntitlementExpired | IngestError::EntitlementNotActive => {
                    StatusCode::FORBIDDEN
                }
                IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::ChainBroken(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::MalformedInput(_)
            | ApiError::InvalidAction(_)
            | ApiError::ConfigInvalid(_)
            | ApiError::InvalidMode(_) => StatusCode::BAD_REQUEST,
            ApiError::Mode(ModeError::TenantNotFound) => StatusCode::NOT_FOUND,
            ApiError::Mode(ModeError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TenantNotFound(_) | ApiError::NoSuchEndpoint => StatusCode::NOT_FOUND,
            ApiError::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            ApiError::ForbiddenOrigin => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The error's name on the wire (the body's `error`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            ApiError::Refused(r) => r.name(),
            ApiError::Command(e) => e.name(),
            ApiError::Entitlement(e) => e.name(),
            ApiError::Admit(e) => e.name(),
            ApiError::Ingest(e) => e.name(),
            ApiError::ChainBroken(_) => "ChainBroken",
            ApiError::MalformedInput(_) => "MalformedInput",
            ApiError::InvalidAction(_) => "InvalidAction",
            ApiError::PayloadTooLarge(_) => "PayloadTooLarge",
            ApiError::TenantNotFound(_) => "TenantNotFound",
            ApiError::NoSuchEndpoint => "NotFound",
            ApiError::NotReady(_) => "NotReady",
            ApiError::LedgerFailed => "LedgerUnavailable",
            ApiError::MisdirectedRequest => "MisdirectedRequest",
            ApiError::ForbiddenOrigin => "ForbiddenOrigin",
            ApiError::UnsupportedMediaType => "UnsupportedMediaType",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::RequestTimeout(_) => "RequestTimeout",
            ApiError::FleetUnavailable => "FleetUnavailable",
            ApiError::ConfigInvalid(_) => "ConfigInvalid",
            ApiError::Mode(e) => e.name(),
            ApiError::InvalidMode(_) => "InvalidMode",
        }
    }

    /// The answer of a check that runs before the body is read: the connection is closed.
    #[must_use]
    pub fn closing(self) -> Response {
        let mut response = self.into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Admit(
            e @ AdmitError::QuotaExceeded {
                resource,
                in_use,
                requested,
                limit,
            },
        ) = self
        {
            let body = QuotaExceededBody {
                error: e.name(),
                message: e.to_string(),
                resource: resource.as_str(),
                in_use,
                requested,
                limit,
            };
            return (status, Json(body)).into_response();
        }
        if let ApiError::Admit(e) = &self
            && let Some(body) = RateLimitedLine::of(None, e)
        {
            let seconds = retry_after_s(body.retry_after_ms);
            let mut response = (status, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
        let body = ErrorLine::new(None, self.name(), &self.to_string());
        let mut response = (status, Json(body)).into_response();
        if self == ApiError::Refused(Refused::QueueFull) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// `Retry-After` for a refill of `retry_after_ms`: whole seconds, rounded up, at least 1.
fn retry_after_s(retry_after_ms: u64) -> u64 {
    retry_after_ms.div_ceil(1000).max(1)
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Unavailable => ApiError::Refused(Refused::LedgerUnavailable),
            ReadError::Failed(message) => ApiError::ChainBroken(message),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge("request body is over the limit".to_owned());
        }
        ApiError::MalformedInput(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_503_with_retry_after_and_the_error_line() {
        // Proves a full queue answers 503 Busy with Retry-After: 1, and other refusals none.
        let response = ApiError::from(Refused::QueueFull).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError::from(Refused::LedgerUnavailable).into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn rate_limited_is_429_with_retry_after_in_whole_seconds_rounded_up() {
        // Proves the header rounds the refill time up to whole seconds, at least 1, and the
        // body carries the exact milliseconds.
        for (ms, header) in [(0, "1"), (1, "1"), (1000, "1"), (1001, "2"), (20_500, "21")] {
            let e = AdmitError::RateLimited {
                requested: 1,
                retry_after_ms: ms,
            };
            let response = ApiError::from(e).into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[header::RETRY_AFTER], header, "{ms} ms");
        }
        let never = ApiError::from(AdmitError::ExceedsBurst {
            requested: 30,
            burst: 20,
        });
        assert_eq!(never.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::from(AdmitError::NothingToRelease).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn read_errors_map_to_ledger_unavailable_or_chain_broken() {
        // Proves a ledger read's two failures keep their answers: 503 and 500.
        let unavailable = ApiError::from(ReadError::Unavailable);
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.name(), "LedgerUnavailable");
        let failed = ApiError::from(ReadError::Failed("bad frame".to_owned()));
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            (failed.name(), failed.to_string().as_str()),
            ("ChainBroken", "bad frame")
        );
    }

    #[test]
    fn ingest_errors_map_like_admission_errors() {
        // Proves a refused signal maps as the same refusal of an admission does.
        assert_eq!(
            ApiError::from(IngestError::TenantNotFound).status(),
            ApiError::from(AdmitError::TenantNotFound).status()
        );
        assert_eq!(
            ApiError::from(IngestError::EntitlementNotActive).status(),
            ApiError::from(AdmitError::EntitlementNotActive).status()
        );
    }
}

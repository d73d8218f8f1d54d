//! The checks every request passes before a handler runs, in order
//! (`docs/http-api.md#security`):
//! `Host`, `Origin`, content type, token, the body read whole within its limits, a slot.

use super::*;

/// The `Host` and `Origin` rules.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The bound address.
    pub listen: SocketAddr,
    /// `allowed_hosts`: names (or addresses) a `Host` header may carry.
    pub allowed_hosts: Vec<String>,
    /// `allowed_origins`: `Origin` values let through.
    pub allowed_origins: Vec<String>,
}

impl Guard {
    /// Whether `authority` (`host[:port]`, as in `Host`) is one this API answers to: the
    /// listen address, `localhost`, a loopback address, an `allowed_hosts` entry (case does
    /// not matter, neither does the port), or, when listening on `0.0.0.0` or `::`, any IP
    /// address (a DNS-rebinding attack needs a name).
    #[must_use]
    pub fn host_allowed(&self, authority: &str) -> bool {
        let Some(name) = host_part(authority) else {
            return false;
        };
        let bare = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name);
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            let listen = self.listen.ip();
            if ip.is_loopback() || ip == listen || listen.is_unspecified() {
                return true;
            }
        }
        name.eq_ignore_ascii_case("localhost")
            || self
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name) || h.eq_ignore_ascii_case(bare))
    }

    /// Whether a request's `Origin` value is in `allowed_origins` (ASCII case-insensitive).
    #[must_use]
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// The host of `host[:port]` (`[v6]` kept bracketed); `None` when malformed.
pub(super) fn host_part(authority: &str) -> Option<&str> {
    if authority.is_empty() || authority.contains(['@', '/', ' ']) {
        return None;
    }
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return (rest.is_empty() || is_port(rest.strip_prefix(':')?)).then_some(host);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if is_port(port) && !host.is_empty() && !host.contains(':') => {
            Some(host)
        }
        Some(_) => None,
        None => Some(authority),
    }
}

pub(super) fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Checks 1 to 3 of the module's documentation: `Host`, `Origin`, `Content-Type`.
pub(super) async fn guard(State(state): St, request: Request, next: Next) -> Response {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok(),
        _ => None,
    };
    let uri_ok = request
        .uri()
        .authority()
        .is_none_or(|a| state.guard.host_allowed(a.as_str()));
    if !host.is_some_and(|h| state.guard.host_allowed(h)) || !uri_ok {
        return ApiError::MisdirectedRequest.closing();
    }
    let origins = request.headers().get_all(header::ORIGIN);
    if origins
        .iter()
        .any(|o| !state.guard.origin_allowed(o.as_bytes()))
    {
        return ApiError::ForbiddenOrigin.closing();
    }
    if request.method() == axum::http::Method::POST && !is_json(request.headers()) {
        return ApiError::UnsupportedMediaType.closing();
    }
    next.run(request).await
}

/// Exactly one `Content-Type`, `application/json` in any case, parameters allowed.
pub(super) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    match (all.next(), all.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json")),
        _ => false,
    }
}

/// The credentials of `Authorization: Bearer <token>`, the scheme in any case (RFC 7235).
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_matches(' '))
}

/// The SHA-256 digest of a token, as [`HttpState::token_digest`] holds it.
#[must_use]
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) async fn require_token(State(state): St, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.token_digest {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .unwrap_or("");
        // Digests of equal length, compared in constant time: neither the token's bytes
        // nor its length show in the time taken.
        let ok: bool = token_digest(given).ct_eq(expected).into();
        if !ok {
            return ApiError::Unauthorized.closing();
        }
    }
    next.run(request).await
}

/// Check 5: reads the whole body, bounded in size and time, before the request takes a slot.
pub(super) async fn read_body(State(state): St, request: Request, next: Next) -> Response {
    use axum::body::HttpBody;
    let (parts, body) = request.into_parts();
    let limit = state.max_body_bytes;
    let too_large = || {
        ApiError::PayloadTooLarge(format!("request body is over the limit ({limit} bytes)"))
            .closing()
    };
    if body.size_hint().lower() > limit as u64 {
        return too_large();
    }
    let collect = http_body_util::Limited::new(body, limit).collect();
    let bytes = match tokio::time::timeout(state.body_read_timeout, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(e)) => {
            return ApiError::MalformedInput(wire::cut(&format!("body: {e}"))).closing();
        }
        Err(_) => {
            let timeout_ms = state.body_read_timeout.as_millis();
            let message = format!("request body not received within {timeout_ms} ms");
            return ApiError::RequestTimeout(message).closing();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Check 6: one of `max_concurrent_requests` slots for the handler's run.
pub(super) async fn take_slot(State(state): St, request: Request, next: Next) -> Response {
    let Ok(_slot) = state.slots.acquire().await else {
        return ApiError::NotReady("shutting down").into_response();
    };
    next.run(request).await
}

//! A small HTTP/1.1 POST client for `http://` URLs (webhooks): pooled connections, a connect
//! timeout, and a one-line error that says what failed. TLS is left to a local proxy.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Bytes of a failed response's body kept for the error.
const RESPONSE_EXCERPT_BYTES_MAX: usize = 4096;
/// Idle pooled connections kept per host.
const POOL_IDLE_PER_HOST_MAX: usize = 4;
/// How long an idle pooled connection is kept.
const POOL_IDLE_MS: u64 = 30_000;

/// POSTs to one URL.
#[derive(Debug, Clone)]
pub struct Poster {
    uri: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Poster {
    /// A client for `url` (`http://host[:port][/path][?query]` only).
    pub fn new(url: &str, connect_timeout: Duration) -> Result<Self, String> {
        let uri = parse_url(url)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(POOL_IDLE_MS))
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST_MAX)
            .build(connector);
        Ok(Self { uri, client })
    }

    /// The URL.
    #[must_use]
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// POSTs `body`; a 2xx status is `Ok`, anything else an error of one line naming the
    /// status (and the start of the response body) or the connection's failure.
    pub async fn post(
        &self,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<StatusCode, String> {
        let (status, _) = self.post_reading(content_type, body, 0).await?;
        Ok(status)
    }

    /// Like [`Poster::post`], and a 2xx answer's body is read, up to `limit_bytes` (a longer
    /// or broken body reads as empty).
    pub async fn post_reading(
        &self,
        content_type: &'static str,
        body: Vec<u8>,
        limit_bytes: usize,
    ) -> Result<(StatusCode, Bytes), String> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .header(USER_AGENT, HeaderValue::from_static("autonomic"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("POST {} failed: {}", self.uri, error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            let text = if limit_bytes == 0 {
                Bytes::new()
            } else {
                read_limited(response.into_body(), limit_bytes).await
            };
            return Ok((status, text));
        }
        let text = read_limited(response.into_body(), RESPONSE_EXCERPT_BYTES_MAX).await;
        Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&text)
                .replace(['\n', '\r'], " ")
                .trim()
        ))
    }
}

/// At most `limit_bytes` of a response body; empty when it is longer or breaks off.
async fn read_limited(body: hyper::body::Incoming, limit_bytes: usize) -> Bytes {
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    }
}

/// An error and its sources, joined by `: ` (hyper and io errors hide the cause in `source`).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    let mut depth = 0;
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
        depth += 1;
        if depth >= 8 {
            break;
        }
    }
    text
}

/// Accepts `http://host[:port][/path][?query]` only.
pub fn parse_url(url: &str) -> Result<Uri, String> {
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

//! The HTTP server's connections: our own accept loop over hyper's HTTP/1.1 connection, so
//! that slow and idle clients are timed out and open connections stay below the
//! file-descriptor limit (axum's `serve` exposes neither).
//!
//! - **Header read timeout**: from the first byte of a request to the end of its head.
//! - **Idle timeout**: a connection with no request in progress and no byte moving either way
//!   (just opened, between keep-alive requests, or a client not reading its answer) is closed.
//! - Both are watched here, on the connection's own clock, because hyper's
//!   `header_read_timeout` starts when hyper *waits* for a head (at accept and after each
//!   answer), so it would also be the idle timeout. It is turned off.
//! - The **body read timeout** is the handler's (`http.rs`): the body is read, bounded in
//!   size and time, before the request takes a concurrency slot.
//! - **Connection cap**: `min(max_connections, RLIMIT_NOFILE soft limit - fd_reserve)`, at
//!   least [`CONNECTIONS_MIN`] (or `max_connections` if lower); at start the soft limit is raised to the hard one. At the cap
//!   a new connection is accepted and the connection idle the longest is closed to make room
//!   (never one with a request in progress or a head being read); when none is idle, accepting
//!   pauses until a connection closes (new clients wait in the kernel's backlog).
//! - On stop: stop accepting, let each connection finish its request in progress (hyper's
//!   graceful shutdown closes idle keep-alive connections at once), then return.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, info, warn};

/// File descriptors kept back from connections for the ledger, lock, checkpoint and /proc
/// files, the listener and the runtime's own.
pub const FD_RESERVE_BASE: u64 = 32;
/// File descriptors kept back per action in flight (an `exec` child's stderr pipe and pidfd,
/// a webhook's socket).
pub const FD_PER_ACTION: u64 = 3;

/// File descriptors kept back from connections with `in_flight` actions at most in flight.
#[must_use]
pub fn fd_reserve(in_flight: usize) -> u64 {
    FD_RESERVE_BASE.saturating_add(FD_PER_ACTION.saturating_mul(in_flight as u64))
}
/// The connection cap never goes below this, however low the descriptor limit.
pub const CONNECTIONS_MIN: usize = 16;
/// Pause after an accept error (e.g. `EMFILE`) before accepting again.
const ACCEPT_ERROR_PAUSE_MS: u64 = 100;

/// The connection limits of the config.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From a request's first byte to the end of its head.
    pub header_read_timeout: Duration,
    /// No request in progress and no byte moving.
    pub idle_timeout: Duration,
    /// Open connections at most (already capped by [`connection_cap`]).
    pub max_connections: usize,
}

/// The file-descriptor soft limit before and after raising it to the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit found at start.
    pub before: u64,
    /// Soft limit now (the hard limit, unless raising failed).
    pub now: u64,
}

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit (an infinite hard limit: to
/// `/proc/sys/fs/nr_open`). Failing to raise it is not an error: the old soft limit stays.
pub fn raise_fd_limit() -> Result<FdLimit, String> {
    use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    let target = if hard == RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    if target > soft {
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            warn!(soft, hard, error = %e, "cannot raise the file-descriptor soft limit");
            return Ok(FdLimit {
                before: soft,
                now: soft,
            });
        }
        return Ok(FdLimit {
            before: soft,
            now: target,
        });
    }
    Ok(FdLimit {
        before: soft,
        now: soft,
    })
}

/// `min(configured, max(soft - fd_reserve(in_flight), CONNECTIONS_MIN))`.
#[must_use]
pub fn connection_cap(configured: u32, soft_fd_limit: u64, in_flight: usize) -> usize {
    let room = soft_fd_limit
        .saturating_sub(fd_reserve(in_flight))
        .max(CONNECTIONS_MIN as u64);
    usize::try_from(u64::from(configured).min(room)).unwrap_or(usize::MAX)
}

/// One connection's clock: what the watchdog reads.
#[derive(Debug)]
struct Clock {
    state: Mutex<ClockState>,
    /// Cancelled to close the connection (evicted at the cap).
    evict: CancellationToken,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    /// Requests handed to the router and not yet answered.
    busy: u32,
    /// Last byte read or written, or last answer.
    last_activity: Instant,
    /// First byte of a request head not yet complete.
    head_started: Option<Instant>,
}

impl Clock {
    fn new() -> Self {
        Self {
            state: Mutex::new(ClockState {
                busy: 0,
                last_activity: Instant::now(),
                head_started: None,
            }),
            evict: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        s.last_activity = now;
        if s.busy == 0 && s.head_started.is_none() {
            s.head_started = Some(now);
        }
    }

    fn wrote(&self) {
        self.lock().last_activity = Instant::now();
    }

    fn begin(&self) {
        let mut s = self.lock();
        s.busy += 1;
        s.head_started = None;
    }

    fn end(&self) {
        let mut s = self.lock();
        s.busy = s.busy.saturating_sub(1);
        s.last_activity = Instant::now();
    }

    /// Since when the connection is idle (nothing in progress, no head being read).
    fn idle_since(&self) -> Option<Instant> {
        let s = self.lock();
        (s.busy == 0 && s.head_started.is_none() && !self.evict.is_cancelled())
            .then_some(s.last_activity)
    }

    /// When the connection is to be closed unless something happens; `None` while busy.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let s = self.lock();
        if s.busy > 0 {
            return None;
        }
        let idle = s.last_activity + limits.idle_timeout;
        Some(match s.head_started {
            Some(started) => idle.min(started + limits.header_read_timeout),
            None => idle,
        })
    }
}

/// Marks a request in progress on its connection until dropped.
struct Busy(Arc<Clock>);

impl Busy {
    fn new(clock: Arc<Clock>) -> Self {
        clock.begin();
        Self(clock)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A TCP stream that reports every byte moved to its connection's clock.
struct Tracked {
    io: TcpStream,
    clock: Arc<Clock>,
}

impl Tracked {
    /// Tells the clock when a write moved bytes; returns the write's result.
    fn count_written(&self, polled: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        polled
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.count_written(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.count_written(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The open connections' clocks, to find the one idle the longest.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Clock>>>,
    warned: AtomicBool,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Clock>>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, clock: Arc<Clock>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, clock);
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the connection idle the longest; false if none is idle.
    fn evict_oldest_idle(&self) -> bool {
        let open = self.lock();
        let oldest = open
            .values()
            .filter_map(|c| c.idle_since().map(|since| (since, c)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, clock)) => {
                clock.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until `stop`, then lets the requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                warn!(error = %e, "http: accept failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_PAUSE_MS)) => {}
                    () = stop.cancelled() => break,
                }
                continue;
            }
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let evicted = registry.evict_oldest_idle();
                if !registry.warned.swap(true, Ordering::Relaxed) {
                    warn!(
                        max_connections = limits.max_connections,
                        "http: connection cap reached; closing the connection idle the longest \
                         for each new one, or waiting for one to close"
                    );
                }
                debug!(evicted, "http: at the connection cap");
                tokio::select! {
                    permit = Arc::clone(&slots).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = stop.cancelled() => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            stream,
            router.clone(),
            limits,
            Arc::clone(&registry),
            permit,
            stop.clone(),
        ));
    }
    drop(listener);
    tracker.close();
    let open = tracker.len();
    if open > 0 {
        info!(
            open,
            "http: stopped accepting; finishing requests in progress"
        );
    }
    tracker.wait().await;
}

/// Errors of one connection (it is gone), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    router: Router,
    limits: ConnLimits,
    registry: Arc<Registry>,
    permit: tokio::sync::OwnedSemaphorePermit,
    stop: CancellationToken,
) {
    let clock = Arc::new(Clock::new());
    let id = registry.insert(Arc::clone(&clock));
    let io = TokioIo::new(Tracked {
        io: stream,
        clock: Arc::clone(&clock),
    });
    let service_clock = Arc::clone(&clock);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::new(Arc::clone(&service_clock));
        let router = router.clone();
        async move {
            let answer = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(busy);
            answer
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let expired = watchdog(Arc::clone(&clock), limits);
    tokio::pin!(expired);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                debug!(error = %e, "http: connection ended with an error");
            }
        }
        why = &mut expired => debug!(why, "http: connection closed"),
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                why = &mut expired => debug!(why, "http: connection closed while stopping"),
            }
        }
    }
    registry.remove(id);
    drop(permit);
}

/// Resolves when the connection must be closed: its idle or header deadline passed, or it
/// was evicted.
async fn watchdog(clock: Arc<Clock>, limits: ConnLimits) -> &'static str {
    loop {
        let wait = match clock.deadline(&limits) {
            None => Instant::now() + limits.idle_timeout,
            Some(deadline) if deadline <= Instant::now() => {
                return if clock.lock().head_started.is_some() {
                    "header read timeout"
                } else {
                    "idle timeout"
                };
            }
            Some(deadline) => deadline,
        };
        tokio::select! {
            () = tokio::time::sleep_until(wait) => {}
            () = clock.evict.cancelled() => return "evicted at the connection cap",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        // Proves the cap is the configured one when descriptors abound, the limit minus the
        // reserve when they don't, and never below the floor.
        assert_eq!(connection_cap(1024, 1_048_576, 64), 1024);
        assert_eq!(
            connection_cap(1024, 1024, 64),
            (1024 - 32 - 3 * 64) as usize
        );
        assert_eq!(connection_cap(1024, 256, 64), 32);
        assert_eq!(connection_cap(1024, 256, 8), 256 - 32 - 24);
        assert_eq!(connection_cap(1024, 100, 64), CONNECTIONS_MIN);
        assert_eq!(connection_cap(4, 1_048_576, 64), 4);
        assert_eq!(connection_cap(4, 100, 64), 4);
    }
}

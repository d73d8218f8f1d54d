//! `autonomic run`: config, engine thread, HTTP server, sampler, signals, shutdown.
//!
//! Start-up, in order: load and validate the config (exit 2 on any error, one line);
//! refuse a non-loopback `listen` without `token` (exit 2); take an exclusive lock on
//! `<data_dir>/lock` (exit 2 if another process holds it); build the actuators (exit 2);
//! start the engine thread, which opens and verifies the ledger (exit 1 on corruption before
//! the tail, naming the record and byte offset), truncates a torn tail (logged, counted) and
//! activates the configured tenants it does not know; bind the listener (exit 2) and write
//! the bound address to `<data_dir>/listen.addr` (one line, `IP:PORT`, written atomically;
//! also logged as `listening on ...`), so `--listen 127.0.0.1:0` is usable; start the sampler.
//! Before binding, the file-descriptor soft limit is raised to the hard one and the
//! connection cap derived from it (`http_server.rs`).
//!
//! SIGHUP: reload the config file ([`crate::daemon::Reloader`], `docs/config.md#hot-reload`);
//! a refused file is one line on stderr and changes nothing.
//!
//! SIGTERM or SIGINT: stop accepting connections and finish the requests in progress (at
//! most [`HTTP_DRAIN_MS`]), stop the sampler, let running actions finish for up to
//! [`crate::daemon::SHUTDOWN_GRACE_MS`] and cancel the rest, flush and fsync the ledger,
//! remove `listen.addr`, exit 0.

use std::fs::{self, File};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::actuator::{ProcessRecords, reap_orphans};
use crate::config::reload::{self, Loaded};
use crate::config::{ConfigError, NotifySection};
use crate::daemon::{
    self, Actuators, DaemonConfig, EngineHandle, LoadConfig, Refused, Reloader, Shared, StartError,
};
use crate::events::Events;
use crate::events::notify::Subscriber;
use crate::exit;
use crate::fleet::Fleet;
use crate::http::{self, Guard, HttpState};
use crate::http_server::{self, ConnLimits};
use crate::sampler::HostSampler;
use crate::wire::SignalIn;

/// The file, inside the data dir, holding the bound HTTP address.
pub const LISTEN_ADDR_FILE: &str = "listen.addr";
/// The directory inside the data dir recording running `exec` process groups.
pub const RUNNING_DIR: &str = "running";
/// The lock file inside the data dir.
pub const LOCK_FILE: &str = "lock";
/// How long start-up waits for the data dir's lock. Right after a crash the lock can still be
/// held for a moment: an actuator child forked but not yet exec'd holds a copy of every
/// descriptor (close-on-exec closes them only at its exec) until its parent-death signal
/// kills it. A second sidecar on the same dir waits this long, then exits 2.
pub const LOCK_WAIT_MS: u64 = 2_000;
/// How often start-up retries the lock while it waits.
pub const LOCK_RETRY_MS: u64 = 20;
/// How long shutdown waits for HTTP requests in progress.
pub const HTTP_DRAIN_MS: u64 = 5_000;

/// `run`'s command-line overrides.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
}

/// Loads the config file (or the defaults) with its hash, and applies the overrides.
pub fn load_config(args: &RunArgs) -> Result<Loaded, ConfigError> {
    let Loaded { mut config, hash } = reload::load(args.config.as_deref())?;
    let origin = args.config.as_ref().map_or_else(
        || "(defaults)".to_owned(),
        |path| path.display().to_string(),
    );
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir.clone_from(dir);
    }
    config
        .validate()
        .map_err(|invalid| ConfigError::Invalid { origin, invalid })?;
    Ok(Loaded { config, hash })
}

/// Runs the sidecar until SIGTERM or SIGINT; SIGHUP reloads the config file.
pub fn run(args: &RunArgs) -> ExitCode {
    let loaded = match load_config(args) {
        Ok(loaded) => loaded,
        Err(e) => return fail(exit::USAGE, &e.to_string()),
    };
    let config = &loaded.config;
    if config.token.is_none() && !config.listen.ip().is_loopback() {
        let message = format!(
            "config: listen {} is not a loopback address: set `token` to serve it",
            config.listen
        );
        return fail(exit::USAGE, &message);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(exit::USAGE, &format!("runtime: {e}")),
    };
    runtime.block_on(serve(loaded, args.clone()))
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    exit::code(code)
}

/// Creates the data dir and takes the exclusive lock; held until the process exits.
fn lock_data_dir(dir: &Path) -> Result<Flock<File>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("data dir {}: {e}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let deadline = Instant::now() + Duration::from_millis(LOCK_WAIT_MS);
    loop {
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, errno)) if Instant::now() >= deadline => {
                return Err(format!(
                    "data dir {} is in use by another process ({errno})",
                    dir.display()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(LOCK_RETRY_MS)),
        }
    }
}

/// Writes `addr` to `<dir>/listen.addr` atomically (temp file, fsync, rename).
fn write_listen_addr(dir: &Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = dir.join(format!("{LISTEN_ADDR_FILE}.tmp"));
    let mut file = File::create(&tmp)?;
    writeln!(file, "{addr}")?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(LISTEN_ADDR_FILE))
}

/// Kills the process groups a dead sidecar left running (recorded in
/// `<data_dir>/running/`), then opens that directory to record this process's children.
fn reap_and_record(data_dir: &Path) -> Result<ProcessRecords, String> {
    let dir = data_dir.join(RUNNING_DIR);
    match reap_orphans(&dir) {
        Ok(r) if r.killed + r.failed > 0 => warn!(
            killed = r.killed,
            failed = r.failed,
            gone = r.gone,
            malformed = r.malformed,
            "actuator: killed process groups left by a sidecar that died"
        ),
        Ok(r) => info!(
            gone = r.gone,
            malformed = r.malformed,
            "actuator: no orphaned process groups"
        ),
        Err(e) => warn!(dir = %dir.display(), error = %e, "actuator: cannot read process records"),
    }
    ProcessRecords::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))
}

async fn serve(loaded: Loaded, args: RunArgs) -> ExitCode {
    // Installed first: a SIGHUP during start-up never kills the process; it reloads once the
    // sidecar serves.
    let hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => return fail(exit::USAGE, &format!("SIGHUP handler: {e}")),
    };
    let config = loaded.config.clone();
    let _lock = match lock_data_dir(&config.data_dir) {
        Ok(lock) => lock,
        Err(message) => return fail(exit::USAGE, &message),
    };
    let records = match reap_and_record(&config.data_dir) {
        Ok(records) => records,
        Err(message) => return fail(exit::USAGE, &message),
    };
    let setup = DaemonConfig::from_config(&config)
        .and_then(|d| Actuators::from_config(&config.actuators, Some(records)).map(|a| (d, a)));
    let (mut daemon_config, actuators) = match setup {
        Ok(setup) => setup,
        Err(e) => return fail(exit::USAGE, &e.to_string()),
    };
    daemon_config.config_hash = Some(loaded.hash);
    let shared = Arc::new(Shared::default());
    let spawned = daemon::spawn(
        daemon_config,
        actuators,
        Arc::clone(&shared),
        tokio::runtime::Handle::current(),
    );
    let (engine, thread, started) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => return fail(exit::USAGE, &format!("engine thread: {e}")),
    };
    let report = match started.await {
        Ok(Ok(report)) => report,
        Ok(Err(StartError::Corrupt(message))) => return fail(exit::CORRUPT, &message),
        Ok(Err(StartError::Other(message))) => return fail(exit::USAGE, &message),
        Err(_) => return fail(exit::USAGE, "engine thread stopped during start-up"),
    };
    info!(
        restored = report.restored,
        truncated_bytes = report.truncated_bytes,
        activated = ?report.activated,
        head_seq = ?report.head_seq,
        "engine: started"
    );
    let applied_seq = report.config_applied.map(|applied| applied.seq);
    let path = args.config.clone();
    let load: LoadConfig = Box::new(move || load_config(&args));
    let reloader = Arc::new(Reloader::new(
        load,
        path.as_deref(),
        loaded,
        applied_seq,
        engine.clone(),
    ));
    let fd_limit = match http_server::raise_fd_limit() {
        Ok(limit) => limit,
        Err(e) => {
            engine.shutdown().await;
            return fail(exit::USAGE, &e);
        }
    };
    let max_connections = http_server::connection_cap(
        config.max_connections,
        fd_limit.now,
        config.max_in_flight as usize,
    );
    info!(
        nofile_before = fd_limit.before,
        nofile = fd_limit.now,
        max_connections,
        configured = config.max_connections,
        "http: connection cap"
    );
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            engine.shutdown().await;
            return fail(exit::USAGE, &format!("listen {}: {e}", config.listen));
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => return fail(exit::USAGE, &format!("listen {}: {e}", config.listen)),
    };
    if let Err(e) = write_listen_addr(&config.data_dir, addr) {
        engine.shutdown().await;
        return fail(exit::USAGE, &format!("writing {LISTEN_ADDR_FILE}: {e}"));
    }
    info!(%addr, data_dir = %config.data_dir.display(), "listening on {addr}");
    let fleet = match config.fleet.as_ref().map(Fleet::new).transpose() {
        Ok(fleet) => fleet.map(Arc::new),
        Err(e) => {
            engine.shutdown().await;
            return fail(exit::USAGE, &e);
        }
    };
    let stop = CancellationToken::new();
    let sampler = config.sampler.enabled.then(|| {
        tokio::spawn(sample(
            engine.clone(),
            config.sampler.tenant.clone(),
            config.sampler.interval_ms,
            stop.clone(),
        ))
    });
    let events = Events::new(Arc::clone(&shared), config.data_dir.clone(), stop.clone());
    let subscribers = start_subscribers(&config.notify, &events);
    let fleet_task = fleet.clone().map(|fleet| {
        let stop = stop.clone();
        tokio::spawn(async move { fleet.maintain(stop).await })
    });
    let state = Arc::new(HttpState {
        engine: engine.clone(),
        shared: Arc::clone(&shared),
        token_digest: config.token.as_deref().map(http::token_digest),
        data_dir: config.data_dir.clone(),
        reads: crate::ledger_reads::LedgerReads::default(),
        guard: Guard {
            listen: addr,
            allowed_hosts: config.allowed_hosts.clone(),
            allowed_origins: config.allowed_origins.clone(),
        },
        max_body_bytes: usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX),
        body_read_timeout: Duration::from_millis(config.body_read_timeout_ms),
        slots: tokio::sync::Semaphore::new(config.max_concurrent_requests as usize),
        events,
        fleet,
        reloader: Arc::clone(&reloader),
    });
    let limits = ConnLimits {
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(config.idle_timeout_ms),
        max_connections,
    };
    let hangup_task = tokio::spawn(reload_on_hangup(hangups, reloader, stop.clone()));
    let server = tokio::spawn(http_server::serve(
        listener,
        http::router(state),
        limits,
        stop.clone(),
    ));
    wait_for_signal().await;
    info!("signal received: shutting down");
    shared
        .ready
        .store(false, std::sync::atomic::Ordering::SeqCst);
    stop.cancel();
    match tokio::time::timeout(Duration::from_millis(HTTP_DRAIN_MS), server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "http: server task failed"),
        Err(_) => warn!("http: requests still in progress after the drain time; dropped"),
    }
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    for subscriber in subscribers {
        let _ = subscriber.await;
    }
    if let Some(fleet_task) = fleet_task {
        let _ = fleet_task.await;
    }
    let _ = hangup_task.await;
    engine.shutdown().await;
    if tokio::task::spawn_blocking(move || thread.join())
        .await
        .is_err()
    {
        error!("engine thread did not stop cleanly");
    }
    let _ = fs::remove_file(config.data_dir.join(LISTEN_ADDR_FILE));
    info!("stopped");
    ExitCode::SUCCESS
}

/// Starts one delivery task per `[[notify]]` entry (each was validated with the config).
fn start_subscribers(
    entries: &[NotifySection],
    events: &Arc<Events>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let timeout = Duration::from_millis(entry.timeout_ms);
        match Subscriber::new(index, &entry.url, timeout) {
            Ok(subscriber) => tasks.push(tokio::spawn(subscriber.run(Arc::clone(events)))),
            Err(e) => warn!(index, error = %e, "notify: subscriber not started"),
        }
    }
    tasks
}

/// SIGHUP: reloads the config file until `stop` (the reloader logs and counts each result;
/// a refusal is its one line on stderr, and changes nothing).
async fn reload_on_hangup(mut hangups: Signal, reloader: Arc<Reloader>, stop: CancellationToken) {
    loop {
        tokio::select! {
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                info!("SIGHUP received: reloading the config file");
                let _ = reloader.reload().await;
            }
            () = stop.cancelled() => return,
        }
    }
}

async fn wait_for_signal() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // No signal handlers: fall back to ctrl-c only.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Feeds host readings to the sampler tenant every `interval_ms` until `stop`.
async fn sample(engine: EngineHandle, tenant: String, interval_ms: u64, stop: CancellationToken) {
    let mut sampler = HostSampler::new(PathBuf::from("/proc"));
    let mut ticker = tokio::time::interval(Duration::from_millis(interval_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        let readings = match sampler.sample() {
            Ok(readings) => {
                failing = false;
                readings
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "sampler: reading /proc failed");
                }
                failing = true;
                continue;
            }
        };
        let ts_ms = daemon::now_ms();
        let signals: Vec<SignalIn> = readings
            .iter()
            .map(|r| SignalIn {
                tenant: tenant.clone(),
                metric: r.metric.to_owned(),
                value: r.value,
                ts_ms,
            })
            .collect();
        match engine.signals(signals).await {
            Ok(_) => {}
            Err(Refused::QueueFull) => warn!("sampler: engine queue full; sample dropped"),
            Err(e) => {
                warn!(error = %e, "sampler: stopped");
                return;
            }
        }
    }
}

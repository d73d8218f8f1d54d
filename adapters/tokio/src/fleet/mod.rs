//! Fleet-wide admission counts in Redis (`[fleet]`, `docs/fleet-quotas.md`).
//!
//! The local engine decides first (entitlement, actions, its own count); then [`Fleet::admit`]
//! counts the units against the same limit across every sidecar sharing the Redis, in one
//! atomic script. This sidecar keeps what it holds in memory (`held`: the truth it
//! re-asserts), and a background task ([`Fleet::maintain`]) renews its leases every third of
//! `lease_ms`, reconnects with backoff after a failure, and re-asserts every count on each
//! renewal, so a Redis that restarted empty gets the fleet's counts back.
//!
//! Every Redis round trip happens under one lock (so `held` and Redis see the same order)
//! within `timeout_ms`, waiting for the lock included. A failed or late round trip drops
//! the connection (its state is unknown); the admission is then decided by
//! `on_unavailable`.
//!
//! Files: this one, `resp.rs` (the Redis client), `scripts.rs` (the Lua scripts and keys),
//! `metrics.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use autonomic_core::Resource;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{FleetSection, OnUnavailable, RedisAddr};

mod metrics;
mod resp;
mod scripts;

pub use metrics::{FleetMetrics, RESULTS};
pub use scripts::{ADMIT, ASSERT, Keys};

/// First wait before reconnecting after a failure; doubled after each failed attempt.
pub const RECONNECT_BACKOFF_MS_MIN: u64 = 50;
/// Longest wait between reconnection attempts.
pub const RECONNECT_BACKOFF_MS_MAX: u64 = 2_000;
/// Length of the random instance id, in bytes (hex: twice as many characters).
pub const INSTANCE_ID_BYTES: usize = 8;

/// What the fleet's count decided for one admission the local engine already made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetAdmission {
    /// Counted: the fleet now holds `in_use` units of the resource for the tenant.
    Counted {
        /// The fleet's units in use after this admission.
        in_use: u64,
    },
    /// The fleet's `in_use` units plus this admission would exceed the limit.
    QuotaExceeded {
        /// The fleet's units in use.
        in_use: u64,
    },
    /// Redis did not answer in time; `on_unavailable = "local"`: admitted on the local count.
    AdmittedLocally,
    /// Redis did not answer in time; `on_unavailable = "refuse"`: refused.
    Unavailable,
}

/// This process's share of the fleet's counts, and its connection.
#[derive(Debug)]
pub struct Fleet {
    addr: RedisAddr,
    prefix: String,
    timeout: Duration,
    lease_ms: u64,
    policy: OnUnavailable,
    instance: String,
    /// The connection and its loaded scripts; `None` while down.
    conn: tokio::sync::Mutex<Option<(resp::Conn, scripts::Loaded)>>,
    /// Units this process holds, by (tenant, resource); 0 entries await their removal.
    held: Mutex<HashMap<(String, Resource), u64>>,
    up: AtomicBool,
    /// Wakes [`Fleet::maintain`] to reconnect at once after a failure.
    wake: Notify,
    metrics: FleetMetrics,
}

impl Fleet {
    /// A fleet member for `section` (validated), with a fresh random instance id. Not
    /// connected: [`Fleet::maintain`] connects.
    pub fn new(section: &FleetSection) -> Result<Fleet, String> {
        let addr = section.redis_addr().map_err(|e| e.to_string())?;
        let mut id = [0u8; INSTANCE_ID_BYTES];
        getrandom::fill(&mut id).map_err(|e| format!("fleet: instance id: {e}"))?;
        let metrics = FleetMetrics::new(section.on_unavailable.as_str());
        metrics.set_up(false);
        Ok(Fleet {
            addr,
            prefix: section.key_prefix.clone(),
            timeout: Duration::from_millis(section.timeout_ms),
            lease_ms: section.lease_ms,
            policy: section.on_unavailable,
            instance: hex::encode(id),
            conn: tokio::sync::Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            up: AtomicBool::new(false),
            wake: Notify::new(),
            metrics,
        })
    }

    /// This process's random instance id (the field of its counts in Redis).
    #[must_use]
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the last round trip with Redis worked.
    #[must_use]
    pub fn redis_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// The `on_unavailable` policy.
    #[must_use]
    pub fn policy(&self) -> OnUnavailable {
        self.policy
    }

    /// Appends the fleet's metrics to a `/metrics` text.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
    }

    /// Counts `amount` units of `resource` for `tenant` (already admitted locally) against
    /// `limit` across the fleet. Without Redis in `timeout_ms`, `on_unavailable` decides;
    /// units admitted that way are held and re-asserted when Redis is back.
    pub async fn admit(
        &self,
        tenant: &str,
        resource: Resource,
        amount: u16,
        limit: u16,
    ) -> FleetAdmission {
        let keys = Keys::new(&self.prefix, tenant, resource);
        let counted = tokio::time::timeout(self.timeout, async {
            let mut guard = self.conn.lock().await;
            // Taken out while in use: a round trip cut short by the timeout drops it.
            let (mut conn, loaded) = guard.take()?;
            let (instance, lease) = (&self.instance, self.lease_ms);
            let script = scripts::admit(&mut conn, &loaded, &keys, instance, amount, limit, lease);
            match script.await {
                Ok(counted) => {
                    if counted.admitted {
                        self.add_held(tenant, resource, amount);
                    }
                    *guard = Some((conn, loaded));
                    Some(counted)
                }
                Err(e) => {
                    self.down(&mut guard, &e.to_string());
                    None
                }
            }
        })
        .await;
        match counted {
            Ok(Some(c)) if c.admitted => {
                self.decided("admitted", FleetAdmission::Counted { in_use: c.sum })
            }
            Ok(Some(c)) => {
                let refused = FleetAdmission::QuotaExceeded { in_use: c.sum };
                self.decided("quota_exceeded", refused)
            }
            Ok(None) => self.without_redis(tenant, resource, amount),
            Err(_) => {
                self.note_lost();
                self.without_redis(tenant, resource, amount)
            }
        }
    }

    /// Releases `amount` units (already released locally): this process holds fewer, and
    /// tells Redis within `timeout_ms`; if it cannot, the next renewal does.
    pub async fn release(&self, tenant: &str, resource: Resource, amount: u16) {
        // Before taking the connection: a renewal under way either saw the old count and
        // is followed by this release's, or runs after and sees the new one.
        self.sub_held(tenant, resource, amount);
        let keys = Keys::new(&self.prefix, tenant, resource);
        let told = tokio::time::timeout(self.timeout, async {
            let mut guard = self.conn.lock().await;
            let (mut conn, loaded) = guard.take()?;
            let entry = [(keys, self.held_of(tenant, resource))];
            let lease = self.lease_ms;
            match scripts::assert_held(&mut conn, &loaded, &self.instance, lease, &entry).await {
                Ok(()) => *guard = Some((conn, loaded)),
                Err(e) => self.down(&mut guard, &e.to_string()),
            }
            Some(())
        })
        .await;
        if told.is_err() {
            self.note_lost();
        }
    }

    /// After a timeout: if the round trip it cut short took the connection with it, Redis
    /// is down until the background task reconnects.
    fn note_lost(&self) {
        if let Ok(mut guard) = self.conn.try_lock()
            && guard.is_none()
        {
            self.down(&mut guard, "timed out");
        }
    }

    /// Keeps the connection and the leases alive until `stop`: connects (backing off
    /// after failures), then every third of `lease_ms` re-asserts every count it holds.
    /// At `stop` it releases everything it holds in Redis (one bounded round trip): a
    /// stopped process's admissions end with it.
    pub async fn maintain(&self, stop: CancellationToken) {
        let renew_every = Duration::from_millis(self.lease_ms / 3);
        let mut backoff_ms = RECONNECT_BACKOFF_MS_MIN;
        loop {
            let ok = self.connect_if_down().await && self.renew().await;
            let wait = if ok {
                backoff_ms = RECONNECT_BACKOFF_MS_MIN;
                renew_every
            } else {
                let wait = Duration::from_millis(backoff_ms);
                backoff_ms = (backoff_ms * 2).min(RECONNECT_BACKOFF_MS_MAX);
                wait
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified(), if ok => {}
            }
        }
        self.held_map().values_mut().for_each(|held| *held = 0);
        if self.redis_up() {
            self.renew().await;
        }
    }

    /// Connects and loads the scripts unless connected; whether it is connected now.
    async fn connect_if_down(&self) -> bool {
        let mut guard = self.conn.lock().await;
        if guard.is_some() {
            return true;
        }
        let addr = &self.addr;
        let connected = tokio::time::timeout(self.timeout, async {
            let mut conn = resp::Conn::connect(&addr.host, addr.port).await?;
            let loaded = scripts::prepare(&mut conn, addr.db).await?;
            Ok::<_, std::io::Error>((conn, loaded))
        })
        .await;
        let Some(pair) = self.settle(&mut guard, connected, "connect") else {
            return false;
        };
        *guard = Some(pair);
        info!(redis = %self.addr.host, port = self.addr.port, instance = %self.instance,
              "fleet: connected to redis");
        true
    }

    /// Re-asserts every count this process holds and renews its leases; whether it worked.
    async fn renew(&self) -> bool {
        let mut guard = self.conn.lock().await;
        let snapshot = self.held_snapshot();
        let entries: Vec<(Keys, u64)> = snapshot
            .iter()
            .map(|((tenant, resource), held)| (Keys::new(&self.prefix, tenant, *resource), *held))
            .collect();
        let Some((conn, loaded)) = guard.as_mut() else {
            return false;
        };
        // The whole renewal must finish before the next one is due.
        let limit = Duration::from_millis(self.lease_ms / 3).max(self.timeout);
        let assert = scripts::assert_held(conn, loaded, &self.instance, self.lease_ms, &entries);
        let renewed = tokio::time::timeout(limit, assert).await;
        if self.settle(&mut guard, renewed, "renewal").is_none() {
            return false;
        }
        self.forget_released(&snapshot);
        if !self.up.swap(true, Ordering::SeqCst) {
            info!(
                counts = entries.len(),
                "fleet: redis up, counts re-asserted"
            );
        }
        self.metrics.set_up(true);
        true
    }

    /// The value of a timed round trip, or `None` after marking Redis down.
    fn settle<T>(
        &self,
        conn: &mut Option<(resp::Conn, scripts::Loaded)>,
        result: Result<std::io::Result<T>, tokio::time::error::Elapsed>,
        what: &str,
    ) -> Option<T> {
        match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.down(conn, &format!("{what}: {e}"));
                None
            }
            Err(_) => {
                self.down(conn, &format!("{what} timed out"));
                None
            }
        }
    }

    /// Drops the connection after a failure and marks Redis down.
    fn down(&self, conn: &mut Option<(resp::Conn, scripts::Loaded)>, why: &str) {
        *conn = None;
        self.wake.notify_one();
        if self.up.swap(false, Ordering::SeqCst) {
            warn!(
                error = why,
                policy = self.policy.as_str(),
                "fleet: redis unavailable"
            );
        }
        self.metrics.set_up(false);
    }

    /// An admission decided without Redis, by the policy.
    fn without_redis(&self, tenant: &str, resource: Resource, amount: u16) -> FleetAdmission {
        self.metrics.unavailable(self.policy.as_str());
        match self.policy {
            OnUnavailable::Local => {
                self.add_held(tenant, resource, amount);
                self.decided("admitted_locally", FleetAdmission::AdmittedLocally)
            }
            OnUnavailable::Refuse => self.decided("fleet_unavailable", FleetAdmission::Unavailable),
        }
    }

    fn decided(&self, result: &'static str, admission: FleetAdmission) -> FleetAdmission {
        self.metrics.admission(result);
        admission
    }

    fn held_map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Resource), u64>> {
        // A panic while holding it cannot leave the map half-changed: take it anyway.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add_held(&self, tenant: &str, resource: Resource, amount: u16) {
        *self
            .held_map()
            .entry((tenant.to_owned(), resource))
            .or_insert(0) += u64::from(amount);
    }

    /// Subtracts, at most down to 0.
    fn sub_held(&self, tenant: &str, resource: Resource, amount: u16) {
        let mut map = self.held_map();
        let held = map.entry((tenant.to_owned(), resource)).or_insert(0);
        *held = held.saturating_sub(u64::from(amount));
    }

    fn held_of(&self, tenant: &str, resource: Resource) -> u64 {
        let key = (tenant.to_owned(), resource);
        self.held_map().get(&key).copied().unwrap_or(0)
    }

    fn held_snapshot(&self) -> Vec<((String, Resource), u64)> {
        self.held_map()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Removes the entries asserted as 0, which Redis now knows are released (unless
    /// re-admitted meanwhile).
    fn forget_released(&self, asserted: &[((String, Resource), u64)]) {
        let mut map = self.held_map();
        for (key, _) in asserted.iter().filter(|(_, held)| *held == 0) {
            if map.get(key) == Some(&0) {
                map.remove(key);
            }
        }
    }
}

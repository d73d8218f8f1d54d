//! `[fleet]`: admissions counted across every sidecar of a service in one Redis
//! (`docs/fleet-quotas.md`). Absent: each sidecar counts on its own, as before.

use serde::Deserialize;

use super::InvalidKey;
use super::checks::check_range;

/// Default `fleet.key_prefix`.
pub const KEY_PREFIX_DEFAULT: &str = "autonomic";
/// Longest `fleet.key_prefix`, in bytes.
pub const KEY_PREFIX_BYTES_MAX: usize = 64;
/// Default `fleet.timeout_ms`: one Redis round trip, connecting included.
pub const TIMEOUT_MS_DEFAULT: u64 = 200;
/// Smallest accepted `fleet.timeout_ms`.
pub const TIMEOUT_MS_MIN: u64 = 1;
/// Largest accepted `fleet.timeout_ms`.
pub const TIMEOUT_MS_MAX: u64 = 10_000;
/// Default `fleet.lease_ms`: how long a sidecar's counts outlive its last renewal.
pub const LEASE_MS_DEFAULT: u64 = 15_000;
/// Smallest accepted `fleet.lease_ms` (renewals come every third of it).
pub const LEASE_MS_MIN: u64 = 300;
/// Largest accepted `fleet.lease_ms` (ten minutes).
pub const LEASE_MS_MAX: u64 = 600_000;
/// Default port of a `redis://` URL without one.
pub const REDIS_PORT_DEFAULT: u16 = 6379;

/// What an admission does when Redis cannot be reached in `timeout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Admit on the local count alone (the sidecar's own quota check).
    #[default]
    Local,
    /// Refuse with 503 `FleetUnavailable`.
    Refuse,
}

impl OnUnavailable {
    /// The policy's name in the config, metrics and `/readyz`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OnUnavailable::Local => "local",
            OnUnavailable::Refuse => "refuse",
        }
    }
}

/// `[fleet]`: where the fleet's counts live and how long they last.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSection {
    /// `redis://host[:port][/db]` (`redis`, required in the section).
    pub redis: String,
    /// Prefix of every key (`key_prefix`, default `autonomic`; letters, digits, `_-.:`).
    pub key_prefix: String,
    /// Longest wait for one Redis round trip (`timeout_ms`, 1..=10 000, default 200).
    pub timeout_ms: u64,
    /// What an admission does without Redis (`on_unavailable`, `local` or `refuse`).
    pub on_unavailable: OnUnavailable,
    /// How long this sidecar's counts stand after its last renewal (`lease_ms`,
    /// 300..=600 000, default 15 000); renewed every third of it.
    pub lease_ms: u64,
}

impl Default for FleetSection {
    fn default() -> Self {
        Self {
            redis: String::new(),
            key_prefix: KEY_PREFIX_DEFAULT.to_owned(),
            timeout_ms: TIMEOUT_MS_DEFAULT,
            on_unavailable: OnUnavailable::Local,
            lease_ms: LEASE_MS_DEFAULT,
        }
    }
}

/// Where Redis listens, from `fleet.redis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddr {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database number (`SELECT`), 0 by default.
    pub db: u32,
}

impl FleetSection {
    /// Every key in bounds; the URL parses.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.redis_addr()?;
        let prefix = &self.key_prefix;
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:".contains(c);
        if prefix.is_empty() || prefix.len() > KEY_PREFIX_BYTES_MAX || !prefix.chars().all(allowed)
        {
            return Err(InvalidKey::new(
                "fleet.key_prefix",
                format!(
                    "1..={KEY_PREFIX_BYTES_MAX} bytes of letters, digits and _-.:, got {prefix:?}"
                ),
            ));
        }
        check_range(
            "fleet.timeout_ms",
            self.timeout_ms,
            TIMEOUT_MS_MIN,
            TIMEOUT_MS_MAX,
        )?;
        check_range("fleet.lease_ms", self.lease_ms, LEASE_MS_MIN, LEASE_MS_MAX)?;
        if self.timeout_ms >= self.lease_ms / 3 {
            return Err(InvalidKey::new(
                "fleet.timeout_ms",
                format!(
                    "must be < a third of lease_ms ({}), got {}",
                    self.lease_ms / 3,
                    self.timeout_ms
                ),
            ));
        }
        Ok(())
    }

    /// `redis` parsed: `redis://host[:port][/db]` (no user or password).
    pub fn redis_addr(&self) -> Result<RedisAddr, InvalidKey> {
        let bad = |why: &str| {
            InvalidKey::new(
                "fleet.redis",
                format!(
                    "must be redis://host[:port][/db] ({why}), got {:?}",
                    self.redis
                ),
            )
        };
        if self.redis.is_empty() {
            return Err(InvalidKey::new(
                "fleet.redis",
                "required in [fleet], e.g. \"redis://127.0.0.1:6379\"",
            ));
        }
        let rest = self
            .redis
            .strip_prefix("redis://")
            .ok_or_else(|| bad("scheme"))?;
        let (authority, db) = match rest.split_once('/') {
            Some((a, "")) => (a, 0),
            Some((a, db)) => (a, db.parse().map_err(|_| bad("db number"))?),
            None => (rest, 0),
        };
        if authority.contains('@') {
            return Err(bad("a user or password is not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse().map_err(|_| bad("port"))?)
            }
            _ => (authority, REDIS_PORT_DEFAULT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("host and port"));
        }
        Ok(RedisAddr {
            host: host.to_owned(),
            port,
            db,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(redis: &str) -> FleetSection {
        FleetSection {
            redis: redis.to_owned(),
            ..FleetSection::default()
        }
    }

    #[test]
    fn urls_parse_into_host_port_and_db() {
        // Proves the accepted URL shapes and their defaults.
        let addr = section("redis://127.0.0.1:7000/2")
            .redis_addr()
            .expect("ok");
        assert_eq!(
            (addr.host.as_str(), addr.port, addr.db),
            ("127.0.0.1", 7000, 2)
        );
        let addr = section("redis://cache").redis_addr().expect("ok");
        assert_eq!((addr.host.as_str(), addr.port, addr.db), ("cache", 6379, 0));
        let addr = section("redis://[::1]:7001").redis_addr().expect("ok");
        assert_eq!((addr.host.as_str(), addr.port), ("::1", 7001));
        for bad in [
            "",
            "http://x",
            "redis://",
            "redis://h:0",
            "redis://u:p@h",
            "redis://h/x",
        ] {
            let e = section(bad).validate().expect_err(bad);
            assert!(e.to_string().starts_with("fleet.redis: "), "{e}");
        }
    }

    #[test]
    fn bounds_name_their_key() {
        // Proves each bound is checked and named.
        let mut s = section("redis://127.0.0.1");
        s.lease_ms = 100;
        assert!(
            s.validate()
                .expect_err("lease")
                .to_string()
                .starts_with("fleet.lease_ms")
        );
        s.lease_ms = 600;
        s.timeout_ms = 200;
        let e = s.validate().expect_err("timeout vs lease").to_string();
        assert!(e.starts_with("fleet.timeout_ms: must be < a third"), "{e}");
        s.timeout_ms = 100;
        s.key_prefix = "a b".to_owned();
        let e = s.validate().expect_err("prefix").to_string();
        assert!(e.starts_with("fleet.key_prefix"), "{e}");
    }
}

//! Hot reload, the config half (`docs/config.md#hot-reload`): the running file read with the
//! SHA-256 of its bytes, and what may change without a restart.
//!
//! Live: `[governor]`, `[skus.<sku>]` and each `[actuators.<kind>]`'s `breaker_failures` and
//! `breaker_cooldown_ms` — what the engine's configuration is made of, replaced whole. Every
//! other key is bound at start (a socket, a file, a capacity, a task, a backend) and a change
//! to it is refused by name. A key this file does not list is refused too (never silently
//! ignored): [`check_live`] compares the whole config once the live keys are masked.

use std::path::Path;

use autonomic_core::ActionKind;
use sha2::{Digest, Sha256};

use super::{ActuatorSection, Config, ConfigError};

/// A configuration as read from its file, with the SHA-256 of the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The parsed, validated configuration.
    pub config: Config,
    /// The SHA-256 of the file's bytes (of the empty file without one: the defaults).
    pub hash: [u8; 32],
}

/// Reads, parses and validates the file at `path` and hashes its bytes; without a file, the
/// defaults and the hash of the empty file (an empty file is the defaults).
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    let Some(path) = path else {
        return Ok(Loaded {
            config: Config::default(),
            hash: Sha256::digest(b"").into(),
        });
    };
    let text = Config::read_text(path)?;
    let config = Config::from_str(&text, &path.display().to_string())?;
    Ok(Loaded {
        config,
        hash: Sha256::digest(text.as_bytes()).into(),
    })
}

/// A changed key that only a restart applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} cannot change without a restart")]
pub struct RestartRequired {
    /// The key (or section) that changed, e.g. `listen` or `actuators.pause.timeout_ms`.
    pub key: String,
}

impl RestartRequired {
    fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }
}

/// The first of `fields` that differs between two configs, named as in the file (each
/// key here is its field's name).
macro_rules! first_changed {
    ($running:expr, $new:expr; $($field:ident),+ $(,)?) => {
        [$((stringify!($field), $running.$field != $new.$field)),+]
            .into_iter()
            .find_map(|(key, changed)| changed.then_some(key))
    };
}

/// Whether `new` changes only keys that apply live; the first key (in file order) that needs
/// a restart is named.
pub fn check_live(running: &Config, new: &Config) -> Result<(), RestartRequired> {
    let (r, n) = (running, new);
    let bound_at_start = first_changed!(r, n;
        listen, data_dir, token, fsync, ledger_capacity, max_tenants, tenant_id_bytes,
        dedup_ids, max_in_flight, max_rollbackable, max_queued_actions, max_timers,
        max_body_bytes,
        max_concurrent_requests, header_read_timeout_ms, idle_timeout_ms, body_read_timeout_ms,
        max_connections, allowed_origins, allowed_hosts, sampler, tenants, checkpoint, notify,
        fleet,
    );
    if let Some(key) = bound_at_start {
        return Err(RestartRequired::new(key));
    }
    for kind in ActionKind::ALL {
        let (before, after) = (r.actuators.get(kind), n.actuators.get(kind));
        if before.timeout_ms != after.timeout_ms {
            let key = format!("actuators.{}.timeout_ms", kind.as_str());
            return Err(RestartRequired::new(key));
        }
        if *before != with_breaker_of(after, before) {
            return Err(RestartRequired::new(format!("actuators.{}", kind.as_str())));
        }
    }
    if *r != with_live_keys_of(n, r) {
        return Err(RestartRequired::new("a key that is not hot-reloadable"));
    }
    Ok(())
}

/// `config` with the live keys taken from `running`: equal to `running` exactly when nothing
/// else changed.
fn with_live_keys_of(config: &Config, running: &Config) -> Config {
    let mut masked = config.clone();
    masked.governor = running.governor;
    masked.skus.clone_from(&running.skus);
    masked.actions.clone_from(&running.actions);
    for kind in ActionKind::ALL {
        let section = with_breaker_of(config.actuators.get(kind), running.actuators.get(kind));
        *section_mut(&mut masked, kind) = section;
    }
    masked
}

/// `section` with the breaker settings of `running`.
fn with_breaker_of(section: &ActuatorSection, running: &ActuatorSection) -> ActuatorSection {
    ActuatorSection {
        breaker_failures: running.breaker_failures,
        breaker_cooldown_ms: running.breaker_cooldown_ms,
        ..section.clone()
    }
}

fn section_mut(config: &mut Config, kind: ActionKind) -> &mut ActuatorSection {
    let actuators = &mut config.actuators;
    match kind {
        ActionKind::Throttle => &mut actuators.throttle,
        ActionKind::Pause => &mut actuators.pause,
        ActionKind::Shed => &mut actuators.shed,
        ActionKind::Rollback => &mut actuators.rollback,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Config {
        Config::from_str(text, "t.toml").unwrap()
    }

    fn refused(before: &str, after: &str) -> Option<String> {
        check_live(&parse(before), &parse(after))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn live_keys_pass_and_others_are_named() {
        let base = "[governor]\nwarn = 75\n";
        assert_eq!(refused(base, "[governor]\nwarn = 60\nrecover = 50\n"), None);
        assert_eq!(refused(base, "[skus.pro]\nrate_per_s = 5\n"), None);
        let breaker = "[actuators.pause]\nbreaker_failures = 2\nbreaker_cooldown_ms = 5000\n";
        assert_eq!(refused(base, breaker), None);
        let cases = [
            ("listen = \"127.0.0.1:9\"\n", "listen"),
            ("data_dir = \"elsewhere\"\n", "data_dir"),
            ("max_tenants = 7\n", "max_tenants"),
            ("max_timers = 7\n", "max_timers"),
            ("fsync = \"batch\"\n", "fsync"),
            ("[[tenants]]\nid = \"acme\"\nsku = \"pro\"\n", "tenants"),
            ("[sampler]\nenabled = false\n", "sampler"),
            (
                "[actuators.shed]\ntimeout_ms = 5\n",
                "actuators.shed.timeout_ms",
            ),
            (
                "[actuators.shed]\nbackend = \"exec\"\nprogram = \"/bin/true\"\n",
                "actuators.shed",
            ),
        ];
        for (after, key) in cases {
            let expected = format!("{key} cannot change without a restart");
            assert_eq!(refused(base, after), Some(expected), "{after}");
        }
    }

    #[test]
    fn the_hash_is_of_the_file_bytes() {
        let dir = std::env::temp_dir().join(format!("reload-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.toml");
        std::fs::write(&path, "[governor]\nwarn = 80\n").unwrap();
        let loaded = load(Some(&path)).unwrap();
        let expected: [u8; 32] = Sha256::digest(b"[governor]\nwarn = 80\n").into();
        assert_eq!(loaded.hash, expected);
        assert_eq!(loaded.config.governor.warn, 80);
        assert_eq!(
            load(None).unwrap().hash,
            <[u8; 32]>::from(Sha256::digest(b""))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

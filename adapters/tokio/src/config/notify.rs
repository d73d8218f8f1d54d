//! `[[notify]]`: the subscribers that receive every receipt as a CloudEvent
//! (`docs/events.md`).

use serde::Deserialize;

use super::InvalidKey;
use super::checks::{check_http_url, check_range};
use crate::events::notify::SUBSCRIBERS_MAX;

/// Default `timeout_ms` of one POST to a subscriber.
pub const NOTIFY_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Largest accepted `timeout_ms` of one POST to a subscriber.
pub const NOTIFY_TIMEOUT_MS_MAX: u64 = 60_000;

/// One `[[notify]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Where the events are POSTed (`http://` only).
    pub url: String,
    /// Time allowed for one POST, connection included (1..=60 000, default 5 000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    NOTIFY_TIMEOUT_MS_DEFAULT
}

/// At most [`SUBSCRIBERS_MAX`] entries, each with an `http://` URL and a timeout in bounds.
pub(super) fn validate_notify(entries: &[NotifySection]) -> Result<(), InvalidKey> {
    if entries.len() > SUBSCRIBERS_MAX {
        return Err(InvalidKey::new(
            "notify",
            format!("at most {SUBSCRIBERS_MAX} entries, got {}", entries.len()),
        ));
    }
    for (i, entry) in entries.iter().enumerate() {
        check_http_url(&entry.url)
            .map_err(|message| InvalidKey::new(format!("notify[{i}].url"), message))?;
        check_range(
            &format!("notify[{i}].timeout_ms"),
            entry.timeout_ms,
            1,
            NOTIFY_TIMEOUT_MS_MAX,
        )?;
    }
    Ok(())
}

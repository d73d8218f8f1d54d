//! The value rules of the config keys, each in one place.

use super::{ALLOWED_ENTRIES_MAX, ALLOWED_ENTRY_BYTES_MAX, InvalidKey, TOKEN_BYTES_MAX};
use crate::actuator::TEMPLATE_BYTES_MAX;

pub(super) fn check_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), InvalidKey> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(InvalidKey::new(
            key,
            format!("must be within {min}..={max}, got {value}"),
        ))
    }
}

pub(super) fn check_token(token: &str) -> Result<(), InvalidKey> {
    let message = if token.is_empty() {
        "must not be empty when set (omit it for no auth)".to_owned()
    } else if token.len() > TOKEN_BYTES_MAX {
        format!("at most {TOKEN_BYTES_MAX} bytes, got {}", token.len())
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        "only visible ASCII (it goes in an Authorization header)".to_owned()
    } else {
        return Ok(());
    };
    Err(InvalidKey::new("token", message))
}

pub(super) fn check_list(
    key: &str,
    entries: &[String],
    check: fn(&str) -> Result<(), String>,
) -> Result<(), InvalidKey> {
    if entries.len() > ALLOWED_ENTRIES_MAX {
        return Err(InvalidKey::new(
            key,
            format!(
                "at most {ALLOWED_ENTRIES_MAX} entries, got {}",
                entries.len()
            ),
        ));
    }
    for (i, entry) in entries.iter().enumerate() {
        let bad = |m: String| InvalidKey::new(format!("{key}[{i}]"), m);
        if entry.is_empty() || entry.len() > ALLOWED_ENTRY_BYTES_MAX {
            return Err(bad(format!(
                "1..={ALLOWED_ENTRY_BYTES_MAX} bytes, got {}",
                entry.len()
            )));
        }
        check(entry).map_err(bad)?;
    }
    Ok(())
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
pub(super) fn check_origin(origin: &str) -> Result<(), String> {
    let shape = format!("must be scheme://host[:port] as browsers send it, got {origin:?}");
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(shape);
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b));
    if scheme_ok && authority_ok {
        Ok(())
    } else {
        Err(shape)
    }
}

/// A host name or IP address as the `Host` header names it, without a port.
pub(super) fn check_host_name(host: &str) -> Result<(), String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if bare.unwrap_or(host).parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "must be a host name or an IP address without a port, got {host:?}"
        ))
    }
}

pub(super) fn check_http_url(url: &str) -> Result<(), String> {
    if url.len() > TEMPLATE_BYTES_MAX {
        return Err(format!("at most {TEMPLATE_BYTES_MAX} bytes"));
    }
    if url
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    {
        return Err(format!(
            "{url:?}: https is not supported; terminate TLS in a local proxy and give its http:// URL"
        ));
    }
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => url.get(7..).unwrap_or_default(),
        _ => return Err(format!("{url:?}: must start with http://")),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("{url:?}: names no host"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{url:?}: spaces or non-ASCII bytes"));
    }
    Ok(())
}

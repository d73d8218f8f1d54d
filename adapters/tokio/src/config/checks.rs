//! The value rules of the config keys, each in one place.

use super::*;

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

/// SPEC section 2's tenant id rule, checked here too for a clear config error.
pub(super) fn check_tenant_id(key: &str, id: &str) -> Result<(), InvalidKey> {
    let message = if id.is_empty() {
        "must not be empty".to_owned()
    } else if id.len() > TENANT_ID_BYTES_MAX {
        format!("at most {TENANT_ID_BYTES_MAX} bytes, got {}", id.len())
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        format!("only visible ASCII (no spaces), got {id:?}")
    } else {
        return Ok(());
    };
    Err(InvalidKey::new(key, message))
}

pub(super) fn check_sku(key: &str, sku: &str) -> Result<(), InvalidKey> {
    if SKUS.contains(&sku) {
        Ok(())
    } else {
        Err(InvalidKey::new(
            key,
            format!("must be one of starter, pro, enterprise, got {sku:?}"),
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

pub(super) fn check_string(key: &str, value: &str) -> Result<(), InvalidKey> {
    let message = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.len() > ACTUATOR_STRING_BYTES_MAX {
        format!(
            "at most {ACTUATOR_STRING_BYTES_MAX} bytes, got {}",
            value.len()
        )
    } else if value.contains('\0') {
        "contains a NUL byte".to_owned()
    } else {
        return Ok(());
    };
    Err(InvalidKey::new(key, message))
}

pub(super) fn check_args(key: &str, args: &[String]) -> Result<(), InvalidKey> {
    if args.len() > ACTUATOR_ARGS_MAX {
        return Err(InvalidKey::new(
            key,
            format!("at most {ACTUATOR_ARGS_MAX} entries, got {}", args.len()),
        ));
    }
    for (i, arg) in args.iter().enumerate() {
        if arg.len() > ACTUATOR_STRING_BYTES_MAX || arg.contains('\0') {
            return Err(InvalidKey::new(
                format!("{key}[{i}]"),
                format!("at most {ACTUATOR_STRING_BYTES_MAX} bytes and no NUL byte"),
            ));
        }
    }
    Ok(())
}

pub(super) fn check_http_url(url: &str) -> Result<(), String> {
    if url.len() > ACTUATOR_STRING_BYTES_MAX {
        return Err(format!("at most {ACTUATOR_STRING_BYTES_MAX} bytes"));
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

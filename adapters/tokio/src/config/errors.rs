//! Config errors: one line naming the file and the key, toml's own errors included.

use std::fmt::Write as _;
use std::io;

use thiserror::Error;

/// Longest parser message kept in an error, in bytes.
const PARSE_MESSAGE_BYTES_MAX: usize = 4096;

/// A value that fails validation: the key's dotted path and what is wrong, one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {message}")]
pub struct InvalidKey {
    /// Dotted path of the key, e.g. `governor.warn` or `tenants[1].sku`.
    pub key: String,
    /// What is wrong, naming the bound and the value.
    pub message: String,
}

impl InvalidKey {
    pub(super) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a config could not be loaded. `Display` is one line naming the file and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read (or is not UTF-8).
    #[error("config {origin}: cannot read: {source}")]
    Read {
        /// The file's name as given.
        origin: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is larger than [`CONFIG_FILE_BYTES_MAX`](super::CONFIG_FILE_BYTES_MAX).
    #[error("config {origin}: larger than {max_bytes} bytes")]
    TooLarge {
        /// The file's name as given.
        origin: String,
        /// [`CONFIG_FILE_BYTES_MAX`](super::CONFIG_FILE_BYTES_MAX).
        max_bytes: u64,
    },
    /// A key this program does not know (often a typo).
    #[error("config {origin}: unknown key '{key}'{}{}", at_line(*.line), expected_suffix(.expected.as_deref()))]
    UnknownKey {
        /// The file's name as given.
        origin: String,
        /// Dotted path of the unknown key.
        key: String,
        /// 1-based line of the key, when known.
        line: Option<u32>,
        /// The keys allowed there, as the parser lists them.
        expected: Option<String>,
    },
    /// Not TOML, or a value of the wrong type or shape.
    #[error("config {origin}: {}{message}{}", key_prefix(.key.as_deref()), line_suffix(*.line))]
    Parse {
        /// The file's name as given.
        origin: String,
        /// Dotted path of the key, when known.
        key: Option<String>,
        /// 1-based line, when known.
        line: Option<u32>,
        /// The parser's message, on one line.
        message: String,
    },
    /// A well-formed value out of its bounds or inconsistent with another.
    #[error("config {origin}: {invalid}")]
    Invalid {
        /// The file's name as given.
        origin: String,
        /// The key and what is wrong with it.
        invalid: InvalidKey,
    },
}

pub(super) fn at_line(line: Option<u32>) -> String {
    line.map(|n| format!(" at line {n}")).unwrap_or_default()
}

pub(super) fn line_suffix(line: Option<u32>) -> String {
    line.map(|n| format!(" (line {n})")).unwrap_or_default()
}

pub(super) fn expected_suffix(expected: Option<&str>) -> String {
    expected
        .map(|e| format!(" (expected {e})"))
        .unwrap_or_default()
}

pub(super) fn key_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("{k}: ")).unwrap_or_default()
}

/// Turns toml's error into one line naming the key.
///
/// toml keeps the dotted path of the table being deserialized (shown by its `Display` when no
/// input is attached: `in `governor.warn``); the field of an "unknown field" or "missing
/// field" message is appended to it, and `[[array]]` tables get the entry's index, counted
/// from the headers before the error's position.
pub(super) fn parse_error(origin: &str, text: &str, mut error: toml::de::Error) -> ConfigError {
    let message = crate::text::one_line(error.message().trim(), PARSE_MESSAGE_BYTES_MAX);
    let span = error.span();
    error.set_input(None);
    let rendered = error.to_string();
    let position = span.map(|s| s.start);
    let line = position.map(|at| line_of(text, at));
    let path = rendered
        .lines()
        .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
        .map(|p| index_array_tables(p, text, position));
    let origin = origin.to_owned();
    if let Some(field) = backticked_after(&message, "unknown field `") {
        let expected = message
            .split_once(", expected ")
            .map(|(_, expected)| expected.to_owned());
        return ConfigError::UnknownKey {
            origin,
            key: join_key(path.as_deref(), field),
            line,
            expected,
        };
    }
    if let Some(field) = backticked_after(&message, "missing field `") {
        return ConfigError::Parse {
            origin,
            key: Some(join_key(path.as_deref(), field)),
            line,
            message: "required key is missing".to_owned(),
        };
    }
    // A duplicate key carries no path; its span is the key itself, inside the last table.
    let key = path.or_else(|| {
        let span = error.span()?;
        let name = text.get(span.clone())?.trim();
        let plausible = !name.is_empty() && name.len() <= 128 && !name.contains(['\n', '=']);
        plausible.then(|| join_key(enclosing_table(text, span.start).as_deref(), name))
    });
    ConfigError::Parse {
        origin,
        key,
        line,
        message,
    }
}

/// The `[table]` or `[[table]]` header in force at byte `at` (`None` at top level).
pub(super) fn enclosing_table(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let header = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))?;
    let name = header
        .split('#')
        .next()?
        .trim()
        .trim_matches(['[', ']'])
        .trim();
    Some(name.to_owned())
}

pub(super) fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(field, _)| field)
}

pub(super) fn join_key(path: Option<&str>, field: &str) -> String {
    match path {
        Some(path) if !path.is_empty() => format!("{path}.{field}"),
        _ => field.to_owned(),
    }
}

/// 1-based line of byte `at` in `text`.
pub(super) fn line_of(text: &str, at: usize) -> u32 {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let newlines = before.bytes().filter(|&b| b == b'\n').count();
    u32::try_from(newlines).unwrap_or(u32::MAX - 1) + 1
}

/// `tenants.sku` -> `tenants[1].sku` when the error sits in the second `[[tenants]]` entry.
pub(super) fn index_array_tables(path: &str, text: &str, position: Option<usize>) -> String {
    let (first, rest) = match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    let Some(at) = position else {
        return path.to_owned();
    };
    let line_end = text
        .get(at..)
        .and_then(|after| after.find('\n'))
        .map_or(text.len(), |n| at + n);
    let before = text.get(..line_end).unwrap_or(text);
    let header = format!("[[{first}]]");
    let count = before
        .lines()
        .filter(|l| l.trim().replace(' ', "") == header)
        .count();
    if count == 0 {
        return path.to_owned();
    }
    let mut indexed = String::new();
    let _ = write!(indexed, "{first}[{}]", count - 1);
    if let Some(rest) = rest {
        indexed.push('.');
        indexed.push_str(rest);
    }
    indexed
}

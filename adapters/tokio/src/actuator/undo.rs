//! The cgroup backend's undo token: what a rollback needs to restore a prior value, small
//! enough for the ledger's outcome receipt ([`UNDO_BYTES_MAX`] bytes).
//!
//! Format, version 1 (ASCII text, one line, no trailing newline):
//!
//! ```text
//! token = "cg1" SP file SP value            ; at most UNDO_BYTES_MAX (64) bytes
//! file  = "cpu.max" / "cpu.cfs_quota_us"    ; throttle (v2 / v1)
//!       / "cgroup.freeze" / "freezer.state" ; pause (v2 / v1)
//! value = the control file's prior content without surrounding whitespace, per file:
//!   cpu.max           ("max" / uint) [SP uint]   e.g. "max 100000", "50000 100000"
//!   cpu.cfs_quota_us  ["-"] uint                 e.g. "-1", "250000"
//!   cgroup.freeze     "0" / "1"
//!   freezer.state     "THAWED" / "FROZEN"
//! uint  = 1*20DIGIT
//! ```
//!
//! The longest possible token (`cg1 cpu.max` and two 20-digit numbers) is 53 bytes. The
//! group directory is not in the token: rollback recomputes it from the config and the
//! tenant, so a token can only name one of four files in a directory the config already
//! allows. Rollback writes `value` plus a newline. A later format changes the `cg1` magic;
//! a token this version does not understand is refused, never guessed at.

use std::fmt;

use super::{ActionKind, UNDO_BYTES_MAX};

/// The magic that starts a version-1 token.
const MAGIC_V1: &str = "cg1";
/// Most digits in one number of a value (u64::MAX has 20).
const DIGITS_MAX: usize = 20;

/// A control file the cgroup backend writes; the only files an undo token may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFile {
    /// cgroup v2 CPU limit, `"<quota|max> <period>"`.
    CpuMax,
    /// cgroup v1 CPU quota in µs, `-1` for unlimited.
    CfsQuotaUs,
    /// cgroup v2 freeze switch, `0` or `1`.
    CgroupFreeze,
    /// cgroup v1 freezer state, `THAWED` or `FROZEN`.
    FreezerState,
}

impl ControlFile {
    /// Every file, in the order of the format's grammar.
    pub const ALL: [ControlFile; 4] = [
        Self::CpuMax,
        Self::CfsQuotaUs,
        Self::CgroupFreeze,
        Self::FreezerState,
    ];

    /// The file's name inside a group directory.
    pub fn name(self) -> &'static str {
        match self {
            Self::CpuMax => "cpu.max",
            Self::CfsQuotaUs => "cpu.cfs_quota_us",
            Self::CgroupFreeze => "cgroup.freeze",
            Self::FreezerState => "freezer.state",
        }
    }

    /// The file with this exact name, if it is one of the four.
    pub fn from_name(name: &str) -> Option<ControlFile> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The action kind that writes this file.
    pub fn kind(self) -> ActionKind {
        match self {
            Self::CpuMax | Self::CfsQuotaUs => ActionKind::Throttle,
            Self::CgroupFreeze | Self::FreezerState => ActionKind::Pause,
        }
    }

    /// Whether the file belongs to cgroup v2 (else v1).
    pub fn is_v2(self) -> bool {
        matches!(self, Self::CpuMax | Self::CgroupFreeze)
    }

    /// Whether `value` (already trimmed) is a content this file can be given back.
    fn accepts(self, value: &str) -> bool {
        match self {
            Self::CpuMax => {
                let mut fields = value.split(' ');
                let quota_ok = fields.next().is_some_and(|q| q == "max" || is_uint(q));
                let period_ok = fields.next().is_none_or(is_uint);
                quota_ok && period_ok && fields.next().is_none()
            }
            Self::CfsQuotaUs => is_uint(value.strip_prefix('-').unwrap_or(value)),
            Self::CgroupFreeze => value == "0" || value == "1",
            Self::FreezerState => value == "THAWED" || value == "FROZEN",
        }
    }
}

impl fmt::Display for ControlFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_uint(text: &str) -> bool {
    !text.is_empty() && text.len() <= DIGITS_MAX && text.bytes().all(|b| b.is_ascii_digit())
}

/// Why an undo token was refused. `Display` is the rollback report's detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    /// No token: the run recorded nothing to restore (or the caller lost it).
    #[error("no undo token (nothing recorded to restore)")]
    Empty,
    /// Longer than [`UNDO_BYTES_MAX`].
    #[error("undo token is {len} bytes, longer than {UNDO_BYTES_MAX}")]
    TooLong {
        /// The token's length in bytes.
        len: usize,
    },
    /// Not a `cg1 <file> <value>` line of printable ASCII.
    #[error("malformed undo token: {0}")]
    Malformed(&'static str),
    /// The file is not one of the four the backend writes.
    #[error("undo token names unknown control file {0:?}")]
    UnknownFile(String),
    /// The file belongs to the other action kind.
    #[error("undo token names {file}, which a {} does not write", .kind.as_str())]
    WrongKind {
        /// The named file.
        file: ControlFile,
        /// The kind of the rolling-back actuator.
        kind: ActionKind,
    },
    /// The value is not a content of that file.
    #[error("undo token has a bad value for {file}: {value:?}")]
    BadValue {
        /// The named file.
        file: ControlFile,
        /// The refused value.
        value: String,
    },
}

/// A decoded, validated undo token: write `value` back into `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupUndo {
    file: ControlFile,
    value: String,
}

impl CgroupUndo {
    /// The token for restoring `prior` (a control file's content as read) into `file`;
    /// `None` if the content is not one the format can carry (the caller then fails the
    /// action rather than promise a rollback it cannot do).
    pub fn new(file: ControlFile, prior: &[u8]) -> Option<CgroupUndo> {
        let value = std::str::from_utf8(prior).ok()?.trim();
        if !file.accepts(value) {
            return None;
        }
        let undo = CgroupUndo {
            file,
            value: value.to_owned(),
        };
        debug_assert!(undo.encode().len() <= UNDO_BYTES_MAX);
        Some(undo)
    }

    /// The file to write.
    pub fn file(&self) -> ControlFile {
        self.file
    }

    /// The content to write back (without the newline rollback appends).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The version-1 bytes, at most [`UNDO_BYTES_MAX`].
    pub fn encode(&self) -> Vec<u8> {
        let bytes = format!("{MAGIC_V1} {} {}", self.file.name(), self.value).into_bytes();
        debug_assert!(bytes.len() <= UNDO_BYTES_MAX);
        debug_assert!(self.file.accepts(&self.value));
        bytes
    }

    /// Parses and validates a token for an actuator of `kind`. Never panics.
    pub fn decode(bytes: &[u8], kind: ActionKind) -> Result<CgroupUndo, UndoError> {
        if bytes.is_empty() {
            return Err(UndoError::Empty);
        }
        if bytes.len() > UNDO_BYTES_MAX {
            return Err(UndoError::TooLong { len: bytes.len() });
        }
        if !bytes.iter().all(|b| (b' '..=b'~').contains(b)) {
            return Err(UndoError::Malformed("not printable ASCII"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| UndoError::Malformed("not UTF-8"))?;
        let mut parts = text.splitn(3, ' ');
        if parts.next() != Some(MAGIC_V1) {
            return Err(UndoError::Malformed("does not start with \"cg1 \""));
        }
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
            return Err(UndoError::Malformed("expected \"cg1 <file> <value>\""));
        };
        let file =
            ControlFile::from_name(name).ok_or_else(|| UndoError::UnknownFile(name.to_owned()))?;
        if file.kind() != kind {
            return Err(UndoError::WrongKind { file, kind });
        }
        if !file.accepts(value) {
            return Err(UndoError::BadValue {
                file,
                value: value.to_owned(),
            });
        }
        let undo = CgroupUndo {
            file,
            value: value.to_owned(),
        };
        debug_assert_eq!(undo.encode(), bytes);
        Ok(undo)
    }
}

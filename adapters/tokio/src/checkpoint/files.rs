//! The checkpoint, key and witness files: bounded reads, atomic and durable writes, and a
//! private key that only its owner may read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use thiserror::Error;

use super::{CHECKPOINT_BYTES_MAX, Checkpoint, KEY_FILE_BYTES_MAX, ParseError, parse_hex};

/// Why a checkpoint, key or witness file could not be used.
#[derive(Debug, Error)]
pub enum FileError {
    /// Reading, writing or syncing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The checkpoint file does not parse or verify.
    #[error("{}: not a valid checkpoint: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ParseError,
    },
    /// The private key file is readable by others, or not a key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a checkpoint file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Checkpoint>, FileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut text = String::new();
    file.take(CHECKPOINT_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(io_error(path))?;
    Checkpoint::parse(&text)
        .map(Some)
        .map_err(|source| FileError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Replaces `path` with `text` atomically and durably: a temporary file beside it, fsync,
/// rename, fsync of the directory. A reader sees the old or the new file, never a mix.
pub fn write_atomically(path: &Path, text: &str, mode: u32) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(&dir))
}

/// Loads the Ed25519 private key at `path` (64 hex characters and a newline), or makes one
/// with mode 0600 when the file does not exist. A key file readable or writable by group or
/// others is refused, as ssh does.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, FileError> {
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(FileError::Key {
                    path: path.to_path_buf(),
                    reason: "the private key is accessible by group or others (chmod 600 it)",
                });
            }
            let mut text = String::new();
            File::open(path)
                .and_then(|f| f.take(KEY_FILE_BYTES_MAX).read_to_string(&mut text))
                .map_err(io_error(path))?;
            let bytes =
                parse_hex::<32>(text.trim_end_matches('\n'), 1).map_err(|_| FileError::Key {
                    path: path.to_path_buf(),
                    reason: "not an Ed25519 private key (64 lowercase hex characters)",
                })?;
            Ok(SigningKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut seed = [0_u8; 32];
            getrandom::fill(&mut seed).map_err(|e| {
                io_error(path)(io::Error::other(format!("no randomness for a key: {e}")))
            })?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io_error(dir))?;
            }
            write_atomically(path, &format!("{}\n", hex::encode(seed)), 0o600)?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Reads a public key file (64 hex characters and a newline); `Ok(None)` when there is none.
pub fn read_public_key(path: &Path) -> Result<Option<[u8; 32]>, FileError> {
    let mut text = String::new();
    match File::open(path) {
        Ok(f) => f
            .take(KEY_FILE_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(io_error(path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    parse_hex::<32>(text.trim_end_matches('\n'), 1)
        .map(Some)
        .map_err(|_| FileError::Key {
            path: path.to_path_buf(),
            reason: "not an Ed25519 public key (64 lowercase hex characters)",
        })
}

//! The command line of `docs/cli.md` (clap derive).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// autonomic: a MAPE-K autonomic controller sidecar.
#[derive(Debug, Parser)]
#[command(name = "autonomic", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in scenario end to end in a temporary data dir, verify its ledger.
    Demo {
        /// One JSON object per step instead of text lines.
        #[arg(long)]
        json: bool,
        /// Keep the data dir at DIR (created if missing; must be empty) instead of a
        /// temporary one that is removed at the end.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Run the sidecar (HTTP API, engine, ledger, actuators, host sampler).
    Run {
        /// TOML config file (see docs/config.md); without it, the defaults.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// HTTP listen address (overrides the config); port 0 picks a free port, written
        /// to <data_dir>/listen.addr.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Data directory holding ledger.log (overrides the config).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Log format (logs go to stderr).
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Replay JSON lines deterministically (no I/O, nothing executed): one line out per line in.
    Replay {
        /// Input file, or `-` (the default) for stdin.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// Verify the whole ledger file's chain, and that it contains the heads of its signed
    /// checkpoints (the data dir's, and `--checkpoint FILE` held elsewhere). Several data
    /// dirs (a fleet's sidecars): one line each, exit 1 if any fails.
    Verify {
        /// Data directory holding ledger.log.
        #[arg(long, value_name = "DIR", required_unless_present = "paths")]
        data_dir: Option<PathBuf>,
        /// More data dirs, or checkpoint files (each checked against the ledger of the
        /// directory it is in).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// A checkpoint kept elsewhere (an auditor's copy, the witness): the ledger must
        /// contain its head. Only with one data dir.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The public key checkpoints must be signed with (default: the data dir's
        /// identity.pub, when present).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Print the ledger's receipts as JSON lines, oldest first.
    Ledger {
        /// Data directory holding ledger.log.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Only the last N receipts (after the tenant filter).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
        tail: Option<u64>,
        /// Only this tenant's receipts.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
}

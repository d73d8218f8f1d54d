//! The `autonomic` binary: parses the command line and runs one subcommand.
//! Exit codes are in [`autonomic_tokio::exit`]; errors are one line on stderr.

use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;

use autonomic_tokio::cli::{Cli, Command, LogFormat};
use autonomic_tokio::sidecar::RunArgs;
use autonomic_tokio::{commands, demo, exit, replay, sidecar};
use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match cli.command {
        Command::Demo { json, keep } => demo::run(&demo::DemoArgs { json, keep }),
        Command::Run {
            config,
            listen,
            data_dir,
            log_format,
        } => {
            init_logs(log_format);
            sidecar::run(&RunArgs {
                config,
                listen,
                data_dir,
            })
        }
        Command::Replay { file } => run_replay(file.as_deref()),
        Command::Verify {
            data_dir,
            paths,
            checkpoint,
            public_key,
        } => {
            let targets: Vec<_> = data_dir.into_iter().chain(paths).collect();
            commands::verify_many(&targets, checkpoint.as_deref(), public_key.as_deref())
        }
        Command::Ledger {
            data_dir,
            tail,
            tenant,
        } => commands::ledger(&data_dir, tail, tenant.as_deref()),
    }
}

/// `--help` and `--version` print as clap does (exit 0); a usage error is one line (exit 2).
fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                exit::code(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!("{} (see --help)", clap_message(&e.to_string()));
            exit::code(exit::USAGE)
        }
    }
}

/// clap's message on one line, keeping every line of it (the missing argument's name, the
/// usage) but its "For more information" hint: a line ending in `:` runs on into the next,
/// other lines are joined with `; `.
fn clap_message(text: &str) -> String {
    let mut out = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
    {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    if out.is_empty() {
        out.push_str("error: bad usage");
    }
    out
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Replays a file (or stdin) to stdout.
fn run_replay(file: Option<&Path>) -> ExitCode {
    let mut input: Box<dyn BufRead> = match file {
        None => Box::new(BufReader::new(io::stdin())),
        Some(path) if path == Path::new("-") => Box::new(BufReader::new(io::stdin())),
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("error: replay: {}: {e}", path.display());
                return exit::code(exit::USAGE);
            }
        },
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match replay::replay(&mut input, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: replay: {e}");
            exit::code(exit::USAGE)
        }
    }
}

//! `zeh`: fetch, follow, serve and store ZeroEventHub feeds from a terminal.
//!
//! This file parses the command line, starts the runtime and turns the
//! outcome into an exit status: 0 on success (or when the reader of stdout
//! went away), 1 on a failure, described on one line on stderr, 2 on
//! invalid arguments (from clap), 130 when a second signal cut a command
//! short.

mod append;
mod args;
mod auth;
mod connect;
mod database;
mod discover;
mod event_log;
mod fetch;
mod follow;
mod help;
mod http_server;
mod metrics;
mod output;
mod parse;
mod progress;
mod runtime;
mod serve;
mod signal;
mod source;
mod store;
mod version;

use std::{fmt, process::ExitCode};

use tracing_subscriber::EnvFilter;

use crate::{
    args::{Cli, Command},
    output::{StdoutError, describe, report},
    signal::Signals,
};

/// The exit status of a command cut short by a second signal.
const INTERRUPTED_STATUS: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    exit_status(result)
}

/// Runs one subcommand.
async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        // One request: the default signal handling (end at once) is right.
        Command::Fetch(args) => fetch::run(args).await,
        Command::Follow(args) => follow::run(args, &install_signals()?).await,
        Command::Serve(args) => serve::run(args, &install_signals()?).await,
        // One transaction: ended at once by a signal, it appends nothing.
        Command::Append(args) => append::run(args).await,
        Command::Cursors(args) => store::print_cursors(&args).await,
        Command::Discover(args) => discover::run(args).await,
    }
}

fn install_signals() -> anyhow::Result<Signals> {
    Signals::install().map_err(|error| anyhow::anyhow!("cannot handle signals: {error}"))
}

/// Logs of the libraries (for example every request `zeh serve` answers,
/// with `RUST_LOG=debug`) go to stderr; warnings and errors by default.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // Colours only for a person at a terminal, not in a log file or pipe.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours)
        .init();
}

/// The exit status for a command's outcome, after reporting a failure.
fn exit_status(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(StdoutError::Closed) = error.downcast_ref::<StdoutError>() {
        // Like `head` closing a pipe: the reader has all it wanted.
        return ExitCode::SUCCESS;
    }
    if error.is::<Interrupted>() {
        report("interrupted");
        return ExitCode::from(INTERRUPTED_STATUS);
    }
    report(&describe(error.as_ref()));
    ExitCode::FAILURE
}

/// A second signal cut the command short.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

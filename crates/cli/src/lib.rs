//! The `voxwire` command-line program.
//!
//! - `voxwire say [TEXT|-] [-o FILE] [--voice V] [--language L] [--provider ID]...
//!   [--format wav|pcm|mulaw|alaw] [--sample-rate HZ] [--config FILE] [--verbose] [--play]`:
//!   with no `-o` and stdout a terminal (or with `--play`) it plays through a
//!   player program found on `PATH` (see [`play`])
//! - `voxwire voices [--provider ID]... [--config FILE]`
//! - `voxwire serve [--listen ADDR] [--provider ID]... [--config FILE]`: the relay.
//! - `voxwire doctor [--provider ID]... [--config FILE]`: per provider, a table
//!   of checks and a diagnosis; exit 0 only when every provider is healthy.
//!
//! Exit status: 0 success, 1 synthesis failed (or doctor found a problem), 2 bad request (input, config,
//! voice, provider, output path), 130 interrupted. See [`exit`].
//!
//! # Example
//!
//! The `voxwire` binary is this crate's [`main`]; a program that wants the same
//! command line calls it too:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     voxwire_cli::main()
//! }
//! ```
#![warn(missing_docs)]

pub mod args;
pub mod cache;
pub mod chain;
pub mod config;
pub mod doctor;
pub mod exit;
pub mod input;
pub mod output;
pub mod play;
pub mod progress;
pub mod say;
pub mod serve;
pub mod signals;
pub mod table;
pub mod voices;

#[cfg(test)]
mod testing;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

// Linked so its `inventory::submit!` registers the `espeak` provider.
use voxwire_espeak as _;
// Linked so its factory registers: `piper` joins the default chain ahead of
// `espeak` when a voice and ONNX Runtime are found.
#[cfg(feature = "piper")]
use voxwire_piper as _;
// Linked so its factory registers: `xai` joins the default chain when XAI_API_KEY is set.
use voxwire_openai as _;
use voxwire_xai as _;
// Linked so its factory registers: `deepgram` joins the default chain when DEEPGRAM_API_KEY is set.
use voxwire_deepgram as _;
// Linked so its factory registers: `elevenlabs` joins the default chain when ELEVENLABS_API_KEY is set.
use voxwire_elevenlabs as _;
// Linked so its factory registers: `cartesia` joins the default chain when CARTESIA_API_KEY is set.
use voxwire_cartesia as _;

use crate::args::{Cli, Command};
use crate::exit::CliError;

/// How long shutdown waits for background work (an engine thread) after the command ends.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Runs the program with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(CliError::USAGE));
        }
    };
    init_logging();
    signals::unblock_stop_signals();
    match run(cli, environment()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.status() == CliError::INTERRUPTED => {
            eprintln!("voxwire: interrupted");
            e.exit_code()
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// The environment as UTF-8 pairs; variables that are not UTF-8 are skipped
/// (`std::env::vars` would panic on them).
fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`). A log line that
/// cannot be written (stderr closed) is dropped: tracing-subscriber's report
/// of it would `eprintln!` to the same closed stderr and panic the task that
/// logged (a relay's request handler, for one).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli, vars: Vec<(String, String)>) -> Result<(), CliError> {
    match cli.command {
        Command::Say(args) => {
            // Reading stdin happens before Ctrl-C is caught, so it can interrupt the read.
            let prepared = say::prepare(args, vars, std::io::stdin().lock())?;
            let outcome = with_runtime(say::run(prepared))?;
            eprintln!("{}", outcome.summary());
            Ok(())
        }
        Command::Voices(args) => with_runtime(voices::run(args, vars)),
        Command::Doctor(args) => with_runtime(doctor::run(args, vars)),
        Command::Serve(args) => serve::run(args, vars),
        Command::Cache(args) => with_runtime(cache::run(args, vars)),
    }
}

/// Runs `work` on a multi-thread runtime; Ctrl-C drops it (deleting any
/// temporary output) and yields [`CliError::interrupted`].
fn with_runtime<T>(work: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async {
        let interrupt = interrupt_signal();
        tokio::select! {
            // Ctrl-C first: once it came, no more work is done.
            biased;
            () = interrupt => Err(CliError::interrupted()),
            result = work => result,
        }
    });
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// Completes on Ctrl-C (SIGINT); never, if the handler cannot be installed.
/// Must be called inside the runtime: the handler is installed at once.
fn interrupt_signal() -> Pin<Box<dyn Future<Output = ()>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::interrupt()) {
            Ok(mut sig) => Box::pin(async move {
                if sig.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }),
            Err(err) => {
                tracing::warn!(%err, "cannot catch Ctrl-C");
                Box::pin(std::future::pending())
            }
        }
    }
    #[cfg(not(unix))]
    {
        Box::pin(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

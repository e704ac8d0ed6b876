//! The Python interpreter of the test command's venv, for conformance checks
//! that run a vendor's own SDK against a mock or the relay.
//!
//! `cargo xtask test` makes the venv (from `xtask/python-requirements.txt`) and
//! passes its interpreter in `VOXWIRE_PYTHON`. A plain `cargo test` outside CI
//! has no venv: [`interpreter`] then returns `None` and the check says it was
//! skipped; under CI (`CI` set) a missing venv is a failure, never a skip.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The venv's interpreter, or `None` outside the test command (never under CI).
///
/// # Panics
/// When `CI` is set and `VOXWIRE_PYTHON` is not: the check must run there.
pub fn interpreter() -> Option<PathBuf> {
    match std::env::var_os("VOXWIRE_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("CI").is_some() => {
            panic!("VOXWIRE_PYTHON is not set under CI: run the tests with `cargo xtask test`")
        }
        None => {
            eprintln!(
                "skipped: VOXWIRE_PYTHON is not set (run `cargo xtask test` for the SDK checks)"
            );
            None
        }
    }
}

/// Runs `script` (Python source) with `args` and the given environment, and
/// returns its output; `None` when there is no interpreter (see [`interpreter`]).
///
/// # Panics
/// When the interpreter cannot be started.
pub fn run_script(script: &str, args: &[&str], envs: &[(&str, &str)]) -> Option<Output> {
    let python = interpreter()?;
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    Some(output)
}

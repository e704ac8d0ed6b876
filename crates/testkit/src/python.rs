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

/// Runs `script` like [`run_script`] and parses what it printed as JSON:
/// what every SDK check does (the script prints one JSON object of what the
/// SDK got). `None` when there is no interpreter.
///
/// # Panics
/// When the script fails (its stderr and stdout in the message) or prints
/// something that is not JSON.
pub fn run_json(script: &str, args: &[&str], envs: &[(&str, &str)]) -> Option<serde_json::Value> {
    let output = run_script(script, args, envs)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed ({}): {stderr}\n{stdout}",
        output.status
    );
    let parsed = serde_json::from_str(stdout.trim());
    Some(
        parsed
            .unwrap_or_else(|e| panic!("the SDK script printed no JSON ({e}): {stdout}\n{stderr}")),
    )
}

/// The bytes of the base64 string at `v[field]` (audio an SDK script handed back).
///
/// # Panics
/// When `v[field]` is not a base64 string.
pub fn base64_field(v: &serde_json::Value, field: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {v}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("`{field}` is not base64 ({e}): {text}"))
}

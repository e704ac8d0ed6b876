//! `cargo xtask test`: installs what the tests need, then runs every check.
//!
//! One command for developers and CI alike:
//! 1. installs the system `espeak-ng` (Debian package) so both offline engines
//!    are tested, and the `wasm32-unknown-unknown` target for the core's wasm build;
//! 2. `cargo fmt --check`, `cargo clippy --all-targets -D warnings`;
//! 3. every unit, integration and doc test of the workspace;
//! 4. `voxwire-core` and the xAI protocol types built for wasm32.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => run(test),
        Some("setup") => run(setup),
        _ => {
            eprintln!("usage: cargo xtask <test|setup>\n  test   install test dependencies, then run every check\n  setup  only install test dependencies");
            ExitCode::from(2)
        }
    }
}

fn run(task: fn() -> Result<(), String>) -> ExitCode {
    match task() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test() -> Result<(), String> {
    setup()?;
    let cargo = cargo();
    step(
        "format",
        Command::new(&cargo).args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "lint",
        Command::new(&cargo).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step("tests", Command::new(&cargo).args(["test", "--workspace"]))?;
    step(
        "wasm32 build of voxwire-core and the xAI protocol types",
        Command::new(&cargo).args([
            "build",
            "-p",
            "voxwire-core",
            "-p",
            "voxwire-xai",
            "--no-default-features",
            "--target",
            "wasm32-unknown-unknown",
        ]),
    )?;
    eprintln!("xtask: every check passed");
    Ok(())
}

fn setup() -> Result<(), String> {
    if find_on_path("espeak-ng").is_none() {
        apt_install(&["espeak-ng"])?;
    }
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        step(
            "wasm32 target",
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        )?;
    }
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))?;
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|c| c.starts_with(component)) {
            step(
                component,
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    Ok(())
}

/// Installs Debian packages (as root, or through sudo when available).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let is_root = output(Command::new("id").arg("-u")).map(|u| u.trim() == "0")?;
    let prefix: Vec<&str> = if is_root {
        vec![]
    } else if find_on_path("sudo").is_some() {
        vec!["sudo"]
    } else {
        return Err(format!(
            "{} is needed but not installed, and this user cannot run apt-get: install it by hand",
            packages.join(" ")
        ));
    };
    let apt = |args: &[&str]| {
        let all: Vec<&str> = prefix.iter().copied().chain(args.iter().copied()).collect();
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    step("apt-get update", &mut apt(&["apt-get", "update", "-qq"]))?;
    let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    install.extend_from_slice(packages);
    step(
        &format!("install {}", packages.join(" ")),
        &mut apt(&install),
    )
}

fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {name}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot start {:?}: {e}", cmd.get_program()))?;
    eprintln!(
        "xtask: {name} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo() -> PathBuf {
    env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| Path::is_file(p))
    })
}

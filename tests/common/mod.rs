//! Shared by the workspace's end-to-end tests that run `voxwire serve`
//! (each test binary uses part of it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Reads the relay's first stderr line (`... listening on http://HOST:PORT ...`)
/// and returns `HOST:PORT`.
pub fn announced_addr(stderr: &mut impl BufRead) -> String {
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("the relay did not say where it listens: {line}"))
        .to_string()
}

/// A `voxwire serve` child, killed when the test ends, however it ends.
pub struct Relay(pub Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `voxwire serve` on an ephemeral loopback port with `config` written to
/// `dir/voxwire.toml`, the environment's `VOXWIRE_*` and `{vendor}_*`
/// variables removed and `envs` set.
pub fn serve_command(dir: &Path, config: &str, vendor: &str, envs: &[(&str, &str)]) -> Command {
    let cfg = dir.join("voxwire.toml");
    std::fs::File::create(&cfg)
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .current_dir(dir)
        .env_remove("RUST_LOG");
    let vendor = format!("{vendor}_");
    for (name, _) in std::env::vars() {
        if name.starts_with("VOXWIRE_") || name.starts_with(&vendor) {
            cmd.env_remove(name);
        }
    }
    cmd.envs(envs.iter().copied());
    cmd
}

/// Starts `cmd` (a [`serve_command`]) and waits for where it listens.
pub async fn start(mut cmd: Command) -> (Relay, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let relay = Relay(child);
    let addr = tokio::task::spawn_blocking(move || announced_addr(&mut stderr))
        .await
        .unwrap();
    (relay, addr)
}

//! Shared by the workspace's end-to-end tests that run `voxwire serve`.

use std::io::BufRead;

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

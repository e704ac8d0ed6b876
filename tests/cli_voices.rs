//! End-to-end tests of `voxwire voices` against the real offline voice.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn voxwire(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VOXWIRE_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd.spawn().expect("start voxwire");
    let id = child.id();
    // Kill the child if it runs past 60 s; output is collected by wait_with_output.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if done_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                return false;
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", &id.to_string()])
            .status();
        true
    });
    let output = child.wait_with_output().expect("wait");
    let _ = done_tx.send(());
    assert!(!watchdog.join().unwrap(), "voxwire voices ran past 60 s");
    output
}

#[test]
fn voices_lists_the_offline_voices() {
    let dir = tempfile::tempdir().unwrap();
    let out = voxwire(dir.path(), &["voices"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("PROVIDER"), "{stdout}");
    for column in ["VOICE", "NAME", "LANGUAGES"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        lines.any(|l| l.starts_with("espeak") && l.split_whitespace().nth(1) == Some("en-us")),
        "{stdout}"
    );
    assert!(stderr.contains("voices from espeak ("), "{stderr}");
}

#[test]
fn voices_rejects_an_unknown_provider() {
    let dir = tempfile::tempdir().unwrap();
    let out = voxwire(dir.path(), &["voices", "--provider", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("voxwire: error: unknown provider `nope`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// `voxwire voices` tells which language tags each provider serves: the
/// offline voice, English and French among them.
#[test]
fn voices_says_which_language_tags_each_provider_serves() {
    let dir = tempfile::tempdir().unwrap();
    let out = voxwire(dir.path(), &["voices"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("voxwire: espeak serves "))
        .unwrap_or_else(|| panic!("no language line for espeak: {stderr}"));
    let tags: Vec<&str> = line
        .rsplit_once(": ")
        .map(|(_, t)| t.split(", ").collect())
        .unwrap_or_default();
    for tag in ["en-us", "en-gb"] {
        assert!(tags.contains(&tag), "{tag} missing: {line}");
    }
    assert!(
        tags.iter().any(|t| t.starts_with("fr")),
        "no French: {line}"
    );
    // Every tag a voice of the table lists is among them.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in stdout.lines().skip(1).filter(|l| l.starts_with("espeak")) {
        let Some(langs) = row.split_whitespace().last() else {
            continue;
        };
        for tag in langs.split(',') {
            assert!(
                tags.contains(&tag.to_ascii_lowercase().as_str()),
                "{tag} of `{row}` missing from: {line}"
            );
        }
    }
}

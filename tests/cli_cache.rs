//! `voxwire say` with the phrase cache on disk, `say --no-cache`, and
//! `voxwire cache stats|clear`: the real binary and the real offline voice.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the binary in `dir` with `VOXWIRE_*` and `RUST_LOG` cleared; its
/// exit code, stdout and stderr (killed after [`TIMEOUT`]).
fn voxwire(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxwire"));
    cmd.args(args).current_dir(dir).env_remove("RUST_LOG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VOXWIRE_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start voxwire");
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_sentence_said_again_comes_from_the_disk_cache_until_it_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("cache").join("phrases.redb");
    std::fs::write(
        dir.path().join("voxwire.toml"),
        format!(
            "[cache]\npath = {:?}\n\n[[chain]]\nprovider = \"espeak\"\n",
            store.display().to_string()
        ),
    )
    .unwrap();
    let text = "One moment please.";
    let (code, _, err) = voxwire(dir.path(), &["say", text, "-o", "first.wav", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("phrase cache"), "nothing cached yet: {err}");
    assert!(store.is_file(), "the store was created at its path");

    // A new process: the sentence comes from the file.
    let (code, _, err) = voxwire(dir.path(), &["say", text, "-o", "second.wav", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("played from the phrase cache"), "{err}");
    assert!(err.contains("espeak (from the phrase cache)"), "{err}");
    let first = std::fs::read(dir.path().join("first.wav")).unwrap();
    let second = std::fs::read(dir.path().join("second.wav")).unwrap();
    assert!(first == second, "the same audio");

    let (code, _, err) = voxwire(
        dir.path(),
        &["say", text, "-o", "third.wav", "-v", "--no-cache"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("phrase cache"),
        "--no-cache asks the provider: {err}"
    );

    let (code, out, err) = voxwire(dir.path(), &["cache", "stats"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(": 1 sentences,"), "{out}");
    assert!(out.contains(&store.display().to_string()), "{out}");
    let (code, out, _) = voxwire(dir.path(), &["cache", "clear"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("cleared 1 sentences"), "{out}");
    let (_, out, _) = voxwire(dir.path(), &["cache", "stats"]);
    assert!(out.contains(": 0 sentences,"), "{out}");
    let (code, _, err) = voxwire(dir.path(), &["say", text, "-o", "fourth.wav", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("played from the phrase cache"),
        "cleared: {err}"
    );
}

#[test]
fn a_config_without_a_cache_touches_no_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("voxwire.toml"),
        "[[chain]]\nprovider = \"espeak\"\n",
    )
    .unwrap();
    let (code, _, err) = voxwire(dir.path(), &["say", "Hello.", "-o", "a.wav", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = voxwire(dir.path(), &["say", "Hello.", "-o", "b.wav", "-v"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("phrase cache"), "the cache is off: {err}");
}

//! Speaking aloud: an audio player program found on `PATH` at run time, fed
//! raw 16-bit PCM on its stdin as the audio arrives (no audio library linked).

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::exit::CliError;

/// The players tried, in order: each reads raw signed 16-bit little-endian
/// mono PCM on stdin. (`afplay` reads only files, so it is not one of them.)
pub const PLAYERS: [&str; 5] = ["pw-play", "paplay", "aplay", "ffplay", "play"];

/// How long the player may take, after the last audio was written, beyond the
/// audio's own duration, before it is stopped.
const PLAY_OUT_MARGIN: Duration = Duration::from_secs(10);
/// How often the finished player is polled for its exit.
const POLL: Duration = Duration::from_millis(20);

/// The line printed when no player is found.
pub fn not_found_message() -> String {
    format!(
        "no audio player found on PATH (looked for {}): install one (Debian/Ubuntu: `apt install pipewire-bin`, `pulseaudio-utils`, `alsa-utils` or `sox`; macOS: `brew install sox`), or write a file with -o out.wav",
        PLAYERS.join(", ")
    )
}

/// A player program found on `PATH`, and how to feed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerProgram {
    /// Which of [`PLAYERS`] it is.
    pub name: &'static str,
    /// Where it was found.
    pub path: PathBuf,
}

impl PlayerProgram {
    /// The first of [`PLAYERS`] found in the directories of `path_var` (`$PATH`).
    pub fn find(path_var: Option<&std::ffi::OsStr>) -> Option<Self> {
        let dirs: Vec<PathBuf> = path_var
            .map(std::env::split_paths)
            .into_iter()
            .flatten()
            .collect();
        PLAYERS.iter().find_map(|name| {
            dirs.iter()
                .map(|d| d.join(name))
                .find(|p| is_executable(p))
                .map(|path| Self { name, path })
        })
    }

    /// [`PlayerProgram::find`] on this process's `PATH`, or the usage error saying what to install.
    pub fn find_or_explain() -> Result<Self, CliError> {
        Self::find(std::env::var_os("PATH").as_deref())
            .ok_or_else(|| CliError::usage(not_found_message()))
    }

    /// The arguments that make it play raw s16le mono PCM at `rate` Hz from stdin.
    pub fn args(&self, rate: u32) -> Vec<OsString> {
        let rate = rate.to_string();
        let args: Vec<String> = match self.name {
            "pw-play" => vec![
                "--raw".into(),
                "--format=s16".into(),
                format!("--rate={rate}"),
                "--channels=1".into(),
                "-".into(),
            ],
            "paplay" => vec![
                "--raw".into(),
                "--format=s16le".into(),
                format!("--rate={rate}"),
                "--channels=1".into(),
            ],
            "aplay" => vec![
                "-q".into(),
                "-t".into(),
                "raw".into(),
                "-f".into(),
                "S16_LE".into(),
                "-r".into(),
                rate,
                "-c".into(),
                "1".into(),
                "-".into(),
            ],
            "ffplay" => vec![
                "-nodisp".into(),
                "-autoexit".into(),
                "-loglevel".into(),
                "error".into(),
                "-f".into(),
                "s16le".into(),
                "-ar".into(),
                rate,
                "-ch_layout".into(),
                "mono".into(),
                "-i".into(),
                "-".into(),
            ],
            // sox
            _ => vec![
                "-q".into(),
                "-t".into(),
                "raw".into(),
                "-e".into(),
                "signed-integer".into(),
                "-b".into(),
                "16".into(),
                "-L".into(),
                "-c".into(),
                "1".into(),
                "-r".into(),
                rate,
                "-".into(),
            ],
        };
        args.into_iter().map(OsString::from).collect()
    }

    /// Starts the player for `rate` Hz audio; its stderr is the user's, so its
    /// own complaints (no sound device) are seen.
    pub fn start(&self, rate: u32) -> Result<Playback, CliError> {
        let mut child = Command::new(&self.path)
            .args(self.args(rate))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CliError::failure(format!("cannot start {}: {e}", self.path.display())))?;
        let stdin = child.stdin.take();
        Ok(Playback {
            name: self.name,
            child: Some(child),
            stdin,
        })
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A running player: audio written to it plays; dropping it unfinished
/// (Ctrl-C, a failure) stops the player at once.
#[derive(Debug)]
pub struct Playback {
    name: &'static str,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Playback {
    /// Which player this is.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Ends the input and waits (asynchronously, so Ctrl-C still works) until
    /// the player has played out `audio`, at most `audio` + a margin.
    pub async fn finish(mut self, audio: Duration) -> Result<(), CliError> {
        drop(self.stdin.take());
        let deadline = tokio::time::Instant::now() + audio + PLAY_OUT_MARGIN;
        loop {
            let status = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => status,
                Some(Ok(None)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(CliError::failure(format!(
                            "the audio player {} did not finish within {} s of the audio's end; stopped it",
                            self.name,
                            PLAY_OUT_MARGIN.as_secs()
                        )));
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Some(Err(e)) => {
                    return Err(CliError::failure(format!(
                        "cannot wait for the audio player {}: {e}",
                        self.name
                    )))
                }
                None => return Ok(()),
            };
            self.child = None;
            return self.check(status);
        }
    }

    fn check(&self, status: ExitStatus) -> Result<(), CliError> {
        if status.success() {
            Ok(())
        } else {
            Err(CliError::failure(format!(
                "the audio player {} failed ({status})",
                self.name
            )))
        }
    }
}

impl Write for Playback {
    /// Writes all of `buf` to the player (blocks while its pipe is full: the
    /// player takes audio at the speed it plays).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.write(buf),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the player's input is closed",
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdin.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &Path, name: &str, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_first_known_player_on_path_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fake(b.path(), "aplay", "exit 0");
        fake(a.path(), "play", "exit 0");
        // Not executable: skipped.
        std::fs::write(a.path().join("paplay"), "").unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        let found = PlayerProgram::find(Some(&path)).unwrap();
        assert_eq!(found.name, "aplay");
        assert_eq!(found.path, b.path().join("aplay"));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(PlayerProgram::find(Some(empty.path().as_os_str())), None);
        assert_eq!(PlayerProgram::find(None), None);
        assert!(not_found_message().contains("-o out.wav"));
    }

    #[test]
    fn every_player_is_told_the_rate_and_reads_stdin() {
        for name in PLAYERS {
            let p = PlayerProgram {
                name,
                path: PathBuf::from(name),
            };
            let args: Vec<String> = p
                .args(16_000)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
            assert!(args.iter().any(|a| a.contains("16000")), "{name}: {args:?}");
            if name != "paplay" {
                assert_eq!(args.last().map(String::as_str), Some("-"), "{name}");
            }
        }
    }

    #[tokio::test]
    async fn a_failing_player_is_reported_and_a_dropped_one_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let player = PlayerProgram {
            name: "aplay",
            path: fake(dir.path(), "aplay", "cat > /dev/null; exit 3"),
        };
        let mut playback = player.start(8_000).unwrap();
        playback.write_all(&[0; 64]).unwrap();
        let err = playback.finish(Duration::ZERO).await.unwrap_err();
        assert!(err.message().contains("aplay failed"), "{err}");

        let sleeper = PlayerProgram {
            name: "aplay",
            path: fake(dir.path(), "aplay2", "exec sleep 30"),
        };
        let playback = sleeper.start(8_000).unwrap();
        let started = std::time::Instant::now();
        drop(playback);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

//! The system engine: the reference C `espeak-ng` program as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, OnceCell};
use voxwire_core::audio::wav::WavStreamParser;
use voxwire_core::{ErrorKind, Phase, Result, TtsError, Voice};

use crate::engine::{Job, RawReceiver, RAW_QUEUE};
use crate::voices::parse_voice_table;

/// Bytes read from the program's stdout per read.
const READ_BYTES: usize = 8 * 1024;
/// The longest the voice listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// Stderr kept for error messages.
const STDERR_KEEP: usize = 2 * 1024;

pub(crate) struct SystemEngine {
    program: PathBuf,
    voices: OnceCell<Vec<Voice>>,
}

impl SystemEngine {
    /// The program to run: the configured path if it exists, else `espeak-ng` on `PATH`.
    pub fn find(configured: Option<&Path>) -> Option<PathBuf> {
        match configured {
            Some(p) => is_executable(p).then(|| p.to_path_buf()),
            None => std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("espeak-ng"))
                    .find(|p| is_executable(p))
            }),
        }
    }

    pub fn new(program: PathBuf) -> Self {
        Self {
            program,
            voices: OnceCell::new(),
        }
    }

    pub fn describe(&self) -> String {
        format!("system espeak-ng at {}", self.program.display())
    }

    pub async fn voices(&self) -> Result<Vec<Voice>> {
        self.voices
            .get_or_try_init(|| async {
                let out = tokio::time::timeout(
                    LIST_TIMEOUT,
                    Command::new(&self.program)
                        .arg("--voices")
                        .stdin(Stdio::null())
                        .kill_on_drop(true)
                        .output(),
                )
                .await
                .map_err(|_| self.error(ErrorKind::Timeout, "listing voices took over 10 s"))?
                .map_err(|e| self.spawn_error(&e))?;
                if !out.status.success() {
                    return Err(self.error(
                        ErrorKind::Internal,
                        &format!("`--voices` exited with {}", out.status),
                    ));
                }
                Ok(parse_voice_table(&String::from_utf8_lossy(&out.stdout)))
            })
            .await
            .cloned()
    }

    /// Starts the program; its WAV output streams into the returned receiver.
    pub fn start(&self, job: Job) -> Result<RawReceiver> {
        let mut child = Command::new(&self.program)
            .args(["--stdout", "--stdin", "-b", "1", "-v", &job.voice, "-s"])
            .arg(job.wpm.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.spawn_error(&e))?;
        let (tx, rx) = mpsc::channel(RAW_QUEUE);
        let mut stdin = child.stdin.take();
        let text = job.text;
        let endpoint = self.program.display().to_string();
        tokio::spawn(async move {
            // Write the text, then close stdin so the program starts speaking.
            if let Some(mut stdin) = stdin.take() {
                let _ = stdin.write_all(text.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
            if let Err(e) = pump(&mut child, &tx).await {
                let _ = tx.send(Err(e.with_endpoint(&endpoint))).await;
            }
            // Dropping `child` kills the program if the reader went away early.
        });
        Ok(rx)
    }

    fn error(&self, kind: ErrorKind, message: &str) -> TtsError {
        TtsError::new(kind, message.to_string())
            .with_provider(crate::PROVIDER_ID)
            .with_phase(Phase::Synthesize)
            .with_endpoint(self.program.display().to_string())
    }

    fn spawn_error(&self, e: &std::io::Error) -> TtsError {
        TtsError::new(
            ErrorKind::Unavailable,
            format!("cannot run the program: {e}"),
        )
        .with_provider(crate::PROVIDER_ID)
        .with_phase(Phase::Connect)
        .with_endpoint(self.program.display().to_string())
        .with_hint("check that espeak-ng is installed and executable, or use engine = \"embedded\"")
    }
}

/// Reads WAV from the child's stdout to the end and forwards the audio.
async fn pump(
    child: &mut Child,
    tx: &mpsc::Sender<Result<(voxwire_core::AudioFormat, Bytes)>>,
) -> Result<()> {
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| TtsError::new(ErrorKind::Internal, "no stdout pipe"))?;
    let mut stderr = child.stderr.take();
    let mut parser = WavStreamParser::new();
    let mut buf = BytesMut::with_capacity(READ_BYTES);
    loop {
        buf.reserve(READ_BYTES);
        let n = stdout.read_buf(&mut buf).await.map_err(|e| {
            TtsError::new(
                ErrorKind::Unavailable,
                format!("reading the program's output failed: {e}"),
            )
            .with_phase(Phase::Receive)
        })?;
        if n == 0 {
            break;
        }
        let piece = parser.push(buf.split().freeze())?;
        if let (Some(format), false) = (parser.format(), piece.data.is_empty()) {
            if tx.send(Ok((format, piece.data))).await.is_err() {
                return Ok(()); // the caller stopped listening: cancel
            }
        }
    }
    let status = child.wait().await.map_err(|e| {
        TtsError::new(
            ErrorKind::Internal,
            format!("waiting for the program failed: {e}"),
        )
    })?;
    if !status.success() {
        let mut message = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let mut raw = Vec::new();
            let _ = stderr.take(STDERR_KEEP as u64).read_to_end(&mut raw).await;
            message = String::from_utf8_lossy(&raw).trim().to_string();
        }
        return Err(TtsError::new(
            ErrorKind::Internal,
            format!("espeak-ng exited with {status}: {message}"),
        )
        .with_phase(Phase::Synthesize));
    }
    parser.finish()?;
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

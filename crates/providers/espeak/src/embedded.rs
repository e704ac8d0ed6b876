//! The embedded engine: the pure-Rust eSpeak NG port, in process.
//!
//! Its data (phoneme tables, the English dictionary) is compiled into the
//! binary and unpacked once into a cache directory. Unpacking goes to a
//! private temporary directory that is renamed into place, so concurrent first
//! uses (threads or processes) never see a half-written directory.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, OnceCell};
use voxwire_core::audio::{pcm, AudioFormat};
use voxwire_core::{Encoding, ErrorKind, Phase, Result, TtsError, Voice};

use crate::engine::{Job, RawReceiver, RAW_QUEUE};
use crate::voices::{by_preference, ranked_voice};
use crate::{NATIVE_RATE, PROVIDER_ID};

/// The port's version, part of the cache directory name so upgrades re-unpack.
const PORT_VERSION: &str = "0.2.0";
/// The languages whose dictionaries are compiled in.
const LANGUAGES: &[&str] = &["en", "fr"];
/// Written last, so its presence means the directory is complete.
const COMPLETE_MARKER: &str = ".voxwire-complete";

pub(crate) struct EmbeddedEngine {
    configured_dir: Option<PathBuf>,
    data_dir: OnceCell<PathBuf>,
    voices: OnceCell<Vec<Voice>>,
}

impl EmbeddedEngine {
    pub fn new(configured_dir: Option<PathBuf>) -> Self {
        Self {
            configured_dir,
            data_dir: OnceCell::new(),
            voices: OnceCell::new(),
        }
    }

    pub fn describe(&self) -> String {
        format!("embedded eSpeak NG port {PORT_VERSION}")
    }

    /// The unpacked data directory, unpacking on first use.
    pub(crate) async fn data_dir(&self) -> Result<PathBuf> {
        self.data_dir
            .get_or_try_init(|| async {
                let dir = self.configured_dir.clone().unwrap_or_else(default_data_dir);
                tokio::task::spawn_blocking(move || ensure_data(&dir).map(|()| dir))
                    .await
                    .map_err(|e| {
                        engine_error(ErrorKind::Internal, &format!("unpacking task failed: {e}"))
                    })?
            })
            .await
            .cloned()
    }

    /// The voices whose dictionaries are unpacked; read once (every request checks its voice).
    pub async fn voices(&self) -> Result<Vec<Voice>> {
        self.voices
            .get_or_try_init(|| self.read_voices())
            .await
            .cloned()
    }

    async fn read_voices(&self) -> Result<Vec<Voice>> {
        let dir = self.data_dir().await?;
        let entries = tokio::task::spawn_blocking(move || {
            catch_unwind(|| espeak_ng::voices::list_voices(&dir)).map(|list| (list, dir))
        })
        .await
        .map_err(|e| engine_error(ErrorKind::Internal, &format!("voice listing failed: {e}")))?
        .map_err(|_| engine_error(ErrorKind::Internal, "voice listing panicked"))?;
        let (list, dir) = entries;
        let mut ranked: Vec<(u8, Voice)> = list
            .into_iter()
            .filter(|v| has_dictionary(&dir, &v.language))
            .map(|v| {
                let gender = match v.gender {
                    'M' | 'm' => Some("male".to_string()),
                    'F' | 'f' => Some("female".to_string()),
                    _ => None,
                };
                let others = v
                    .languages
                    .iter()
                    .map(|(tag, p)| (tag.to_ascii_lowercase(), *p))
                    .collect();
                ranked_voice(v.language.to_ascii_lowercase(), v.name, gender, others)
            })
            .collect();
        Ok(by_preference(&mut ranked))
    }

    /// Synthesizes on a blocking thread; clauses stream out as they are rendered.
    pub async fn start(&self, job: Job) -> Result<RawReceiver> {
        let dir = self.data_dir().await?;
        let (tx, rx) = mpsc::channel(RAW_QUEUE);
        tokio::task::spawn_blocking(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| synthesize(&dir, &job, &tx)));
            let failure = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(panic) => engine_error(
                    ErrorKind::Internal,
                    &format!("the eSpeak NG port panicked: {}", panic_message(&panic)),
                ),
            };
            let _ = tx.blocking_send(Err(failure));
        });
        Ok(rx)
    }
}

type RawSender = mpsc::Sender<Result<(AudioFormat, Bytes)>>;

fn synthesize(dir: &Path, job: &Job, tx: &RawSender) -> Result<()> {
    let engine = espeak_ng::EspeakNg::builder()
        .data_dir(dir)
        .voice(&job.voice)
        .rate(job.wpm)
        .build()
        .map_err(|e| port_error(&e))?;
    let format = AudioFormat::pcm16_mono(NATIVE_RATE);
    // The port translates its whole input before rendering the first clause,
    // and each call costs a fixed set-up (~15 ms: phoneme tables, dictionary).
    // Rendering the first sentence alone, then the rest in one call, gets first
    // audio early for one extra set-up.
    for sentence in first_sentence_then_rest(&job.text) {
        let mut cancelled = false;
        engine
            .synth_streaming(sentence, |samples, _last| {
                if samples.is_empty() {
                    return false;
                }
                let data = pcm::encode(Encoding::PcmS16le, samples);
                // A closed receiver means the caller cancelled: stop rendering.
                cancelled = tx.blocking_send(Ok((format, data))).is_err();
                cancelled
            })
            .map_err(|e| port_error(&e))?;
        if cancelled {
            break;
        }
    }
    Ok(())
}

/// The text up to the end of its first sentence (punctuation followed by
/// whitespace), then everything after it; never yields blank pieces.
fn first_sentence_then_rest(text: &str) -> impl Iterator<Item = &str> {
    let mut chars = text.char_indices().peekable();
    let mut split = text.len();
    while let Some((i, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | ';' | '\n');
        if ends && chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
            split = i + c.len_utf8();
            break;
        }
    }
    let (first, rest) = text.split_at(split);
    [first, rest].into_iter().filter(|p| !p.trim().is_empty())
}

fn port_error(e: &espeak_ng::Error) -> TtsError {
    let kind = match e {
        espeak_ng::Error::VoiceNotFound(_) => ErrorKind::NotFound,
        _ => ErrorKind::Internal,
    };
    engine_error(kind, &format!("the eSpeak NG port failed: {e}"))
}

fn engine_error(kind: ErrorKind, message: &str) -> TtsError {
    TtsError::new(kind, message.to_string())
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Synthesize)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `$XDG_CACHE_HOME/voxwire/espeak-ng-data-<version>-<languages>`, or the
/// temp dir without a home (the languages in the name: a copy unpacked with
/// fewer languages is not taken for complete).
fn default_data_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("voxwire")
        .join(format!(
            "espeak-ng-data-{PORT_VERSION}-{}",
            LANGUAGES.join("-")
        ))
}

fn has_dictionary(dir: &Path, language: &str) -> bool {
    let primary = language.split('-').next().unwrap_or(language);
    dir.join(format!("{primary}_dict")).is_file()
}

/// Unpacks the compiled-in data into `dir` unless a complete copy is there.
pub(crate) fn ensure_data(dir: &Path) -> Result<()> {
    if dir.join(COMPLETE_MARKER).is_file() {
        return Ok(());
    }
    let io = |what: &str, e: std::io::Error| {
        engine_error(ErrorKind::Config, &format!("{what} {}: {e}", dir.display()))
            .with_phase(Phase::Config)
            .with_hint("set data_dir (VOXWIRE_ESPEAK_DATA_DIR) to a writable directory")
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io("cannot create the parent of", e))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let staging = parent.join(format!(
        ".{}.tmp-{}-{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("espeak-data"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        std::fs::create_dir_all(&staging)?;
        espeak_ng::install_bundled_languages(&staging, LANGUAGES)?;
        std::fs::write(staging.join(COMPLETE_MARKER), PORT_VERSION)?;
        if dir.exists() && !dir.join(COMPLETE_MARKER).is_file() {
            // A leftover from an interrupted run (older layout): replace it.
            let _ = std::fs::remove_dir_all(dir);
        }
        std::fs::rename(&staging, dir)
    })();
    match result {
        Ok(()) => Ok(()),
        // Another thread or process won the race: its copy is complete.
        Err(_) if dir.join(COMPLETE_MARKER).is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(io("cannot unpack eSpeak NG data into", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sentence_is_split_off_after_terminal_punctuation_only() {
        let split = |t| first_sentence_then_rest(t).collect::<Vec<_>>();
        assert_eq!(
            split("It costs 3.50 dollars! Really? Yes."),
            vec!["It costs 3.50 dollars!", " Really? Yes."]
        );
        assert_eq!(split("no end"), vec!["no end"]);
        assert_eq!(split("One. "), vec!["One."]);
        assert_eq!(split("   ").len(), 0);
    }

    #[test]
    fn concurrent_first_use_unpacks_one_complete_copy() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || ensure_data(&dir))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert!(dir.join(COMPLETE_MARKER).is_file());
        assert!(dir.join("phondata").is_file());
        assert!(dir.join("en_dict").is_file());
        // No staging directories are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "data")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

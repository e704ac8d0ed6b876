//! Text to IPA phonemes with either engine, for neural voices that read
//! eSpeak NG's phonemes (Piper voices are trained on them).
//!
//! Both engines give the same shape: the clauses' IPA, each followed by the
//! clause punctuation of the text (`, . ; : ! ?`) and a space, as Piper's own
//! phonemizer does; stress marks kept. The system program prints one clause
//! per line without punctuation, so it is put back from the text's clauses.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::engine::EngineKind;
use crate::settings::{EngineChoice, EspeakSettings};
use crate::system::SystemEngine;
use crate::PROVIDER_ID;

/// The longest one phonemization may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The most IPA bytes read back from the program for one text.
const MAX_OUTPUT: u64 = 1024 * 1024;
/// The punctuation that ends a clause and is kept in the phonemes.
const CLAUSE_PUNCTUATION: &[char] = &[',', '.', ';', ':', '!', '?'];

/// Turns text into eSpeak NG IPA phonemes with the system program or the port.
pub struct Phonemizer {
    backend: Backend,
}

enum Backend {
    System(PathBuf),
    #[cfg(feature = "embedded")]
    Embedded(crate::embedded::EmbeddedEngine),
}

impl std::fmt::Debug for Phonemizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phonemizer")
            .field("engine", &self.describe())
            .finish()
    }
}

impl Phonemizer {
    /// Picks the engine as the `espeak` provider does: `auto` prefers the program.
    pub fn new(settings: &EspeakSettings) -> Result<Self> {
        let program = SystemEngine::find(settings.program.as_deref());
        let backend = match (settings.engine, program) {
            (EngineChoice::System | EngineChoice::Auto, Some(path)) => Backend::System(path),
            (EngineChoice::System, None) => {
                return Err(TtsError::config(
                    "phonemes from the system engine were asked for, but no espeak-ng program was found",
                )
                .with_provider(PROVIDER_ID)
                .with_hint("install it (apt-get install espeak-ng) or use the embedded engine"))
            }
            (EngineChoice::Embedded | EngineChoice::Auto, _) => Self::embedded(settings)?,
        };
        Ok(Self { backend })
    }

    #[cfg(feature = "embedded")]
    fn embedded(settings: &EspeakSettings) -> Result<Backend> {
        Ok(Backend::Embedded(crate::embedded::EmbeddedEngine::new(
            settings.data_dir.clone(),
        )))
    }

    #[cfg(not(feature = "embedded"))]
    fn embedded(_settings: &EspeakSettings) -> Result<Backend> {
        Err(TtsError::config(
            "no espeak-ng program on PATH and this build has no embedded eSpeak NG engine",
        )
        .with_provider(PROVIDER_ID)
        .with_hint(
            "install espeak-ng (apt-get install espeak-ng) or build with the `embedded` feature",
        ))
    }

    /// Which engine phonemizes.
    pub fn kind(&self) -> EngineKind {
        match self.backend {
            Backend::System(_) => EngineKind::System,
            #[cfg(feature = "embedded")]
            Backend::Embedded(_) => EngineKind::Embedded,
        }
    }

    /// One line naming the engine.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::System(path) => format!("system espeak-ng at {}", path.display()),
            #[cfg(feature = "embedded")]
            Backend::Embedded(e) => e.describe(),
        }
    }

    /// The IPA of `text` in eSpeak voice `voice` (e.g. `en-us`), clause punctuation kept.
    pub async fn phonemize(&self, voice: &str, text: &str) -> Result<String> {
        check_voice_name(voice)?;
        if text.trim().is_empty() {
            return Ok(String::new());
        }
        match &self.backend {
            Backend::System(program) => system_ipa(program, voice, text).await,
            #[cfg(feature = "embedded")]
            Backend::Embedded(engine) => embedded_ipa(engine, voice, text).await,
        }
    }
}

/// A voice name goes on a command line: letters, digits, `-`, `_`, `+`, `/` only.
fn check_voice_name(voice: &str) -> Result<()> {
    let ok = !voice.is_empty()
        && !voice.starts_with('-')
        && voice.len() <= 64
        && voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'));
    if ok {
        Ok(())
    } else {
        Err(TtsError::new(
            ErrorKind::InvalidRequest,
            format!("`{voice}` is not an eSpeak voice name"),
        )
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Input))
    }
}

async fn system_ipa(program: &std::path::Path, voice: &str, text: &str) -> Result<String> {
    let error = |kind, message: String| {
        TtsError::new(kind, message)
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Synthesize)
            .with_endpoint(program.display().to_string())
    };
    let run = async {
        let mut child = Command::new(program)
            .args(["-q", "--ipa", "--stdin", "-b", "1", "-v", voice])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| error(ErrorKind::Unavailable, format!("cannot run espeak-ng: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // Clause breaks must not depend on line breaks of the input.
            let flat = text.replace(['\n', '\r'], " ");
            stdin
                .write_all(flat.as_bytes())
                .await
                .map_err(|e| error(ErrorKind::Unavailable, format!("writing to espeak-ng: {e}")))?;
        }
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            stdout
                .take(MAX_OUTPUT)
                .read_to_end(&mut out)
                .await
                .map_err(|e| error(ErrorKind::Unavailable, format!("reading espeak-ng: {e}")))?;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| error(ErrorKind::Internal, format!("waiting for espeak-ng: {e}")))?;
        if !status.success() {
            return Err(error(
                ErrorKind::Internal,
                format!("espeak-ng --ipa exited with {status} (is voice `{voice}` installed?)"),
            ));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let raw = tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| error(ErrorKind::Timeout, "espeak-ng --ipa took over 20 s".into()))??;
    let lines: Vec<&str> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Ok(restore_punctuation(&lines, &clauses(text)))
}

#[cfg(feature = "embedded")]
async fn embedded_ipa(
    engine: &crate::embedded::EmbeddedEngine,
    voice: &str,
    text: &str,
) -> Result<String> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let dir = engine.data_dir().await?;
    let (voice, text) = (voice.to_string(), text.replace(['\n', '\r'], " "));
    let port_error = |message: String| {
        TtsError::new(ErrorKind::Internal, message)
            .with_provider(PROVIDER_ID)
            .with_phase(Phase::Synthesize)
    };
    let outcome = tokio::task::spawn_blocking(move || {
        catch_unwind(AssertUnwindSafe(|| {
            espeak_ng::EspeakNg::builder()
                .data_dir(&dir)
                .voice(&voice)
                .build()
                .and_then(|e| e.text_to_phonemes_phonemizer(&text))
        }))
    })
    .await
    .map_err(|e| port_error(format!("the phonemizer task failed: {e}")))?
    .map_err(|_| port_error("the eSpeak NG port panicked while phonemizing".into()))?;
    let ipa = outcome.map_err(|e| port_error(format!("the eSpeak NG port failed: {e}")))?;
    Ok(tidy(&ipa))
}

/// Collapses runs of whitespace to one space and trims the ends.
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
fn tidy(ipa: &str) -> String {
    ipa.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text's clauses: each ends at clause punctuation followed by whitespace
/// (or the end), which is returned with it; blank clauses are dropped.
pub(crate) fn clauses(text: &str) -> Vec<(&str, Option<char>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at_break = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if CLAUSE_PUNCTUATION.contains(&c) && at_break {
            let piece = &text[start..i];
            if !piece.trim().is_empty() {
                out.push((piece, Some(c)));
            }
            start = i + c.len_utf8();
        }
    }
    if !text[start..].trim().is_empty() {
        out.push((&text[start..], None));
    }
    out
}

/// Joins the program's clause lines, each with its clause's punctuation when
/// the counts agree, else with only the text's final punctuation.
fn restore_punctuation(lines: &[&str], clauses: &[(&str, Option<char>)]) -> String {
    let mut out = String::new();
    if lines.len() == clauses.len() {
        for (line, (_, punct)) in lines.iter().zip(clauses) {
            out.push_str(line);
            if let Some(p) = punct {
                out.push(*p);
            }
            out.push(' ');
        }
    } else {
        out = lines.join(" ");
        if let Some((_, Some(p))) = clauses.last() {
            out.push(*p);
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_keep_their_punctuation_and_ignore_decimal_points() {
        assert_eq!(
            clauses("Well, it costs 3.50 dollars! Right"),
            vec![
                ("Well", Some(',')),
                (" it costs 3.50 dollars", Some('!')),
                (" Right", None)
            ]
        );
        assert!(clauses(" . ").is_empty());
    }

    #[test]
    fn punctuation_goes_back_on_the_program_lines() {
        let text = "Hello, world.";
        assert_eq!(
            restore_punctuation(&["həlˈoʊ", "wˈɜːld"], &clauses(text)),
            "həlˈoʊ, wˈɜːld."
        );
        // Counts differ (an abbreviation): only the final mark is kept.
        assert_eq!(
            restore_punctuation(&["mˈɪstɚ smˈɪθ"], &clauses("Mr. Smith.")),
            "mˈɪstɚ smˈɪθ."
        );
    }

    #[test]
    fn voice_names_cannot_be_options() {
        assert!(check_voice_name("en-us").is_ok());
        assert!(check_voice_name("-x").is_err());
        assert!(check_voice_name("en us").is_err());
    }

    async fn both_engines() -> Vec<Phonemizer> {
        let mut all = Vec::new();
        if let Ok(p) = Phonemizer::new(&EspeakSettings {
            engine: EngineChoice::System,
            ..EspeakSettings::default()
        }) {
            all.push(p);
        }
        #[cfg(feature = "embedded")]
        {
            let dir = tempfile::tempdir().unwrap().keep();
            all.push(
                Phonemizer::new(&EspeakSettings {
                    engine: EngineChoice::Embedded,
                    data_dir: Some(dir.join("data")),
                    ..EspeakSettings::default()
                })
                .unwrap(),
            );
        }
        all
    }

    #[tokio::test]
    async fn both_engines_give_ipa_with_clause_punctuation() {
        let engines = both_engines().await;
        assert!(!engines.is_empty());
        for p in engines {
            let ipa = p
                .phonemize("en-us", "Hello, world. How are you?")
                .await
                .unwrap();
            assert!(ipa.contains("wˈɜːld"), "{}: {ipa}", p.describe());
            assert!(ipa.contains(','), "{}: {ipa}", p.describe());
            assert!(ipa.ends_with('?'), "{}: {ipa}", p.describe());
            assert!(ipa.contains('ˈ'), "stress marks kept: {ipa}");
        }
    }
}

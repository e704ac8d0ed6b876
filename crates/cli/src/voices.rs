//! `voxwire voices`, and checking a requested voice exists before speaking.

use std::io::{self, Write};
use std::sync::Arc;

use voxwire_core::{TtsProvider, Voice};

use crate::args::VoicesArgs;
use crate::chain;
use crate::config;
use crate::exit::CliError;
use crate::table::{self, Align};

/// How many valid voice ids an "unknown voice" message suggests.
const SUGGESTIONS: usize = 8;

/// Which providers of a chain offer a voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceCheck {
    /// The voice asked for.
    pub voice: String,
    /// Per provider, in chain order: whether it lists the voice (`None`: it could not list its voices).
    pub known: Vec<Option<bool>>,
    /// Valid ids to suggest, closest to the requested one first.
    pub suggestions: Vec<String>,
}

impl VoiceCheck {
    /// Asks each provider for its voices (case-insensitive match on the id).
    pub async fn run(providers: &[Arc<dyn TtsProvider>], voice: &str) -> Self {
        let mut known = Vec::with_capacity(providers.len());
        let mut all: Vec<String> = Vec::new();
        for provider in providers {
            match provider.voices().await {
                Ok(voices) => {
                    known.push(Some(
                        voices.iter().any(|v| v.id.eq_ignore_ascii_case(voice)),
                    ));
                    all.extend(voices.into_iter().map(|v| v.id));
                }
                Err(err) => {
                    tracing::warn!(provider = provider.id(), %err, "could not list voices");
                    known.push(None);
                }
            }
        }
        Self {
            voice: voice.to_string(),
            known,
            suggestions: closest(voice, all),
        }
    }

    /// An error (exit 2) when every provider listed its voices and none has this one.
    /// If some provider could not list its voices, synthesis decides.
    pub fn require_known(&self) -> Result<(), CliError> {
        if self.known.is_empty() || self.known.iter().any(|k| *k != Some(false)) {
            return Ok(());
        }
        Err(CliError::usage(format!(
            "unknown voice `{}`: try one of {} (all: voxwire voices)",
            self.voice,
            self.suggestions.join(", ")
        )))
    }
}

/// Up to [`SUGGESTIONS`] ids, those sharing the longest prefix with `wanted` first.
fn closest(wanted: &str, mut ids: Vec<String>) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let shared = |id: &str| {
        id.to_ascii_lowercase()
            .chars()
            .zip(wanted.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    ids.sort();
    ids.dedup();
    ids.sort_by_key(|id| std::cmp::Reverse(shared(id)));
    ids.truncate(SUGGESTIONS);
    ids
}

/// Runs `voxwire voices`: a table on stdout, the engine of each provider on stderr.
pub async fn run(args: VoicesArgs, vars: Vec<(String, String)>) -> Result<(), CliError> {
    let loaded = config::load(args.chain.config.as_deref(), &vars)?;
    let entries = chain::resolve(&loaded.config, &args.chain.providers, &vars)?;
    let built = tokio::task::spawn_blocking(move || chain::build(&entries))
        .await
        .map_err(|e| CliError::failure(format!("building the providers failed: {e}")))??;
    let mut rows: Vec<Voice> = Vec::new();
    let mut failure = None;
    for provider in &built.providers {
        eprintln!(
            "voxwire: {}",
            languages_line(provider.id(), &provider.capabilities().languages)
        );
        match provider.voices().await {
            Ok(voices) => {
                eprintln!(
                    "voxwire: {} voices from {}",
                    voices.len(),
                    provider.describe()
                );
                rows.extend(voices.into_iter().map(|mut v| {
                    if v.provider.is_empty() {
                        v.provider = provider.id().to_string();
                    }
                    v
                }));
            }
            Err(err) => {
                let err = err.or_provider(provider.id().to_string());
                eprintln!(
                    "voxwire: {} could not list voices: {err}",
                    provider.describe()
                );
                failure = Some(CliError::failure(err.to_string()));
            }
        }
    }
    match write_table(&mut io::stdout().lock(), &rows) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(CliError::failure(format!("cannot write to stdout: {e}"))),
    }
    failure.map_or(Ok(()), Err)
}

/// Which language tags a provider serves, as `voxwire voices` tells it: its
/// capabilities' tags, sorted (any tag that matches one of them by RFC 4647
/// lookup is served too, so `en`, `en-US` and `en_us` all find `en-us`).
pub fn languages_line(provider: &str, languages: &[String]) -> String {
    if languages.is_empty() {
        return format!("{provider} serves every language tag (it lists none)");
    }
    let mut tags: Vec<String> = languages.iter().map(|t| t.to_ascii_lowercase()).collect();
    tags.sort();
    tags.dedup();
    format!(
        "{provider} serves {} language tags (and any tag they match, e.g. a region or script variant): {}",
        tags.len(),
        tags.join(", ")
    )
}

/// Writes voices as aligned columns: provider, voice id, name, languages.
pub fn write_table(out: &mut impl Write, voices: &[Voice]) -> io::Result<()> {
    let rows: Vec<[String; 4]> = voices
        .iter()
        .map(|v| {
            [
                v.provider.clone(),
                v.id.clone(),
                v.name.clone(),
                v.languages.join(","),
            ]
        })
        .collect();
    table::write(
        out,
        ["PROVIDER", "VOICE", "NAME", "LANGUAGES"],
        [Align::Left; 4],
        &rows,
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(id: &str) -> Voice {
        Voice {
            id: id.to_string(),
            name: format!("Name {id}"),
            languages: vec!["en".into(), "en-US".into()],
            gender: None,
            provider: "p".to_string(),
        }
    }

    #[test]
    fn table_is_aligned() {
        let mut out = Vec::new();
        write_table(&mut out, &[voice("a"), voice("longer-id")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("PROVIDER  VOICE      NAME"), "{text}");
        assert!(
            lines[2].contains("longer-id  Name longer-id  en,en-US"),
            "{text}"
        );
    }

    #[test]
    fn the_languages_line_lists_each_tag_once_sorted() {
        let tags = ["fr-fr", "en-US", "en-us", "de"].map(String::from);
        let line = languages_line("espeak", &tags);
        assert!(line.starts_with("espeak serves 3 language tags"), "{line}");
        assert!(line.ends_with(": de, en-us, fr-fr"), "{line}");
        assert!(languages_line("x", &[]).contains("every language"));
    }

    #[test]
    fn suggestions_prefer_similar_ids() {
        let ids = ["af", "de", "en-gb", "en-us", "fr", "zz"]
            .map(String::from)
            .to_vec();
        let got = closest("en-xx", ids);
        assert_eq!(&got[..2], ["en-gb", "en-us"]);
    }

    #[test]
    fn unknown_voice_is_a_usage_error_only_when_someone_could_tell() {
        let check = |known: Vec<Option<bool>>| VoiceCheck {
            voice: "zz".into(),
            known,
            suggestions: vec!["en-us".into()],
        };
        let err = check(vec![Some(false)]).require_known().unwrap_err();
        assert_eq!(err.status(), 2);
        assert!(err.message().contains("unknown voice `zz`"), "{err}");
        assert!(err.message().contains("en-us"), "{err}");
        assert!(check(vec![None]).require_known().is_ok());
        assert!(check(vec![Some(false), Some(true)]).require_known().is_ok());
        assert!(check(vec![Some(false), None]).require_known().is_ok());
        assert!(check(vec![Some(false), Some(false)])
            .require_known()
            .is_err());
    }
}

//! What identifies a cached sentence: everything that changes its sound.

use sha2::{Digest, Sha256};
use voxwire_core::{AudioFormat, Extensions, SynthesisRequest, WantTimestamps};

/// A cached sentence's key: a SHA-256 over the entry (name, provider id,
/// the settings that change its sound), the voice, language, speed, output
/// format, whether word times were asked for, and the sentence's normalised
/// text. Shown as 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhraseKey(String);

impl PhraseKey {
    /// The key of `text` (normalised) spoken by entry `entry` (provider
    /// `provider`, settings digest `sound`) with `request`'s voice, language
    /// and speed, in `format`.
    pub fn new(
        (entry, provider, sound): (&str, &str, &str),
        request: &SynthesisRequest,
        format: AudioFormat,
        text: &str,
    ) -> Self {
        let mut hash = Sha256::new();
        let mut part = |label: &str, value: &str| {
            // Length-prefixed, so no two different keys hash the same bytes.
            for field in [label, value] {
                hash.update((field.len() as u64).to_le_bytes());
                hash.update(field.as_bytes());
            }
        };
        part("entry", entry);
        part("provider", provider);
        part("sound", sound);
        part("voice", request.voice.as_deref().unwrap_or(""));
        part("language", request.language.as_deref().unwrap_or(""));
        part(
            "speed",
            &request
                .speed
                .map(|s| s.to_bits().to_string())
                .unwrap_or_default(),
        );
        part(
            "format",
            &format!(
                "{}/{}/{}",
                format.encoding.as_str(),
                format.sample_rate,
                format.channels
            ),
        );
        part("text", text);
        let digest = hash.finalize();
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key as 64 lower-case hex digits (safe as a file name or Redis key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhraseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a request with these options may be cached: only the options
/// the key accounts for (whether word times are asked) may be set; any
/// other may change the sound in ways the key cannot see.
pub(crate) fn cacheable(extensions: &Extensions) -> bool {
    let known = usize::from(extensions.get::<WantTimestamps>().is_some());
    extensions.len() == known
}

/// A sentence's text as the cache keys it: whitespace runs made one space,
/// leading and trailing whitespace dropped. Word spans are stored against
/// it, so the same sentence spaced differently maps its words back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalized {
    /// The normalised text.
    pub text: String,
    /// For each byte of the raw text (and its end), the byte of `text` it falls on.
    to_norm: Vec<usize>,
    /// For each byte of `text` (and its end), the first raw byte it came from.
    to_raw: Vec<usize>,
}

impl Normalized {
    /// Normalises `raw`.
    pub fn new(raw: &str) -> Self {
        let mut text = String::with_capacity(raw.len());
        let mut to_norm = Vec::with_capacity(raw.len() + 1);
        let mut to_raw = Vec::with_capacity(raw.len() + 1);
        let mut pending_space: Option<usize> = None;
        for (at, ch) in raw.char_indices() {
            if ch.is_whitespace() {
                if !text.is_empty() && pending_space.is_none() {
                    pending_space = Some(at);
                }
                to_norm.extend(std::iter::repeat_n(text.len(), ch.len_utf8()));
                continue;
            }
            if let Some(space) = pending_space.take() {
                to_raw.push(space);
                text.push(' ');
                // The run's bytes fall on the space written for it.
                let run_start = to_norm.len() - (at - space);
                for slot in &mut to_norm[run_start..] {
                    *slot = text.len() - 1;
                }
            }
            to_raw.extend((0..ch.len_utf8()).map(|i| at + i));
            to_norm.extend((0..ch.len_utf8()).map(|i| text.len() + i));
            text.push(ch);
        }
        to_norm.push(text.len());
        let end = raw.trim_end().len();
        to_raw.push(end);
        Self {
            text,
            to_norm,
            to_raw,
        }
    }

    /// Raw byte `at` as a byte of the normalised text.
    pub fn norm_offset(&self, at: usize) -> usize {
        self.to_norm
            .get(at)
            .copied()
            .unwrap_or(self.text.len())
            .min(self.text.len())
    }

    /// Normalised byte `at` as a byte of the raw text.
    pub fn raw_offset(&self, at: usize) -> usize {
        let last = self.to_raw.len().saturating_sub(1);
        self.to_raw[at.min(last)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_runs_become_one_space_and_offsets_map_both_ways() {
        let raw = "  Hello   there,\n friend. ";
        let n = Normalized::new(raw);
        assert_eq!(n.text, "Hello there, friend.");
        // "there" starts at raw 10, normalised 6.
        assert_eq!(n.norm_offset(10), 6);
        assert_eq!(n.raw_offset(6), 10);
        // "friend." ends at raw 25, normalised 20.
        assert_eq!(n.norm_offset(25), 20);
        assert_eq!(n.raw_offset(20), 25);
        assert_eq!(Normalized::new("Hello there, friend.").text, n.text);
    }

    #[test]
    fn keys_differ_by_every_part() {
        let request = SynthesisRequest::new("x");
        let format = AudioFormat::pcm16_mono(24_000);
        let base = PhraseKey::new(("a", "xai", ""), &request, format, "Hi.");
        assert_eq!(
            base,
            PhraseKey::new(("a", "xai", ""), &request, format, "Hi.")
        );
        let mut voiced = request.clone();
        voiced.voice = Some("eve".into());
        let mut spoken = request.clone();
        spoken.language = Some("de".into());
        let mut fast = request.clone();
        fast.speed = Some(1.5);
        for other in [
            PhraseKey::new(("b", "xai", ""), &request, format, "Hi."),
            PhraseKey::new(("a", "openai", ""), &request, format, "Hi."),
            PhraseKey::new(("a", "xai", "model=x"), &request, format, "Hi."),
            PhraseKey::new(("a", "xai", ""), &voiced, format, "Hi."),
            PhraseKey::new(("a", "xai", ""), &spoken, format, "Hi."),
            PhraseKey::new(("a", "xai", ""), &fast, format, "Hi."),
            PhraseKey::new(
                ("a", "xai", ""),
                &request,
                AudioFormat::pcm16_mono(16_000),
                "Hi.",
            ),
            PhraseKey::new(("a", "xai", ""), &request, format, "Hi!"),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base.as_str().len(), 64);
    }
}

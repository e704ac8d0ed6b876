//! A Piper voice's `.onnx.json`: sample rate, eSpeak voice, phoneme ids, speakers, scales.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use voxwire_core::{ErrorKind, Phase, Result, TtsError};

use crate::PROVIDER_ID;

/// The largest voice config read (real ones are a few kB).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// Sentence start, pad and end symbols of Piper's id sequence.
const BOS: char = '^';
const PAD: char = '_';
const EOS: char = '$';

/// What synthesis needs from a voice's config.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    /// The rate the model produces.
    pub sample_rate: u32,
    /// The eSpeak voice whose phonemes the model was trained on (`en-us`).
    pub espeak_voice: String,
    /// The voice's language as written in the config (`en_US`), if given.
    pub language: Option<String>,
    /// The dataset name (`joe`), if given.
    pub dataset: Option<String>,
    /// How many speakers the model has (1: no speaker input).
    pub num_speakers: u32,
    /// Speaker names to ids, for multi-speaker voices.
    pub speaker_id_map: HashMap<String, i64>,
    /// The default noise, length and noise-width scales.
    pub scales: Scales,
    phoneme_id_map: HashMap<char, Vec<i64>>,
}

/// The three scales a Piper model takes as its `scales` input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// Variation of the voice (VITS `noise_scale`).
    pub noise: f32,
    /// Duration multiplier: above 1 speaks slower.
    pub length: f32,
    /// Variation of phoneme durations (`noise_w`).
    pub noise_w: f32,
}

impl Default for Scales {
    fn default() -> Self {
        Self {
            noise: 0.667,
            length: 1.0,
            noise_w: 0.8,
        }
    }
}

/// A text's phonemes as model input, and the phonemes the voice has no id for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonemeIds {
    /// `^ _ (phoneme _)* $`.
    pub ids: Vec<i64>,
    /// Phonemes skipped because the map lacks them.
    pub missing: Vec<char>,
}

#[derive(Deserialize)]
struct Raw {
    audio: RawAudio,
    #[serde(default)]
    espeak: Option<RawEspeak>,
    #[serde(default)]
    inference: Option<RawInference>,
    #[serde(default)]
    phoneme_type: Option<String>,
    #[serde(default)]
    num_speakers: Option<u32>,
    #[serde(default)]
    speaker_id_map: HashMap<String, i64>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    language: Option<RawLanguage>,
    #[serde(default)]
    dataset: Option<String>,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
struct RawInference {
    noise_scale: Option<f32>,
    length_scale: Option<f32>,
    noise_w: Option<f32>,
}

#[derive(Deserialize)]
struct RawLanguage {
    code: Option<String>,
}

impl VoiceConfig {
    /// Reads and checks a config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let error =
            |message: String| config_error(message).with_endpoint(path.display().to_string());
        let size = std::fs::metadata(path)
            .map_err(|e| {
                error(format!(
                    "cannot read the voice config {}: {e}",
                    path.display()
                ))
                .with_hint("a Piper voice is two files: NAME.onnx and NAME.onnx.json side by side")
            })?
            .len();
        if size > MAX_CONFIG_BYTES {
            return Err(error(format!(
                "the voice config {} is {size} bytes; a Piper config is a few kB",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(format!(
                "cannot read the voice config {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| e.with_endpoint(path.display().to_string()))
    }

    /// Parses and checks a config's JSON.
    pub fn parse(json: &str) -> Result<Self> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| config_error(format!("the voice config is not a Piper config: {e}")))?;
        if let Some(kind) = raw.phoneme_type.as_deref().filter(|k| *k != "espeak") {
            return Err(config_error(format!(
                "the voice takes `{kind}` phonemes; only eSpeak-phoneme voices are supported"
            )));
        }
        if !(4_000..=96_000).contains(&raw.audio.sample_rate) {
            return Err(config_error(format!(
                "the voice config's sample rate {} Hz is out of range",
                raw.audio.sample_rate
            )));
        }
        let mut map = HashMap::with_capacity(raw.phoneme_id_map.len());
        for (key, ids) in raw.phoneme_id_map {
            let mut chars = key.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(config_error(format!(
                    "phoneme_id_map key `{key}` is not one character"
                )));
            };
            if ids.is_empty() || ids.iter().any(|id| *id < 0) {
                return Err(config_error(format!(
                    "phoneme_id_map entry `{key}` has no ids or a negative one"
                )));
            }
            map.insert(c, ids);
        }
        for symbol in [BOS, PAD, EOS] {
            if !map.contains_key(&symbol) {
                return Err(config_error(format!(
                    "phoneme_id_map has no `{symbol}` (Piper's start, pad and end symbols are `^ _ $`)"
                )));
            }
        }
        let defaults = Scales::default();
        let scales = raw.inference.map_or(defaults, |i| Scales {
            noise: i.noise_scale.unwrap_or(defaults.noise),
            length: i.length_scale.unwrap_or(defaults.length),
            noise_w: i.noise_w.unwrap_or(defaults.noise_w),
        });
        Ok(Self {
            sample_rate: raw.audio.sample_rate,
            espeak_voice: raw
                .espeak
                .map(|e| e.voice)
                .unwrap_or_else(|| "en-us".to_string()),
            language: raw.language.and_then(|l| l.code),
            dataset: raw.dataset,
            num_speakers: raw.num_speakers.unwrap_or(1).max(1),
            speaker_id_map: raw.speaker_id_map,
            scales,
            phoneme_id_map: map,
        })
    }

    /// Maps IPA phonemes to model ids: `^ _ (phoneme _)* $`.
    pub fn phoneme_ids(&self, ipa: &str) -> PhonemeIds {
        let mut ids = Vec::with_capacity(ipa.len() * 2 + 3);
        let mut missing = Vec::new();
        let pad = &self.phoneme_id_map[&PAD];
        ids.extend_from_slice(&self.phoneme_id_map[&BOS]);
        ids.extend_from_slice(pad);
        for c in ipa.chars() {
            match self.phoneme_id_map.get(&c) {
                // The start and end symbols only frame a sentence.
                Some(phoneme) if c != BOS && c != EOS => {
                    ids.extend_from_slice(phoneme);
                    ids.extend_from_slice(pad);
                }
                _ => {
                    if !missing.contains(&c) {
                        missing.push(c);
                    }
                }
            }
        }
        ids.extend_from_slice(&self.phoneme_id_map[&EOS]);
        PhonemeIds { ids, missing }
    }

    /// The BCP-47 tags the voice speaks: its config's language code and its eSpeak voice.
    pub fn languages(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for tag in self.language.iter().chain(Some(&self.espeak_voice)) {
            let tag = tag.replace('_', "-").to_ascii_lowercase();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }
}

fn config_error(message: String) -> TtsError {
    TtsError::new(ErrorKind::Config, message)
        .with_provider(PROVIDER_ID)
        .with_phase(Phase::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny synthetic voice: ids chosen so the mapping is visible.
    const SYNTHETIC: &str = r#"{
        "audio": {"sample_rate": 16000},
        "espeak": {"voice": "en-gb"},
        "inference": {"noise_scale": 0.5, "length_scale": 1.2},
        "phoneme_type": "espeak",
        "num_speakers": 2,
        "speaker_id_map": {"alice": 0, "bob": 1},
        "language": {"code": "en_GB"},
        "phoneme_id_map": {
            "_": [0], "^": [1], "$": [2], " ": [3], ",": [8], ".": [10],
            "h": [20], "ə": [59], "l": [24], "ˈ": [120], "o": [27], "ʊ": [100],
            "ã": [40, 41]
        }
    }"#;

    #[test]
    fn phonemes_map_to_start_pad_phoneme_pad_end() {
        let voice = VoiceConfig::parse(SYNTHETIC).unwrap();
        let got = voice.phoneme_ids("həlˈoʊ.");
        assert_eq!(
            got.ids,
            vec![1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 10, 0, 2]
        );
        assert!(got.missing.is_empty());
    }

    #[test]
    fn unknown_phonemes_are_skipped_and_reported_once() {
        let voice = VoiceConfig::parse(SYNTHETIC).unwrap();
        let got = voice.phoneme_ids("hXhX^");
        assert_eq!(got.ids, vec![1, 0, 20, 0, 20, 0, 2]);
        assert_eq!(got.missing, vec!['X', '^']);
        // A phoneme may map to several ids; the pad follows all of them.
        assert_eq!(voice.phoneme_ids("ã").ids, vec![1, 0, 40, 41, 0, 2]);
        assert_eq!(voice.phoneme_ids("").ids, vec![1, 0, 2]);
    }

    #[test]
    fn the_config_supplies_rate_voice_speakers_scales_and_languages() {
        let voice = VoiceConfig::parse(SYNTHETIC).unwrap();
        assert_eq!(voice.sample_rate, 16_000);
        assert_eq!(voice.espeak_voice, "en-gb");
        assert_eq!(voice.num_speakers, 2);
        assert_eq!(voice.speaker_id_map["bob"], 1);
        assert_eq!(
            voice.scales,
            Scales {
                noise: 0.5,
                length: 1.2,
                noise_w: 0.8
            }
        );
        assert_eq!(voice.languages(), vec!["en-gb".to_string()]);
    }

    #[test]
    fn broken_configs_are_config_errors_that_say_why() {
        let cases = [
            ("{", "not a Piper config"),
            (
                r#"{"audio":{"sample_rate":22050},"phoneme_id_map":{"_":[0],"^":[1]}}"#,
                "no `$`",
            ),
            (
                r#"{"audio":{"sample_rate":22050},"phoneme_type":"text","phoneme_id_map":{}}"#,
                "`text` phonemes",
            ),
            (
                r#"{"audio":{"sample_rate":22050},"phoneme_id_map":{"ab":[0]}}"#,
                "not one character",
            ),
            (
                r#"{"audio":{"sample_rate":1},"phoneme_id_map":{}}"#,
                "out of range",
            ),
        ];
        for (json, says) in cases {
            let err = VoiceConfig::parse(json).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}

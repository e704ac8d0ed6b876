//! Cartesia's REST wire types: the body of `POST /tts/bytes`, its
//! `output_format`, a page of `GET /voices` and the two error-body shapes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use voxwire_core::{AudioFormat, Encoding};

/// The rates every raw encoding is offered at.
pub const RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];
/// `generation_config.speed` (sonic-3; the SDK's range).
pub const SPEED_RANGE: (f32, f32) = (0.6, 1.5);
/// The most characters voxwire sends in one request (the API states no
/// limit; a longer text is better cut into sentences).
pub const MAX_TEXT_CHARS: usize = 10_000;
/// The first version that takes a voice as `{"id"}` without `mode`;
/// earlier ones are sent `{"mode":"id","id"}`.
pub const BARE_VOICE_VERSION: &str = "2026-08-14";
/// The languages of `sonic-3` (the SDK's `SupportedLanguage`).
pub const LANGUAGES: [&str; 44] = [
    "en", "fr", "de", "es", "pt", "zh", "ja", "hi", "it", "ko", "nl", "pl", "ru", "sv", "tr", "tl",
    "bg", "ro", "ar", "cs", "el", "fi", "hr", "ms", "sk", "da", "ta", "uk", "hu", "no", "vi", "bn",
    "th", "he", "ka", "id", "te", "gu", "kn", "ml", "mr", "pa", "or", "ur",
];

/// The `encoding` of a raw output format.
pub fn encoding(e: Encoding) -> &'static str {
    match e {
        Encoding::PcmS16le => "pcm_s16le",
        Encoding::Mulaw => "pcm_mulaw",
        Encoding::Alaw => "pcm_alaw",
    }
}

/// `{"container":"raw","encoding":…,"sample_rate":…}` for a wire format.
pub fn output_format(wire: AudioFormat) -> Value {
    json!({
        "container": "raw",
        "encoding": encoding(wire.encoding),
        "sample_rate": wire.sample_rate,
    })
}

/// The voice as `version` takes it: `{"id"}` from [`BARE_VOICE_VERSION`]
/// on, `{"mode":"id","id"}` before.
pub fn voice(id: &str, version: &str) -> Value {
    if version >= BARE_VOICE_VERSION {
        json!({ "id": id })
    } else {
        json!({ "mode": "id", "id": id })
    }
}

/// `generation_config`: only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GenerationConfig {
    /// 0.6 to 1.5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

impl GenerationConfig {
    /// Whether no field is set (then none is sent).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The body of `POST /tts/bytes`.
#[derive(Debug, Clone, Serialize)]
pub struct BytesRequest {
    /// The model.
    pub model_id: String,
    /// What to say.
    pub transcript: String,
    /// The voice ([`voice`]).
    pub voice: Value,
    /// The raw format ([`output_format`]).
    pub output_format: Value,
    /// ISO 639-1, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Set fields only.
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    pub generation_config: GenerationConfig,
}

/// A locale a voice speaks (`locales` of the 2026 voice).
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceLocale {
    /// BCP-47 (`en-US`).
    pub locale: String,
}

/// An entry of `GET /voices`.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceEntry {
    /// The id to speak with.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its language (ISO 639-1).
    #[serde(default)]
    pub language: Option<String>,
    /// The locales it speaks, its native one first.
    #[serde(default)]
    pub locales: Option<Vec<VoiceLocale>>,
    /// `masculine`, `feminine`, `gender_neutral`, when given.
    #[serde(default)]
    pub gender: Option<String>,
}

/// A page of `GET /voices` (cursor paging: `starting_after` the last id).
#[derive(Debug, Clone, Deserialize)]
pub struct VoicePage {
    /// The voices.
    pub data: Vec<VoiceEntry>,
    /// Whether more follow (absent: keep paging until a page is empty).
    #[serde(default)]
    pub has_more: Option<bool>,
}

/// What an error body says, in either shape: 2025's `{"error":"…"}` or
/// 2026's `{"title","message","error_code","doc_url","request_id"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `message`, else `error`, else `title`.
    pub message: Option<String>,
    /// `error_code` (2026 shape).
    pub code: Option<String>,
    /// `request_id` (2026 shape).
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Reads an error body; an unknown shape gives an empty one.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let text = |k: &str| v[k].as_str().map(str::to_string).filter(|s| !s.is_empty());
        Self {
            message: text("message")
                .or_else(|| text("error"))
                .or_else(|| text("title")),
            code: text("error_code"),
            request_id: text("request_id"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_are_read() {
        let new = br#"{"type":"error","title":"Invalid voice","message":"Voice x not found","error_code":"voice_not_found","request_id":"req-1","status_code":404}"#;
        let e = ErrorBody::parse(new);
        assert_eq!(e.message.as_deref(), Some("Voice x not found"));
        assert_eq!(e.code.as_deref(), Some("voice_not_found"));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        let old = br#"{"error":"Invalid API key"}"#;
        assert_eq!(
            ErrorBody::parse(old).message.as_deref(),
            Some("Invalid API key")
        );
        let title = br#"{"title":"Bad request"}"#;
        assert_eq!(
            ErrorBody::parse(title).message.as_deref(),
            Some("Bad request")
        );
        assert_eq!(ErrorBody::parse(b"<html>"), ErrorBody::default());
    }

    #[test]
    fn formats_and_voices_map_to_the_wire() {
        let f = output_format(AudioFormat::mono(Encoding::Mulaw, 8_000));
        assert_eq!(f["encoding"], "pcm_mulaw");
        assert_eq!(f["sample_rate"], 8_000);
        assert_eq!(voice("v", "2026-08-14"), json!({"id": "v"}));
        assert_eq!(voice("v", "2025-04-16"), json!({"mode": "id", "id": "v"}));
    }
}

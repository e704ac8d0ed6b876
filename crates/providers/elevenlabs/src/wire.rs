//! ElevenLabs' REST wire types: the request body, the query's
//! `output_format`, a line of `/stream/with-timestamps`, the voice list and
//! the error bodies.

use serde::{Deserialize, Serialize};
use voxwire_core::{AudioFormat, Encoding};

/// The rates `pcm_*` is asked at natively (`pcm_44100` needs a Pro plan).
pub const PCM_RATES: [u32; 4] = [16_000, 22_050, 24_000, 44_100];
/// The rate that needs a Pro plan.
pub const PRO_PCM_RATE: u32 = 44_100;
/// The rate of `ulaw_8000`.
pub const ULAW_RATE: u32 = 8_000;
/// The speaking rates `voice_settings.speed` takes.
pub const SPEED_RANGE: (f32, f32) = (0.7, 1.2);
/// The most characters one request carries (`eleven_flash_v2_5`,
/// `eleven_turbo_v2_5`; other models take fewer and answer
/// `max_character_limit_exceeded`).
pub const MAX_TEXT_CHARS: usize = 40_000;
/// The languages (ISO 639-1, `fil`) of `eleven_flash_v2_5` and `eleven_turbo_v2_5`.
pub const LANGUAGES: [&str; 32] = [
    "en", "ja", "zh", "de", "hi", "fr", "ko", "pt", "it", "es", "id", "nl", "tr", "fil", "pl",
    "sv", "bg", "ro", "ar", "cs", "el", "fi", "hr", "ms", "sk", "da", "ta", "uk", "ru", "hu", "no",
    "vi",
];

/// `output_format` for a wire format (`pcm_24000`, `ulaw_8000`).
pub fn output_format(wire: AudioFormat) -> String {
    match wire.encoding {
        Encoding::PcmS16le => format!("pcm_{}", wire.sample_rate),
        Encoding::Mulaw => format!("ulaw_{}", wire.sample_rate),
        Encoding::Alaw => format!("alaw_{}", wire.sample_rate),
    }
}

/// Whether `model` takes `language_code` (other models answer 400 to it).
pub fn takes_language_code(model: &str) -> bool {
    model.starts_with("eleven_flash_v2_5")
        || model.starts_with("eleven_turbo_v2_5")
        || model.starts_with("eleven_v3")
}

/// `voice_settings`: only the fields set are sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceSettings {
    /// 0 to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<f32>,
    /// 0 to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f32>,
    /// 0.7 to 1.2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
}

impl VoiceSettings {
    /// Whether no field is set (then none is sent).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The body of `POST /v1/text-to-speech/{voice_id}[/stream][/with-timestamps]`.
#[derive(Debug, Clone, Serialize)]
pub struct SpeechRequest {
    /// What to say.
    pub text: String,
    /// The model.
    pub model_id: String,
    /// ISO 639-1, for the models that take it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Set fields only.
    #[serde(skip_serializing_if = "VoiceSettings::is_empty")]
    pub voice_settings: VoiceSettings,
}

/// `alignment` of a timed answer: one entry per character, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Alignment {
    /// The characters (an entry may hold several).
    pub characters: Vec<String>,
    /// When each starts.
    pub character_start_times_seconds: Vec<f64>,
    /// When each ends.
    pub character_end_times_seconds: Vec<f64>,
}

/// One line of `/stream/with-timestamps` (and the body of `/with-timestamps`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TimedChunk {
    /// Base64 audio in `output_format`.
    #[serde(default)]
    pub audio_base64: Option<String>,
    /// Times of the characters as sent.
    #[serde(default)]
    pub alignment: Option<Alignment>,
}

/// An entry of `GET /v1/voices`.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceEntry {
    /// The id to speak with.
    pub voice_id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free labels (`gender`, `accent`, `language`, …).
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// The languages it was verified in.
    #[serde(default)]
    pub verified_languages: Option<Vec<VerifiedLanguage>>,
}

/// A language a voice was verified in.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedLanguage {
    /// ISO 639-1.
    pub language: String,
    /// `en-US`, when given.
    #[serde(default)]
    pub locale: Option<String>,
}

/// The body of `GET /v1/voices`.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceList {
    /// The voices.
    pub voices: Vec<VoiceEntry>,
}

/// What an error body says: `{"detail":{"status","message"}}`, FastAPI's
/// `{"detail":[{"msg",…}]}` or `{"detail":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetail {
    /// `detail.status` (`quota_exceeded`, `voice_not_found`, …).
    pub status: Option<String>,
    /// The message(s).
    pub message: Option<String>,
}

impl ErrorDetail {
    /// Reads an error body; an unknown shape gives an empty detail.
    pub fn parse(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Self::default();
        };
        let detail = &v["detail"];
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        match detail {
            serde_json::Value::Object(_) => Self {
                status: text(&detail["status"]).or_else(|| text(&detail["code"])),
                message: text(&detail["message"]),
            },
            serde_json::Value::Array(items) => Self {
                status: Some("validation_error".into()),
                message: Some(
                    items
                        .iter()
                        .filter_map(|i| i["msg"].as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            },
            serde_json::Value::String(s) => Self {
                status: None,
                message: Some(s.clone()),
            },
            _ => Self::default(),
        }
    }

    /// Whether `detail.status` is `status`.
    pub fn is(&self, status: &str) -> bool {
        self.status.as_deref() == Some(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape_are_read() {
        let quota = br#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000."}}"#;
        let d = ErrorDetail::parse(quota);
        assert!(d.is("quota_exceeded"));
        assert!(d.message.unwrap().contains("quota"));
        let fastapi = br#"{"detail":[{"loc":["body","text"],"msg":"field required","type":"value_error.missing"}]}"#;
        assert_eq!(
            ErrorDetail::parse(fastapi).message.as_deref(),
            Some("field required")
        );
        assert_eq!(
            ErrorDetail::parse(br#"{"detail":"Not Found"}"#)
                .message
                .as_deref(),
            Some("Not Found")
        );
        assert_eq!(ErrorDetail::parse(b"<html>"), ErrorDetail::default());
    }

    #[test]
    fn formats_and_models_map_to_the_wire() {
        assert_eq!(output_format(AudioFormat::pcm16_mono(22_050)), "pcm_22050");
        assert_eq!(
            output_format(AudioFormat::mono(Encoding::Mulaw, 8_000)),
            "ulaw_8000"
        );
        assert!(takes_language_code("eleven_flash_v2_5"));
        assert!(!takes_language_code("eleven_multilingual_v2"));
    }
}

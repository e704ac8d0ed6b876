//! The wire types of `POST /audio/speech` and OpenAI's model and voice rules.

use serde::{Deserialize, Serialize};

/// The most characters of `input` (and of `instructions`) one request may carry.
pub const MAX_INPUT_CHARS: usize = 4096;
/// The rate of OpenAI's `pcm` (and of its other formats): 24 kHz; the API
/// takes no rate.
pub const PCM_RATE: u32 = 24_000;
/// `response_format` when a request leaves it out: OpenAI's default.
pub const DEFAULT_RESPONSE_FORMAT: &str = "mp3";
/// The speaking rates the endpoint accepts.
pub const SPEED_RANGE: (f32, f32) = (0.25, 4.0);
/// When OpenAI shuts its Speech-API models down (SDK 3.57.0).
pub const SHUTDOWN_DATE: &str = "2027-01-06";

/// OpenAI's built-in voices, every model.
pub const VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
];
/// The voices `tts-1` and `tts-1-hd` accept.
pub const TTS1_VOICES: [&str; 9] = [
    "alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
];
/// OpenAI's own speech models, all deprecated with the shutdown on [`SHUTDOWN_DATE`].
pub const DEPRECATED_MODELS: [&str; 5] = [
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-03-20",
    "gpt-4o-mini-tts-2025-12-15",
];

/// Whether `model` is one of the `tts-1` family (no SSE, no instructions, nine voices).
pub fn is_tts1(model: &str) -> bool {
    model == "tts-1" || model == "tts-1-hd" || model.starts_with("tts-1-")
}

/// The `voice` field: a name, or a custom voice object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VoiceParam {
    /// A built-in (or a compatible server's) voice name.
    Name(String),
    /// A custom voice: `{"id": "voice_..."}`.
    Custom {
        /// The custom voice's id.
        id: String,
    },
}

impl VoiceParam {
    /// `voice_…` ids and `id:…` become custom voice objects; anything else is a name.
    pub fn parse(voice: &str) -> Self {
        let voice = voice.trim();
        if let Some(id) = voice.strip_prefix("id:") {
            return Self::Custom {
                id: id.trim().to_string(),
            };
        }
        if voice.starts_with("voice_") {
            return Self::Custom {
                id: voice.to_string(),
            };
        }
        Self::Name(voice.to_string())
    }
}

/// The request body (`CreateSpeechRequest`). Read back (a server's side),
/// unknown fields are refused as OpenAI's schema does, and a missing
/// `response_format` is OpenAI's default, [`DEFAULT_RESPONSE_FORMAT`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    /// The model.
    pub model: String,
    /// What to say (at most [`MAX_INPUT_CHARS`]).
    pub input: String,
    /// The voice.
    pub voice: VoiceParam,
    /// Style direction (not for `tts-1*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `pcm`, `wav`, `mp3`, ….
    #[serde(default = "default_response_format")]
    pub response_format: String,
    /// 0.25 to 4.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
    /// `audio` or `sse`; left out when `audio` (the default), so strict servers see fewer fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_format: Option<String>,
}

fn default_response_format() -> String {
    DEFAULT_RESPONSE_FORMAT.to_string()
}

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`
/// (compatible servers sometimes send `{"error":"..."}` or `{"detail":...}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `error.message`.
    pub message: Option<String>,
    /// `error.type`.
    pub kind: Option<String>,
    /// `error.param`: the request field it is about.
    pub param: Option<String>,
    /// `error.code`.
    pub code: Option<String>,
}

impl ErrorBody {
    /// The body as OpenAI sends it, every field present (`null` when unset).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    /// Reads what it can from a body excerpt; never fails.
    pub fn parse(body: &str) -> Self {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
            return Self::default();
        };
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        match v.get("error") {
            Some(serde_json::Value::String(s)) => Self {
                message: Some(s.clone()),
                ..Self::default()
            },
            Some(e) => Self {
                message: e.get("message").and_then(text),
                kind: e.get("type").and_then(text),
                param: e.get("param").and_then(text),
                code: e
                    .get("code")
                    .and_then(|c| text(c).or_else(|| c.as_i64().map(|n| n.to_string()))),
            },
            None => Self {
                message: v.get("detail").map(|d| match d.as_str() {
                    Some(s) => s.to_string(),
                    None => d.to_string(),
                }),
                ..Self::default()
            },
        }
    }

    /// Whether it says the quota (billing) is exhausted rather than a rate limit hit.
    pub fn is_quota(&self) -> bool {
        let has = |s: &Option<String>, what: &str| {
            s.as_deref()
                .is_some_and(|s| s.to_ascii_lowercase().contains(what))
        };
        has(&self.code, "insufficient_quota")
            || has(&self.kind, "insufficient_quota")
            || has(&self.message, "exceeded your current quota")
            || has(&self.message, "billing")
    }

    /// Whether it is about a model that does not exist (or no longer does).
    pub fn is_model_not_found(&self) -> bool {
        self.code.as_deref() == Some("model_not_found")
            || self.message.as_deref().is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("model") && (m.contains("does not exist") || m.contains("not found"))
            })
    }

    /// Whether it is about the voice.
    pub fn is_about_voice(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("voice"))
    }
}

/// A voice×model mismatch OpenAI would refuse with 400, found before sending
/// (only on OpenAI's base: compatible servers have voices of their own).
pub fn voice_model_mismatch(model: &str, voice: &VoiceParam) -> Option<String> {
    let VoiceParam::Name(name) = voice else {
        return None;
    };
    let name = name.to_ascii_lowercase();
    if is_tts1(model) && VOICES.contains(&name.as_str()) && !TTS1_VOICES.contains(&name.as_str()) {
        return Some(format!(
            "voice `{name}` is offered by gpt-4o-mini-tts only, not by {model} (which takes {})",
            TTS1_VOICES.join(", ")
        ));
    }
    None
}

/// One SSE event's JSON (`speech.audio.delta`, `speech.audio.done`, an error…).
#[derive(Debug, Clone, Deserialize)]
pub struct SseFrame {
    /// The event type.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Base64 audio (the spec's field).
    #[serde(default)]
    pub audio: Option<String>,
    /// Base64 audio (the Realtime API's spelling, which some compatible servers send).
    #[serde(default)]
    pub delta: Option<String>,
    /// The error, in whatever shape the server sends it.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    /// A message at the top level (some servers' error events).
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_voices_become_objects() {
        assert_eq!(
            serde_json::to_value(VoiceParam::parse("voice_abc")).unwrap(),
            serde_json::json!({"id": "voice_abc"})
        );
        assert_eq!(
            serde_json::to_value(VoiceParam::parse("id:mine")).unwrap(),
            serde_json::json!({"id": "mine"})
        );
        assert_eq!(
            serde_json::to_value(VoiceParam::parse("af_bella")).unwrap(),
            serde_json::json!("af_bella")
        );
    }

    #[test]
    fn a_request_reads_back_with_openais_defaults_and_refuses_unknown_fields() {
        let r: SpeechRequest = serde_json::from_str(
            r#"{"model":"tts-1","input":"hi","voice":{"id":"voice_x"},"speed":1.5}"#,
        )
        .unwrap();
        assert_eq!(r.response_format, "mp3");
        assert_eq!(
            r.voice,
            VoiceParam::Custom {
                id: "voice_x".into()
            }
        );
        assert_eq!(r.speed, Some(1.5));
        assert!(r.instructions.is_none() && r.stream_format.is_none());
        assert!(serde_json::from_str::<SpeechRequest>(
            r#"{"model":"tts-1","input":"hi","voice":"alloy","colour":"red"}"#
        )
        .is_err());
    }

    #[test]
    fn an_error_body_writes_what_it_reads() {
        let body = ErrorBody {
            message: Some("no".into()),
            kind: Some("invalid_request_error".into()),
            param: Some("voice".into()),
            code: None,
        };
        let json = body.to_json();
        assert_eq!(json["error"]["code"], serde_json::Value::Null);
        assert_eq!(ErrorBody::parse(&json.to_string()), body);
    }

    #[test]
    fn quota_is_told_from_a_rate_limit() {
        let quota = ErrorBody::parse(
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert!(quota.is_quota());
        let rate = ErrorBody::parse(
            r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert!(!rate.is_quota());
        assert_eq!(
            ErrorBody::parse(r#"{"error":"boom"}"#).message.as_deref(),
            Some("boom")
        );
        assert_eq!(ErrorBody::parse("not json"), ErrorBody::default());
    }

    #[test]
    fn voice_rules_hold_for_tts1_only() {
        assert!(voice_model_mismatch("tts-1", &VoiceParam::parse("ballad")).is_some());
        assert!(voice_model_mismatch("tts-1-hd", &VoiceParam::parse("marin")).is_some());
        assert!(voice_model_mismatch("tts-1", &VoiceParam::parse("alloy")).is_none());
        assert!(voice_model_mismatch("gpt-4o-mini-tts", &VoiceParam::parse("ballad")).is_none());
        assert!(voice_model_mismatch("tts-1", &VoiceParam::parse("my-own")).is_none());
    }
}

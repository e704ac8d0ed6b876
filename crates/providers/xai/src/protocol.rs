//! The xAI TTS wire protocol (REST body, WebSocket query and messages), shared
//! with the relay server and the browser client.

use serde::{Deserialize, Serialize};
use voxwire_core::{Encoding, ErrorKind};

/// The most characters xAI accepts in one REST request or utterance.
pub const MAX_TEXT_CHARS: usize = 15_000;
/// Sample rates xAI documents.
pub const SAMPLE_RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];
/// The speaking-rate multipliers xAI documents (it answers others with 400).
pub const SPEED_RANGE: (f32, f32) = (0.7, 1.5);
/// Built-in voices (ids are case-insensitive).
pub const VOICES: [&str; 5] = ["eve", "ara", "leo", "rex", "sal"];
/// Languages xAI documents (BCP-47, case-insensitive), `auto` first.
pub const LANGUAGES: [&str; 21] = [
    "auto", "en", "ar-EG", "ar-SA", "ar-AE", "bn", "zh", "fr", "de", "hi", "id", "it", "ja", "ko",
    "pt-BR", "pt-PT", "ru", "es-MX", "es-ES", "tr", "vi",
];

/// The codec name xAI uses for an encoding.
pub fn codec_name(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::PcmS16le => "pcm",
        Encoding::Mulaw => "mulaw",
        Encoding::Alaw => "alaw",
    }
}

/// `output_format` of a REST request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFormat {
    /// `pcm`, `mulaw`, `alaw`, `wav` or `mp3`; always sent explicitly (xAI defaults to mp3).
    pub codec: String,
    /// Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// mp3 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u32>,
}

/// The body of `POST {base}/tts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestRequest {
    /// What to say (≤ 15 000 characters).
    pub text: String,
    /// Voice id (REST says `voice_id`; the WebSocket says `voice`).
    pub voice_id: String,
    /// BCP-47 or `auto`; required (omitting it is a 400).
    pub language: String,
    /// Codec and rate.
    pub output_format: OutputFormat,
    /// Speaking rate multiplier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f32>,
    /// 0 best quality, 1 smaller first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimize_streaming_latency: Option<u8>,
    /// Expand numbers, abbreviations, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_normalization: Option<bool>,
}

/// Query parameters of `GET {base}/tts` (WebSocket).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamQuery {
    /// Voice id.
    pub voice: String,
    /// BCP-47 or `auto`.
    pub language: String,
    /// `pcm`, `mulaw`, `alaw`.
    pub codec: String,
    /// Hz.
    pub sample_rate: u32,
    /// Speaking rate multiplier, as text so the query is hashable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
    /// 0 or 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimize_streaming_latency: Option<u8>,
    /// `true`/`false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_normalization: Option<bool>,
    /// `true` to get `audio_timestamps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_timestamps: Option<bool>,
}

impl StreamQuery {
    /// The query string (without `?`), values percent-encoded.
    pub fn to_query_string(&self) -> String {
        let mut pairs = vec![
            ("voice", self.voice.clone()),
            ("language", self.language.clone()),
            ("codec", self.codec.clone()),
            ("sample_rate", self.sample_rate.to_string()),
        ];
        if let Some(s) = &self.speed {
            pairs.push(("speed", s.clone()));
        }
        if let Some(o) = self.optimize_streaming_latency {
            pairs.push(("optimize_streaming_latency", o.to_string()));
        }
        if let Some(t) = self.text_normalization {
            pairs.push(("text_normalization", t.to_string()));
        }
        if let Some(t) = self.with_timestamps {
            pairs.push(("with_timestamps", t.to_string()));
        }
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept), for
/// every client that builds the WebSocket query.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Client → server WebSocket messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientMessage {
    /// Append text to the current utterance (whitespace exactly as in the text).
    #[serde(rename = "text.delta")]
    TextDelta {
        /// The text.
        delta: String,
    },
    /// End of the utterance.
    #[serde(rename = "text.done")]
    TextDone,
    /// Barge-in: drop buffered text and stop audio in flight.
    #[serde(rename = "text.clear")]
    TextClear,
}

impl ClientMessage {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        // Serializing these plain enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Per-character times of an `audio.delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioTimestamps {
    /// The characters (spaces and punctuation included), continuing across deltas.
    #[serde(default)]
    pub graph_chars: Vec<String>,
    /// `[start, end]` seconds from the start of the utterance, one per character.
    #[serde(default)]
    pub graph_times: Vec<[f64; 2]>,
}

/// Server → client WebSocket messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    /// The next audio bytes (base64), and optionally character timestamps.
    #[serde(rename = "audio.delta")]
    AudioDelta {
        /// Base64 audio; may be absent when only timestamps are carried.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delta: Option<String>,
        /// Character timestamps, with `with_timestamps=true`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio_timestamps: Option<AudioTimestamps>,
    },
    /// The utterance is complete.
    #[serde(rename = "audio.done")]
    AudioDone,
    /// Acknowledges `text.clear`.
    #[serde(rename = "audio.clear")]
    AudioClear,
    /// An error for the current utterance; some servers use `error` for the text.
    #[serde(rename = "error")]
    Error {
        /// The error text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The error text, as some servers send it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// A parsed server frame: a known message, or an unknown type to log and skip.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A message this protocol defines.
    Known(ServerMessage),
    /// A well-formed message of a type this client does not know.
    Unknown(String),
}

/// Parses a server text frame; `Err` is a protocol violation (not JSON, no `type`, bad fields).
pub fn parse_server_message(text: &str) -> Result<Incoming, String> {
    // The common case (a known message) is one typed parse; only a failure
    // pays for the generic parse that tells an unknown type from a malformed one.
    if let Ok(message) = serde_json::from_str::<ServerMessage>(text) {
        return Ok(Incoming::Known(message));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| "no `type` field".to_string())?
        .to_string();
    match kind.as_str() {
        "audio.delta" | "audio.done" | "audio.clear" | "error" => serde_json::from_value(value)
            .map(Incoming::Known)
            .map_err(|e| format!("malformed `{kind}` ({e})")),
        _ => Ok(Incoming::Unknown(kind)),
    }
}

/// The kind of an `error` frame, read from its text: the protocol gives
/// error frames no code, so every client (native and browser) classifies the
/// same words the same way.
pub fn error_frame_kind(text: &str) -> ErrorKind {
    let lower = text.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&[
        "unauthorized",
        "forbidden",
        "api key",
        "authentication",
        "permission",
    ]) {
        ErrorKind::Auth
    } else if has(&["rate limit", "too many", "quota"]) {
        ErrorKind::RateLimited
    } else if has(&[
        "invalid",
        "unsupported",
        "unknown voice",
        "not supported",
        "too long",
        "bad request",
        "is over",
    ]) {
        ErrorKind::InvalidRequest
    } else {
        ErrorKind::Unavailable
    }
}

impl ServerMessage {
    /// The text of an error message, whichever field carries it.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Self::Error { message, error } => Some(
                message
                    .clone()
                    .or_else(|| error.clone())
                    .unwrap_or_else(|| "unspecified error".into()),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_match_the_wire() {
        assert_eq!(
            ClientMessage::TextDelta {
                delta: "Hi, ".into()
            }
            .to_json(),
            r#"{"type":"text.delta","delta":"Hi, "}"#
        );
        assert_eq!(ClientMessage::TextDone.to_json(), r#"{"type":"text.done"}"#);
        assert_eq!(
            ClientMessage::TextClear.to_json(),
            r#"{"type":"text.clear"}"#
        );
    }

    #[test]
    fn server_messages_parse_and_unknown_types_are_tolerated() {
        assert_eq!(
            parse_server_message(r#"{"type":"audio.delta","delta":"AAA="}"#).unwrap(),
            Incoming::Known(ServerMessage::AudioDelta {
                delta: Some("AAA=".into()),
                audio_timestamps: None
            })
        );
        let e = parse_server_message(r#"{"type":"error","error":"bad voice"}"#).unwrap();
        match e {
            Incoming::Known(m) => assert_eq!(m.error_text().as_deref(), Some("bad voice")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_server_message(r#"{"type":"session.created"}"#).unwrap(),
            Incoming::Unknown("session.created".into())
        );
        assert!(parse_server_message("not json").is_err());
        assert!(parse_server_message(r#"{"delta":"x"}"#).is_err());
    }

    #[test]
    fn query_string_encodes_values() {
        let q = StreamQuery {
            voice: "eve".into(),
            language: "pt-BR".into(),
            codec: "pcm".into(),
            sample_rate: 24_000,
            speed: Some("1.25".into()),
            optimize_streaming_latency: None,
            text_normalization: Some(true),
            with_timestamps: None,
        };
        assert_eq!(
            q.to_query_string(),
            "voice=eve&language=pt-BR&codec=pcm&sample_rate=24000&speed=1.25&text_normalization=true"
        );
    }
}

//! What one `POST /tts/bytes` asked for, checked as the API does, and the
//! audio it is answered with (raw, wav or mp3; `pcm_f32le` too).

use axum::http::StatusCode;
use serde_json::Value;
use voxwire_core::{AudioFormat, Encoding};

use super::{UNLISTED_VOICE, VOICES};
use crate::kit::audio::{expected_audio, expected_mp3, expected_samples, wav_header};

/// The raw rates the API takes.
pub const RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];

/// An `output_format` the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `raw` samples in an encoding the kit speaks.
    Raw(AudioFormat),
    /// `raw` `pcm_f32le` at this rate.
    F32(u32),
    /// `wav` (16-bit pcm) at this rate.
    Wav(u32),
    /// `mp3` at this rate and bit rate.
    Mp3(u32, u32),
}

impl Container {
    /// Reads `output_format`; `None` when the API would refuse it.
    pub fn parse(v: &Value) -> Option<Self> {
        let rate = u32::try_from(v["sample_rate"].as_u64()?).ok()?;
        if !RATES.contains(&rate) {
            return None;
        }
        let encoding = v["encoding"].as_str();
        match v["container"].as_str()? {
            "raw" => match encoding? {
                "pcm_s16le" => Some(Self::Raw(AudioFormat::pcm16_mono(rate))),
                "pcm_mulaw" => Some(Self::Raw(AudioFormat::mono(Encoding::Mulaw, rate))),
                "pcm_alaw" => Some(Self::Raw(AudioFormat::mono(Encoding::Alaw, rate))),
                "pcm_f32le" => Some(Self::F32(rate)),
                _ => None,
            },
            "wav" => matches!(encoding, None | Some("pcm_s16le")).then_some(Self::Wav(rate)),
            "mp3" => {
                let bit_rate = u32::try_from(v["bit_rate"].as_u64().unwrap_or(128_000)).ok()?;
                (32_000..=192_000)
                    .contains(&bit_rate)
                    .then_some(Self::Mp3(rate, bit_rate))
            }
            _ => None,
        }
    }

    /// The `Content-Type` of its answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Raw(_) | Self::F32(_) => "application/octet-stream",
            Self::Wav(_) => "audio/wav",
            Self::Mp3(..) => "audio/mpeg",
        }
    }
}

/// The audio the mock speaks for `text` in `container`.
pub fn audio_for(text: &str, container: Container) -> Vec<u8> {
    match container {
        Container::Raw(f) => expected_audio(text, f),
        Container::F32(rate) => expected_samples(text, rate)
            .into_iter()
            .flat_map(|s| (f32::from(s) / 32_768.0).to_le_bytes())
            .collect(),
        Container::Wav(rate) => {
            let mut out = wav_header(rate).to_vec();
            out.extend(expected_audio(text, AudioFormat::pcm16_mono(rate)));
            out
        }
        Container::Mp3(rate, bit_rate) => expected_mp3(text, rate, bit_rate),
    }
}

/// The voice id of any of the three shapes: a string, `{"id"}`, or
/// `{"mode":"id","id"}` (an embedding is refused in these versions).
pub fn voice_id(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) if matches!(o.get("mode"), None | Some(Value::String(_))) => {
            if o.get("mode")
                .and_then(Value::as_str)
                .is_some_and(|m| m != "id")
            {
                return None;
            }
            o.get("id").and_then(Value::as_str)
        }
        _ => None,
    }
}

/// What a valid request asked for.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The transcript.
    pub text: String,
    /// The format.
    pub container: Container,
    /// `save: true`: the answer names the stored file (`Cartesia-File-ID`).
    pub save: bool,
}

/// A refusal: status, `error_code`, message.
pub type Refusal = (StatusCode, &'static str, String);

fn bad(code: &'static str, message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, code, message.into())
}

/// Checks a body as the API does: JSON, fields, format, voice, speed.
pub fn validate(body: &[u8]) -> Result<Asked, Refusal> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad("invalid_json", "invalid JSON body"))?;
    let Some(model) = v["model_id"].as_str().filter(|m| !m.is_empty()) else {
        return Err(bad("invalid_request", "model_id is required"));
    };
    if !model.starts_with("sonic") {
        return Err((
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("Model {model} not found"),
        ));
    }
    let Some(text) = v["transcript"].as_str() else {
        return Err(bad("invalid_request", "transcript is required"));
    };
    if text.trim().is_empty() {
        return Err(bad("invalid_request", "transcript must not be empty"));
    }
    let Some(container) = Container::parse(&v["output_format"]) else {
        return Err(bad("invalid_output_format", "output_format is not valid"));
    };
    let Some(voice) = voice_id(&v["voice"]) else {
        return Err(bad("invalid_voice", "voice must be an id or {\"id\": ...}"));
    };
    if !VOICES.iter().any(|(id, ..)| *id == voice) && voice != UNLISTED_VOICE {
        return Err((
            StatusCode::NOT_FOUND,
            "voice_not_found",
            format!("Voice {voice} not found"),
        ));
    }
    if let Some(speed) = v["generation_config"]["speed"].as_f64() {
        if !(0.6..=1.5).contains(&speed) {
            return Err(bad(
                "invalid_request",
                "generation_config.speed must be 0.6 to 1.5",
            ));
        }
    }
    if v.get("language").is_some() && v.get("locale").is_some() {
        return Err(bad("invalid_request", "set language or locale, not both"));
    }
    Ok(Asked {
        text: text.to_string(),
        container,
        save: v["save"].as_bool() == Some(true),
    })
}

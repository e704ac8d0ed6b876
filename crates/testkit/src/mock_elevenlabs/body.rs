//! What one speech request asked for, and its answer's body: raw audio
//! pieces, JSON lines with alignment, or one JSON object.

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};
use voxwire_core::{AudioFormat, Encoding};

use super::{Plan, CHARS_PER_LINE, CHUNK_SIZE, UNLISTED_VOICE, VOICES};
use crate::kit::audio::{expected_audio, expected_mp3, expected_timestamps};
use crate::kit::{Step, UtteranceEffects};

/// Which endpoint of the four.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    /// `/stream…`: the body is sent as generated.
    pub streamed: bool,
    /// `…/with-timestamps`: JSON with `alignment`.
    pub timed: bool,
}

/// An `output_format` the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Raw samples in this format.
    Raw(AudioFormat),
    /// mp3 at this rate and bit rate.
    Mp3(u32, u32),
}

impl Wire {
    /// Reads an `output_format` value.
    pub fn parse(format: &str) -> Option<Self> {
        let mut parts = format.split('_');
        let codec = parts.next()?;
        let rate: u32 = parts.next()?.parse().ok()?;
        let extra = parts.next();
        match (codec, rate, extra) {
            ("pcm", 8_000 | 16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000, None) => {
                Some(Self::Raw(AudioFormat::pcm16_mono(rate)))
            }
            ("ulaw", 8_000, None) => Some(Self::Raw(AudioFormat::mono(Encoding::Mulaw, rate))),
            ("alaw", 8_000, None) => Some(Self::Raw(AudioFormat::mono(Encoding::Alaw, rate))),
            ("mp3", 22_050 | 24_000 | 44_100, Some(kbps)) => {
                let kbps: u32 = kbps.parse().ok()?;
                [32, 48, 64, 96, 128, 192]
                    .contains(&kbps)
                    .then_some(Self::Mp3(rate, kbps * 1000))
            }
            _ => None,
        }
    }

    /// The `Content-Type` of a raw answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Raw(_) => "audio/basic",
            Self::Mp3(..) => "audio/mpeg",
        }
    }
}

/// The audio the mock speaks for `text` in `wire`.
pub fn audio_for(text: &str, wire: Wire) -> Vec<u8> {
    match wire {
        Wire::Raw(f) => expected_audio(text, f),
        Wire::Mp3(rate, bit_rate) => expected_mp3(text, rate, bit_rate),
    }
}

/// The `output_format` a query asks for (the API's default, mp3, when none).
pub(super) fn output_format(query: &HashMap<String, String>) -> &str {
    query
        .get("output_format")
        .map_or("mp3_44100_128", String::as_str)
}

/// What a valid request asked for.
pub(super) struct Asked {
    pub text: String,
    pub wire: Wire,
}

/// A refusal: status, `detail.status` (none: the body is given whole), message.
type Refusal = (StatusCode, Option<&'static str>, String);

fn max_chars(model: &str) -> usize {
    match model {
        m if m.starts_with("eleven_v3") => 3_000,
        m if m.starts_with("eleven_flash_v2_5") || m.starts_with("eleven_turbo_v2_5") => 40_000,
        m if m.starts_with("eleven_flash_v2") || m.starts_with("eleven_turbo_v2") => 30_000,
        _ => 10_000,
    }
}

fn validation(loc: &[&str], msg: &str) -> Refusal {
    let body = json!({ "detail": [{ "loc": loc, "msg": msg, "type": "value_error" }] });
    (StatusCode::UNPROCESSABLE_ENTITY, None, body.to_string())
}

/// Checks a request as the API does: format and plan, body, voice, limits.
pub(super) fn validate(
    voice: &str,
    query: &HashMap<String, String>,
    body: &[u8],
    plan: Plan,
) -> Result<Asked, Refusal> {
    let format = output_format(query);
    let Some(wire) = Wire::parse(format) else {
        return Err(validation(
            &["query", "output_format"],
            "Input should be a valid output format",
        ));
    };
    match (format, plan) {
        ("pcm_44100", Plan::Free | Plan::Creator) => {
            return Err((
                StatusCode::FORBIDDEN,
                Some("subscription_required"),
                "Output format 'pcm_44100' is only available on the Pro tier and above.".into(),
            ))
        }
        ("mp3_44100_192", Plan::Free) => {
            return Err((
                StatusCode::FORBIDDEN,
                Some("only_for_creator+"),
                "Output format 'mp3_44100_192' is only available on the Creator tier and above."
                    .into(),
            ))
        }
        _ => {}
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| validation(&["body"], "JSON decode error"))?;
    let Some(text) = v["text"].as_str() else {
        return Err(validation(&["body", "text"], "Field required"));
    };
    let model = v["model_id"].as_str().unwrap_or("eleven_multilingual_v2");
    if let Some(speed) = v["voice_settings"]["speed"].as_f64() {
        if !(0.7..=1.2).contains(&speed) {
            return Err(validation(
                &["body", "voice_settings", "speed"],
                "speed must be 0.7 to 1.2",
            ));
        }
    }
    if v["language_code"].is_string()
        && !["eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_v3"]
            .iter()
            .any(|m| model.starts_with(m))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            Some("unsupported_language"),
            format!("Model '{model}' does not support the language_code parameter."),
        ));
    }
    if !VOICES.iter().any(|(id, ..)| *id == voice) && voice != UNLISTED_VOICE {
        return Err((
            StatusCode::NOT_FOUND,
            Some("voice_not_found"),
            format!("A voice with the voice_id {voice} was not found."),
        ));
    }
    let limit = max_chars(model);
    if text.chars().count() > limit {
        return Err((
            StatusCode::BAD_REQUEST,
            Some("max_character_limit_exceeded"),
            format!("You are sending {} characters in a single request, more than the maximum of {limit}.", text.chars().count()),
        ));
    }
    Ok(Asked {
        text: text.to_string(),
        wire,
    })
}

/// The `alignment` of `chars` (from character `from` of the text).
fn alignment(text: &str, from: usize, count: usize, rate: u32, cumulative: bool) -> Value {
    let times = expected_timestamps(text, rate);
    let part = &times[from..(from + count).min(times.len())];
    let zero = if cumulative {
        0.0
    } else {
        part.first().map_or(0.0, |t| t.start)
    };
    json!({
        "characters": part.iter().map(|t| t.ch.to_string()).collect::<Vec<_>>(),
        "character_start_times_seconds": part.iter().map(|t| t.start - zero).collect::<Vec<_>>(),
        "character_end_times_seconds": part.iter().map(|t| t.end - zero).collect::<Vec<_>>(),
    })
}

fn rate_of(wire: Wire) -> u32 {
    match wire {
        Wire::Raw(f) => f.sample_rate,
        Wire::Mp3(rate, _) => rate,
    }
}

/// The lines of a timed answer: (audio, alignment) per [`CHARS_PER_LINE`] characters.
fn lines(a: &Asked, cumulative: bool) -> Vec<(Vec<u8>, Value)> {
    let chars: Vec<char> = a.text.chars().collect();
    let rate = rate_of(a.wire);
    chars
        .chunks(CHARS_PER_LINE)
        .enumerate()
        .map(|(i, part)| {
            let piece: String = part.iter().collect();
            let audio = audio_for(&piece, a.wire);
            let al = alignment(&a.text, i * CHARS_PER_LINE, part.len(), rate, cumulative);
            (audio, al)
        })
        .collect()
}

fn line(audio: &[u8], al: &Value) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(audio);
    let v = json!({ "audio_base64": b64, "alignment": al, "normalized_alignment": al });
    Bytes::from(format!("{v}\n"))
}

/// The body of the whole-answer endpoints (`/` and `/with-timestamps`).
pub(super) fn whole(a: &Asked, timed: bool, fx: &UtteranceEffects) -> Response {
    let audio = if fx.zero_audio {
        Vec::new()
    } else {
        audio_for(&a.text, a.wire)
    };
    if timed {
        let al = alignment(&a.text, 0, a.text.chars().count(), rate_of(a.wire), true);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&audio);
        let body = json!({ "audio_base64": b64, "alignment": al, "normalized_alignment": al });
        return crate::kit::json_response(StatusCode::OK, body.to_string());
    }
    let mut r = (StatusCode::OK, audio).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.wire.content_type()),
    );
    r
}

/// The streamed body as steps, faults applied.
pub(super) fn plan(
    a: &Asked,
    timed: bool,
    cumulative: bool,
    fx: &UtteranceEffects,
) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    if timed && fx.bad_json {
        steps.push_back(Step::Send(Bytes::from_static(
            b"{\"audio_base64\": \"AAAA\", \"alignment\n",
        )));
    }
    if timed && fx.bad_base64 {
        steps.push_back(Step::Send(Bytes::from_static(
            b"{\"audio_base64\":\"@@not base64@@\"}\n",
        )));
    }
    let pieces: Vec<(Vec<u8>, Option<Value>)> = match (fx.zero_audio, timed) {
        (true, _) => Vec::new(),
        (false, true) => lines(a, cumulative)
            .into_iter()
            .map(|(audio, al)| (audio, Some(al)))
            .collect(),
        (false, false) => audio_for(&a.text, a.wire)
            .chunks(CHUNK_SIZE)
            .map(|c| (c.to_vec(), None))
            .collect(),
    };
    let close_at = fx.close.map(|(at, _)| at);
    let error_at = fx.error.as_ref().map(|(_, _, at)| *at);
    let cut_at = [close_at, error_at].into_iter().flatten().min();
    let mut stall = fx.stall;
    let mut sent = 0usize;
    for (i, (audio, al)) in pieces.iter().enumerate() {
        if let Some((at, pause)) = stall {
            if sent >= at {
                steps.push_back(Step::Sleep(pause));
                stall = None;
            }
        }
        if cut_at.is_some_and(|c| sent >= c) {
            break;
        }
        if i > 0 {
            if let Some(d) = fx.drip {
                steps.push_back(Step::Sleep(d));
            }
        }
        steps.push_back(Step::Send(match al {
            Some(al) => line(audio, al),
            None => Bytes::copy_from_slice(audio),
        }));
        if timed && i % 2 == 1 {
            steps.push_back(Step::Send(Bytes::from_static(b"\n")));
        }
        sent += audio.len();
    }
    if let Some((at, pause)) = stall {
        if sent >= at {
            steps.push_back(Step::Sleep(pause));
        }
    }
    let cut = cut_at.is_some_and(|c| sent >= c);
    let abrupt = fx.close.is_some_and(|(_, abrupt)| abrupt) || error_at.is_some();
    if cut && abrupt {
        steps.push_back(Step::Cut);
    }
    steps
}

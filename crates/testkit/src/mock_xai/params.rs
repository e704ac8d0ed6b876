//! Validating request parameters the way xAI documents them (shared by REST and WebSocket).

use super::Shared;
use crate::kit::audio::{
    MockCodec, DEFAULT_BIT_RATE, DEFAULT_SAMPLE_RATE, MP3_BIT_RATES, SAMPLE_RATES,
};

/// Languages xAI lists as supported (others of the same shape "may work").
pub(crate) const LANGUAGES: [&str; 21] = [
    "auto", "en", "ar-EG", "ar-SA", "ar-AE", "bn", "zh", "fr", "de", "hi", "id", "it", "ja", "ko",
    "pt-BR", "pt-PT", "ru", "es-MX", "es-ES", "tr", "vi",
];

/// Validated synthesis parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    pub voice: String,
    pub language: String,
    pub codec: MockCodec,
    pub sample_rate: u32,
    pub bit_rate: u32,
    pub with_timestamps: bool,
}

/// Raw, unvalidated parameters as either surface names them.
#[derive(Debug, Default)]
pub(crate) struct RawParams<'a> {
    /// The field name used for the voice (`voice_id` on REST, `voice` on the WebSocket).
    pub voice_field: &'static str,
    pub voice: Option<&'a str>,
    pub language: Option<&'a str>,
    pub codec: Option<&'a str>,
    pub sample_rate: Option<u32>,
    pub bit_rate: Option<u32>,
    pub speed: Option<f64>,
    pub optimize_streaming_latency: Option<i64>,
    pub with_timestamps: bool,
}

impl RawParams<'_> {
    /// Checks every field; the error is the 400 message.
    pub fn validate(&self, shared: &Shared) -> Result<Params, String> {
        let voice = match self.voice {
            None => super::DEFAULT_VOICE.to_string(),
            Some(v) => match shared.find_voice(v) {
                Some((id, _)) => id,
                None => {
                    let known: Vec<String> =
                        shared.voices().into_iter().map(|(id, _)| id).collect();
                    return Err(format!(
                        "unknown {} `{v}`: use one of {}",
                        self.voice_field,
                        known.join(", ")
                    ));
                }
            },
        };
        let language = match self.language {
            None => {
                return Err(
                    "`language` is required: a BCP-47 code such as `en`, or `auto`".to_string(),
                )
            }
            Some(l) => validate_language(l)?,
        };
        let codec = match self.codec {
            None => MockCodec::Mp3,
            Some(c) => MockCodec::parse(c).ok_or_else(|| {
                format!("unsupported codec `{c}`: use mp3, wav, pcm, mulaw (ulaw) or alaw")
            })?,
        };
        let sample_rate = self.sample_rate.unwrap_or(DEFAULT_SAMPLE_RATE);
        if !SAMPLE_RATES.contains(&sample_rate) {
            return Err(format!(
                "unsupported sample_rate {sample_rate}: use one of 8000, 16000, 22050, 24000, 44100, 48000"
            ));
        }
        let bit_rate = self.bit_rate.unwrap_or(DEFAULT_BIT_RATE);
        if codec == MockCodec::Mp3 && !MP3_BIT_RATES.contains(&bit_rate) {
            return Err(format!(
                "unsupported bit_rate {bit_rate}: use one of 32000, 64000, 96000, 128000, 192000"
            ));
        }
        if let Some(speed) = self.speed {
            if !speed.is_finite() || !(0.7..=1.5).contains(&speed) {
                return Err(format!("speed {speed} is out of range: use 0.7 to 1.5"));
            }
        }
        if let Some(o) = self.optimize_streaming_latency {
            if !(0..=2).contains(&o) {
                return Err(format!(
                    "optimize_streaming_latency {o} is out of range: use 0, 1 or 2"
                ));
            }
        }
        Ok(Params {
            voice,
            language,
            codec,
            sample_rate,
            bit_rate,
            with_timestamps: self.with_timestamps,
        })
    }
}

/// Accepts `auto`, the listed languages and anything shaped like a BCP-47 tag.
pub(crate) fn validate_language(l: &str) -> Result<String, String> {
    if let Some(known) = LANGUAGES.iter().find(|k| k.eq_ignore_ascii_case(l)) {
        return Ok(known.to_string());
    }
    let mut parts = l.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(l.to_string())
    } else {
        Err(format!(
            "invalid language `{l}`: use a BCP-47 code such as `en` or `pt-BR`, or `auto`"
        ))
    }
}

/// Parses a `true`/`false` query value.
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("`{name}` must be true or false, not `{value}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(validate_language("PT-br").as_deref(), Ok("pt-BR"));
        assert_eq!(validate_language("AUTO").as_deref(), Ok("auto"));
        assert!(validate_language("nl").is_ok());
        assert!(validate_language("").is_err());
        assert!(validate_language("english please").is_err());
        assert!(validate_language("e").is_err());
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("x", "TRUE"), Ok(true));
        assert_eq!(parse_bool("x", "false"), Ok(false));
        assert!(parse_bool("x", "yes").is_err());
    }
}

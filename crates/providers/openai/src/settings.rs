//! The `openai` provider's settings: one `[[chain]]` entry, so two entries
//! (OpenAI itself and a local compatible server) can sit in one chain, each
//! with its own base URL and its own key variable.

use std::time::Duration;

use serde::Deserialize;
use voxwire_core::{Result, Secret, TtsError};
use voxwire_transport::http::{self, StreamedPost};
use voxwire_transport::settings;

use crate::PROVIDER_ID;

/// OpenAI's documented base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable the key is read from unless an entry names another.
pub const DEFAULT_KEY_VARIABLE: &str = "OPENAI_API_KEY";
/// The model asked for unless an entry names another (the notes' and both reference clients' default).
pub const DEFAULT_MODEL: &str = "gpt-4o-mini-tts";
/// The voice used unless an entry or a request names another (offered by every OpenAI speech model).
pub const DEFAULT_VOICE: &str = "alloy";
/// OpenAI's `pcm` rate; a compatible server may use another (`sample_rate`).
pub const OPENAI_PCM_RATE: u32 = 24_000;

/// `stream_format`: how the body is asked for (the parser follows the answer's `Content-Type` regardless).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// Raw audio bytes, chunked (`stream_format: "audio"`; lowest overhead).
    #[default]
    Audio,
    /// Server-sent events with base64 audio (`stream_format: "sse"`; `gpt-4o-mini-tts` only).
    Sse,
}

impl StreamFormat {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Sse => "sse",
        }
    }
}

/// Settings of one `openai` chain entry.
///
/// The key is `api_key`, else the variable `api_key_env` names (default
/// `OPENAI_API_KEY`); the base URL is `base_url`, else `OPENAI_BASE_URL`,
/// else OpenAI's. A key is required against OpenAI's base only: a local
/// compatible server may take none (no `Authorization` header is sent then).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSettings {
    /// The API key; never printed.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The environment variable holding this entry's key.
    #[serde(default = "default_key_variable")]
    pub api_key_env: String,
    /// Base URL; speech at `{base}/audio/speech`, models at `{base}/models`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The model (`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, … or a compatible server's own).
    #[serde(default = "default_model")]
    pub model: String,
    /// Default voice: a name, or a custom voice id (`voice_…`, or `id:…`), sent as `{"id": …}`.
    #[serde(default = "default_voice")]
    pub voice: String,
    /// Speaking rate multiplier (0.25 to 4.0).
    #[serde(default)]
    pub speed: Option<f32>,
    /// Style direction (not for `tts-1*`); a request's [`Instructions`](crate::Instructions) wins.
    #[serde(default)]
    pub instructions: Option<String>,
    /// `response_format` asked for: `pcm` (default), `wav` or `mp3`.
    #[serde(default = "default_response_format")]
    pub response_format: String,
    /// `stream_format` asked for (`audio` or `sse`); `tts-1*` always gets `audio`.
    #[serde(default)]
    pub stream_format: StreamFormat,
    /// What rate `audio/pcm` bodies are at (OpenAI: 24000; a compatible server may differ).
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Longest wait to open a connection (TCP, TLS).
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Longest wait from sending the request to the first audio byte.
    #[serde(default = "default_first_audio_ms")]
    pub first_audio_timeout_ms: u64,
    /// Longest wait between body pieces once audio has started.
    #[serde(default = "default_inactivity_ms")]
    pub inactivity_timeout_ms: u64,
}

fn default_key_variable() -> String {
    DEFAULT_KEY_VARIABLE.into()
}
fn default_model() -> String {
    DEFAULT_MODEL.into()
}
fn default_voice() -> String {
    DEFAULT_VOICE.into()
}
fn default_response_format() -> String {
    "pcm".into()
}
fn default_sample_rate() -> u32 {
    OPENAI_PCM_RATE
}
fn default_connect_ms() -> u64 {
    10_000
}
fn default_first_audio_ms() -> u64 {
    15_000
}
fn default_inactivity_ms() -> u64 {
    10_000
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            api_key_env: default_key_variable(),
            base_url: None,
            model: default_model(),
            voice: default_voice(),
            speed: None,
            instructions: None,
            response_format: default_response_format(),
            stream_format: StreamFormat::default(),
            sample_rate: default_sample_rate(),
            connect_timeout_ms: default_connect_ms(),
            first_audio_timeout_ms: default_first_audio_ms(),
            inactivity_timeout_ms: default_inactivity_ms(),
        }
    }
}

/// Resolved endpoints and limits, ready for use.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub key: Option<Secret>,
    /// The key, or an empty secret when none is set: what errors are scrubbed of.
    pub secret: Secret,
    pub base: String,
    pub speech_url: String,
    pub models_url: String,
    pub is_openai: bool,
    pub connect_timeout: Duration,
    pub first_audio_timeout: Duration,
    pub inactivity_timeout: Duration,
}

impl Resolved {
    /// A streamed call to `endpoint` (`speech_url` or `models_url`) with these limits.
    pub fn call<'a>(&'a self, endpoint: &'a str) -> StreamedPost<'a> {
        StreamedPost {
            provider: PROVIDER_ID,
            endpoint,
            secret: &self.secret,
            connect_timeout: self.connect_timeout,
            first_audio_timeout: self.first_audio_timeout,
            inactivity_timeout: self.inactivity_timeout,
            frame_bytes: 1,
        }
    }

    /// `request` with `Authorization: Bearer <key>` when there is a key.
    pub fn authorized(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        Ok(match &self.key {
            Some(key) => request.header(
                "authorization",
                http::authorization(PROVIDER_ID, "Bearer", key)?,
            ),
            None => request,
        })
    }
}

/// Whether `base` is OpenAI's own API (where its model and voice rules hold).
pub fn is_openai_base(base: &str) -> bool {
    voxwire_transport::reach::host_and_port(base)
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("api.openai.com"))
}

impl OpenAiSettings {
    /// Fills `api_key` from the variable `api_key_env` names and `base_url` from `OPENAI_BASE_URL`, when unset.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        let var = self.api_key_env.trim();
        let var = if var.is_empty() {
            DEFAULT_KEY_VARIABLE
        } else {
            var
        };
        self.api_key = settings::key_from_env(self.api_key.take(), var, &env);
        self.base_url = settings::base_from_env(self.base_url.take(), "OPENAI_BASE_URL", &env);
        self
    }

    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let base = settings::resolve_base(
            self.base_url.as_deref(),
            DEFAULT_BASE_URL,
            "set base_url (or OPENAI_BASE_URL) to e.g. https://api.openai.com/v1",
        )?;
        let is_openai = is_openai_base(&base);
        let key = self.api_key.clone().filter(|k| !k.is_empty());
        if key.is_none() && is_openai {
            return Err(TtsError::config("no API key").with_hint(format!(
                "set {} (or api_key in the openai chain entry)",
                self.api_key_env
            )));
        }
        if self.model.trim().is_empty() {
            return Err(TtsError::config("model must not be empty"));
        }
        if !(8_000..=48_000).contains(&self.sample_rate) {
            return Err(TtsError::config(format!(
                "sample_rate {} is out of range (8000 to 48000)",
                self.sample_rate
            )));
        }
        Ok(Resolved {
            secret: key.clone().unwrap_or_else(|| Secret::new("")),
            key,
            speech_url: format!("{base}/audio/speech"),
            models_url: format!("{base}/models"),
            base,
            is_openai,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms.max(1)),
            first_audio_timeout: Duration::from_millis(self.first_audio_timeout_ms.max(1)),
            inactivity_timeout: Duration::from_millis(self.inactivity_timeout_ms.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_base_url_and_the_key_variable() {
        let s = OpenAiSettings::default().with_env(|k| match k {
            "OPENAI_API_KEY" => Some("sk-a".into()),
            _ => None,
        });
        let r = s.resolve().unwrap();
        assert_eq!(r.speech_url, "https://api.openai.com/v1/audio/speech");
        assert_eq!(r.models_url, "https://api.openai.com/v1/models");
        assert!(r.is_openai);
        let local = OpenAiSettings {
            api_key_env: "LOCAL_TTS_KEY".into(),
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            ..OpenAiSettings::default()
        }
        .with_env(|k| (k == "LOCAL_TTS_KEY").then(|| "local-key".to_string()));
        let r = local.resolve().unwrap();
        assert_eq!(r.speech_url, "http://127.0.0.1:9/v1/audio/speech");
        assert!(!r.is_openai);
        assert_eq!(r.key.unwrap().expose(), "local-key");
    }

    #[test]
    fn openai_needs_a_key_a_compatible_server_does_not() {
        let err = OpenAiSettings::default().resolve().unwrap_err();
        assert_eq!(err.kind(), voxwire_core::ErrorKind::Config);
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        let local = OpenAiSettings {
            base_url: Some("http://localhost:8880/v1".into()),
            ..OpenAiSettings::default()
        };
        assert!(local.resolve().unwrap().key.is_none());
        let bad = OpenAiSettings {
            base_url: Some("ftp://x".into()),
            ..OpenAiSettings::default()
        };
        assert!(bad.resolve().is_err());
    }
}

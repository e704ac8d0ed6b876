//! The `openai` provider's settings: one `[[chain]]` entry, so two entries
//! (OpenAI itself and a local compatible server) can sit in one chain, each
//! with its own base URL and its own key variable.

use serde::Deserialize;
use voxwire_core::{Result, Secret, TtsError};
use voxwire_transport::settings::{
    self, Limits, NetworkSettings, Resolved, Shared, Transport, Vendor,
};

/// OpenAI's documented base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable the key is read from unless an entry names another.
pub const DEFAULT_KEY_VARIABLE: &str = "OPENAI_API_KEY";
/// The model asked for unless an entry names another (the notes' and both reference clients' default).
pub const DEFAULT_MODEL: &str = "gpt-4o-mini-tts";
/// The voice used unless an entry or a request names another (offered by every OpenAI speech model).
pub const DEFAULT_VOICE: &str = "alloy";
/// OpenAI's variables, path and default limits.
pub(crate) const VENDOR: Vendor = Vendor {
    id: crate::PROVIDER_ID,
    key_variable: DEFAULT_KEY_VARIABLE,
    base_variable: "OPENAI_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    path: "/audio/speech",
    limits: Limits::DEFAULT,
    max_connection_age_cap_s: u64::MAX,
};
/// OpenAI's `pcm` rate; a compatible server may use another (`sample_rate`).
pub const OPENAI_PCM_RATE: u32 = crate::wire::PCM_RATE;

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
#[serde(deny_unknown_fields, default)]
pub struct OpenAiSettings {
    /// The API key; never printed.
    pub api_key: Option<Secret>,
    /// The environment variable holding this entry's key.
    pub api_key_env: String,
    /// Base URL; speech at `{base}/audio/speech`, models at `{base}/models`.
    pub base_url: Option<String>,
    /// The model (`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, … or a compatible server's own).
    pub model: String,
    /// Default voice: a name, or a custom voice id (`voice_…`, or `id:…`), sent as `{"id": …}`.
    pub voice: String,
    /// Speaking rate multiplier (0.25 to 4.0).
    pub speed: Option<f32>,
    /// Style direction (not for `tts-1*`); a request's [`Instructions`](crate::Instructions) wins.
    pub instructions: Option<String>,
    /// `response_format` asked for: `pcm` (default), `wav` or `mp3`.
    pub response_format: String,
    /// `stream_format` asked for (`audio` or `sse`); `tts-1*` always gets `audio`.
    pub stream_format: StreamFormat,
    /// What rate `audio/pcm` bodies are at (OpenAI: 24000; a compatible server may differ).
    pub sample_rate: u32,
    /// Longest wait to open a connection (TCP, TLS).
    pub connect_timeout_ms: u64,
    /// Longest wait from sending the request to the first audio byte.
    pub first_audio_timeout_ms: u64,
    /// Longest wait between body pieces once audio has started.
    pub inactivity_timeout_ms: u64,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        let l = VENDOR.limits;
        Self {
            api_key: None,
            api_key_env: DEFAULT_KEY_VARIABLE.into(),
            base_url: None,
            model: DEFAULT_MODEL.into(),
            voice: DEFAULT_VOICE.into(),
            speed: None,
            instructions: None,
            response_format: "pcm".into(),
            stream_format: StreamFormat::default(),
            sample_rate: OPENAI_PCM_RATE,
            connect_timeout_ms: l.connect_timeout_ms,
            first_audio_timeout_ms: l.first_audio_timeout_ms,
            inactivity_timeout_ms: l.inactivity_timeout_ms,
        }
    }
}

impl Shared for OpenAiSettings {
    fn network(&self) -> NetworkSettings {
        NetworkSettings {
            api_key: self.api_key.clone(),
            base_url: self.base_url.clone(),
            transport: Transport::Rest,
            limits: Limits {
                connect_timeout_ms: self.connect_timeout_ms,
                first_audio_timeout_ms: self.first_audio_timeout_ms,
                inactivity_timeout_ms: self.inactivity_timeout_ms,
                ..VENDOR.limits
            },
        }
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
        let var = match self.api_key_env.trim() {
            "" => DEFAULT_KEY_VARIABLE,
            var => var,
        };
        self.api_key = settings::key_from_env(self.api_key.take(), var, &env);
        self.base_url = settings::base_from_env(self.base_url.take(), VENDOR.base_variable, &env);
        self
    }

    /// Endpoints and limits; a key is needed against OpenAI's base only
    /// (without one the resolved key is empty and none is sent).
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let key = self.api_key.clone().filter(|k| !k.is_empty());
        let mut network = self.network();
        network.api_key = Some(key.clone().unwrap_or_else(|| Secret::new("none")));
        let mut r = network.resolve(&VENDOR)?;
        if key.is_none() {
            if is_openai_base(&r.rest_url) {
                return Err(TtsError::config("no API key").with_hint(format!(
                    "set {} (or api_key in the openai chain entry)",
                    self.api_key_env
                )));
            }
            r.key = Secret::new("");
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
        Ok(r)
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
        assert_eq!(r.rest_url, "https://api.openai.com/v1/audio/speech");
        assert!(is_openai_base(&r.rest_url));
        let local = OpenAiSettings {
            api_key_env: "LOCAL_TTS_KEY".into(),
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            ..OpenAiSettings::default()
        }
        .with_env(|k| (k == "LOCAL_TTS_KEY").then(|| "local-key".to_string()));
        let r = local.resolve().unwrap();
        assert_eq!(r.rest_url, "http://127.0.0.1:9/v1/audio/speech");
        assert!(!is_openai_base(&r.rest_url));
        assert_eq!(r.key.expose(), "local-key");
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
        assert!(local.resolve().unwrap().key.is_empty());
        let bad = OpenAiSettings {
            base_url: Some("ftp://x".into()),
            ..OpenAiSettings::default()
        };
        assert!(bad.resolve().is_err());
    }
}

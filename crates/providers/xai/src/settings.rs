//! The `xai` provider's settings and endpoints.

use std::time::Duration;

use serde::Deserialize;
use voxwire_core::{Encoding, Result, Secret, TtsError};

/// The documented base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.x.ai/v1";

/// Which transport `synthesize` uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The streaming WebSocket (pooled connections, lowest first-audio latency).
    #[default]
    Websocket,
    /// `POST {base}/tts` with a streamed body.
    Rest,
}

/// Settings of one `xai` chain entry. `api_key` falls back to `XAI_API_KEY`
/// and `base_url` to `XAI_BASE_URL`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XaiSettings {
    /// The API key; never printed.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Base URL; REST at `{base}/tts`, the WebSocket at the same path with ws/wss.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Default voice.
    #[serde(default = "default_voice")]
    pub voice: String,
    /// Default language (`auto` detects).
    #[serde(default = "default_language")]
    pub language: String,
    /// Codec asked of xAI when the caller does not ask for one.
    #[serde(default = "default_codec")]
    pub codec: Encoding,
    /// Sample rate asked of xAI when the caller does not ask for one.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Speaking rate multiplier (0.7 to 1.5 documented).
    #[serde(default)]
    pub speed: Option<f32>,
    /// 0 (best quality) or 1 (smaller first chunk).
    #[serde(default)]
    pub optimize_streaming_latency: Option<u8>,
    /// Let xAI expand numbers and abbreviations.
    #[serde(default)]
    pub text_normalization: Option<bool>,
    /// Ask for per-character timestamps and map them onto chunk spans.
    #[serde(default)]
    pub timestamps: bool,
    /// Which transport `synthesize` uses.
    #[serde(default)]
    pub transport: Transport,
    /// Longest wait to open a connection (TCP, TLS, upgrade).
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Longest wait for the first audio of an utterance.
    #[serde(default = "default_first_audio_ms")]
    pub first_audio_timeout_ms: u64,
    /// Longest wait between audio pieces once audio has started.
    #[serde(default = "default_inactivity_ms")]
    pub inactivity_timeout_ms: u64,
    /// WebSocket connections are not reused past this age (xAI closes them near 2100 s).
    #[serde(default = "default_max_age_s")]
    pub max_connection_age_s: u64,
    /// Idle WebSocket connections kept for reuse.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// A pooled connection must answer a ping within this before it is reused.
    #[serde(default = "default_liveness_ms")]
    pub liveness_timeout_ms: u64,
}

fn default_voice() -> String {
    "eve".into()
}
fn default_language() -> String {
    "auto".into()
}
fn default_codec() -> Encoding {
    Encoding::PcmS16le
}
fn default_sample_rate() -> u32 {
    24_000
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
fn default_max_age_s() -> u64 {
    1_800
}
fn default_pool_size() -> usize {
    2
}
fn default_liveness_ms() -> u64 {
    1_000
}

impl Default for XaiSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            voice: default_voice(),
            language: default_language(),
            codec: default_codec(),
            sample_rate: default_sample_rate(),
            speed: None,
            optimize_streaming_latency: None,
            text_normalization: None,
            timestamps: false,
            transport: Transport::default(),
            connect_timeout_ms: default_connect_ms(),
            first_audio_timeout_ms: default_first_audio_ms(),
            inactivity_timeout_ms: default_inactivity_ms(),
            max_connection_age_s: default_max_age_s(),
            pool_size: default_pool_size(),
            liveness_timeout_ms: default_liveness_ms(),
        }
    }
}

/// Resolved endpoints and limits, ready for use.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub key: Secret,
    pub rest_url: String,
    pub ws_url: String,
    pub connect_timeout: Duration,
    pub first_audio_timeout: Duration,
    pub inactivity_timeout: Duration,
    pub max_age: Duration,
    pub liveness_timeout: Duration,
}

impl XaiSettings {
    /// Fills `api_key` and `base_url` from `XAI_API_KEY` / `XAI_BASE_URL` when unset.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        if self.api_key.as_ref().is_none_or(Secret::is_empty) {
            self.api_key = env("XAI_API_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new);
        }
        if self.base_url.is_none() {
            self.base_url = env("XAI_BASE_URL").filter(|u| !u.trim().is_empty());
        }
        self
    }

    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let key = self
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                TtsError::config("no API key")
                    .with_hint("set XAI_API_KEY or api_key in the xai chain entry")
            })?;
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base = base.trim().trim_end_matches('/').to_string();
        let ws_base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(TtsError::config(format!(
                "base_url `{}` must start with https:// or http://",
                voxwire_core::error::redact_url(&base)
            ))
            .with_hint("set XAI_BASE_URL to e.g. https://api.x.ai/v1"));
        };
        if base.contains('?') || base.contains('#') {
            return Err(TtsError::config(
                "base_url must not carry a query or fragment",
            ));
        }
        if !crate::protocol::SAMPLE_RATES.contains(&self.sample_rate) {
            return Err(TtsError::config(format!(
                "sample_rate {} is not one xAI offers ({:?})",
                self.sample_rate,
                crate::protocol::SAMPLE_RATES
            )));
        }
        Ok(Resolved {
            key,
            rest_url: format!("{base}/tts"),
            ws_url: format!("{ws_base}/tts"),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms.max(1)),
            first_audio_timeout: Duration::from_millis(self.first_audio_timeout_ms.max(1)),
            inactivity_timeout: Duration::from_millis(self.inactivity_timeout_ms.max(1)),
            max_age: Duration::from_secs(self.max_connection_age_s.max(1)),
            liveness_timeout: Duration::from_millis(self.liveness_timeout_ms.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_base_url() {
        let s = XaiSettings::default().with_env(|k| match k {
            "XAI_API_KEY" => Some("xai-k".into()),
            _ => None,
        });
        let r = s.resolve().unwrap();
        assert_eq!(r.rest_url, "https://api.x.ai/v1/tts");
        assert_eq!(r.ws_url, "wss://api.x.ai/v1/tts");
        let local = XaiSettings {
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            ..s
        };
        assert_eq!(local.resolve().unwrap().ws_url, "ws://127.0.0.1:9/v1/tts");
    }

    #[test]
    fn missing_key_and_bad_urls_are_config_errors() {
        let err = XaiSettings::default().resolve().unwrap_err();
        assert_eq!(err.kind(), voxwire_core::ErrorKind::Config);
        assert!(err.to_string().contains("XAI_API_KEY"));
        let bad = XaiSettings {
            api_key: Some(Secret::new("k")),
            base_url: Some("ftp://x".into()),
            ..XaiSettings::default()
        };
        assert!(bad.resolve().is_err());
    }
}

//! The `deepgram` provider's settings and endpoints.

use std::time::Duration;

use serde::Deserialize;
use voxwire_core::{Encoding, Result, Secret, TtsError};

use crate::protocol;

/// The documented base URL (REST at `{base}/v1/speak`, the WebSocket at the same path with `wss://`).
pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";
/// The default voice (model).
pub const DEFAULT_MODEL: &str = "aura-2-thalia-en";

/// Which transport `synthesize` uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The pooled `/v1/speak` WebSocket (no handshake per request once warm).
    #[default]
    Websocket,
    /// Streamed `POST /v1/speak` (texts over 1000 characters still go over the WebSocket).
    Rest,
}

/// Settings of one `deepgram` chain entry. `api_key` falls back to
/// `DEEPGRAM_API_KEY` and `base_url` to `DEEPGRAM_BASE_URL`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepgramSettings {
    /// The API key, sent as `Authorization: Token <key>`; never printed.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Base URL (default `https://api.deepgram.com`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Default voice: an Aura model id (`aura-2-thalia-en`).
    #[serde(default = "default_model")]
    pub model: String,
    /// Encoding asked of Deepgram when the caller asks for none.
    #[serde(default = "default_encoding")]
    pub encoding: Encoding,
    /// Sample rate asked of Deepgram when the caller asks for none.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Speaking rate multiplier (`speed`), sent only when set.
    #[serde(default)]
    pub speed: Option<f32>,
    /// `mip_opt_out=true`: opt out of Deepgram's model improvement program.
    #[serde(default)]
    pub mip_opt_out: bool,
    /// Which transport `synthesize` uses.
    #[serde(default)]
    pub transport: Transport,
    /// Longest wait to open a connection (TCP, TLS, upgrade).
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Longest wait for the first audio of an utterance.
    #[serde(default = "default_first_audio_ms")]
    pub first_audio_timeout_ms: u64,
    /// Longest wait between audio pieces (and for `Flushed` after the last).
    #[serde(default = "default_inactivity_ms")]
    pub inactivity_timeout_ms: u64,
    /// Pooled sockets are retired (with `Close`) past this age; Deepgram ends them at 60 minutes.
    #[serde(default = "default_max_age_s")]
    pub max_connection_age_s: u64,
    /// Idle WebSocket connections kept for reuse.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// A pooled connection must answer a ping within this before it is reused.
    #[serde(default = "default_liveness_ms")]
    pub liveness_timeout_ms: u64,
    /// Characters per `Speak` message (Deepgram refuses over 2000).
    #[serde(default = "default_speak_chars")]
    pub max_speak_chars: usize,
    /// Flushes per window on one socket (Deepgram honours 20 a minute).
    #[serde(default = "default_flush_limit")]
    pub flush_limit: usize,
    /// The flush window, in milliseconds (60 000).
    #[serde(default = "default_flush_window_ms")]
    pub flush_window_ms: u64,
}

fn default_model() -> String {
    DEFAULT_MODEL.into()
}
fn default_encoding() -> Encoding {
    Encoding::PcmS16le
}
fn default_sample_rate() -> u32 {
    24_000
}
fn default_connect_ms() -> u64 {
    10_000
}
fn default_first_audio_ms() -> u64 {
    10_000
}
fn default_inactivity_ms() -> u64 {
    10_000
}
fn default_max_age_s() -> u64 {
    3_300
}
fn default_pool_size() -> usize {
    2
}
fn default_liveness_ms() -> u64 {
    1_000
}
fn default_speak_chars() -> usize {
    protocol::MAX_SPEAK_CHARS
}
fn default_flush_limit() -> usize {
    protocol::FLUSHES_PER_MINUTE
}
fn default_flush_window_ms() -> u64 {
    60_000
}

impl Default for DeepgramSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            model: default_model(),
            encoding: default_encoding(),
            sample_rate: default_sample_rate(),
            speed: None,
            mip_opt_out: false,
            transport: Transport::default(),
            connect_timeout_ms: default_connect_ms(),
            first_audio_timeout_ms: default_first_audio_ms(),
            inactivity_timeout_ms: default_inactivity_ms(),
            max_connection_age_s: default_max_age_s(),
            pool_size: default_pool_size(),
            liveness_timeout_ms: default_liveness_ms(),
            max_speak_chars: default_speak_chars(),
            flush_limit: default_flush_limit(),
            flush_window_ms: default_flush_window_ms(),
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
    pub flush_window: Duration,
}

impl DeepgramSettings {
    /// Fills `api_key` and `base_url` from `DEEPGRAM_API_KEY` / `DEEPGRAM_BASE_URL` when unset.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        if self.api_key.as_ref().is_none_or(Secret::is_empty) {
            self.api_key = env("DEEPGRAM_API_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(|k| Secret::new(k.trim().to_string()));
        }
        if self.base_url.is_none() {
            self.base_url = env("DEEPGRAM_BASE_URL").filter(|u| !u.trim().is_empty());
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
                    .with_hint("set DEEPGRAM_API_KEY or api_key in the deepgram chain entry")
            })?;
        let base = self
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base = base.trim().trim_end_matches('/').to_string();
        if base.contains('?') || base.contains('#') {
            return Err(TtsError::config(
                "base_url must not carry a query or fragment",
            ));
        }
        let ws_base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(TtsError::config(format!(
                "base_url `{}` must start with https:// or http://",
                voxwire_core::error::redact_url(&base)
            ))
            .with_hint("set DEEPGRAM_BASE_URL to e.g. https://api.deepgram.com"));
        };
        if !protocol::rates_for(self.encoding).contains(&self.sample_rate) {
            return Err(TtsError::config(format!(
                "sample_rate {} is not one Deepgram offers for {} ({:?})",
                self.sample_rate,
                protocol::encoding_name(self.encoding),
                protocol::rates_for(self.encoding)
            )));
        }
        if self.max_speak_chars == 0 || self.max_speak_chars > protocol::MAX_SPEAK_CHARS {
            return Err(TtsError::config(format!(
                "max_speak_chars must be 1 to {}",
                protocol::MAX_SPEAK_CHARS
            )));
        }
        Ok(Resolved {
            key,
            rest_url: format!("{base}/v1/speak"),
            ws_url: format!("{ws_base}/v1/speak"),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms.max(1)),
            first_audio_timeout: Duration::from_millis(self.first_audio_timeout_ms.max(1)),
            inactivity_timeout: Duration::from_millis(self.inactivity_timeout_ms.max(1)),
            max_age: Duration::from_secs(
                self.max_connection_age_s
                    .clamp(1, protocol::MAX_SOCKET_SECS - 60),
            ),
            liveness_timeout: Duration::from_millis(self.liveness_timeout_ms.max(1)),
            flush_window: Duration::from_millis(self.flush_window_ms.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_base_url() {
        let s = DeepgramSettings::default().with_env(|k| match k {
            "DEEPGRAM_API_KEY" => Some("dg-k".into()),
            _ => None,
        });
        let r = s.resolve().unwrap();
        assert_eq!(r.rest_url, "https://api.deepgram.com/v1/speak");
        assert_eq!(r.ws_url, "wss://api.deepgram.com/v1/speak");
        let local = DeepgramSettings {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..s
        };
        assert_eq!(local.resolve().unwrap().ws_url, "ws://127.0.0.1:9/v1/speak");
    }

    #[test]
    fn missing_key_bad_urls_and_rates_are_config_errors() {
        let err = DeepgramSettings::default().resolve().unwrap_err();
        assert_eq!(err.kind(), voxwire_core::ErrorKind::Config);
        assert!(err.to_string().contains("DEEPGRAM_API_KEY"));
        let keyed = DeepgramSettings {
            api_key: Some(Secret::new("k")),
            ..DeepgramSettings::default()
        };
        let bad = DeepgramSettings {
            base_url: Some("ftp://x".into()),
            ..keyed.clone()
        };
        assert!(bad.resolve().is_err());
        let rate = DeepgramSettings {
            sample_rate: 44_100,
            ..keyed.clone()
        };
        assert!(rate.resolve().is_err());
        let mulaw24 = DeepgramSettings {
            encoding: Encoding::Mulaw,
            sample_rate: 24_000,
            ..keyed
        };
        assert!(mulaw24.resolve().is_err());
    }
}

//! The `deepgram` provider's settings and endpoints: its own fields on the
//! shared network settings ([`voxwire_transport::settings`]).

use std::time::Duration;

use voxwire_core::Encoding;
use voxwire_transport::settings::{Limits, Vendor};

use crate::protocol;

pub use voxwire_transport::settings::Transport;

/// The documented base URL (REST at `{base}/v1/speak`, the WebSocket at the same path with `wss://`).
pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";
/// The default voice (model).
pub const DEFAULT_MODEL: &str = "aura-2-thalia-en";

/// Deepgram's variables, paths and defaults.
pub(crate) const VENDOR: Vendor = Vendor {
    id: "deepgram",
    key_variable: "DEEPGRAM_API_KEY",
    base_variable: "DEEPGRAM_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    path: "/v1/speak",
    limits: Limits {
        first_audio_timeout_ms: 10_000,
        max_connection_age_s: 3_300,
        ..Limits::DEFAULT
    },
    max_connection_age_cap_s: protocol::MAX_SOCKET_SECS - 60,
};

voxwire_transport::network_settings! {
    /// Settings of one `deepgram` chain entry. `api_key` (sent as
    /// `Authorization: Token <key>`) falls back to `DEEPGRAM_API_KEY` and
    /// `base_url` (default `https://api.deepgram.com`) to `DEEPGRAM_BASE_URL`.
    ///
    /// `transport = "websocket"` (default) uses the pooled `/v1/speak`
    /// WebSocket; `"rest"` a streamed `POST /v1/speak` (texts over 1000
    /// characters still go over the WebSocket). Pooled sockets are retired
    /// (with `Close`) at `max_connection_age_s`: Deepgram ends them at 60
    /// minutes. `inactivity_timeout_ms` also bounds the wait for `Flushed`
    /// after the last audio.
    pub struct DeepgramSettings for VENDOR {
        /// Default voice: an Aura model id (`aura-2-thalia-en`).
        pub model: String = DEFAULT_MODEL.into(),
        /// Encoding asked of Deepgram when the caller asks for none.
        pub encoding: Encoding = Encoding::PcmS16le,
        /// Sample rate asked of Deepgram when the caller asks for none.
        pub sample_rate: u32 = 24_000,
        /// Speaking rate multiplier (`speed`), sent only when set.
        pub speed: Option<f32> = None,
        /// `mip_opt_out=true`: opt out of Deepgram's model improvement program.
        pub mip_opt_out: bool = false,
        /// Characters per `Speak` message (Deepgram refuses over 2000).
        pub max_speak_chars: usize = protocol::MAX_SPEAK_CHARS,
        /// Flushes per window on one socket (Deepgram honours 20 a minute).
        pub flush_limit: usize = protocol::FLUSHES_PER_MINUTE,
        /// The flush window, in milliseconds (60 000).
        pub flush_window_ms: u64 = 60_000,
    }
}

impl DeepgramSettings {
    /// The flush window (at least 1 ms).
    pub(crate) fn flush_window(&self) -> Duration {
        Duration::from_millis(self.flush_window_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Deepgram;
    use voxwire_core::Secret;
    use voxwire_transport::NetworkVendor;

    #[test]
    fn endpoints_follow_the_base_url() {
        let s = DeepgramSettings::default().with_env(|k| match k {
            "DEEPGRAM_API_KEY" => Some("dg-k".into()),
            _ => None,
        });
        let r = Deepgram::resolve(&s).unwrap();
        assert_eq!(r.rest_url, "https://api.deepgram.com/v1/speak");
        assert_eq!(r.ws_url, "wss://api.deepgram.com/v1/speak");
        let local = DeepgramSettings {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..s
        };
        assert_eq!(
            Deepgram::resolve(&local).unwrap().ws_url,
            "ws://127.0.0.1:9/v1/speak"
        );
    }

    #[test]
    fn missing_key_bad_urls_and_rates_are_config_errors() {
        let err = Deepgram::resolve(&DeepgramSettings::default()).unwrap_err();
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
        assert!(Deepgram::resolve(&bad).is_err());
        let rate = DeepgramSettings {
            sample_rate: 44_100,
            ..keyed.clone()
        };
        assert!(Deepgram::resolve(&rate).is_err());
        let mulaw24 = DeepgramSettings {
            encoding: Encoding::Mulaw,
            sample_rate: 24_000,
            ..keyed
        };
        assert!(Deepgram::resolve(&mulaw24).is_err());
    }

    #[test]
    fn config_tables_keep_their_keys_and_refuse_unknown_ones() {
        let parse = |text: &str| {
            let toml = format!("[[chain]]\nprovider = \"deepgram\"\n{text}");
            let config = voxwire_core::Config::from_toml_str(&toml, "test").unwrap();
            config.chain[0].settings::<DeepgramSettings>()
        };
        let s = parse("model = \"aura-2-zeus-en\"\ntransport = \"rest\"\nflush_limit = 5").unwrap();
        assert_eq!(s.model, "aura-2-zeus-en");
        assert_eq!((s.transport, s.flush_limit), (Transport::Rest, 5));
        assert_eq!(s.first_audio_timeout_ms, 10_000);
        assert_eq!(s.max_connection_age_s, 3_300);
        assert_eq!(s.max_speak_chars, protocol::MAX_SPEAK_CHARS);
        let err = parse("modle = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let keyed = DeepgramSettings {
            api_key: Some(Secret::new("k")),
            max_connection_age_s: 99_999,
            ..s
        };
        let r = Deepgram::resolve(&keyed).unwrap();
        assert_eq!(r.max_age.as_secs(), protocol::MAX_SOCKET_SECS - 60);
    }
}

//! The `xai` provider's settings and endpoints: its own fields on the
//! shared network settings ([`voxwire_transport::settings`]).

use voxwire_core::Encoding;
use voxwire_transport::settings::{Limits, Vendor};

pub use voxwire_transport::settings::Transport;

/// The documented base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.x.ai/v1";

/// xAI's variables, paths and defaults.
pub(crate) const VENDOR: Vendor = Vendor {
    id: "xai",
    key_variable: "XAI_API_KEY",
    base_variable: "XAI_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    path: "/tts",
    limits: Limits::DEFAULT,
    max_connection_age_cap_s: u64::MAX,
};

voxwire_transport::network_settings! {
    /// Settings of one `xai` chain entry. `api_key` falls back to `XAI_API_KEY`
    /// and `base_url` to `XAI_BASE_URL`; REST is at `{base}/tts`, the WebSocket
    /// at the same path with ws/wss. WebSocket connections are retired at
    /// `max_connection_age_s` (xAI closes them near 2100 s).
    pub struct XaiSettings for VENDOR {
        /// Default voice.
        pub voice: String = "eve".into(),
        /// Default language (`auto` detects).
        pub language: String = "auto".into(),
        /// Codec asked of xAI when the caller does not ask for one.
        pub codec: Encoding = Encoding::PcmS16le,
        /// Sample rate asked of xAI when the caller does not ask for one.
        pub sample_rate: u32 = 24_000,
        /// Speaking rate multiplier (0.7 to 1.5 documented).
        pub speed: Option<f32> = None,
        /// 0 (best quality) or 1 (smaller first chunk).
        pub optimize_streaming_latency: Option<u8> = None,
        /// Let xAI expand numbers and abbreviations.
        pub text_normalization: Option<bool> = None,
        /// Ask for per-character timestamps and map them onto chunk spans.
        pub timestamps: bool = false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Xai;
    use voxwire_core::Secret;
    use voxwire_transport::NetworkVendor;

    #[test]
    fn endpoints_follow_the_base_url() {
        let s = XaiSettings::default().with_env(|k| match k {
            "XAI_API_KEY" => Some("xai-k".into()),
            _ => None,
        });
        let r = Xai::resolve(&s).unwrap();
        assert_eq!(r.rest_url, "https://api.x.ai/v1/tts");
        assert_eq!(r.ws_url, "wss://api.x.ai/v1/tts");
        let local = XaiSettings {
            base_url: Some("http://127.0.0.1:9/v1/".into()),
            ..s
        };
        assert_eq!(
            Xai::resolve(&local).unwrap().ws_url,
            "ws://127.0.0.1:9/v1/tts"
        );
    }

    #[test]
    fn missing_key_and_bad_urls_are_config_errors() {
        let err = Xai::resolve(&XaiSettings::default()).unwrap_err();
        assert_eq!(err.kind(), voxwire_core::ErrorKind::Config);
        assert!(err.to_string().contains("XAI_API_KEY"));
        let bad = XaiSettings {
            api_key: Some(Secret::new("k")),
            base_url: Some("ftp://x".into()),
            ..XaiSettings::default()
        };
        assert!(Xai::resolve(&bad).is_err());
    }

    #[test]
    fn config_tables_keep_their_keys_and_refuse_unknown_ones() {
        let parse = |text: &str| {
            let toml = format!("[[chain]]\nprovider = \"xai\"\n{text}");
            let config = voxwire_core::Config::from_toml_str(&toml, "test").unwrap();
            config.chain[0].settings::<XaiSettings>()
        };
        let s = parse("voice = \"ara\"\ntransport = \"rest\"\npool_size = 3").unwrap();
        assert_eq!(
            (s.voice.as_str(), s.transport, s.pool_size),
            ("ara", Transport::Rest, 3)
        );
        assert_eq!(s.first_audio_timeout_ms, 15_000);
        assert_eq!(s.max_connection_age_s, 1_800);
        assert_eq!(s.language, "auto");
        let err = parse("vocie = \"ara\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}

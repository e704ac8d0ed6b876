//! The settings every network provider shares: the key from the vendor's
//! variable, the base URL from its variable, the transport choice, the
//! timeouts and the pool, and their resolution into endpoints (including
//! the `http`→`ws` rewrite for the WebSocket).
//!
//! A provider declares its settings with [`network_settings!`](crate::network_settings),
//! listing only its own fields: the macro adds the shared ones, so the
//! struct stays flat (same config keys, same struct literals) and still
//! refuses unknown fields (`#[serde(flatten)]` cannot, with
//! `deny_unknown_fields`). Defaults come from the struct's `Default`, which
//! takes the shared ones from the provider's [`Vendor`].
//!
//! ```rust
//! use voxwire_transport::settings::{Limits, Vendor};
//!
//! const VENDOR: Vendor = Vendor {
//!     id: "acme",
//!     key_variable: "ACME_API_KEY",
//!     base_variable: "ACME_BASE_URL",
//!     default_base_url: "https://api.acme.test/v1",
//!     path: "/speak",
//!     limits: Limits { first_audio_timeout_ms: 12_000, ..Limits::DEFAULT },
//!     max_connection_age_cap_s: u64::MAX,
//! };
//!
//! voxwire_transport::network_settings! {
//!     /// Settings of one `acme` chain entry.
//!     pub struct AcmeSettings for VENDOR {
//!         /// Default voice.
//!         pub voice: String = "nova".into(),
//!     }
//! }
//!
//! let s = AcmeSettings::default().with_env(|v| (v == "ACME_API_KEY").then(|| "k".into()));
//! let r = s.network().resolve(&VENDOR).unwrap();
//! assert_eq!(r.ws_url, "wss://api.acme.test/v1/speak");
//! assert_eq!(r.first_audio_timeout.as_millis(), 12_000);
//! ```

use std::time::Duration;

use voxwire_core::error::redact_url;
use voxwire_core::{Result, Secret, TtsError};

use crate::http::StreamedPost;
use crate::DriverSettings;

/// Which transport `synthesize` uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The streaming WebSocket (pooled connections, lowest first-audio latency).
    #[default]
    Websocket,
    /// A `POST` with a streamed body.
    Rest,
}

/// Default timeouts and pool sizes, in the units of the config keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `connect_timeout_ms`.
    pub connect_timeout_ms: u64,
    /// `first_audio_timeout_ms`.
    pub first_audio_timeout_ms: u64,
    /// `inactivity_timeout_ms`.
    pub inactivity_timeout_ms: u64,
    /// `max_connection_age_s`.
    pub max_connection_age_s: u64,
    /// `pool_size`.
    pub pool_size: usize,
    /// `liveness_timeout_ms`.
    pub liveness_timeout_ms: u64,
}

impl Limits {
    /// 10 s connect, 15 s first audio, 10 s inactivity, 1800 s age, 2 pooled, 1 s liveness.
    pub const DEFAULT: Limits = Limits {
        connect_timeout_ms: 10_000,
        first_audio_timeout_ms: 15_000,
        inactivity_timeout_ms: 10_000,
        max_connection_age_s: 1_800,
        pool_size: 2,
        liveness_timeout_ms: 1_000,
    };
}

/// What differs between vendors in the shared settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// The provider id, as in the chain entry (`xai`).
    pub id: &'static str,
    /// The variable the key falls back to (`XAI_API_KEY`).
    pub key_variable: &'static str,
    /// The variable the base URL falls back to (`XAI_BASE_URL`).
    pub base_variable: &'static str,
    /// The documented base URL.
    pub default_base_url: &'static str,
    /// The speech path after the base, for REST and the WebSocket alike (`/tts`).
    pub path: &'static str,
    /// The defaults of the shared fields.
    pub limits: Limits,
    /// `max_connection_age_s` is cut to this (the vendor ends sockets then).
    pub max_connection_age_cap_s: u64,
}

/// The shared fields of a provider's settings, as the config spells them.
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// The API key; never printed.
    pub api_key: Option<Secret>,
    /// The base URL.
    pub base_url: Option<String>,
    /// Which transport `synthesize` uses.
    pub transport: Transport,
    /// The timeouts and pool.
    pub limits: Limits,
}

/// Resolved endpoints and limits, ready for use.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The key (never empty).
    pub key: Secret,
    /// `{base}{path}`.
    pub rest_url: String,
    /// `{base}{path}` with `ws://` or `wss://`.
    pub ws_url: String,
    /// Longest wait to open a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the first audio.
    pub first_audio_timeout: Duration,
    /// Longest wait between audio pieces.
    pub inactivity_timeout: Duration,
    /// Pooled sockets are not reused past this age.
    pub max_age: Duration,
    /// A pooled socket must answer a ping within this.
    pub liveness_timeout: Duration,
    /// Idle sockets kept.
    pub pool_size: usize,
}

impl Resolved {
    /// A streamed REST call to `rest_url` with these limits (see [`post_streamed`](crate::http::post_streamed)).
    pub fn streamed_post(&self, provider: &'static str, frame_bytes: usize) -> StreamedPost<'_> {
        StreamedPost {
            provider,
            endpoint: &self.rest_url,
            secret: &self.key,
            connect_timeout: self.connect_timeout,
            first_audio_timeout: self.first_audio_timeout,
            inactivity_timeout: self.inactivity_timeout,
            frame_bytes,
        }
    }

    /// The WebSocket driver's settings (each send waits up to the inactivity timeout).
    pub fn driver(&self) -> DriverSettings {
        DriverSettings {
            connect_timeout: self.connect_timeout,
            first_audio_timeout: self.first_audio_timeout,
            inactivity_timeout: self.inactivity_timeout,
            send_timeout: self.inactivity_timeout,
            max_connection_age: self.max_age,
            pool_size: self.pool_size,
            liveness_timeout: self.liveness_timeout,
            ..DriverSettings::new(self.key.clone())
        }
    }
}

/// What the generic provider ([`crate::provider`]) reads of a vendor's
/// settings; [`network_settings!`](crate::network_settings) implements it.
pub trait Shared: Clone + Send + Sync + 'static {
    /// The shared fields, to resolve against the vendor.
    fn network(&self) -> NetworkSettings;
}

/// A key from `variable` when `key` is unset or empty (trimmed; blank counts as unset).
pub fn key_from_env(
    key: Option<Secret>,
    variable: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Secret> {
    if key.as_ref().is_some_and(|k| !k.is_empty()) {
        return key;
    }
    env(variable)
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .map(Secret::new)
}

/// A base URL from `variable` when `base_url` is unset (blank counts as unset).
pub fn base_from_env(
    base_url: Option<String>,
    variable: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    base_url.or_else(|| env(variable).filter(|u| !u.trim().is_empty()))
}

/// The base URL, trimmed and without a trailing `/`: `http(s)://` and no
/// query or fragment, else a `Config` error carrying `hint`.
pub fn resolve_base(base_url: Option<&str>, default: &str, hint: &str) -> Result<String> {
    let base = base_url.unwrap_or(default).trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(TtsError::config(format!(
            "base_url `{}` must start with https:// or http://",
            redact_url(base)
        ))
        .with_hint(hint.to_string()));
    }
    if base.contains('?') || base.contains('#') {
        return Err(TtsError::config(
            "base_url must not carry a query or fragment",
        ));
    }
    Ok(base.to_string())
}

/// `https://…` as `wss://…` and `http://…` as `ws://…` (other URLs unchanged).
pub fn websocket_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_string()
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms.max(1))
}

impl NetworkSettings {
    /// The vendor's defaults, with no key and no base URL.
    pub fn new(vendor: &Vendor) -> Self {
        Self {
            api_key: None,
            base_url: None,
            transport: Transport::default(),
            limits: vendor.limits,
        }
    }

    /// Fills `api_key` and `base_url` from the vendor's variables when unset.
    pub fn with_env(mut self, vendor: &Vendor, env: impl Fn(&str) -> Option<String>) -> Self {
        self.api_key = key_from_env(self.api_key.take(), vendor.key_variable, &env);
        self.base_url = base_from_env(self.base_url.take(), vendor.base_variable, &env);
        self
    }

    /// Endpoints and limits: `Config` errors without a key or with a bad base URL.
    pub fn resolve(&self, vendor: &Vendor) -> Result<Resolved> {
        let key = self
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                TtsError::config("no API key").with_hint(format!(
                    "set {} or api_key in the {} chain entry",
                    vendor.key_variable, vendor.id
                ))
            })?;
        let hint = format!(
            "set {} to e.g. {}",
            vendor.base_variable, vendor.default_base_url
        );
        let base = resolve_base(self.base_url.as_deref(), vendor.default_base_url, &hint)?;
        let rest_url = format!("{base}{}", vendor.path);
        let l = &self.limits;
        Ok(Resolved {
            key,
            ws_url: websocket_url(&rest_url),
            rest_url,
            connect_timeout: millis(l.connect_timeout_ms),
            first_audio_timeout: millis(l.first_audio_timeout_ms),
            inactivity_timeout: millis(l.inactivity_timeout_ms),
            max_age: Duration::from_secs(
                l.max_connection_age_s
                    .clamp(1, vendor.max_connection_age_cap_s.max(1)),
            ),
            liveness_timeout: millis(l.liveness_timeout_ms),
            pool_size: l.pool_size,
        })
    }
}

/// Declares a network provider's settings: its own fields (each with its
/// default) plus the shared ones (`api_key`, `base_url`, `transport`,
/// `connect_timeout_ms`, `first_audio_timeout_ms`, `inactivity_timeout_ms`,
/// `max_connection_age_s`, `pool_size`, `liveness_timeout_ms`), all flat,
/// unknown fields refused, missing ones defaulted. Adds `Default`,
/// `with_env` and `network()` (the shared fields, to
/// [`resolve`](NetworkSettings::resolve)). See the [module](self) example.
///
/// The calling crate depends on `serde` and `voxwire-core`.
#[macro_export]
macro_rules! network_settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident for $vendor:path {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// The API key; never printed.
            pub api_key: Option<::voxwire_core::Secret>,
            /// Base URL (the vendor's documented one when unset).
            pub base_url: Option<String>,
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            /// Which transport `synthesize` uses.
            pub transport: $crate::settings::Transport,
            /// Longest wait to open a connection (TCP, TLS, upgrade).
            pub connect_timeout_ms: u64,
            /// Longest wait for the first audio of an utterance.
            pub first_audio_timeout_ms: u64,
            /// Longest wait between audio pieces once audio has started.
            pub inactivity_timeout_ms: u64,
            /// WebSocket connections are not reused past this age.
            pub max_connection_age_s: u64,
            /// Idle WebSocket connections kept for reuse.
            pub pool_size: usize,
            /// A pooled connection must answer a ping within this before it is reused.
            pub liveness_timeout_ms: u64,
        }

        impl Default for $name {
            fn default() -> Self {
                let l = $vendor.limits;
                Self {
                    api_key: None,
                    base_url: None,
                    $( $field: $default, )*
                    transport: $crate::settings::Transport::default(),
                    connect_timeout_ms: l.connect_timeout_ms,
                    first_audio_timeout_ms: l.first_audio_timeout_ms,
                    inactivity_timeout_ms: l.inactivity_timeout_ms,
                    max_connection_age_s: l.max_connection_age_s,
                    pool_size: l.pool_size,
                    liveness_timeout_ms: l.liveness_timeout_ms,
                }
            }
        }

        impl $name {
            /// Fills `api_key` and `base_url` from the vendor's variables when unset.
            pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
                let vendor = &$vendor;
                self.api_key =
                    $crate::settings::key_from_env(self.api_key.take(), vendor.key_variable, &env);
                self.base_url =
                    $crate::settings::base_from_env(self.base_url.take(), vendor.base_variable, &env);
                self
            }

            /// The shared fields, to resolve against the vendor.
            pub fn network(&self) -> $crate::settings::NetworkSettings {
                <Self as $crate::settings::Shared>::network(self)
            }
        }

        impl $crate::settings::Shared for $name {
            fn network(&self) -> $crate::settings::NetworkSettings {
                $crate::settings::NetworkSettings {
                    api_key: self.api_key.clone(),
                    base_url: self.base_url.clone(),
                    transport: self.transport,
                    limits: $crate::settings::Limits {
                        connect_timeout_ms: self.connect_timeout_ms,
                        first_audio_timeout_ms: self.first_audio_timeout_ms,
                        inactivity_timeout_ms: self.inactivity_timeout_ms,
                        max_connection_age_s: self.max_connection_age_s,
                        pool_size: self.pool_size,
                        liveness_timeout_ms: self.liveness_timeout_ms,
                    },
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Vendor = Vendor {
        id: "acme",
        key_variable: "ACME_API_KEY",
        base_variable: "ACME_BASE_URL",
        default_base_url: "https://api.acme.test/v1",
        path: "/tts",
        limits: Limits::DEFAULT,
        max_connection_age_cap_s: 600,
    };

    crate::network_settings! {
        /// Test settings.
        pub struct AcmeSettings for V {
            /// A voice.
            pub voice: String = "eve".into(),
            /// A rate.
            pub speed: Option<f32> = None,
        }
    }

    fn parse(text: &str) -> std::result::Result<AcmeSettings, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        AcmeSettings::deserialize(toml::Value::Table(table)).map_err(|e| e.to_string())
    }

    use serde::Deserialize;

    #[test]
    fn flat_fields_defaults_and_unknown_fields_refused() {
        let s = parse("voice = \"ara\"\npool_size = 4\ntransport = \"rest\"").unwrap();
        assert_eq!(s.voice, "ara");
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.transport, Transport::Rest);
        assert_eq!(s.first_audio_timeout_ms, 15_000);
        assert!(s.speed.is_none());
        let err = parse("voise = \"ara\"").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn env_fills_only_what_is_unset() {
        let env = |k: &str| match k {
            "ACME_API_KEY" => Some(" k1 \n".into()),
            "ACME_BASE_URL" => Some("http://127.0.0.1:9/v1/".into()),
            _ => None,
        };
        let s = AcmeSettings::default().with_env(env);
        assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("k1"));
        let r = s.network().resolve(&V).unwrap();
        assert_eq!(r.rest_url, "http://127.0.0.1:9/v1/tts");
        assert_eq!(r.ws_url, "ws://127.0.0.1:9/v1/tts");
        let own = AcmeSettings {
            api_key: Some(Secret::new("mine")),
            base_url: Some("https://h".into()),
            ..AcmeSettings::default()
        }
        .with_env(env);
        assert_eq!(own.api_key.as_ref().map(Secret::expose), Some("mine"));
        assert_eq!(own.base_url.as_deref(), Some("https://h"));
        let blank = AcmeSettings::default().with_env(|_| Some("  ".into()));
        assert!(blank.api_key.is_none() && blank.base_url.is_none());
    }

    #[test]
    fn resolution_errors_and_limits() {
        let err = AcmeSettings::default().network().resolve(&V).unwrap_err();
        assert_eq!(err.kind(), voxwire_core::ErrorKind::Config);
        assert!(err.to_string().contains("ACME_API_KEY"));
        let keyed = AcmeSettings {
            api_key: Some(Secret::new("k")),
            max_connection_age_s: 9_999,
            connect_timeout_ms: 0,
            ..AcmeSettings::default()
        };
        let r = keyed.network().resolve(&V).unwrap();
        assert_eq!(r.rest_url, "https://api.acme.test/v1/tts");
        assert_eq!(r.ws_url, "wss://api.acme.test/v1/tts");
        assert_eq!(r.max_age, Duration::from_secs(600));
        assert_eq!(r.connect_timeout, Duration::from_millis(1));
        assert_eq!(r.driver().send_timeout, r.inactivity_timeout);
        for bad in ["ftp://x", "https://h/v1?x=1", "https://h#f"] {
            let s = AcmeSettings {
                base_url: Some(bad.into()),
                ..keyed.clone()
            };
            let e = s.network().resolve(&V).unwrap_err();
            assert_eq!(e.kind(), voxwire_core::ErrorKind::Config, "{bad}");
        }
    }
}

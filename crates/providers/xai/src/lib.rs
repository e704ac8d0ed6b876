//! The xAI text-to-speech provider, registered as `xai`.
//!
//! - `synthesize` speaks a whole text over the streaming WebSocket (default;
//!   pooled connections, lowest first-audio latency) or `POST {base}/tts`
//!   (`transport = "rest"`), yielding sample-aligned chunks as bytes arrive.
//! - [`XaiProvider`] is `voxwire-transport`'s generic
//!   [`NetworkProvider`](voxwire_transport::NetworkProvider) for [`Xai`]: this
//!   crate holds the xAI [`dialect`], settings, protocol types, REST body,
//!   voices and error rules.
//! - `voices()` asks `GET {base}/tts/voices` (cached ten minutes).
//! - `stream` drives the WebSocket with incremental text (`text.delta`),
//!   flushes (`text.done`) and barge-in (`text.clear`).
//! - Errors name the provider, phase, endpoint (never the key), HTTP status
//!   and a hint; a 401/403 at the upgrade says the key was rejected *or* the
//!   endpoint is wrong, and prints the URL used.
//!
//! Settings ([`XaiSettings`]): `api_key` (or `XAI_API_KEY`), `base_url` (or
//! `XAI_BASE_URL`, default `https://api.x.ai/v1`), `voice` (`eve`), `language`
//! (`auto`), `codec` and `sample_rate` (pcm, 24000), `speed`,
//! `optimize_streaming_latency`, `text_normalization`, `timestamps`,
//! `transport`, `connect_timeout_ms`, `first_audio_timeout_ms`,
//! `inactivity_timeout_ms`, `max_connection_age_s` (1800), `pool_size` (2),
//! `liveness_timeout_ms` (1000: a pooled socket must answer a ping within it).
//!
//! The wire types live in [`protocol`], shared with the relay and the browser
//! client; without the default `client` feature only they are built (no
//! tokio, no network), so they compile for `wasm32-unknown-unknown`.
//!
//! # Example
//!
//! Speak through xAI (needs a key and the network):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
//! use voxwire_xai::{XaiProvider, XaiSettings};
//!
//! async fn speak(key: &str) -> voxwire_core::Result<()> {
//!     let provider = XaiProvider::new(XaiSettings {
//!         api_key: Some(Secret::new(key)),
//!         ..XaiSettings::default()
//!     })?;
//!     let mut audio = provider.synthesize(SynthesisRequest::new("Hello from voxwire.")).await?;
//!     while let Some(chunk) = audio.next().await {
//!         let chunk = chunk?;
//!         println!("{} bytes of {:?}", chunk.data.len(), chunk.format);
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod diagnose;
#[cfg(feature = "client")]
pub mod dialect;
pub mod protocol;
#[cfg(feature = "client")]
mod provider;
#[cfg(feature = "client")]
mod settings;
#[cfg(feature = "client")]
mod voices;

#[cfg(feature = "client")]
pub use dialect::{WithTimestamps, XaiDialect};
#[cfg(feature = "client")]
pub use provider::{Xai, XaiProvider};
#[cfg(feature = "client")]
pub use settings::{Transport, XaiSettings, DEFAULT_BASE_URL};

/// The provider id.
pub const PROVIDER_ID: &str = "xai";

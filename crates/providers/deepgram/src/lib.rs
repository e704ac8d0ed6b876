//! The Deepgram Aura text-to-speech provider, registered as `deepgram`.
//!
//! - [`DeepgramProvider`] is `voxwire-transport`'s generic
//!   [`NetworkProvider`](voxwire_transport::NetworkProvider) for [`Deepgram`];
//!   this crate holds the dialect, settings, protocol, voices and error rules.
//! - `stream` drives the `/v1/speak` WebSocket in the [`DeepgramDialect`]:
//!   `Speak` carries text (split at 2000 characters per message), `Flush`
//!   ends an utterance and `Flushed` is its done, `Clear` is barge-in (binary
//!   frames until `Cleared` are dropped), `Close` goes out before a pooled
//!   socket is retired. Flushes beyond Deepgram's 20 per minute are merged or
//!   held rather than sent to be ignored.
//! - `synthesize` speaks a whole text over the pooled WebSocket (default) or
//!   streamed `POST /v1/speak` (`transport = "rest"`); both yield audio as it arrives.
//! - Audio is raw `linear16`, `mulaw` or `alaw` at the caller's rate when
//!   Deepgram offers it (else 24 kHz linear16, converted locally).
//! - Voices are Aura models (`aura-2-thalia-en`); each carries its language,
//!   so a BCP-47 tag picks a voice of that language or is refused before any
//!   network call.
//! - Errors follow the wire notes' failure table: HTTP statuses at REST or
//!   the upgrade (with `dg-request-id` and `dg-error`), close codes 1003,
//!   1008 `DATA-0000`/`DATA-0001`, 1009, 1011 `NET-000x`, error frames.
//!
//! Settings: [`DeepgramSettings`].
//!
//! # Example
//!
//! Speak through Deepgram Aura (needs a key and the network):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{Secret, SynthesisRequest, TtsProvider};
//! use voxwire_deepgram::{DeepgramProvider, DeepgramSettings};
//!
//! async fn speak(key: &str) -> voxwire_core::Result<()> {
//!     let provider = DeepgramProvider::new(DeepgramSettings {
//!         api_key: Some(Secret::new(key)),
//!         ..DeepgramSettings::default()
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

pub mod diagnose;
pub mod dialect;
pub mod protocol;
mod provider;
mod settings;

pub use dialect::DeepgramDialect;
pub use provider::{Deepgram, DeepgramProvider};
pub use settings::{DeepgramSettings, Transport, DEFAULT_BASE_URL, DEFAULT_MODEL};

/// The provider id.
pub const PROVIDER_ID: &str = "deepgram";

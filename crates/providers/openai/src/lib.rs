//! The OpenAI-compatible speech provider, registered as `openai`.
//!
//! `POST {base}/audio/speech` is the de facto interface of text-to-speech
//! servers: OpenAI itself (whose own speech models shut down on 2027-01-06)
//! and the many servers that speak its API (Kokoro servers, vLLM, LiteLLM,
//! edge-tts shims, hosted providers). This crate is a client of that API:
//!
//! - `synthesize` is one streamed POST; audio leaves as it arrives. The body
//!   is parsed by the answer's `Content-Type`, never by what was asked
//!   (OpenAI ignores `stream_format: "sse"` on `tts-1*`, compatible servers
//!   may ignore it always): raw `audio/pcm`, `audio/wav`, `text/event-stream`
//!   (`speech.audio.delta` with `audio`, or `delta`), and `audio/mpeg`
//!   decoded with symphonia (feature `mp3`, default).
//! - `stream` has no streaming input to drive (the API has none): it cuts the
//!   incoming text into sentences as they complete and speaks each with its
//!   own POST; cancel drops the request in flight.
//! - Errors follow the wire notes' failure table: an exhausted quota (429
//!   `insufficient_quota`) is provider-scoped `Auth` with "quota" in the
//!   message, a rate-limit 429 is transient with its `Retry-After`, 400/422
//!   and unknown voices are request-scoped, `x-request-id` is kept.
//! - Against OpenAI's base the voice×model rules are checked before sending;
//!   against any other base every voice string passes through. `voice_…`
//!   (or `id:…`) is a custom voice, sent as `{"id": …}`.
//!
//! [`OpenAiProvider`] is `voxwire-transport`'s generic
//! [`NetworkProvider`](voxwire_transport::NetworkProvider) for [`OpenAi`], with
//! no socket ([`NoSocket`](voxwire_transport::NoSocket)): this crate holds the
//! wire types, the settings, the voices and models, the body readers and the
//! error rules.
//!
//! Settings: [`OpenAiSettings`].
//!
//! Feature `client` (default) builds the provider; without it only [`wire`]
//! is built (serde alone), for servers that speak the API, such as the
//! voxwire relay's OpenAI front.
//!
//! # Example
//!
//! Speak through a local OpenAI-compatible server (a Kokoro server here):
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_openai::{OpenAiProvider, OpenAiSettings};
//!
//! async fn speak() -> voxwire_core::Result<()> {
//!     let provider = OpenAiProvider::new(OpenAiSettings {
//!         base_url: Some("http://127.0.0.1:8880/v1".into()),
//!         model: "kokoro".into(),
//!         voice: "af_bella".into(),
//!         ..OpenAiSettings::default()
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
mod errors;
#[cfg(feature = "mp3")]
pub mod mp3;
#[cfg(feature = "client")]
mod provider;
#[cfg(feature = "client")]
mod settings;
#[cfg(feature = "client")]
pub mod speech;
pub mod wire;

#[cfg(feature = "client")]
pub use provider::{Instructions, OpenAi, OpenAiApi, OpenAiProvider};
#[cfg(feature = "client")]
pub use settings::{
    is_openai_base, OpenAiSettings, StreamFormat, DEFAULT_BASE_URL, DEFAULT_KEY_VARIABLE,
    DEFAULT_MODEL, DEFAULT_VOICE, OPENAI_PCM_RATE,
};

/// The provider id.
pub const PROVIDER_ID: &str = "openai";

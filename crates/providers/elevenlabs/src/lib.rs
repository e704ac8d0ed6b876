//! The ElevenLabs text-to-speech provider, registered as `elevenlabs`.
//!
//! - Over REST, `synthesize` is one streamed `POST {base}/text-to-speech/{voice}/stream/with-timestamps`
//!   (JSON lines of base64 audio and per-character `alignment`), or
//!   `/stream` (raw audio) when times are not asked (setting `timestamps`,
//!   or the request extension [`Timestamps`]). Audio leaves as it arrives;
//!   each line's times are mapped onto spans of the text, with the vendor's
//!   own times and the words they complete.
//! - Formats asked natively with `output_format`: `pcm_16000`, `pcm_22050`,
//!   `pcm_24000`, `ulaw_8000`, and `pcm_44100` when the plan has it
//!   (setting `pcm_44100`); without it 44.1 kHz is asked as `pcm_24000` and
//!   converted locally. A refusal of a plan-gated format is request-scoped.
//! - Errors follow the notes' failure table, by `detail.status` before the
//!   HTTP status: an exhausted quota (401 `quota_exceeded`) is
//!   provider-scoped `Auth` with "quota" in the message; an unknown voice,
//!   a refused field or a text over the model's limit are request-scoped;
//!   `x-trace-id` is kept as the request id.
//! - The key travels only in the `xi-api-key` header (marked sensitive).
//! - With `transport = "websocket"` (the default) `synthesize` and `stream`
//!   go over `multi-stream-input` on the transport's shared-socket path
//!   ([`socket`]): a context per utterance, at most five per socket and
//!   `sockets` sockets per entry (requests beyond them wait their turn),
//!   `voice_settings` only on a socket's first context, `close_context` to
//!   end or cancel one, keep-alives inside the 20 s input timeout. A relay's
//!   sessions share those sockets. `eleven_v3` (not offered over the
//!   socket) always takes REST; `transport = "rest"` picks REST for all.
//!
//! [`ElevenLabsProvider`] is `voxwire-transport`'s generic
//! [`NetworkProvider`](voxwire_transport::NetworkProvider) for [`ElevenLabs`]
//! with its socket dialect [`ElevenLabsDialect`](socket::ElevenLabsDialect).
//!
//! # Example
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings};
//!
//! async fn speak() -> voxwire_core::Result<()> {
//!     let settings = ElevenLabsSettings::default().with_env(|k| std::env::var(k).ok());
//!     let provider = ElevenLabsProvider::new(settings)?;
//!     let mut audio = provider.synthesize(SynthesisRequest::new("Hello from voxwire.")).await?;
//!     while let Some(chunk) = audio.next().await {
//!         let chunk = chunk?;
//!         println!("{} bytes, words {:?}", chunk.data.len(), chunk.words);
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

mod errors;
mod provider;
mod settings;
pub mod socket;
pub mod timed;
mod voices;
pub mod wire;

pub use errors::TRACE_HEADER;
pub use provider::{base, ElevenLabs, ElevenLabsProvider, Timestamps};
pub use settings::{
    ElevenLabsSettings, DEFAULT_BASE_URL, DEFAULT_KEY_VARIABLE, DEFAULT_MODEL, DEFAULT_SAMPLE_RATE,
    DEFAULT_VOICE, RESIDENCY_BASE_URLS,
};

/// The provider id.
pub const PROVIDER_ID: &str = "elevenlabs";

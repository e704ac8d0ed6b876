//! The Cartesia (Sonic) text-to-speech provider, registered as `cartesia`.
//!
//! - `synthesize` is one streamed `POST {base}/tts/bytes` with
//!   `{"model_id","transcript","voice","output_format","language"?,"generation_config"?}`;
//!   the answer is raw audio, leaving as it arrives.
//! - Formats asked natively: raw `pcm_s16le`, `pcm_mulaw` and `pcm_alaw` at
//!   8000, 16000, 22050, 24000, 44100 or 48000 Hz; anything else is asked
//!   as `pcm_s16le` at 24 kHz and converted locally.
//! - Every call carries `Cartesia-Version` (setting `version`, default
//!   [`DEFAULT_VERSION`], what the vendor's SDK sends) and the key as
//!   `Authorization: Bearer` (as the SDK sends it; marked sensitive).
//! - Errors follow the notes' failure table by HTTP status, worded from
//!   either error-body shape (`error`, or `title`/`message`/`error_code`).
//! - `voices` pages through `GET {base}/voices` with each voice's locales.
//! - With `transport = "websocket"` (the default) `synthesize` and `stream`
//!   go over `/tts/websocket` on the transport's shared path
//!   ([`dialect`]): utterances multiplexed by `context_id` on one socket,
//!   at most `concurrency` (default [`DEFAULT_CONCURRENCY`]) live at once,
//!   the rest waiting their turn; `continue: true` per piece of text,
//!   `continue: false` to end, `done` as the end, `cancel` for barge-in,
//!   word timestamps (`timestamps = true`) from the vendor's own times.
//!   `transport = "rest"` keeps `synthesize` on `/tts/bytes`.
//!
//! [`CartesiaProvider`] is `voxwire-transport`'s generic
//! [`NetworkProvider`](voxwire_transport::NetworkProvider) for [`Cartesia`]
//! with [`CartesiaDialect`].
//!
//! # Example
//!
//! ```no_run
//! use futures::StreamExt;
//! use voxwire_core::{SynthesisRequest, TtsProvider};
//! use voxwire_cartesia::{CartesiaProvider, CartesiaSettings};
//!
//! async fn speak() -> voxwire_core::Result<()> {
//!     let settings = CartesiaSettings::default().with_env(|k| std::env::var(k).ok());
//!     let provider = CartesiaProvider::new(settings)?;
//!     let mut audio = provider.synthesize(SynthesisRequest::new("Hello from voxwire.")).await?;
//!     while let Some(chunk) = audio.next().await {
//!         println!("{} bytes", chunk?.data.len());
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod dialect;
mod errors;
mod provider;
mod settings;
mod voices;
pub mod wire;

pub use dialect::CartesiaDialect;
pub use provider::{base, shared_stats, versioned, Cartesia, CartesiaProvider, VERSION_HEADER};
pub use settings::Transport;
pub use settings::{
    CartesiaSettings, DEFAULT_BASE_URL, DEFAULT_CONCURRENCY, DEFAULT_KEY_VARIABLE, DEFAULT_MODEL,
    DEFAULT_SAMPLE_RATE, DEFAULT_VERSION, DEFAULT_VOICE,
};

/// The provider id.
pub const PROVIDER_ID: &str = "cartesia";

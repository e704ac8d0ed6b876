//! voxwire: speak through any text-to-speech provider, fail over when one breaks.
//!
//! This facade re-exports the provider-neutral contracts ([`core`]) and the
//! providers chosen by Cargo features, so an application depends on one crate:
//!
//! - `xai`: the xAI provider ([`xai`]);
//! - `openai`: the OpenAI-compatible speech provider ([`openai`]);
//! - `deepgram`: the Deepgram Aura provider ([`deepgram`]);
//! - `elevenlabs`: the ElevenLabs provider ([`elevenlabs`]);
//! - `cartesia`: the Cartesia provider ([`cartesia`]);
//! - `espeak`: the offline voice ([`espeak`]) through the system `espeak-ng`;
//!   `embedded` links the pure-Rust eSpeak NG port (GPL-3.0-or-later) so it
//!   needs no system package;
//! - `piper`: the offline neural voice ([`piper`]), a Piper voice run in
//!   process through ONNX Runtime (loaded at run time); ahead of `espeak` when found;
//! - `router`: the failover router ([`router`]); `server`: the relay ([`server`]);
//! - `cli` (the only default): the `voxwire` program, with all of the above.
//!
//! A library takes `default-features = false` and the features it needs,
//! e.g. `features = ["xai", "espeak", "router"]`: that build links nothing
//! GPL. Each provider is linked (and so registered in the plug-in registry)
//! only when its feature is on; adding a provider is one feature line.
//!
//! # Example
//!
//! A chain from `voxwire.toml` text, as the `voxwire` program builds it (with
//! the default features; the `router` and `espeak` features otherwise):
//!
//! ```no_run
//! # #[cfg(all(feature = "router", feature = "espeak"))]
//! # fn main() -> voxwire::core::Result<()> {
//! use voxwire::core::Config;
//! use voxwire::router::Router;
//!
//! let config = Config::from_toml_str("[[chain]]\nprovider = \"espeak\"\n", "example")?;
//! let (router, skipped) = Router::from_config(&config)?;
//! println!("chain {:?}, skipped {}", router.chain(), skipped.len());
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "router", feature = "espeak")))]
//! # fn main() {}
//! ```
#![warn(missing_docs)]

pub use voxwire_core as core;
pub use voxwire_core::{
    AudioChunk, AudioFormat, Encoding, ErrorKind, Phase, SynthesisRequest, TtsError, TtsProvider,
};

/// The offline eSpeak NG provider.
#[cfg(feature = "espeak")]
pub use voxwire_espeak as espeak;

/// The Cartesia provider.
#[cfg(feature = "cartesia")]
pub use voxwire_cartesia as cartesia;
#[cfg(feature = "deepgram")]
pub use voxwire_deepgram as deepgram;
/// The ElevenLabs provider.
#[cfg(feature = "elevenlabs")]
pub use voxwire_elevenlabs as elevenlabs;
/// The xAI provider.
#[cfg(feature = "xai")]
pub use voxwire_xai as xai;

/// The OpenAI-compatible speech provider.
#[cfg(feature = "openai")]
pub use voxwire_openai as openai;

/// The failover router.
#[cfg(feature = "router")]
pub use voxwire_router as router;

/// The offline neural Piper provider.
#[cfg(feature = "piper")]
pub use voxwire_piper as piper;
/// The relay server.
#[cfg(feature = "server")]
pub use voxwire_server as server;

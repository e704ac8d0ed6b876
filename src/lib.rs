//! voxwire: speak through any text-to-speech provider, fail over when one breaks.
//!
//! This facade re-exports the provider-neutral contracts ([`core`]) and the
//! providers chosen by Cargo features, so an application depends on one crate:
//!
//! - `espeak` (default): the offline voice; `embedded` (default) links the
//!   pure-Rust eSpeak NG port (GPL-3.0-or-later) so it needs no system package.
//! - `piper` (default): the offline neural voice, a Piper voice run in process
//!   through ONNX Runtime (loaded at run time); ahead of `espeak` when found.
//! - `cli` (default): the `voxwire` command-line program.
#![warn(missing_docs)]

pub use voxwire_core as core;
pub use voxwire_core::{
    AudioChunk, AudioFormat, Encoding, ErrorKind, Phase, SynthesisRequest, TtsError, TtsProvider,
};

/// The offline eSpeak NG provider.
#[cfg(feature = "espeak")]
pub use voxwire_espeak as espeak;
/// The offline neural Piper provider.
#[cfg(feature = "piper")]
pub use voxwire_piper as piper;

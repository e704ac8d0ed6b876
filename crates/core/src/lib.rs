//! Provider-neutral contracts for voxwire.
//!
//! Everything a text-to-speech provider, the router, the relay and the browser
//! client agree on lives here: the [`TtsProvider`] trait, the request and audio
//! types, the error taxonomy ([`TtsError`]), the plug-in [`registry`], the
//! [`config`] file format and the [`audio`] utilities every provider reuses.
//!
//! This crate has no async runtime and no network code, so it builds for
//! `wasm32-unknown-unknown`.
//!
//! # Example
//!
//! A request, the key type that never prints, the sentence segmenter and the
//! language matcher every provider shares:
//!
//! ```rust
//! use voxwire_core::{language, segment, Secret, SynthesisRequest};
//!
//! let key = Secret::new("sk-example");
//! assert_eq!(key.to_string(), "***");
//!
//! let request = SynthesisRequest::new("Hello there. How are you?").language("en-US");
//! assert!(request.validate(1_000).is_ok());
//! assert_eq!(segment::sentences(&request.text).len(), 2);
//! // `en_us`, `EN`, `en-US` all find `en-us`.
//! assert_eq!(language::lookup("en_us", &["fr", "en-us"]), Some(1));
//! ```
#![warn(missing_docs)]

pub mod audio;
pub mod config;
pub mod diagnose;
pub mod error;
pub mod failover;
pub mod language;
pub mod provider;
pub mod registry;
pub mod secret;
pub mod segment;
pub mod session;
pub mod text;
pub mod voice;

pub use audio::{AudioChunk, AudioFormat, Encoding, SpanTimes, TextSpan, WordTime};
pub use config::{Config, ProviderConfig};
pub use error::{ErrorKind, ErrorScope, Phase, Result, TtsError, UnknownErrorKind};
pub use failover::{FailoverKind, FailoverReason};
pub use provider::{
    AudioStream, Capabilities, Extensions, SynthesisRequest, TtsProvider, WantTimestamps,
};
pub use registry::ProviderFactory;
pub use secret::Secret;
pub use session::{SessionDriver, SessionEvent, StreamConfig, SynthesisSession};
pub use voice::Voice;

/// Re-exported so provider crates can use `#[async_trait]` with the exact
/// version the trait was declared with.
pub use async_trait::async_trait;
/// Re-exported so provider crates can submit factories with
/// `voxwire_core::inventory::submit!` without depending on `inventory` themselves.
pub use inventory;

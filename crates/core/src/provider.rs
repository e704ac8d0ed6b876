//! The provider-neutral trait and the request it takes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

use crate::audio::{AudioChunk, AudioFormat, Encoding};
use crate::error::{Result, TtsError};
use crate::session::{StreamConfig, SynthesisSession};
use crate::text::validate_text;
use crate::voice::Voice;

/// Audio chunks as a provider produces them; ends after the last chunk or the first error.
#[cfg(not(target_arch = "wasm32"))]
pub type AudioStream = Pin<Box<dyn Stream<Item = Result<AudioChunk>> + Send>>;
/// Audio chunks as a provider produces them; ends after the last chunk or the first error.
#[cfg(target_arch = "wasm32")]
pub type AudioStream = Pin<Box<dyn Stream<Item = Result<AudioChunk>>>>;

/// A text-to-speech provider. Object-safe: used as `Arc<dyn TtsProvider>`.
///
/// Implementations stream: `synthesize` returns as soon as the request is
/// accepted and yields audio as it is produced, never one blob at the end.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait TtsProvider: MaybeSendSync {
    /// The stable config name, e.g. `xai` or `espeak`.
    fn id(&self) -> &str;

    /// One line naming the provider and what backs it (engine, endpoint, model),
    /// for logs and the CLI's "served by" line. Never includes credentials.
    fn describe(&self) -> String {
        self.id().to_string()
    }

    /// What this provider can do, so callers and the router can plan.
    fn capabilities(&self) -> Capabilities;

    /// The voices on offer.
    async fn voices(&self) -> Result<Vec<Voice>>;

    /// Speaks a whole text; audio chunks arrive as they are produced.
    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream>;

    /// Opens a session for text that arrives piece by piece (an LLM's tokens).
    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession>;

    /// Opens what the next request would otherwise open (a pooled socket),
    /// so its first audio skips the handshake. `Ok(true)` when it did
    /// something; the default (nothing to warm, e.g. an offline engine) is `Ok(false)`.
    async fn prewarm(&self) -> Result<bool> {
        Ok(false)
    }

    /// Checks this provider end to end and says what to fix (`voxwire doctor`).
    /// The default speaks one short sentence; network providers check each step.
    async fn diagnose(&self) -> crate::diagnose::Report {
        crate::diagnose::generic_report(self).await
    }
}

/// `Send + Sync` on native targets, nothing on wasm32 (where nothing is `Send`).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` on native targets, nothing on wasm32 (where nothing is `Send`).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// What a provider supports.
#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities {
    /// Whether `stream` takes text incrementally (rather than buffering to each flush).
    pub streaming_input: bool,
    /// Encodings it can produce.
    pub encodings: Vec<Encoding>,
    /// Sample rates it can produce; empty means any rate (it converts).
    pub sample_rates: Vec<u32>,
    /// The format it produces when the request does not ask for one.
    pub native_format: AudioFormat,
    /// Languages (BCP-47) it speaks.
    pub languages: Vec<String>,
    /// The most characters it accepts in one request.
    pub max_text_chars: usize,
    /// Whether it reports which text each chunk speaks.
    pub timestamps: bool,
    /// The speaking-rate multipliers it accepts (`None`: any, or it ignores speed).
    pub speed_range: Option<(f32, f32)>,
}

/// A whole text to speak, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthesisRequest {
    /// What to say.
    pub text: String,
    /// Voice id; `None` lets the provider choose its default.
    pub voice: Option<String>,
    /// BCP-47 language; `None` lets the provider choose or detect.
    pub language: Option<String>,
    /// The format wanted; `None` takes the provider's native format.
    pub format: Option<AudioFormat>,
    /// Speaking rate multiplier (1.0 is normal).
    pub speed: Option<f32>,
    /// Provider-specific options, keyed by type.
    pub extensions: Extensions,
}

/// The slowest speaking rate multiplier accepted.
pub const MIN_SPEED: f32 = 0.25;
/// The fastest speaking rate multiplier accepted.
pub const MAX_SPEED: f32 = 4.0;

impl SynthesisRequest {
    /// A request for `text` with every option at its default.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            language: None,
            format: None,
            speed: None,
            extensions: Extensions::default(),
        }
    }

    /// Sets the voice.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// Sets the language.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets the output format.
    pub fn format(mut self, format: AudioFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Sets the speaking rate multiplier.
    pub fn speed(mut self, speed: f32) -> Self {
        self.speed = Some(speed);
        self
    }

    /// Checks the request is speakable by anyone: text bounds, format and speed ranges.
    pub fn validate(&self, max_text_chars: usize) -> Result<()> {
        validate_text(&self.text, max_text_chars)?;
        if let Some(format) = &self.format {
            format.validate()?;
        }
        if let Some(speed) = self.speed {
            if !(MIN_SPEED..=MAX_SPEED).contains(&speed) || speed.is_nan() {
                return Err(TtsError::invalid_input(format!(
                    "speed {speed} is out of range: use {MIN_SPEED} to {MAX_SPEED}"
                )));
            }
        }
        Ok(())
    }
}

/// An extension asking a provider to report the vendor's own per-character
/// times (`AudioChunk::times`) when it can: vendors charge or slow down for
/// them, so they are off unless a caller (e.g. a relay client) wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantTimestamps(pub bool);

/// A map of typed, provider-specific options: each provider reads the types it knows.
///
/// ```
/// use voxwire_core::Extensions;
/// #[derive(Debug, PartialEq)]
/// struct Pitch(u8);
/// let mut ext = Extensions::default();
/// ext.insert(Pitch(60));
/// assert_eq!(ext.get::<Pitch>(), Some(&Pitch(60)));
/// ```
#[derive(Clone, Default)]
pub struct Extensions {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Extensions {
    /// Stores a value, replacing any earlier value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, when set.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions({} values)", self.map.len())
    }
}

impl PartialEq for Extensions {
    fn eq(&self, other: &Self) -> bool {
        self.map.len() == other.map.len()
            && self
                .map
                .iter()
                .all(|(k, v)| other.map.get(k).is_some_and(|o| Arc::ptr_eq(v, o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn validation_catches_each_bad_field() {
        assert!(SynthesisRequest::new("hi").validate(10).is_ok());
        assert_eq!(
            SynthesisRequest::new(" ").validate(10).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(SynthesisRequest::new("hi").speed(9.0).validate(10).is_err());
        assert!(SynthesisRequest::new("hi")
            .speed(f32::NAN)
            .validate(10)
            .is_err());
        assert!(SynthesisRequest::new("hi")
            .format(AudioFormat::pcm16_mono(1))
            .validate(10)
            .is_err());
    }

    // The trait must stay object-safe: this only compiles if it is.
    #[allow(dead_code)]
    fn object_safe(_: &std::sync::Arc<dyn TtsProvider>) {}
}

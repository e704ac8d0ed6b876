//! How a [`MockXai`](super::MockXai) behaves: its key, chunking, voices and scripted faults.

use std::time::Duration;

pub use crate::kit::fault::{error_body, ErrorField, Fault, FaultPlan, Rejection, Stall, FOREVER};
pub(crate) use crate::kit::fault::{Effects, UtteranceEffects};

/// The API key a mock accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "xai-mock-test-key";

/// The audio bytes per REST chunk or `audio.delta` unless configured otherwise.
pub const DEFAULT_CHUNK_SIZE: usize = 4096;

/// The largest chunk (and `audio.delta`) the mock sends.
pub const MAX_CHUNK_SIZE: usize = 64 * 1024;

/// The largest request body or WebSocket message the mock accepts.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// The most characters one utterance (REST `text` or WebSocket deltas) may hold.
pub const MAX_TEXT_CHARS: usize = 15_000;

/// A custom voice the mock accepts besides the built-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockVoice {
    /// The id clients send (matched case-insensitively).
    pub voice_id: String,
    /// The display name the voices endpoints report.
    pub name: String,
}

/// Everything a mock server is started with.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The bearer key accepted on every endpoint.
    pub api_key: String,
    /// Audio bytes per REST body chunk and per `audio.delta` (clamped to 1..=64 KiB).
    pub chunk_size: usize,
    /// Which request or connection gets which fault.
    pub faults: FaultPlan,
    /// Voices accepted besides eve, ara, leo, rex and sal.
    pub custom_voices: Vec<MockVoice>,
    /// The largest request body or WebSocket message accepted.
    pub max_message_size: usize,
    /// Close every WebSocket after this age (xAI does after roughly 2100 s).
    pub max_connection_age: Option<Duration>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_string(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            faults: FaultPlan::none(),
            custom_voices: Vec::new(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_connection_age: None,
        }
    }
}

impl MockConfig {
    /// The defaults: key [`DEFAULT_API_KEY`], 4 KiB chunks, no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept `key` as the bearer key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Send `bytes` of audio per chunk / delta (clamped to 1..=64 KiB).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Use this fault plan (a [`Fault`] applies to every request, a `Vec<Fault>` is a script).
    pub fn with_faults(mut self, faults: impl Into<FaultPlan>) -> Self {
        self.faults = faults.into();
        self
    }

    /// Accept a custom voice.
    pub fn with_voice(mut self, voice_id: impl Into<String>, name: impl Into<String>) -> Self {
        self.custom_voices.push(MockVoice {
            voice_id: voice_id.into(),
            name: name.into(),
        });
        self
    }

    /// Close every WebSocket connection once it is `age` old.
    pub fn with_max_connection_age(mut self, age: Duration) -> Self {
        self.max_connection_age = Some(age);
        self
    }

    /// The chunk size actually used (1..=64 KiB).
    pub fn effective_chunk_size(&self) -> usize {
        self.chunk_size.clamp(1, MAX_CHUNK_SIZE)
    }
}

//! Test kit for voxwire: a vendor-neutral mock-server kit ([`kit`]) and, on it,
//! a mock xAI text-to-speech server with scripted faults.
//!
//! [`mock_xai::MockXai`] speaks xAI's TTS protocol (REST and WebSocket) on
//! loopback with deterministic audio ([`mock_xai::expected_audio`]), records
//! every request with the key masked, and misbehaves on cue ([`mock_xai::Fault`]).
//! [`fake::FakeProvider`] is an in-process provider scripted call by call,
//! with the same audio, for router tests.
#![warn(missing_docs)]

pub mod assert;
pub mod fake;
pub mod kit;
pub mod mock_deepgram;
pub mod mock_openai;
pub mod mock_xai;
pub mod python;

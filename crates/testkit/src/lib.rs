//! Test kit for voxwire: a vendor-neutral mock-server kit ([`kit`]) and, on it,
//! a mock xAI text-to-speech server with scripted faults.
//!
//! [`mock_xai::MockXai`] speaks xAI's TTS protocol (REST and WebSocket) on
//! loopback with deterministic audio ([`mock_xai::expected_audio`]), records
//! every request with the key masked, and misbehaves on cue ([`mock_xai::Fault`]).
//! [`fake::FakeProvider`] is an in-process provider scripted call by call,
//! with the same audio, for router tests.
//!
//! # Example
//!
//! A mock xAI server on loopback for a client under test, and a fake provider
//! for router tests:
//!
//! ```no_run
//! use voxwire_testkit::fake::FakeProvider;
//! use voxwire_testkit::mock_xai::{MockConfig, MockXai};
//!
//! async fn example() {
//!     let mock = MockXai::start(MockConfig::new()).await;
//!     let base_url = mock.base_url(); // point the client's base URL here
//!     let fake = FakeProvider::new("fake");
//!     let provider = fake.arc(); // an `Arc<dyn TtsProvider>` for a router
//!     # let _ = (base_url, provider);
//! }
//! ```
#![warn(missing_docs)]

pub mod assert;
pub mod bench;
pub mod conformance;
pub mod dying;
pub mod fake;
pub mod kit;
pub mod mock_cartesia;
pub mod mock_deepgram;
pub mod mock_elevenlabs;
pub mod mock_openai;
pub mod mock_xai;
pub mod python;
pub mod redis_server;

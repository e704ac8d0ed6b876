//! The voxwire relay: an xAI-compatible TTS endpoint in front of the failover router.
//!
//! - `GET /v1/tts` (WebSocket) and `POST /v1/tts` (REST) speak the xAI
//!   protocol, so an xAI client gains failover by changing its base URL.
//! - `GET /v1/tts/voices[/{id}]`, `POST /v1/tokens` (browser tokens),
//!   `GET /healthz`, `GET /metrics` (Prometheus text), `GET /` (the demo page).
//! - Access: server tokens (Bearer, constant-time); short-lived HMAC-signed
//!   browser tokens bound to an origin (query `token` or subprotocol
//!   `xai-client-secret.<token>`); an Origin allowlist; open mode on loopback only.
//! - Limits: message size, characters per utterance, utterances per second and
//!   sessions per credential, total sessions, idle timeout, session age — each
//!   answered with an error frame or close code and counted in `/metrics`.
//! - Provider keys stay in the router's providers: nothing the relay sends
//!   carries them.
#![warn(missing_docs)]

mod access;
pub mod auth;
pub mod metrics;
mod relay;
mod rest;
mod routes;
mod serve;
pub mod settings;
mod state;

pub use routes::app;
pub use serve::Relay;
pub use settings::{ServerSettings, TokenEntry};
pub use state::AppState;

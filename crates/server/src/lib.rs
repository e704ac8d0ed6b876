//! The voxwire relay: an xAI-compatible TTS endpoint in front of the failover router.
//!
//! - `GET /v1/tts` (WebSocket) and `POST /v1/tts` (REST) speak the xAI
//!   protocol, so an xAI client gains failover by changing its base URL.
//! - `POST /v1/audio/speech` and `GET /v1/models` speak OpenAI's speech API
//!   (pcm, wav, or SSE events), so an OpenAI SDK gains streaming failover by
//!   changing its base URL; `model` picks a chain, `voice` maps to its voices.
//! - `GET /v1/tts/voices[/{id}]`, `POST /v1/tokens` (browser tokens),
//!   `GET /healthz`, `GET /metrics` (Prometheus text), `GET /v1/usage` (usage
//!   per credential and chain entry, a server token), `GET /` (the demo page).
//! - Access: server tokens (Bearer, constant-time); short-lived HMAC-signed
//!   browser tokens bound to an origin (query `token` or subprotocol
//!   `xai-client-secret.<token>`); an Origin allowlist; open mode on loopback only.
//! - One session engine ([`engine`]) behind the fronts: a writer task per
//!   connection with a bounded queue and a send timeout, timers that fire
//!   whatever the client does, exactly one end per utterance.
//! - Limits: message size, characters per utterance, utterances per second per
//!   session (optionally per credential), pending utterances, sessions per
//!   credential (per browser user for minted tokens), total sessions, idle
//!   timeout, session age — each answered with an error frame or close code
//!   and counted in `/metrics`. Several relays count sessions per credential
//!   and the per-credential rate together in one Redis with
//!   [`settings::SharedSettings`] (`[server.shared]`), with a policy for
//!   Redis being down ([`settings::OnRedisDown`]); there too the character
//!   quotas of [`settings::TokenEntry`] (`chars_per_minute`, `chars_per_day`),
//!   the usage totals, and the chain entries' health: an entry one relay
//!   marks down is skipped by the others, and one relay of the fleet probes
//!   it back.
//! - Errors to clients are safe ([`errors::ClientError`]): kind, entry, a
//!   short reason and what to do; the log keeps the whole error.
//! - Provider keys stay in the router's providers: nothing the relay sends
//!   carries them.
//!
//! # Example
//!
//! A relay over a router, served until the future given to
//! [`Relay::serve`] completes (`voxwire serve` does this):
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use voxwire_router::Router;
//! use voxwire_server::{settings::ServerSettings, Relay};
//!
//! async fn relay(addr: SocketAddr, router: Router) -> voxwire_core::Result<()> {
//!     let relay = Relay::bind(addr, router, ServerSettings::default()).await?;
//!     println!("listening on {}", relay.local_addr()?);
//!     relay.serve(std::future::pending()).await
//! }
//! ```
#![warn(missing_docs)]

mod access;
pub mod auth;
pub mod encode;
pub mod engine;
pub mod errors;
mod fleet_health;
mod fronts;
mod limits;
mod memory;
pub mod metrics;
pub mod phrase_store;
mod quota;
mod random;
mod request_id;
mod routes;
mod serve;
pub mod settings;
mod shared;
mod state;
mod task;
mod usage;
mod writer;

pub use access::CredentialKind;
pub use routes::app;
pub use serve::{Relay, DEFAULT_OPENAI_MODELS};
pub use settings::{
    MetricsAccess, OnRedisDown, OpenAiFront, ServerSettings, SharedSettings, TokenEntry,
};
pub use state::AppState;

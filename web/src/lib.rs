//! The voxwire browser client: a `Speaker` that streams speech from a relay
//! (or any xAI-protocol endpoint) over a WebSocket and plays it with Web Audio.
//!
//! JavaScript API (built with `wasm-bindgen --target web`):
//! ```js
//! const speaker = new Speaker({ url: "ws://127.0.0.1:8080/v1/tts", token, voice, language, sampleRate: 24000 });
//! // or urls: [primary, secondary, ...]: voxwire-router fails over between them
//! speaker.on("start" | "audio" | "end" | "error" | "failover", detail => ...);
//! await speaker.speak("Hello");      // resolves when playback has ended
//! speaker.pushText("Hel"); speaker.pushText("lo."); await speaker.flush();
//! speaker.cancel();                  // stops playback now and sends text.clear
//! speaker.stats();                   // { timeToFirstAudioMs, timeToFirstSoundMs, chunks, underruns, bytes }
//! ```
//! Errors arrive as `error` events (and rejected promises) carrying the same
//! kinds as the Rust `TtsError` (`unavailable`, `auth`, `protocol`, ...), never
//! as uncaught exceptions. Browser tokens travel in the WebSocket subprotocol
//! `xai-client-secret.<token>`, not in the URL.
//!
//! Rust code on wasm32 can use `Endpoint` directly: an xAI-protocol
//! WebSocket endpoint as a `TtsProvider` (without `Send`), so
//! `voxwire_router::Router` retries and fails over between endpoints in the
//! browser, exactly as `Speaker` does.
//!
//! # Example
//!
//! From Rust on wasm32, endpoints behind a router. This example is marked
//! `ignore`: `Endpoint` exists only on `wasm32-unknown-unknown` (it is built on
//! the browser's `WebSocket`), so it cannot compile as a native doc test.
//!
//! ```ignore
//! use std::sync::Arc;
//! use voxwire_router::{Policy, Router, RouterSettings};
//! use voxwire_web::{Endpoint, EndpointConfig};
//!
//! let endpoint = Endpoint::new(
//!     EndpointConfig {
//!         url: "wss://tts.example.com/v1/tts".into(),
//!         token: Some(browser_token),
//!         voice: None,
//!         language: None,
//!         sample_rate: 24_000,
//!     },
//!     None,
//! );
//! let router = Router::new(vec![(Arc::new(endpoint), Policy::default())], RouterSettings::default())?;
//! ```
#![warn(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod endpoint;
// Native builds only unit-test the option checks.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod options;
#[cfg(target_arch = "wasm32")]
mod player;
#[cfg(target_arch = "wasm32")]
mod speaker;

#[cfg(target_arch = "wasm32")]
pub use endpoint::{Endpoint, EndpointConfig};
#[cfg(target_arch = "wasm32")]
pub use speaker::Speaker;

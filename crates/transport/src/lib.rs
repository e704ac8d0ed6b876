//! What every voxwire network provider shares (native only), so that a
//! provider crate is its vendor's dialect, settings and protocol types:
//!
//! - [`connect()`]: the authenticated WebSocket upgrade over HTTP/1.1 (never
//!   h2), the key only in sensitive headers, connect and upgrade timeouts,
//!   failures classified and scrubbed;
//! - [`pool`]: idle connections with an age limit, checked for liveness
//!   before reuse, rotation and pre-warming;
//! - [`http`]: HTTP failure classification (status → kind, `Retry-After`,
//!   vendor request ids, a bounded body excerpt, hints) and
//!   [`http::post_streamed`], the streamed REST call with its timeouts
//!   (and [`http::send_streamed`], its lower half, for a vendor that reads
//!   the answer or classifies refusals itself);
//! - [`doctor`]: `voxwire doctor`'s steps and diagnosis rules, in a vendor's
//!   words ([`doctor::Advice`]);
//! - [`body`] and [`sse`]: a streamed-body reader with a carry byte and a
//!   server-sent-events reader;
//! - [`dialect`] and [`driver`]: [`WsProvider`], the generic streaming
//!   provider that a per-vendor [`Dialect`] plugs into;
//! - [`provider`]: [`NetworkProvider`], the whole provider written once for
//!   any vendor that states its [`NetworkVendor`] (settings, dialect, REST
//!   request, capabilities [`Table`], voices, error rules);
//! - [`settings`] and [`network_settings!`]: the key, base URL, transport,
//!   timeouts and pool every provider's settings carry, and their resolution
//!   into endpoints;
//! - [`chunker`], [`stream`], [`reach`], [`errors`]: the pieces those share.
//!
//! # Example
//!
//! The HTTP pieces are plain functions a provider calls on a failed answer:
//!
//! ```rust
//! use std::time::Duration;
//! use voxwire_transport::http;
//!
//! assert_eq!(http::parse_retry_after("120"), Some(Duration::from_secs(120)));
//! assert!(http::default_hint(401).is_some());
//! ```
#![warn(missing_docs)]

pub mod body;
pub mod chunker;
pub mod connect;
pub mod dialect;
pub mod doctor;
pub mod driver;
pub mod errors;
pub mod http;
pub mod network;
pub mod pool;
pub mod provider;
pub mod reach;
pub mod sentences;
pub mod settings;
pub mod sse;
pub mod stream;

pub use connect::{connect, http_client, ConnectOptions, UpgradeRequest, WsConn};
pub use dialect::{CharMark, Decoded, Dialect, Frame, Multiplex, Outgoing, Timing, Voicing};
pub use driver::{DriverSettings, SharedStats, WsProvider};
pub use network::NetworkCore;
pub use provider::{NetworkProvider, NetworkVendor, NoSocket, Table};

#[doc(hidden)]
/// voxwire-core, for [`register_network_provider!`]'s expansion.
pub use voxwire_core as __core;

pub use pool::Pool;

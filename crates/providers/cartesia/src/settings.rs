//! The `cartesia` provider's settings: its own fields on the shared
//! network settings ([`voxwire_transport::settings`]).

use voxwire_transport::settings::{Limits, Vendor};

pub use voxwire_transport::settings::Transport;

/// The documented REST base (`{base}/tts/bytes`, `{base}/voices`).
pub const DEFAULT_BASE_URL: &str = "https://api.cartesia.ai";
/// The environment variable the key is read from.
pub const DEFAULT_KEY_VARIABLE: &str = "CARTESIA_API_KEY";
/// The `Cartesia-Version` sent unless an entry pins another: what the
/// vendor's SDK (`cartesia` 4.2.0) sends.
pub const DEFAULT_VERSION: &str = "2026-08-14";
/// The model asked for unless an entry names another.
pub const DEFAULT_MODEL: &str = "sonic-3";
/// The voice used unless an entry or a request names another (the SDK's
/// own fallback voice).
pub const DEFAULT_VOICE: &str = "6ccbfb76-1fc6-48f7-b71d-91ac6298247b";
/// The rate spoken when the caller asks for none.
pub const DEFAULT_SAMPLE_RATE: u32 = 24_000;
/// Live contexts (utterances) at once unless an entry says otherwise: the
/// lowest public plan's concurrency (Free 2, Pro 3, Startup 5, Scale 15).
/// Requests beyond it wait their turn, never a 429.
pub const DEFAULT_CONCURRENCY: usize = 2;

/// Cartesia's variables, path and default limits.
pub(crate) const VENDOR: Vendor = Vendor {
    id: crate::PROVIDER_ID,
    key_variable: DEFAULT_KEY_VARIABLE,
    base_variable: "CARTESIA_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    path: "/tts/bytes",
    limits: Limits::DEFAULT,
    max_connection_age_cap_s: u64::MAX,
};

voxwire_transport::network_settings! {
    /// Settings of one `cartesia` chain entry. `api_key` (sent only as
    /// `Authorization: Bearer`, as the SDK does) falls back to
    /// `CARTESIA_API_KEY`, `base_url` (default `https://api.cartesia.ai`)
    /// to `CARTESIA_BASE_URL`.
    pub struct CartesiaSettings for VENDOR {
        /// Default voice id (any id the account can use; unlisted ids pass through).
        pub voice: String = DEFAULT_VOICE.into(),
        /// `model_id` (`sonic-3`, `sonic-3.5`, `sonic-2`, `sonic-latest`, dated snapshots, …).
        pub model: String = DEFAULT_MODEL.into(),
        /// Sample rate of 16-bit PCM spoken when the caller asks for none.
        pub sample_rate: u32 = DEFAULT_SAMPLE_RATE,
        /// The `Cartesia-Version` header (`YYYY-MM-DD`): request and answer
        /// fields shift between versions, so one is pinned.
        pub version: String = DEFAULT_VERSION.into(),
        /// Live contexts at once on the WebSocket (the plan's concurrency:
        /// Cartesia counts each context; over it, 429). More wait their turn.
        pub concurrency: usize = DEFAULT_CONCURRENCY,
        /// Ask for word timestamps (`add_timestamps`) on the WebSocket and
        /// map them onto chunk spans (a request's `WantTimestamps` overrides it).
        pub timestamps: bool = false,
        /// `max_buffer_delay_ms` sent with every input (0: no server-side
        /// buffering; the router sends whole sentences).
        pub max_buffer_delay_ms: u32 = 0,
    }
}

//! The `elevenlabs` provider's settings: its own fields on the shared
//! network settings ([`voxwire_transport::settings`]).

use voxwire_transport::settings::{Limits, Vendor};

/// The documented REST base (`{base}/text-to-speech/{voice}/stream`, `{base}/voices`).
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io/v1";
/// The data-residency bases the SDK knows (`base_url` presets).
pub const RESIDENCY_BASE_URLS: [&str; 4] = [
    "https://api.us.elevenlabs.io/v1",
    "https://api.eu.residency.elevenlabs.io/v1",
    "https://api.in.residency.elevenlabs.io/v1",
    "https://api.sg.residency.elevenlabs.io/v1",
];
/// The environment variable the key is read from.
pub const DEFAULT_KEY_VARIABLE: &str = "ELEVENLABS_API_KEY";
/// The model asked for unless an entry names another (the API's default).
pub const DEFAULT_MODEL: &str = "eleven_multilingual_v2";
/// The voice used unless an entry or a request names another ("George", a
/// premade voice every account has; the SDK's examples use it).
pub const DEFAULT_VOICE: &str = "JBFqnCBsd6RMkjVDRZzb";
/// The rate spoken when the caller asks for none, and what 44.1 kHz is
/// served from when the plan lacks `pcm_44100`.
pub const DEFAULT_SAMPLE_RATE: u32 = 24_000;

/// ElevenLabs' variables, path and default limits.
pub(crate) const VENDOR: Vendor = Vendor {
    id: crate::PROVIDER_ID,
    key_variable: DEFAULT_KEY_VARIABLE,
    base_variable: "ELEVENLABS_BASE_URL",
    default_base_url: DEFAULT_BASE_URL,
    path: "/text-to-speech",
    limits: Limits::DEFAULT,
    max_connection_age_cap_s: u64::MAX,
};

voxwire_transport::network_settings! {
    /// Settings of one `elevenlabs` chain entry. `api_key` (sent only in the
    /// `xi-api-key` header) falls back to `ELEVENLABS_API_KEY`, `base_url`
    /// (default `https://api.elevenlabs.io/v1`, or a data-residency base) to
    /// `ELEVENLABS_BASE_URL`.
    pub struct ElevenLabsSettings for VENDOR {
        /// Default voice id (any id the account can use; unlisted ids pass through).
        pub voice: String = DEFAULT_VOICE.into(),
        /// `model_id` (`eleven_multilingual_v2`, `eleven_flash_v2_5`, `eleven_turbo_v2_5`, `eleven_v3`, …).
        pub model: String = DEFAULT_MODEL.into(),
        /// Sample rate of 16-bit PCM spoken when the caller asks for none.
        pub sample_rate: u32 = DEFAULT_SAMPLE_RATE,
        /// Whether `synthesize` asks for the vendor's character times
        /// (`/stream/with-timestamps`; else `/stream`). A request's
        /// [`Timestamps`](crate::Timestamps) wins.
        pub timestamps: bool = true,
        /// Whether the account's plan offers `pcm_44100` (Pro and up). Off:
        /// 44.1 kHz is asked as `pcm_24000` and converted locally.
        pub pcm_44100: bool = false,
        /// `voice_settings.stability` (0 to 1), sent only when set.
        pub stability: Option<f32> = None,
        /// `voice_settings.similarity_boost` (0 to 1), sent only when set.
        pub similarity_boost: Option<f32> = None,
        /// Speaking rate (`voice_settings.speed`, 0.7 to 1.2), sent only when set.
        pub speed: Option<f32> = None,
        /// `enable_logging=false` (zero retention, enterprise plans) when off.
        pub enable_logging: bool = true,
        /// Sockets the entry may open to `multi-stream-input`, five
        /// utterances each; requests beyond them wait their turn.
        pub sockets: usize = 2,
    }
}

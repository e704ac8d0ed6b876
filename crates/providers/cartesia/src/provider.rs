//! Cartesia on the generic network provider (streamed REST and the shared
//! `/tts/websocket`): what it offers, the request, its voices, its error
//! rules, and its registration.

use std::sync::Arc;

use voxwire_core::{AudioFormat, Encoding, Result, TtsError, Voice};
use voxwire_transport::doctor::Advice;
use voxwire_transport::http::HttpFailure;
use voxwire_transport::settings::{Resolved, Vendor};
use voxwire_transport::{
    DriverSettings, NetworkProvider, NetworkVendor, SharedStats, Table, Voicing,
};

use crate::dialect::CartesiaDialect;

use crate::settings::{CartesiaSettings, DEFAULT_SAMPLE_RATE, VENDOR};
use crate::wire::{self, BytesRequest, GenerationConfig, LANGUAGES, RATES};
use crate::PROVIDER_ID;

/// The header the API version travels in.
pub const VERSION_HEADER: &str = "cartesia-version";

/// The Cartesia provider: the generic network provider in Cartesia's terms.
pub type CartesiaProvider = NetworkProvider<Cartesia>;

/// Cartesia, as the generic network provider sees it.
#[derive(Debug, Clone)]
pub struct Cartesia;

/// The base URL of a provider (its speech URL without `/tts/bytes`).
pub fn base(p: &CartesiaProvider) -> &str {
    let url = p.rest_url();
    url.strip_suffix(VENDOR.path).unwrap_or(url)
}

/// `request` authorized and carrying the entry's `Cartesia-Version`.
pub fn versioned(
    p: &CartesiaProvider,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder> {
    p.authorize(request.header(VERSION_HEADER, p.settings().version.trim()))
}

/// What the provider's shared sockets hold now (sockets, live contexts,
/// dials, waiters): `concurrency` bounds the contexts of each socket.
pub fn shared_stats(p: &CartesiaProvider) -> SharedStats {
    p.core().ws.shared_stats()
}

/// A speed outside `generation_config.speed`'s range, refused before any call.
impl NetworkVendor for Cartesia {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: true,
        formats: &[
            (Encoding::PcmS16le, &RATES),
            (Encoding::Mulaw, &RATES),
            (Encoding::Alaw, &RATES),
        ],
        fallback: AudioFormat::pcm16_mono(DEFAULT_SAMPLE_RATE),
        languages: &LANGUAGES,
        max_text_chars: wire::MAX_TEXT_CHARS,
        max_rest_chars: wire::MAX_TEXT_CHARS,
        speed_range: Some(wire::SPEED_RANGE),
        timestamps: true,
        streaming_input: true,
    };
    const ADVICE: Advice = Advice {
        rest_name: "/tts/bytes",
        ..Advice::of(&VENDOR)
    };
    const NAME: &'static str = "CartesiaProvider";
    const AUTH_SCHEME: &'static str = "Bearer";
    type Settings = CartesiaSettings;
    type Dialect = CartesiaDialect;
    type State = ();

    fn dialect(settings: CartesiaSettings, resolved: Arc<Resolved>) -> CartesiaDialect {
        CartesiaDialect::new(settings, resolved)
    }

    /// One shared socket: Cartesia counts live contexts per account, so the
    /// entry's `concurrency` caps them all on one socket (requests beyond it
    /// wait their turn) rather than a second socket going over the plan.
    fn driver(_: &CartesiaSettings, driver: DriverSettings) -> DriverSettings {
        DriverSettings {
            max_shared_sockets: 1,
            ..driver
        }
    }

    fn hint(status: u16, websocket: bool) -> Option<String> {
        if websocket {
            crate::dialect::hint(status)
        } else {
            None
        }
    }

    fn native(s: &CartesiaSettings) -> AudioFormat {
        AudioFormat::pcm16_mono(s.sample_rate)
    }

    fn check(s: &CartesiaSettings) -> Result<()> {
        for (name, value) in [("model", &s.model), ("voice", &s.voice)] {
            if value.trim().is_empty() {
                return Err(TtsError::config(format!(
                    "cartesia: {name} must not be empty"
                )));
            }
        }
        let v = s.version.trim();
        let dated = v.len() == 10
            && v.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if s.concurrency == 0 {
            return Err(TtsError::config("cartesia: concurrency must be at least 1"));
        }
        if !dated {
            return Err(TtsError::config(format!(
                "version must be a date YYYY-MM-DD (the Cartesia-Version header), not {v:?}"
            )));
        }
        Ok(())
    }

    /// The language must be one Cartesia speaks, the speed in range (before any call).
    fn choose(_: &CartesiaProvider, v: &mut Voicing) -> Result<()> {
        Self::TABLE.fit(PROVIDER_ID, v)
    }

    fn rest(p: &CartesiaProvider, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let s = p.settings();
        let voice = v.voice.as_deref().filter(|v| !v.trim().is_empty());
        let body = BytesRequest {
            model_id: s.model.clone(),
            transcript: text.to_string(),
            voice: wire::voice(voice.unwrap_or(&s.voice), s.version.trim()),
            output_format: wire::output_format(v.wire),
            language: v.language.clone(),
            generation_config: GenerationConfig { speed: v.speed },
        };
        let post = p.core().ws.http().post(p.rest_url()).json(&body);
        Ok(post.header(VERSION_HEADER, s.version.trim()))
    }

    async fn voices(p: &CartesiaProvider) -> Result<Vec<Voice>> {
        crate::voices::list(p).await
    }

    fn refused(_: &CartesiaProvider, failure: &HttpFailure<'_>) -> TtsError {
        crate::errors::classify(failure)
    }
}

// After xAI (100), Deepgram (110) and ElevenLabs (120), ahead of OpenAI (200), when `CARTESIA_API_KEY` is set.
voxwire_transport::register_network_provider! {
    vendor: Cartesia,
    describe: "Cartesia Sonic text-to-speech (streamed REST and a shared WebSocket); needs CARTESIA_API_KEY",
    priority: 130,
}

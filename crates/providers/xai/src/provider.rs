//! xAI on the generic network provider: what it offers, its REST body, its
//! voices, its error rules, and its registration.

use std::sync::Arc;

use voxwire_core::{AudioFormat, Encoding, Result, Voice};
use voxwire_transport::doctor::Advice;
use voxwire_transport::settings::{Resolved, Vendor};
use voxwire_transport::{NetworkProvider, NetworkVendor, Table, Voicing};

use crate::dialect::XaiDialect;
use crate::protocol::{self, OutputFormat, RestRequest};
use crate::settings::{XaiSettings, VENDOR};
use crate::voices::VoiceCache;

/// The xAI provider: the generic network provider in xAI's terms.
pub type XaiProvider = NetworkProvider<Xai>;

/// xAI, as the generic network provider sees it.
#[derive(Debug, Clone)]
pub struct Xai;

const RATES: &[u32] = &protocol::SAMPLE_RATES;

impl NetworkVendor for Xai {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: true,
        formats: &[
            (Encoding::PcmS16le, RATES),
            (Encoding::Mulaw, RATES),
            (Encoding::Alaw, RATES),
        ],
        fallback: AudioFormat::mono(Encoding::PcmS16le, 24_000),
        languages: &protocol::LANGUAGES,
        max_text_chars: protocol::MAX_TEXT_CHARS,
        max_rest_chars: protocol::MAX_TEXT_CHARS,
        speed_range: Some(protocol::SPEED_RANGE),
        timestamps: true,
        streaming_input: true,
    };
    const ADVICE: Advice = Advice::of(&VENDOR);
    const NAME: &'static str = "XaiProvider";
    const AUTH_SCHEME: &'static str = "Bearer";
    type Settings = XaiSettings;
    type Dialect = XaiDialect;
    type State = VoiceCache;

    fn dialect(settings: XaiSettings, resolved: Arc<Resolved>) -> XaiDialect {
        XaiDialect { settings, resolved }
    }

    fn native(s: &XaiSettings) -> AudioFormat {
        AudioFormat::mono(s.codec, s.sample_rate)
    }

    fn rest(p: &XaiProvider, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let s = p.settings();
        let body = RestRequest {
            voice_id: v.voice.clone().unwrap_or_else(|| s.voice.clone()),
            language: v.language.clone().unwrap_or_else(|| s.language.clone()),
            output_format: OutputFormat {
                codec: protocol::codec_name(v.wire.encoding).to_string(),
                sample_rate: Some(v.wire.sample_rate),
                bit_rate: None,
            },
            speed: v.speed.or(s.speed),
            optimize_streaming_latency: s.optimize_streaming_latency,
            text_normalization: s.text_normalization,
            text: text.to_string(),
        };
        Ok(p.core().ws.http().post(p.rest_url()).json(&body))
    }

    async fn voices(p: &XaiProvider) -> Result<Vec<Voice>> {
        p.core().state.get(p).await
    }

    fn hint(status: u16, websocket: bool) -> Option<String> {
        crate::dialect::hint(status, websocket)
    }

    fn scoped(e: voxwire_core::TtsError) -> voxwire_core::TtsError {
        crate::dialect::scoped(e)
    }
}

// xAI joins the default chain, ahead of the offline voice, when a key is set.
voxwire_transport::register_network_provider! {
    vendor: Xai,
    describe: "xAI text-to-speech (REST and streaming WebSocket); needs XAI_API_KEY",
    priority: 100,
}

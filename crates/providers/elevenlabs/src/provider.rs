//! ElevenLabs on the generic network provider (the multi-context socket on
//! the shared-socket path, streamed REST beside it): what it offers, the
//! request, how an answer is read, its voices, its error rules, and its
//! registration.

use std::sync::Arc;

use voxwire_core::{
    AudioFormat, AudioStream, Encoding, ErrorKind, ErrorScope, Result, TtsError, Voice,
};
use voxwire_transport::doctor::Advice;
use voxwire_transport::http::HttpFailure;
use voxwire_transport::provider::Answer;
use voxwire_transport::settings::{Resolved, Vendor};
use voxwire_transport::{DriverSettings, NetworkProvider, NetworkVendor, Table, Voicing};

use crate::settings::{ElevenLabsSettings, DEFAULT_SAMPLE_RATE, VENDOR};
use crate::socket::{self, ElevenLabsDialect};
use crate::wire::{
    self, SpeechRequest, VoiceSettings, LANGUAGES, PCM_RATES, PRO_PCM_RATE, ULAW_RATE,
};
use crate::PROVIDER_ID;

/// A request extension: whether this request asks for the vendor's
/// character times (`/stream/with-timestamps`) or for audio only
/// (`/stream`), over the entry's `timestamps` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamps(pub bool);

/// The ElevenLabs provider: the generic network provider in ElevenLabs' terms.
pub type ElevenLabsProvider = NetworkProvider<ElevenLabs>;

/// ElevenLabs, as the generic network provider sees it.
#[derive(Debug, Clone)]
pub struct ElevenLabs;

/// The base URL of a provider (its speech URL without `/text-to-speech`).
pub fn base(p: &ElevenLabsProvider) -> &str {
    let url = p.rest_url();
    url.strip_suffix(VENDOR.path).unwrap_or(url)
}

/// Whether a request with this voicing asks for times.
fn timed(s: &ElevenLabsSettings, v: &Voicing) -> bool {
    v.extensions
        .get::<Timestamps>()
        .map_or(s.timestamps, |t| t.0)
}

impl NetworkVendor for ElevenLabs {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: true,
        formats: &[
            (Encoding::PcmS16le, &PCM_RATES),
            (Encoding::Mulaw, &[ULAW_RATE]),
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
        rest_name: "/v1/text-to-speech",
        ..Advice::of(&VENDOR)
    };
    const NAME: &'static str = "ElevenLabsProvider";
    const AUTH_SCHEME: &'static str = "";
    const AUTH_HEADER: &'static str = "xi-api-key";
    type Settings = ElevenLabsSettings;
    type Dialect = ElevenLabsDialect;
    type State = ();

    fn dialect(settings: ElevenLabsSettings, resolved: Arc<Resolved>) -> ElevenLabsDialect {
        ElevenLabsDialect { settings, resolved }
    }

    /// At most `sockets` shared sockets of five contexts each.
    fn driver(s: &ElevenLabsSettings, driver: DriverSettings) -> DriverSettings {
        DriverSettings {
            max_shared_sockets: s.sockets.max(1),
            ..driver
        }
    }

    /// `eleven_v3` is not offered over the socket: it takes REST.
    fn rest_only(s: &ElevenLabsSettings) -> bool {
        socket::rest_only_model(&s.model)
    }

    fn native(s: &ElevenLabsSettings) -> AudioFormat {
        AudioFormat::pcm16_mono(s.sample_rate)
    }

    fn check(s: &ElevenLabsSettings) -> Result<()> {
        if s.model.trim().is_empty() || s.voice.trim().is_empty() {
            return Err(TtsError::config("model and voice must not be empty"));
        }
        let (lo, hi) = wire::SPEED_RANGE;
        if s.speed.is_some_and(|v| !(lo..=hi).contains(&v)) {
            return Err(TtsError::config(format!("speed must be {lo} to {hi}")));
        }
        if s.sockets == 0 {
            return Err(TtsError::config("sockets must be at least 1"));
        }
        Ok(())
    }

    /// The language must be one ElevenLabs speaks (before any call); 44.1
    /// kHz is asked as 24 kHz (converted locally) when the plan lacks it.
    fn choose(p: &ElevenLabsProvider, v: &mut Voicing) -> Result<()> {
        Self::TABLE.fit(PROVIDER_ID, v)?;
        if v.wire.encoding == Encoding::PcmS16le
            && v.wire.sample_rate == PRO_PCM_RATE
            && !p.settings().pcm_44100
        {
            v.wire = AudioFormat::pcm16_mono(DEFAULT_SAMPLE_RATE);
        }
        Ok(())
    }

    fn rest(p: &ElevenLabsProvider, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let s = p.settings();
        let voice = v.voice.as_deref().filter(|v| !v.trim().is_empty());
        let voice = voice.unwrap_or(&s.voice);
        let mut url = reqwest::Url::parse(p.rest_url()).map_err(|e| {
            TtsError::config(format!("bad base_url: {e}")).with_provider(PROVIDER_ID)
        })?;
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                TtsError::config("base_url cannot take a path").with_provider(PROVIDER_ID)
            })?;
            path.push(voice).push("stream");
            if timed(s, v) {
                path.push("with-timestamps");
            }
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("output_format", &wire::output_format(v.wire));
            if !s.enable_logging {
                q.append_pair("enable_logging", "false");
            }
        }
        let body = SpeechRequest {
            text: text.to_string(),
            model_id: s.model.clone(),
            language_code: v
                .language
                .clone()
                .filter(|_| wire::takes_language_code(&s.model)),
            voice_settings: VoiceSettings {
                stability: s.stability,
                similarity_boost: s.similarity_boost,
                speed: v.speed.or(s.speed),
            },
        };
        Ok(p.core().ws.http().post(url).json(&body))
    }

    /// `/stream` is raw audio in the wire format; `/stream/with-timestamps` JSON lines.
    fn answer(p: &ElevenLabsProvider, a: Answer) -> Result<AudioStream> {
        let target = p.target(a.requested);
        if timed(p.settings(), &a.voicing) {
            return crate::timed::read(a, &p.core().resolved, target);
        }
        let r = &p.core().resolved;
        let mut chunker =
            voxwire_transport::chunker::Chunker::new(PROVIDER_ID, a.voicing.wire, target, 0)?;
        chunker.set_text(&a.text);
        let reader = r
            .streamed_post(PROVIDER_ID, a.voicing.wire.bytes_per_frame())
            .body_reader(
                a.response,
                r.first_audio_timeout.saturating_sub(a.started.elapsed()),
            );
        Ok(voxwire_transport::stream::stream_body(
            reader,
            chunker,
            r.rest_url.clone(),
        ))
    }

    async fn voices(p: &ElevenLabsProvider) -> Result<Vec<Voice>> {
        crate::voices::list(p).await
    }

    fn refused(_: &ElevenLabsProvider, failure: &HttpFailure<'_>) -> TtsError {
        crate::errors::classify(failure)
    }

    fn hint(status: u16, websocket: bool) -> Option<String> {
        (websocket && status == 403).then(|| {
            "ElevenLabs refused the socket: a bad key, or a model it does not offer over WebSockets (eleven_v3: use transport = \"rest\")".to_string()
        })
    }

    /// A context that ended with no audio names the likely cause: with the
    /// quota exhausted the socket still ends every context, silently.
    fn scoped(e: TtsError) -> TtsError {
        if e.kind() == ErrorKind::NoAudio && !e.message().contains("quota") {
            let message = format!(
                "{}: ElevenLabs ends contexts with no audio when the account's quota is exhausted",
                e.message()
            );
            return e
                .with_message(message)
                .with_scope(ErrorScope::Provider)
                .with_hint("check the account's remaining credits (or the voice and model); the entry is failed over");
        }
        e
    }
}

// After xAI (100) and Deepgram (110), ahead of OpenAI (200), when `ELEVENLABS_API_KEY` is set.
voxwire_transport::register_network_provider! {
    vendor: ElevenLabs,
    describe: "ElevenLabs text-to-speech (multi-context socket shared by utterances, streamed REST with character times); needs ELEVENLABS_API_KEY",
    priority: 120,
}

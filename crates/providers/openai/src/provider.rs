//! OpenAI's speech API on the generic network provider (REST and SSE, no
//! socket): what it offers, the request body and its local checks, how an
//! answer is read, its voices, its error rules, and its registration.

use std::sync::Arc;

use voxwire_core::diagnose::Report;
use voxwire_core::{
    AudioFormat, AudioStream, Encoding, ErrorKind, ErrorScope, Result, TtsError, Voice,
};
use voxwire_transport::doctor::Advice;
use voxwire_transport::http::HttpFailure;
use voxwire_transport::provider::Answer;
use voxwire_transport::settings::{Resolved, Vendor};
use voxwire_transport::{NetworkProvider, NetworkVendor, NoSocket, Table, Voicing};

use crate::settings::{is_openai_base, OpenAiSettings, StreamFormat, OPENAI_PCM_RATE, VENDOR};
use crate::speech;
use crate::wire::{self, SpeechRequest, VoiceParam, MAX_INPUT_CHARS};
use crate::PROVIDER_ID;

/// A request extension: style direction for this request (`instructions`),
/// over the entry's setting. Ignored by `tts-1*`, which refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instructions(pub String);

/// The OpenAI-compatible speech provider: the generic network provider in
/// OpenAI's terms. Its session cuts text into sentences, one POST each.
pub type OpenAiProvider = NetworkProvider<OpenAi>;

/// OpenAI's speech API, as the generic network provider sees it.
#[derive(Debug, Clone)]
pub struct OpenAi;

/// What an [`OpenAiProvider`] tells beyond the generic provider.
pub trait OpenAiApi {
    /// The base URL (`{base}/audio/speech` is spoken to).
    fn base(&self) -> &str;
    /// Whether the base is OpenAI's own (its model and voice rules are checked locally).
    fn is_openai(&self) -> bool;
}

impl OpenAiApi for OpenAiProvider {
    fn base(&self) -> &str {
        let url = self.rest_url();
        url.strip_suffix(VENDOR.path).unwrap_or(url)
    }

    fn is_openai(&self) -> bool {
        is_openai_base(self.base())
    }
}

impl NetworkVendor for OpenAi {
    const VENDOR: Vendor = VENDOR;
    const TABLE: Table = Table {
        socket: false,
        formats: &[(Encoding::PcmS16le, &[OPENAI_PCM_RATE])],
        fallback: AudioFormat::pcm16_mono(OPENAI_PCM_RATE),
        // There is no language field: the model reads the text's language.
        languages: &[],
        max_text_chars: MAX_INPUT_CHARS,
        max_rest_chars: MAX_INPUT_CHARS,
        speed_range: Some(wire::SPEED_RANGE),
        timestamps: false,
        streaming_input: false,
    };
    const ADVICE: Advice = Advice::of(&VENDOR);
    const NAME: &'static str = "OpenAiProvider";
    const AUTH_SCHEME: &'static str = "Bearer";
    type Settings = OpenAiSettings;
    type Dialect = NoSocket;
    type State = ();

    fn dialect(_: OpenAiSettings, _: Arc<Resolved>) -> NoSocket {
        NoSocket(PROVIDER_ID)
    }

    fn native(s: &OpenAiSettings) -> AudioFormat {
        AudioFormat::pcm16_mono(s.sample_rate)
    }

    fn resolve(s: &OpenAiSettings) -> Result<Resolved> {
        s.resolve()
    }

    /// Against OpenAI's base, a voice the model does not offer is refused before sending.
    fn choose(p: &OpenAiProvider, v: &mut Voicing) -> Result<()> {
        let s = p.settings();
        let voice = VoiceParam::parse(v.voice.as_deref().unwrap_or(&s.voice));
        match wire::voice_model_mismatch(&s.model, &voice) {
            Some(why) if p.is_openai() => Err(TtsError::new(ErrorKind::Unsupported, why)
                .with_provider(PROVIDER_ID)
                .with_scope(ErrorScope::Request)
                .with_hint("pick a voice this model offers, or model = \"gpt-4o-mini-tts\"")),
            _ => Ok(()),
        }
    }

    fn rest(p: &OpenAiProvider, v: &Voicing, text: &str) -> Result<reqwest::RequestBuilder> {
        let s = p.settings();
        let instructions = v
            .extensions
            .get::<Instructions>()
            .map(|i| i.0.clone())
            .or_else(|| s.instructions.clone())
            .filter(|i| !i.trim().is_empty() && !wire::is_tts1(&s.model));
        if instructions
            .as_ref()
            .is_some_and(|i| i.chars().count() > MAX_INPUT_CHARS)
        {
            return Err(TtsError::invalid_input(format!(
                "instructions are over {MAX_INPUT_CHARS} characters"
            ))
            .with_provider(PROVIDER_ID));
        }
        let sse = s.stream_format == StreamFormat::Sse && !wire::is_tts1(&s.model);
        let body = SpeechRequest {
            model: s.model.clone(),
            input: text.to_string(),
            voice: VoiceParam::parse(v.voice.as_deref().unwrap_or(&s.voice)),
            instructions,
            response_format: s.response_format.to_ascii_lowercase(),
            speed: v.speed.or(s.speed),
            stream_format: sse.then(|| StreamFormat::Sse.as_str().to_string()),
        };
        Ok(p.core().ws.http().post(p.rest_url()).json(&body))
    }

    /// The body is read by the answer's `Content-Type`, never by what was asked.
    fn answer(p: &OpenAiProvider, a: Answer) -> Result<AudioStream> {
        let s = p.settings();
        let asked = s.response_format.to_ascii_lowercase();
        speech::read(a, &p.core().resolved, &asked, s.sample_rate)
    }

    async fn voices(p: &OpenAiProvider) -> Result<Vec<Voice>> {
        let s = p.settings();
        let names: Vec<&str> = if !p.is_openai() {
            // A compatible server's voices are its own: only the configured one is known.
            vec![s.voice.as_str()]
        } else if wire::is_tts1(&s.model) {
            wire::TTS1_VOICES.to_vec()
        } else {
            wire::VOICES.to_vec()
        };
        Ok(names
            .into_iter()
            .map(|n| Voice {
                id: n.to_string(),
                name: n.to_string(),
                languages: vec!["auto".into()],
                gender: None,
                provider: PROVIDER_ID.into(),
            })
            .collect())
    }

    fn refused(p: &OpenAiProvider, failure: &HttpFailure<'_>) -> TtsError {
        crate::errors::classify(failure, p.settings())
    }

    async fn diagnose(p: &OpenAiProvider) -> Report {
        crate::diagnose::report(p).await
    }
}

// After xAI (100) and ahead of the offline voices (900, 1000), when `OPENAI_API_KEY` is set.
voxwire_transport::register_network_provider! {
    vendor: OpenAi,
    describe: "OpenAI-compatible speech (POST /audio/speech: OpenAI, or any server speaking its API); needs OPENAI_API_KEY for OpenAI",
    priority: 200,
}

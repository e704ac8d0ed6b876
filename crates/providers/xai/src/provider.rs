//! The xAI provider itself: synthesis over the pooled WebSocket (the
//! transport's driver in the xAI dialect) or REST, sessions, voices, registration.

use std::sync::Arc;

use voxwire_core::session::{StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioFormat, AudioStream, Capabilities, Encoding, Extensions, Result, SynthesisRequest,
    TtsProvider, Voice,
};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::{NetworkCore, Voicing};

use crate::dialect::XaiDialect;
use crate::protocol::{self, OutputFormat, RestRequest, SAMPLE_RATES};
use crate::settings::{Transport, XaiSettings};
use crate::voices::VoiceCache;
use crate::{rest, PROVIDER_ID};

/// The format asked of xAI for a wanted output: the same when xAI offers it,
/// else 24 kHz PCM, converted locally.
pub(crate) fn wire_format(target: AudioFormat) -> AudioFormat {
    if target.channels == 1 && SAMPLE_RATES.contains(&target.sample_rate) {
        target
    } else {
        AudioFormat::mono(Encoding::PcmS16le, 24_000)
    }
}

/// The xAI provider.
#[derive(Clone)]
pub struct XaiProvider {
    pub(crate) inner: Arc<Inner>,
}

/// The parts every network provider holds, with the voice cache.
pub(crate) type Inner = NetworkCore<XaiSettings, XaiDialect, VoiceCache>;

impl std::fmt::Debug for XaiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.debug("XaiProvider", f)
    }
}

impl XaiProvider {
    /// Builds the provider; fails with a `Config` error without a key or with a bad URL.
    pub fn new(settings: XaiSettings) -> Result<Self> {
        let inner = NetworkCore::new(
            PROVIDER_ID,
            settings,
            XaiSettings::resolve,
            |settings, resolved| XaiDialect {
                settings: settings.clone(),
                resolved: resolved.clone(),
            },
            VoiceCache::default(),
        )?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The REST endpoint (`{base}/tts`).
    pub fn rest_url(&self) -> &str {
        self.inner.rest_url()
    }

    /// The WebSocket endpoint (`{base}/tts` with ws/wss).
    pub fn websocket_url(&self) -> &str {
        self.inner.websocket_url()
    }

    /// Opens a WebSocket for the default settings now, so the next request skips the handshake.
    pub async fn prewarm(&self) -> Result<()> {
        self.inner
            .ws
            .prewarm(&self.voicing(None, None, None, None, Extensions::default()))
            .await
    }

    /// Idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.inner.ws.idle_connections()
    }

    pub(crate) fn target(&self, requested: Option<AudioFormat>) -> AudioFormat {
        requested.unwrap_or(AudioFormat::mono(
            self.inner.settings.codec,
            self.inner.settings.sample_rate,
        ))
    }

    pub(crate) fn voicing(
        &self,
        voice: Option<&str>,
        language: Option<&str>,
        speed: Option<f32>,
        format: Option<AudioFormat>,
        extensions: Extensions,
    ) -> Voicing {
        Voicing {
            voice: voice.map(str::to_string),
            language: language.map(str::to_string),
            speed,
            wire: wire_format(self.target(format)),
            extensions,
        }
    }

    pub(crate) async fn synthesize_rest(&self, request: SynthesisRequest) -> Result<AudioStream> {
        let target = self.target(request.format);
        let wire = wire_format(target);
        let s = &self.inner.settings;
        let body = RestRequest {
            voice_id: request.voice.clone().unwrap_or_else(|| s.voice.clone()),
            language: request
                .language
                .clone()
                .unwrap_or_else(|| s.language.clone()),
            output_format: OutputFormat {
                codec: protocol::codec_name(wire.encoding).to_string(),
                sample_rate: Some(wire.sample_rate),
                bit_rate: None,
            },
            speed: request.speed.or(s.speed),
            optimize_streaming_latency: s.optimize_streaming_latency,
            text_normalization: s.text_normalization,
            text: request.text,
        };
        let chunker = Chunker::new(PROVIDER_ID, wire, target, 0)?;
        rest::synthesize(
            self.inner.ws.http(),
            &self.inner.resolved,
            body,
            chunker,
            wire.bytes_per_frame(),
        )
        .await
    }

    async fn synthesize_ws(&self, request: SynthesisRequest) -> Result<AudioStream> {
        let target = self.target(request.format);
        let voicing = self.voicing(
            request.voice.as_deref(),
            request.language.as_deref(),
            request.speed,
            request.format,
            request.extensions,
        );
        self.inner
            .ws
            .synthesize(request.text, voicing, target)
            .await
            .map_err(crate::dialect::scoped)
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for XaiProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!("{PROVIDER_ID} ({})", self.inner.resolved.ws_url)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: true,
            encodings: vec![Encoding::PcmS16le, Encoding::Mulaw, Encoding::Alaw],
            sample_rates: protocol::SAMPLE_RATES.to_vec(),
            native_format: self.target(None),
            languages: protocol::LANGUAGES.iter().map(|l| l.to_string()).collect(),
            max_text_chars: protocol::MAX_TEXT_CHARS,
            timestamps: true,
            speed_range: Some(protocol::SPEED_RANGE),
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        self.inner
            .state
            .get(self.inner.ws.http(), &self.inner.resolved)
            .await
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(protocol::MAX_TEXT_CHARS)?;
        match self.inner.settings.transport {
            Transport::Websocket => self.synthesize_ws(request).await,
            Transport::Rest => self.synthesize_rest(request).await,
        }
    }

    async fn prewarm(&self) -> Result<bool> {
        XaiProvider::prewarm(self).await.map(|()| true)
    }

    async fn diagnose(&self) -> voxwire_core::diagnose::Report {
        self.report().await
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        if let Some(f) = &config.format {
            f.validate()?;
        }
        let target = self.target(config.format);
        let voicing = self.voicing(
            config.voice.as_deref(),
            config.language.as_deref(),
            config.speed,
            config.format,
            config.extensions,
        );
        self.inner
            .ws
            .stream(voicing, target)
            .await
            .map_err(crate::dialect::scoped)
    }
}

// xAI joins the default chain, ahead of the offline voice, when a key is set.
voxwire_transport::register_network_provider! {
    id: PROVIDER_ID,
    describe: "xAI text-to-speech (REST and streaming WebSocket); needs XAI_API_KEY",
    settings: XaiSettings,
    provider: XaiProvider,
    key_var: "XAI_API_KEY",
    priority: 100,
}

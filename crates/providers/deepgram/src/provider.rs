//! The Deepgram provider itself: synthesis over the pooled `/v1/speak`
//! WebSocket (the transport's driver in the Deepgram dialect) or streamed
//! REST, sessions, voices and languages, registration.

use std::sync::Arc;

use voxwire_core::session::{StreamConfig, SynthesisSession};
use voxwire_core::{
    language, AudioFormat, AudioStream, Capabilities, Encoding, Extensions, Result,
    SynthesisRequest, TtsError, TtsProvider, Voice,
};
use voxwire_transport::chunker::Chunker;
use voxwire_transport::{Frame, NetworkCore, Voicing};

use crate::dialect::{scoped, DeepgramDialect};
use crate::protocol::{self, ServerMessage};
use crate::settings::{DeepgramSettings, Transport};
use crate::{rest, PROVIDER_ID};

/// The format asked of Deepgram for a wanted output: the same when Deepgram
/// offers it (linear16 8–48 kHz, mulaw/alaw 8 or 16 kHz, mono), else 24 kHz
/// linear16, converted locally.
pub fn wire_format(target: AudioFormat) -> AudioFormat {
    if target.channels == 1 && protocol::rates_for(target.encoding).contains(&target.sample_rate) {
        target
    } else {
        AudioFormat::mono(Encoding::PcmS16le, 24_000)
    }
}

/// The Deepgram provider.
#[derive(Clone)]
pub struct DeepgramProvider {
    pub(crate) inner: Arc<Inner>,
}

/// The parts every network provider holds.
pub(crate) type Inner = NetworkCore<DeepgramSettings, DeepgramDialect>;

impl std::fmt::Debug for DeepgramProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.debug("DeepgramProvider", f)
    }
}

impl DeepgramProvider {
    /// Builds the provider; fails with a `Config` error without a key or with a bad URL or rate.
    pub fn new(settings: DeepgramSettings) -> Result<Self> {
        let inner = NetworkCore::new(
            PROVIDER_ID,
            settings,
            DeepgramSettings::resolve,
            |settings, resolved| DeepgramDialect {
                settings: settings.clone(),
                resolved: resolved.clone(),
            },
            (),
        )?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The REST endpoint (`{base}/v1/speak`).
    pub fn rest_url(&self) -> &str {
        self.inner.rest_url()
    }

    /// The WebSocket endpoint (`{base}/v1/speak` with ws/wss).
    pub fn websocket_url(&self) -> &str {
        self.inner.websocket_url()
    }

    /// Idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.inner.ws.idle_connections()
    }

    /// Opens a socket for the default voice now (reading its `Metadata`) and
    /// pools it, so the next request skips the handshake.
    pub async fn prewarm(&self) -> Result<()> {
        let voicing = self.voicing(None, None, None, Extensions::default());
        let mut conn = self.inner.ws.open(&voicing).await.map_err(scoped)?;
        // Deepgram greets with Metadata; read it so the pooled socket is clean.
        let limit = self.inner.resolved.first_audio_timeout;
        match conn.recv(limit, "no Metadata").await {
            Ok(Frame::Text(t)) => match protocol::parse_server_message(&t) {
                Ok(ServerMessage::Metadata { .. }) => {}
                other => tracing::debug!(?other, "Deepgram greeted with something else"),
            },
            Ok(Frame::Close { code, reason }) => {
                return Err(protocol::close_error(conn.endpoint(), code, &reason))
            }
            Ok(Frame::Binary(_)) => {}
            Err(e) => return Err(e),
        }
        self.inner.ws.keep(conn).await;
        Ok(())
    }

    /// Closes every pooled socket, each with `{"type":"Close"}` first, so
    /// Deepgram frees the sessions at once (dropped sockets linger and count
    /// against the project's concurrency).
    pub async fn shutdown(&self) {
        self.inner.ws.shutdown().await;
    }

    pub(crate) fn target(&self, requested: Option<AudioFormat>) -> AudioFormat {
        requested.unwrap_or(AudioFormat::mono(
            self.inner.settings.encoding,
            self.inner.settings.sample_rate,
        ))
    }

    /// The model for a request: the voice asked for, else a voice of the
    /// language asked for (the default model when it speaks it), else the default.
    pub(crate) fn model(&self, voice: Option<&str>, lang: Option<&str>) -> Result<String> {
        let default = &self.inner.settings.model;
        let wanted = lang.filter(|l| !language::is_auto(l));
        if let Some(l) = wanted {
            language::normalize(l).map_err(|e| e.with_provider(PROVIDER_ID))?;
        }
        match (voice.filter(|v| !v.trim().is_empty()), wanted) {
            (Some(v), Some(l)) => match protocol::model_language(v) {
                Some(has) if language::lookup(l, &[has]).is_none() => Err(TtsError::new(
                    voxwire_core::ErrorKind::Unsupported,
                    format!("voice `{v}` speaks `{has}`, not `{l}`"),
                )
                .with_scope(voxwire_core::ErrorScope::Request)
                .with_provider(PROVIDER_ID)
                .with_hint("pick an Aura voice of that language, or leave the voice out")),
                _ => Ok(v.to_string()),
            },
            (Some(v), None) => Ok(v.to_string()),
            (None, Some(l)) => {
                if protocol::model_language(default)
                    .is_some_and(|d| language::lookup(l, &[d]).is_some())
                {
                    return Ok(default.clone());
                }
                let langs: Vec<&str> = protocol::MODELS
                    .iter()
                    .map(|m| protocol::model_language(m).unwrap_or(""))
                    .collect();
                language::lookup(l, &langs)
                    .map(|i| protocol::MODELS[i].to_string())
                    .ok_or_else(|| language::unsupported(l, PROVIDER_ID).with_provider(PROVIDER_ID))
            }
            (None, None) => Ok(default.clone()),
        }
    }

    pub(crate) fn voicing(
        &self,
        model: Option<String>,
        speed: Option<f32>,
        format: Option<AudioFormat>,
        extensions: Extensions,
    ) -> Voicing {
        Voicing {
            voice: Some(model.unwrap_or_else(|| self.inner.settings.model.clone())),
            language: None,
            speed,
            wire: wire_format(self.target(format)),
            extensions,
        }
    }

    /// Speaks `request` over streamed REST (`POST /v1/speak`, `container=none`).
    pub async fn synthesize_rest(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(protocol::MAX_REST_CHARS)?;
        let model = self.model(request.voice.as_deref(), request.language.as_deref())?;
        let target = self.target(request.format);
        let voicing = self.voicing(
            Some(model),
            request.speed,
            request.format,
            Extensions::default(),
        );
        let wire = voicing.wire;
        let query = self.inner.ws.dialect().query(&voicing);
        let mut chunker = Chunker::new(PROVIDER_ID, wire, target, 0)?;
        chunker.set_text(&request.text);
        rest::synthesize(
            self.inner.ws.http(),
            &self.inner.resolved,
            query,
            &request.text,
            chunker,
            wire.bytes_per_frame(),
        )
        .await
    }

    /// Speaks `request` over the pooled WebSocket.
    pub async fn synthesize_ws(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(protocol::CHARS_PER_MINUTE)?;
        let model = self.model(request.voice.as_deref(), request.language.as_deref())?;
        let target = self.target(request.format);
        let voicing = self.voicing(
            Some(model),
            request.speed,
            request.format,
            request.extensions,
        );
        self.inner
            .ws
            .synthesize(request.text, voicing, target)
            .await
            .map_err(scoped)
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for DeepgramProvider {
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
            max_text_chars: protocol::CHARS_PER_MINUTE,
            timestamps: false,
            speed_range: None,
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        Ok(protocol::MODELS
            .iter()
            .map(|m| Voice {
                id: m.to_string(),
                name: display_name(m),
                languages: vec![protocol::model_language(m).unwrap_or("en").to_string()],
                gender: None,
                provider: PROVIDER_ID.into(),
            })
            .collect())
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(protocol::CHARS_PER_MINUTE)?;
        let short = request.text.chars().count() <= protocol::MAX_REST_CHARS;
        match self.inner.settings.transport {
            Transport::Rest if short => self.synthesize_rest(request).await,
            _ => self.synthesize_ws(request).await,
        }
    }

    async fn prewarm(&self) -> Result<bool> {
        DeepgramProvider::prewarm(self).await.map(|()| true)
    }

    async fn diagnose(&self) -> voxwire_core::diagnose::Report {
        self.report().await
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        if let Some(f) = &config.format {
            f.validate()?;
        }
        let model = self.model(config.voice.as_deref(), config.language.as_deref())?;
        let target = self.target(config.format);
        let voicing = self.voicing(Some(model), config.speed, config.format, config.extensions);
        self.inner.ws.stream(voicing, target).await.map_err(scoped)
    }
}

/// `aura-2-thalia-en` → `Thalia`, `aura-asteria-en` → `Asteria (Aura 1)`.
fn display_name(model: &str) -> String {
    let (rest, suffix) = match model.strip_prefix("aura-2-") {
        Some(r) => (r, ""),
        None => (model.strip_prefix("aura-").unwrap_or(model), " (Aura 1)"),
    };
    let name = rest.rsplit_once('-').map_or(rest, |(n, _)| n);
    let mut chars = name.chars();
    let cap: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{cap}{suffix}")
}

// Deepgram joins the default chain, after xAI and ahead of the offline voices, when a key is set.
voxwire_transport::register_network_provider! {
    id: PROVIDER_ID,
    describe: "Deepgram Aura text-to-speech (speak WebSocket and streamed REST); needs DEEPGRAM_API_KEY",
    settings: DeepgramSettings,
    provider: DeepgramProvider,
    key_var: "DEEPGRAM_API_KEY",
    priority: 110,
}

//! The xAI provider itself: synthesis over the pooled WebSocket or REST, sessions, registration.

use std::sync::Arc;

use voxwire_core::session::{self as core_session, StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioFormat, AudioStream, Capabilities, Encoding, ProviderConfig, ProviderFactory, Result,
    Secret, SynthesisRequest, TtsError, TtsProvider, Voice,
};

use crate::settings::{Transport, XaiSettings};

use crate::chunker::{wire_format, Chunker};
use crate::generator::spawn_stream;
use crate::pool::Pool;
use crate::protocol::{ClientMessage, OutputFormat, RestRequest, StreamQuery};
use crate::settings::Resolved;
use crate::ws::{Conn, WireEvent};

use crate::{errors, protocol, rest, session, PROVIDER_ID};

/// The xAI provider.
#[derive(Clone)]
pub struct XaiProvider {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) settings: XaiSettings,
    pub(crate) resolved: Arc<Resolved>,
    pub(crate) http: reqwest::Client,
    pub(crate) pool: Pool,
}

impl std::fmt::Debug for XaiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XaiProvider")
            .field("endpoint", &self.inner.resolved.ws_url)
            .field("key", &self.inner.resolved.key)
            .finish()
    }
}

impl XaiProvider {
    /// Builds the provider; fails with a `Config` error without a key or with a bad URL.
    pub fn new(settings: XaiSettings) -> Result<Self> {
        let resolved = settings.resolve().map_err(|e| e.or_provider(PROVIDER_ID))?;
        let http = reqwest::Client::builder()
            .connect_timeout(resolved.connect_timeout)
            .build()
            .map_err(|e| TtsError::config(format!("cannot build the HTTP client: {e}")))?;
        let pool = Pool::new(settings.pool_size, resolved.max_age);
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                resolved: Arc::new(resolved),
                http,
                pool,
            }),
        })
    }

    /// The REST endpoint (`{base}/tts`).
    pub fn rest_url(&self) -> &str {
        &self.inner.resolved.rest_url
    }

    /// The WebSocket endpoint (`{base}/tts` with ws/wss).
    pub fn websocket_url(&self) -> &str {
        &self.inner.resolved.ws_url
    }

    /// Opens a WebSocket for the default settings now, so the next request skips the handshake.
    pub async fn prewarm(&self) -> Result<()> {
        let target = self.target(None);
        let query = self.query(None, None, None, wire_format(target));
        let conn = Conn::open(&self.inner.http, &self.inner.resolved, &query).await?;
        self.inner.pool.put(conn);
        Ok(())
    }

    /// Idle pooled connections (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle()
    }

    pub(crate) fn target(&self, requested: Option<AudioFormat>) -> AudioFormat {
        requested.unwrap_or(AudioFormat::mono(
            self.inner.settings.codec,
            self.inner.settings.sample_rate,
        ))
    }

    pub(crate) fn query(
        &self,
        voice: Option<&str>,
        language: Option<&str>,
        speed: Option<f32>,
        wire: AudioFormat,
    ) -> StreamQuery {
        let s = &self.inner.settings;
        StreamQuery {
            voice: voice.unwrap_or(&s.voice).to_ascii_lowercase(),
            language: language.unwrap_or(&s.language).to_string(),
            codec: protocol::codec_name(wire.encoding).to_string(),
            sample_rate: wire.sample_rate,
            speed: speed.or(s.speed).map(|v| v.to_string()),
            optimize_streaming_latency: s.optimize_streaming_latency,
            text_normalization: s.text_normalization,
            with_timestamps: s.timestamps.then_some(true),
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
        let chunker = Chunker::new(wire, target, 0)?;
        rest::synthesize(&self.inner.http, &self.inner.resolved, body, chunker).await
    }

    /// A pooled connection for `query`, or a new one.
    async fn connection(&self, query: &StreamQuery) -> Result<(Conn, bool)> {
        match self.inner.pool.take(&query.to_query_string()) {
            Some(conn) => Ok((conn, true)),
            None => Ok((
                Conn::open(&self.inner.http, &self.inner.resolved, query).await?,
                false,
            )),
        }
    }

    async fn synthesize_ws(&self, request: SynthesisRequest) -> Result<AudioStream> {
        let target = self.target(request.format);
        let wire = wire_format(target);
        let query = self.query(
            request.voice.as_deref(),
            request.language.as_deref(),
            request.speed,
            wire,
        );
        let delta = ClientMessage::TextDelta {
            delta: request.text.clone(),
        };
        let (mut conn, pooled) = self.connection(&query).await?;
        if let Err(e) = conn.send(&delta).await {
            if !pooled {
                return Err(e);
            }
            // The idle connection died while pooled: one fresh attempt.
            conn = Conn::open(&self.inner.http, &self.inner.resolved, &query).await?;
            conn.send(&delta).await?;
        }
        conn.send(&ClientMessage::TextDone).await?;
        let mut chunker = Chunker::new(wire, target, 0)?;
        chunker.set_text(&request.text);
        let provider = self.clone();
        Ok(spawn_stream(move |out| async move {
            let r = provider.inner.resolved.clone();
            loop {
                let limit = if chunker.got_audio() {
                    r.inactivity_timeout
                } else {
                    r.first_audio_timeout
                };
                let event = match conn.next_event(limit, "no audio").await {
                    Ok(ev) => ev,
                    Err(e) => {
                        out.send(Err(e.scrub(&r.key))).await;
                        return;
                    }
                };
                match event {
                    WireEvent::Audio {
                        data,
                        timestamp_chars,
                    } => {
                        if timestamp_chars > 0 {
                            chunker.covered_chars(timestamp_chars);
                        }
                        if !out.forward(chunker.push(data)).await {
                            return;
                        }
                    }
                    WireEvent::Done => break,
                    WireEvent::Cleared => {
                        let e = errors::protocol(&conn.endpoint, "audio.clear without text.clear");
                        out.send(Err(e)).await;
                        return;
                    }
                }
            }
            if out.forward(chunker.finish(&conn.endpoint)).await {
                provider.inner.pool.put(conn);
            }
        }))
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
        Ok(protocol::VOICES
            .iter()
            .map(|id| Voice {
                id: id.to_string(),
                name: format!("{}{}", id[..1].to_ascii_uppercase(), &id[1..]),
                languages: vec!["auto".into()],
                gender: None,
                provider: PROVIDER_ID.into(),
            })
            .collect())
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(protocol::MAX_TEXT_CHARS)?;
        match self.inner.settings.transport {
            Transport::Websocket => self.synthesize_ws(request).await,
            Transport::Rest => self.synthesize_rest(request).await,
        }
    }

    async fn diagnose(&self) -> voxwire_core::diagnose::Report {
        self.report().await
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        if let Some(f) = &config.format {
            f.validate()?;
        }
        let target = self.target(config.format);
        let wire = wire_format(target);
        let query = self.query(
            config.voice.as_deref(),
            config.language.as_deref(),
            config.speed,
            wire,
        );
        let conn = Conn::open(&self.inner.http, &self.inner.resolved, &query).await?;
        let (session, driver) = core_session::channel(core_session::DEFAULT_QUEUE_CAPACITY);
        tokio::spawn(
            session::SessionTask {
                conn,
                driver,
                resolved: self.inner.resolved.clone(),
                wire,
                target,
            }
            .run(),
        );
        Ok(session)
    }
}

fn build(config: &ProviderConfig) -> Result<Arc<dyn TtsProvider>> {
    let settings: XaiSettings = config.settings()?;
    let settings = settings.with_env(|k| std::env::var(k).ok());
    Ok(Arc::new(XaiProvider::new(settings)?))
}

/// xAI joins the default chain, ahead of the offline voice, when a key is set.
fn default_priority() -> Option<i32> {
    std::env::var("XAI_API_KEY")
        .ok()
        .filter(|k| !Secret::new(k.clone()).is_empty())
        .map(|_| 100)
}

voxwire_core::inventory::submit! {
    ProviderFactory {
        id: PROVIDER_ID,
        describe: "xAI text-to-speech (REST and streaming WebSocket); needs XAI_API_KEY",
        default_priority,
        build,
    }
}

//! The `openai` provider: synthesis, sessions buffered to sentences, voices, registration.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;
use voxwire_core::segment::IncrementalSegmenter;
use voxwire_core::session::{self, DriverInput, SessionDriver, SessionEvent, StreamConfig};
use voxwire_core::{
    AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, ErrorScope, Result,
    SynthesisRequest, TtsError, TtsProvider, Voice,
};

use crate::errors::Context;
use crate::settings::{OpenAiSettings, Resolved, StreamFormat};
use crate::speech::{self, BodyKind, ReadSpec};
use crate::wire::{self, SpeechRequest, VoiceParam, MAX_INPUT_CHARS};
use crate::PROVIDER_ID;

/// A request extension: style direction for this request (`instructions`),
/// over the entry's setting. Ignored by `tts-1*`, which refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instructions(pub String);

/// The OpenAI-compatible speech provider.
#[derive(Clone)]
pub struct OpenAiProvider {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) settings: OpenAiSettings,
    pub(crate) resolved: Resolved,
    pub(crate) http: reqwest::Client,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("endpoint", &self.inner.resolved.speech_url)
            .field("model", &self.inner.settings.model)
            .field("key", &self.inner.resolved.key)
            .finish()
    }
}

impl OpenAiProvider {
    /// Builds the provider; a `Config` error without a key for OpenAI's base, or with a bad URL.
    pub fn new(settings: OpenAiSettings) -> Result<Self> {
        let resolved = settings.resolve().map_err(|e| e.or_provider(PROVIDER_ID))?;
        let http = voxwire_transport::http_client(resolved.connect_timeout)
            .map_err(|e| e.or_provider(PROVIDER_ID))?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                resolved,
                http,
            }),
        })
    }

    /// `{base}/audio/speech`.
    pub fn speech_url(&self) -> &str {
        &self.inner.resolved.speech_url
    }

    /// Whether the base is OpenAI's own (its model and voice rules are checked locally).
    pub fn is_openai(&self) -> bool {
        self.inner.resolved.is_openai
    }

    /// The model every request asks for.
    pub fn model(&self) -> &str {
        &self.inner.settings.model
    }

    pub(crate) fn context(&self) -> Context<'_> {
        Context {
            model: &self.inner.settings.model,
            key_env: &self.inner.settings.api_key_env,
        }
    }

    /// The format `pcm` answers arrive in.
    fn native(&self) -> AudioFormat {
        AudioFormat::pcm16_mono(self.inner.settings.sample_rate)
    }

    /// The body sent for `request`, after the local checks.
    pub(crate) fn body(&self, request: &SynthesisRequest) -> Result<SpeechRequest> {
        let s = &self.inner.settings;
        let voice = VoiceParam::parse(request.voice.as_deref().unwrap_or(&s.voice));
        if self.inner.resolved.is_openai {
            if let Some(why) = wire::voice_model_mismatch(&s.model, &voice) {
                return Err(TtsError::new(ErrorKind::Unsupported, why)
                    .with_provider(PROVIDER_ID)
                    .with_scope(ErrorScope::Request)
                    .with_hint("pick a voice this model offers, or model = \"gpt-4o-mini-tts\""));
            }
        }
        let instructions = request
            .extensions
            .get::<Instructions>()
            .map(|i| i.0.clone())
            .or_else(|| s.instructions.clone())
            .filter(|i| !i.trim().is_empty() && !wire::is_tts1(&s.model));
        if let Some(i) = &instructions {
            if i.chars().count() > MAX_INPUT_CHARS {
                return Err(TtsError::invalid_input(format!(
                    "instructions are over {MAX_INPUT_CHARS} characters"
                ))
                .with_provider(PROVIDER_ID));
            }
        }
        let sse = s.stream_format == StreamFormat::Sse && !wire::is_tts1(&s.model);
        Ok(SpeechRequest {
            model: s.model.clone(),
            input: request.text.clone(),
            voice,
            instructions,
            response_format: s.response_format.to_ascii_lowercase(),
            speed: request.speed.or(s.speed),
            stream_format: sse.then(|| StreamFormat::Sse.as_str().to_string()),
        })
    }

    /// One request: local checks, the POST, the body as a stream.
    pub(crate) async fn speak(&self, request: SynthesisRequest) -> Result<AudioStream> {
        request.validate(MAX_INPUT_CHARS)?;
        let body = self.body(&request)?;
        let r = &self.inner.resolved;
        let (response, started) = speech::open(&self.inner.http, r, self.context(), &body).await?;
        let asked = BodyKind::asked(&body.response_format, self.inner.settings.sample_rate);
        let content_type = voxwire_transport::http::header(response.headers(), "content-type");
        let kind = BodyKind::from_content_type(
            content_type.as_deref(),
            &body.response_format,
            self.inner.settings.sample_rate,
        );
        tracing::debug!(
            provider = PROVIDER_ID,
            content_type = content_type.as_deref().unwrap_or(""),
            ?kind,
            "speech answer"
        );
        speech::read(
            response,
            started,
            r,
            ReadSpec {
                kind,
                asked,
                target: request.format,
                text: request.text,
            },
        )
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for OpenAiProvider {
    fn id(&self) -> &str {
        PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!(
            "{PROVIDER_ID} ({}, {})",
            self.inner.resolved.speech_url, self.inner.settings.model
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![self.inner.settings.sample_rate],
            native_format: self.native(),
            // There is no language field: the model reads the text's language.
            languages: Vec::new(),
            max_text_chars: MAX_INPUT_CHARS,
            timestamps: false,
            speed_range: Some(wire::SPEED_RANGE),
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        let s = &self.inner.settings;
        let names: Vec<&str> = if !self.inner.resolved.is_openai {
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

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        self.speak(request).await
    }

    async fn diagnose(&self) -> voxwire_core::diagnose::Report {
        self.report().await
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        if let Some(f) = &config.format {
            f.validate()?;
        }
        let (session, driver) = session::channel(session::DEFAULT_QUEUE_CAPACITY);
        // Owned by the session: it ends when the caller finishes or drops it.
        tokio::spawn(run_session(self.clone(), driver, config));
        Ok(session)
    }
}

use voxwire_core::session::SynthesisSession;

/// What the session speaks next.
enum Queued {
    Sentence(String),
    Done(u64),
}

type Opening = Pin<Box<dyn Future<Output = Result<AudioStream>> + Send>>;

/// The request in flight: being opened, or streaming.
enum InFlight {
    Idle,
    Opening(Opening),
    Streaming(AudioStream),
}

enum Step {
    Opened(Result<AudioStream>),
    Chunk(Option<Result<voxwire_core::AudioChunk>>),
}

async fn advance(flight: &mut InFlight) -> Step {
    match flight {
        InFlight::Idle => std::future::pending().await,
        InFlight::Opening(f) => Step::Opened(f.await),
        InFlight::Streaming(s) => Step::Chunk(s.next().await),
    }
}

/// Drives a session: text is cut into sentences as it arrives
/// (the router's segmenter), one POST per sentence, in order; cancel drops
/// the request in flight (closing its connection) and everything queued.
async fn run_session(provider: OpenAiProvider, mut driver: SessionDriver, config: StreamConfig) {
    let mut segmenter = IncrementalSegmenter::new();
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut flight = InFlight::Idle;
    let mut watch = driver.cancel_watch();
    let mut sequence = 0u64;
    let mut input_open = true;
    loop {
        while matches!(flight, InFlight::Idle) {
            match queue.pop_front() {
                Some(Queued::Sentence(text)) if text.trim().is_empty() => {}
                Some(Queued::Sentence(text)) => {
                    let p = provider.clone();
                    let request = config.request(text);
                    watch = driver.cancel_watch();
                    flight = InFlight::Opening(Box::pin(async move { p.speak(request).await }));
                }
                Some(Queued::Done(id)) => {
                    if driver
                        .emit(SessionEvent::UtteranceDone { id })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                None if !input_open => return,
                None => break,
            }
        }
        tokio::select! {
            input = driver.next_input(), if input_open => match input {
                None => input_open = false,
                Some(DriverInput::Text(text)) => {
                    for s in segmenter.push(&text) {
                        queue.push_back(Queued::Sentence(s));
                    }
                }
                Some(DriverInput::Flush { id }) => {
                    flush(&mut segmenter, &mut queue);
                    queue.push_back(Queued::Done(id));
                }
                Some(DriverInput::Finish) => {
                    flush(&mut segmenter, &mut queue);
                    input_open = false;
                }
                Some(DriverInput::Cancel { generation }) => {
                    flight = InFlight::Idle; // drops the request: its connection closes
                    queue.clear();
                    segmenter = IncrementalSegmenter::new();
                    if driver.emit(SessionEvent::Cleared { generation }).await.is_err() {
                        return;
                    }
                }
            },
            step = advance(&mut flight) => match step {
                Step::Opened(Ok(stream)) => flight = InFlight::Streaming(stream),
                Step::Opened(Err(e)) | Step::Chunk(Some(Err(e))) => return driver.fail(e).await,
                Step::Chunk(None) => flight = InFlight::Idle,
                Step::Chunk(Some(Ok(mut chunk))) => {
                    chunk.sequence = sequence;
                    sequence += 1;
                    match driver.emit_unless_cancelled(SessionEvent::Audio(chunk), &watch).await {
                        Ok(true) => {}
                        Ok(false) => flight = InFlight::Idle, // the Cancel input comes next
                        Err(session::Closed) => return,
                    }
                }
            },
        }
    }
}

/// The end of an utterance: what the segmenter holds, cut into sentences.
fn flush(segmenter: &mut IncrementalSegmenter, queue: &mut VecDeque<Queued>) {
    if let Some(rest) = segmenter.flush() {
        for range in voxwire_core::segment::sentences(&rest) {
            queue.push_back(Queued::Sentence(rest[range].to_string()));
        }
    }
}

// After xAI (100) and ahead of the offline voices (900, 1000), when `OPENAI_API_KEY` is set.
voxwire_transport::register_network_provider! {
    id: PROVIDER_ID,
    describe: "OpenAI-compatible speech (POST /audio/speech: OpenAI, or any server speaking its API); needs OPENAI_API_KEY for OpenAI",
    settings: OpenAiSettings,
    provider: OpenAiProvider,
    key_var: crate::settings::DEFAULT_KEY_VARIABLE,
    priority: 200,
}

//! A scriptable in-process provider, for router and edge tests.
//!
//! Its audio is the mock xAI server's ([`crate::mock_xai::expected_audio`]),
//! so a test can mix the two and still compare bytes sentence by sentence.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::session::{self, StreamConfig, SynthesisSession};
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, Result, SynthesisRequest,
    TtsError, TtsProvider, Voice,
};

use crate::mock_xai::expected_audio;

/// What one call does.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Speak the text, in chunks of `chunk_bytes`.
    Speak,
    /// Fail before any audio.
    Fail(TtsError),
    /// Send this many chunks, then fail.
    FailAfter(usize, TtsError),
    /// Send nothing, ever (until dropped).
    Stall,
    /// Wait this long between chunks.
    Slow(Duration),
    /// Wait this long before the first chunk, then speak at once: a
    /// provider with this first-audio latency.
    FirstAudioAfter(Duration),
    /// Wait this long between chunks, send this many, then fail: a provider
    /// dying mid-stream at its own pace (the router hands its audio on as it
    /// comes, so the part before the failure reaches the caller).
    SlowFailAfter(Duration, usize, TtsError),
}

#[derive(Debug)]
struct State {
    script: VecDeque<Behaviour>,
    then: Behaviour,
    calls: Vec<String>,
    /// Streams dropped before their end (the caller cancelled them).
    cancelled: usize,
}

/// A provider that does what it is told, call by call, and remembers every text.
#[derive(Debug, Clone)]
pub struct FakeProvider {
    id: &'static str,
    format: AudioFormat,
    chunk_bytes: usize,
    max_text_chars: usize,
    state: Arc<Mutex<State>>,
}

impl FakeProvider {
    /// A fake that speaks every call (24 kHz PCM, 4 KiB chunks).
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            format: AudioFormat::pcm16_mono(24_000),
            chunk_bytes: 4096,
            max_text_chars: 15_000,
            state: Arc::new(Mutex::new(State {
                script: VecDeque::new(),
                then: Behaviour::Speak,
                calls: Vec::new(),
                cancelled: 0,
            })),
        }
    }

    /// Calls 0, 1, … follow `script`; later calls do `then`.
    pub fn scripted(self, script: Vec<Behaviour>, then: Behaviour) -> Self {
        {
            let mut s = self.lock();
            s.script = script.into();
            s.then = then;
        }
        self
    }

    /// Changes what later calls do (the script is dropped).
    pub fn set(&self, then: Behaviour) {
        let mut s = self.lock();
        s.script.clear();
        s.then = then;
    }

    /// Sets the most characters it accepts per request.
    pub fn with_max_text_chars(mut self, max: usize) -> Self {
        self.max_text_chars = max;
        self
    }

    /// Sets its native format.
    pub fn with_format(mut self, format: AudioFormat) -> Self {
        self.format = format;
        self
    }

    /// Every text it was asked to speak, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Characters of every text it was asked to speak.
    pub fn chars_sent(&self) -> usize {
        self.lock().calls.iter().map(|t| t.chars().count()).sum()
    }

    /// How many of its streams were dropped before their end: requests the
    /// caller cancelled.
    pub fn cancelled(&self) -> usize {
        self.lock().cancelled
    }

    /// As an `Arc<dyn TtsProvider>`.
    pub fn arc(&self) -> Arc<dyn TtsProvider> {
        Arc::new(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[voxwire_core::async_trait]
impl TtsProvider for FakeProvider {
    fn id(&self) -> &str {
        self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![self.format.sample_rate],
            native_format: self.format,
            languages: vec!["en".into()],
            max_text_chars: self.max_text_chars,
            timestamps: false,
            speed_range: None,
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        Ok(vec![Voice {
            id: "fake".into(),
            name: "Fake".into(),
            languages: vec!["en".into()],
            gender: None,
            provider: self.id.into(),
        }])
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        if request.text.chars().count() > self.max_text_chars {
            return Err(TtsError::new(
                voxwire_core::ErrorKind::InvalidRequest,
                format!("over {} characters", self.max_text_chars),
            )
            .with_provider(self.id));
        }
        let behaviour = {
            let mut s = self.lock();
            s.calls.push(request.text.clone());
            let then = s.then.clone();
            s.script.pop_front().unwrap_or(then)
        };
        if let Behaviour::Fail(e) = behaviour {
            return Err(e.or_provider(self.id));
        }
        let audio = Bytes::from(expected_audio(&request.text, self.format));
        let frame = self.format.bytes_per_frame();
        let chunk_bytes = (self.chunk_bytes / frame).max(1) * frame;
        let pieces: Vec<Bytes> = (0..audio.len())
            .step_by(chunk_bytes)
            .map(|i| audio.slice(i..(i + chunk_bytes).min(audio.len())))
            .collect();
        let format = self.format;
        let id = self.id;
        let items = futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, data)| {
            let behaviour = behaviour.clone();
            async move {
                match behaviour {
                    Behaviour::Stall => std::future::pending::<()>().await,
                    Behaviour::Slow(d) | Behaviour::SlowFailAfter(d, ..) => {
                        tokio::time::sleep(d).await
                    }
                    Behaviour::FirstAudioAfter(d) if i == 0 => tokio::time::sleep(d).await,
                    _ => {}
                }
                match behaviour {
                    Behaviour::FailAfter(n, e) | Behaviour::SlowFailAfter(_, n, e) if i >= n => {
                        Err(e.or_provider(id))
                    }
                    _ => Ok(AudioChunk {
                        data,
                        format,
                        sequence: i as u64,
                        span: None,
                        times: None,
                        words: Vec::new(),
                    }),
                }
            }
        });
        // Stop after the first error, as providers do.
        let mut failed = false;
        let stream = items.take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        });
        // Counts a stream dropped before its end as cancelled.
        let stream = Guarded {
            inner: Box::pin(stream),
            state: self.state.clone(),
            ended: false,
        };
        Ok(Box::pin(stream))
    }

    async fn stream(&self, config: StreamConfig) -> Result<SynthesisSession> {
        let (session, task) = session::buffered(self.clone(), config, self.max_text_chars);
        tokio::spawn(task);
        Ok(session)
    }
}

/// A fake's stream: counted as cancelled when dropped before its end.
struct Guarded {
    inner: AudioStream,
    state: Arc<Mutex<State>>,
    ended: bool,
}

impl futures::Stream for Guarded {
    type Item = Result<AudioChunk>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        // Its end, or an error (after which providers send nothing).
        if let std::task::Poll::Ready(None | Some(Err(_))) = next {
            self.ended = true;
        }
        next
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if !self.ended {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.cancelled += 1;
        }
    }
}

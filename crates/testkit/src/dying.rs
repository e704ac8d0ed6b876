//! A provider whose streams all die at one moment: a whole entry failing
//! whichever sentences it is speaking, for failover tests and benches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, Result, StreamConfig,
    SynthesisRequest, SynthesisSession, TtsError, TtsProvider, Voice, WordTime,
};

use crate::mock_xai::{expected_audio, expected_words};

/// Its chunk size, as the fake provider's.
pub const CHUNK: usize = 4096;

/// How a [`Dying`] provider's streams end once its budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// Every open stream ends with an `Unavailable` error.
    Error,
    /// Every open stream goes silent (a stall the inactivity timeout catches).
    Stall,
}

/// Speaks like the fake provider (its audio is `expected_audio`, 24 kHz PCM,
/// [`CHUNK`]-byte chunks), one chunk every `pace`, until it has sent `budget`
/// bytes over all its streams: then every stream still open dies (after one
/// more `pace`, so the router has handed on what came before), and every
/// later request is refused.
#[derive(Debug, Clone)]
pub struct Dying {
    id: &'static str,
    budget: usize,
    pace: Duration,
    death: Death,
    word_times: bool,
    sent: Arc<AtomicUsize>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Dying {
    /// Dies with an error after `budget` bytes, sending a chunk every `pace`.
    pub fn new(id: &'static str, budget: usize, pace: Duration) -> Self {
        Self {
            id,
            budget,
            pace,
            death: Death::Error,
            word_times: false,
            sent: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// Dies this way instead.
    pub fn dying_by(mut self, death: Death) -> Self {
        self.death = death;
        self
    }

    /// Reports word times, as xAI does: each chunk carries the words whose
    /// audio ends within it (`expected_words`), the last chunk any left.
    pub fn with_word_times(mut self) -> Self {
        self.word_times = true;
        self
    }

    /// Every text it was asked to speak.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// As an `Arc<dyn TtsProvider>`.
    pub fn arc(&self) -> Arc<dyn TtsProvider> {
        Arc::new(self.clone())
    }
}

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

#[voxwire_core::async_trait]
impl TtsProvider for Dying {
    fn id(&self) -> &str {
        self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![24_000],
            native_format: pcm(),
            languages: vec!["en".into()],
            max_text_chars: 10_000,
            timestamps: self.word_times,
            speed_range: None,
        }
    }

    async fn voices(&self) -> Result<Vec<Voice>> {
        Ok(vec![])
    }

    async fn synthesize(&self, request: SynthesisRequest) -> Result<AudioStream> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.text.clone());
        if self.sent.load(Ordering::SeqCst) >= self.budget {
            return Err(TtsError::new(ErrorKind::Unavailable, "it is gone").with_provider(self.id));
        }
        let audio = Bytes::from(expected_audio(&request.text, pcm()));
        let mut words = if self.word_times {
            expected_words(&request.text)
        } else {
            Vec::new()
        };
        let format = pcm();
        let starts: Vec<usize> = (0..audio.len()).step_by(CHUNK).collect();
        let last = starts.len().saturating_sub(1);
        let chunks: Vec<(Bytes, Vec<WordTime>)> = starts
            .into_iter()
            .enumerate()
            .map(|(n, i)| {
                let end = (i + CHUNK).min(audio.len());
                let until = format.duration_of(end);
                let done = if n == last {
                    words.len()
                } else {
                    words.iter().take_while(|w| w.end <= until).count()
                };
                (audio.slice(i..end), words.drain(..done).collect())
            })
            .collect();
        let (sent, budget, pace, death, id) = (
            self.sent.clone(),
            self.budget,
            self.pace,
            self.death,
            self.id,
        );
        let stream = futures::stream::iter(chunks.into_iter().enumerate()).then(
            move |(i, (data, words))| {
                let sent = sent.clone();
                async move {
                    tokio::time::sleep(pace).await;
                    let before = sent.fetch_add(data.len(), Ordering::SeqCst);
                    if before + data.len() > budget {
                        sent.fetch_max(budget, Ordering::SeqCst);
                        if death == Death::Stall {
                            std::future::pending::<()>().await;
                        }
                        return Err(TtsError::new(ErrorKind::Unavailable, "connection reset")
                            .with_provider(id));
                    }
                    Ok(AudioChunk {
                        data,
                        format: pcm(),
                        sequence: i as u64,
                        span: None,
                        times: None,
                        words,
                    })
                }
            },
        );
        // Stop after the first error, as providers do.
        let mut failed = false;
        Ok(Box::pin(stream.take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        })))
    }

    async fn stream(&self, _: StreamConfig) -> Result<SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not used"))
    }
}

//! A provider that dies: shared by the failover and routing tests.

#![allow(dead_code)] // each test crate uses part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, StreamConfig,
    SynthesisRequest, SynthesisSession, TtsError, TtsProvider, Voice,
};
use voxwire_testkit::mock_xai::expected_audio;

/// Its chunk size, as the testkit's fake's.
pub const CHUNK: usize = 4096;

/// Speaks like the testkit's fake (its audio is `expected_audio`, 24 kHz PCM,
/// 4096-byte chunks), one chunk every `pace`, until it has sent `budget`
/// bytes over all its streams: then every stream still open ends with an
/// error (after one more `pace`, so the router has handed on what came
/// before), and every later request is refused. A whole entry dying at one
/// moment, whichever sentences it is speaking.
#[derive(Clone)]
pub struct Dying {
    id: &'static str,
    budget: usize,
    pace: Duration,
    sent: Arc<AtomicUsize>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Dying {
    /// Dies after `budget` bytes, sending a chunk every `pace`.
    pub fn new(id: &'static str, budget: usize, pace: Duration) -> Self {
        Self {
            id,
            budget,
            pace,
            sent: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// Every text it was asked to speak.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
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
            timestamps: false,
            speed_range: None,
        }
    }
    async fn voices(&self) -> voxwire_core::Result<Vec<Voice>> {
        Ok(vec![])
    }
    async fn synthesize(&self, request: SynthesisRequest) -> voxwire_core::Result<AudioStream> {
        self.calls.lock().unwrap().push(request.text.clone());
        if self.sent.load(Ordering::SeqCst) >= self.budget {
            return Err(TtsError::new(ErrorKind::Unavailable, "it is gone").with_provider(self.id));
        }
        let audio = Bytes::from(expected_audio(&request.text, pcm()));
        let chunks: Vec<Bytes> = (0..audio.len())
            .step_by(CHUNK)
            .map(|i| audio.slice(i..(i + CHUNK).min(audio.len())))
            .collect();
        let (sent, budget, pace, id) = (self.sent.clone(), self.budget, self.pace, self.id);
        let stream =
            futures::stream::iter(chunks.into_iter().enumerate()).then(move |(i, data)| {
                let sent = sent.clone();
                async move {
                    tokio::time::sleep(pace).await;
                    let before = sent.fetch_add(data.len(), Ordering::SeqCst);
                    if before + data.len() > budget {
                        sent.fetch_max(budget, Ordering::SeqCst);
                        return Err(TtsError::new(ErrorKind::Unavailable, "connection reset")
                            .with_provider(id));
                    }
                    Ok(AudioChunk {
                        data,
                        format: pcm(),
                        sequence: i as u64,
                        span: None,
                        times: None,
                    })
                }
            });
        let mut failed = false;
        Ok(Box::pin(stream.take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        })))
    }
    async fn stream(&self, _: StreamConfig) -> voxwire_core::Result<SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not used"))
    }
}

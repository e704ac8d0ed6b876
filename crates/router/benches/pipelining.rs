//! Pipelining: six short sentences against the same words as one sentence,
//! through the router over a fake provider whose first audio comes after
//! 300 ms (then chunks 10x faster than real time). The default lookahead,
//! lookahead 1 and 0 (one sentence at a time) measured in the same run,
//! interleaved; medians, ratios against the one sentence of the same run.
//! The cold cases build a new router for each request, as a one-shot
//! `voxwire say` does: its entry is not proven yet.
//! Prints a table; run with `cargo bench -p voxwire-router --bench pipelining`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, StreamConfig,
    SynthesisRequest, SynthesisSession, TtsError, TtsProvider, Voice,
};
use voxwire_router::{Policy, Router, RouterSettings, DEFAULT_LOOKAHEAD};

const SIX: &str = "Yes. No. Maybe. Sure thing. Okay then. Right away.";
const ONE: &str = "Yes no maybe sure thing okay then right away.";
const FIRST_AUDIO: Duration = Duration::from_millis(300);
const ROUNDS: usize = 7;
/// Audio the fake produces per character, and the pace it is delivered at.
const MS_PER_CHAR: u64 = 4;
const CHUNK_MS: u64 = 20;

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

/// 300 ms to first audio, then 20 ms chunks delivered 10× faster than real time.
struct Slow;

#[voxwire_core::async_trait]
impl TtsProvider for Slow {
    fn id(&self) -> &str {
        "slow"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            streaming_input: false,
            encodings: vec![Encoding::PcmS16le],
            sample_rates: vec![24_000],
            native_format: pcm(),
            languages: vec![],
            max_text_chars: 10_000,
            timestamps: false,
            speed_range: None,
        }
    }
    async fn voices(&self) -> voxwire_core::Result<Vec<Voice>> {
        Ok(vec![])
    }
    async fn synthesize(&self, request: SynthesisRequest) -> voxwire_core::Result<AudioStream> {
        let total_ms = request.text.chars().count() as u64 * MS_PER_CHAR;
        let chunks = total_ms.div_ceil(CHUNK_MS);
        let bytes = pcm().bytes_per_frame() * (24 * CHUNK_MS as usize);
        Ok(Box::pin(futures::stream::iter(0..chunks).then(
            move |i| async move {
                let wait = if i == 0 {
                    FIRST_AUDIO
                } else {
                    Duration::from_millis(CHUNK_MS / 10)
                };
                tokio::time::sleep(wait).await;
                Ok(AudioChunk {
                    data: Bytes::from(vec![0u8; bytes]),
                    format: pcm(),
                    sequence: i,
                    span: None,
                    times: None,
                    words: Vec::new(),
                })
            },
        )))
    }
    async fn stream(&self, _: StreamConfig) -> voxwire_core::Result<SynthesisSession> {
        Err(TtsError::new(ErrorKind::Unsupported, "not used"))
    }
}

async fn total(router: &Router, text: &str) -> Duration {
    let started = Instant::now();
    let mut stream = router
        .synthesize(SynthesisRequest::new(text).format(pcm()))
        .await
        .expect("synthesize");
    while let Some(chunk) = stream.next().await {
        chunk.expect("chunk");
    }
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let provider: Arc<dyn TtsProvider> = Arc::new(Slow);
        let router = |lookahead| {
            Router::new(
                vec![(provider.clone(), Policy::default())],
                RouterSettings {
                    lookahead,
                    ..RouterSettings::default()
                },
            )
            .expect("router")
        };
        let pipelined = router(DEFAULT_LOOKAHEAD);
        let shallow = router(1);
        let serial = router(0);
        let (mut one, mut six, mut six_shallow, mut six_serial) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut cold_one, mut cold_six) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            one.push(total(&pipelined, ONE).await);
            six.push(total(&pipelined, SIX).await);
            six_shallow.push(total(&shallow, SIX).await);
            six_serial.push(total(&serial, SIX).await);
            cold_one.push(total(&router(DEFAULT_LOOKAHEAD), ONE).await);
            cold_six.push(total(&router(DEFAULT_LOOKAHEAD), SIX).await);
        }
        let (cold_one, cold_six) = (median(cold_one), median(cold_six));
        let (one, six, six_shallow, six_serial) = (
            median(one),
            median(six),
            median(six_shallow),
            median(six_serial),
        );
        let ratio = |d: Duration| d.as_secs_f64() / one.as_secs_f64();
        println!(
            "pipelining: first audio {} ms, {ROUNDS} interleaved rounds, medians",
            FIRST_AUDIO.as_millis()
        );
        println!("| case | total | vs one sentence |");
        println!("|---|---|---|");
        println!("| one sentence | {} ms | 1.00× |", one.as_millis());
        println!(
            "| six sentences, lookahead {DEFAULT_LOOKAHEAD} (default) | {} ms | {:.2}× |",
            six.as_millis(),
            ratio(six)
        );
        println!(
            "| six sentences, lookahead 1 | {} ms | {:.2}× |",
            six_shallow.as_millis(),
            ratio(six_shallow)
        );
        println!(
            "| six sentences, lookahead 0 | {} ms | {:.2}× |",
            six_serial.as_millis(),
            ratio(six_serial)
        );
        println!(
            "| one sentence, cold router (one-shot `say`) | {} ms | {:.2}× (1.00× of cold) |",
            cold_one.as_millis(),
            ratio(cold_one)
        );
        println!(
            "| six sentences, cold router (one-shot `say`) | {} ms | {:.2}× ({:.2}× of cold) |",
            cold_six.as_millis(),
            ratio(cold_six),
            cold_six.as_secs_f64() / cold_one.as_secs_f64()
        );
    });
}

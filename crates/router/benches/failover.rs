//! Failover without repeats: six sentences, pipelined at the default
//! lookahead, through a router whose primary dies once it has sent a given
//! amount of audio over all its streams at once (a mid-stream error, or a
//! stall caught by the inactivity timeout), at a sweep of points; a healthy
//! backup speaks the rest. Every character's audio is testkit's
//! `expected_audio`, so the audio heard is parsed back into the sentences:
//! characters lost (must be 0), audio heard twice, and sentences heard
//! partly twice. Prints a table; run with
//! `cargo bench -p voxwire-router --bench failover`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use voxwire_core::{
    AudioChunk, AudioFormat, AudioStream, Capabilities, Encoding, ErrorKind, StreamConfig,
    SynthesisRequest, SynthesisSession, TtsError, TtsProvider, Voice,
};
use voxwire_router::{Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::expected_audio;

const SENTENCES: [&str; 6] = [
    "The first sentence is here. ",
    "Then comes a second one. ",
    "A third follows it. ",
    "The fourth is longer than most. ",
    "Fifth in line. ",
    "And the sixth ends it.",
];
/// The primary's chunk size and the pause before each chunk.
const CHUNK: usize = 4096;
const PACE: Duration = Duration::from_millis(4);
const ROUNDS: usize = 3;

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

#[derive(Clone, Copy, Debug)]
enum Death {
    /// Every stream ends with an error.
    Error,
    /// Every stream goes silent.
    Stall,
}

/// A primary whose streams all die once `budget` bytes of audio were sent
/// over all of them (and which refuses every request after that).
struct Dying {
    budget: usize,
    death: Death,
    sent: Arc<AtomicUsize>,
}

#[voxwire_core::async_trait]
impl TtsProvider for Dying {
    fn id(&self) -> &str {
        "primary"
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
        if self.sent.load(Ordering::SeqCst) >= self.budget {
            return Err(TtsError::new(ErrorKind::Unavailable, "it is gone"));
        }
        let audio = Bytes::from(expected_audio(&request.text, pcm()));
        let chunks: Vec<Bytes> = (0..audio.len())
            .step_by(CHUNK)
            .map(|i| audio.slice(i..(i + CHUNK).min(audio.len())))
            .collect();
        let (sent, budget, death) = (self.sent.clone(), self.budget, self.death);
        let stream =
            futures::stream::iter(chunks.into_iter().enumerate()).then(move |(i, data)| {
                let sent = sent.clone();
                async move {
                    tokio::time::sleep(PACE).await;
                    let before = sent.fetch_add(data.len(), Ordering::SeqCst);
                    if before + data.len() > budget {
                        sent.fetch_max(budget, Ordering::SeqCst);
                        match death {
                            Death::Error => {
                                return Err(TtsError::new(
                                    ErrorKind::Unavailable,
                                    "connection reset",
                                ))
                            }
                            Death::Stall => std::future::pending::<()>().await,
                        }
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

/// What was heard, parsed back into the sentences.
#[derive(Default, Clone, Copy)]
struct Heard {
    /// Characters of sentences never heard whole.
    lost: usize,
    /// Bytes of audio heard a second time.
    twice: usize,
    /// Sentences heard partly twice.
    repeated: usize,
}

/// Parses `out` as, per sentence in order, any number of cut-off starts of
/// it (each a whole number of the primary's chunks) and then all of it.
fn parse(out: &[u8]) -> Heard {
    let mut heard = Heard::default();
    let mut p = 0;
    for sentence in SENTENCES {
        let whole = expected_audio(sentence, pcm());
        let mut at = p;
        let mut twice = 0;
        let found = loop {
            if out[at..].starts_with(&whole) {
                break true;
            }
            // A cut-off start, then the sentence again.
            let cut = (1..)
                .map(|n| n * CHUNK)
                .take_while(|&l| l < whole.len() && at + l <= out.len())
                .filter(|&l| out[at..at + l] == whole[..l])
                .find(|&l| out[at + l..].starts_with(&whole[..CHUNK.min(whole.len())]));
            match cut {
                Some(l) => {
                    twice += l;
                    at += l;
                }
                None => break false,
            }
        };
        if found {
            p = at + whole.len();
            heard.twice += twice;
            heard.repeated += usize::from(twice > 0);
        } else {
            heard.lost += sentence.chars().count();
        }
    }
    if p != out.len() {
        // Audio left over that is no sentence: count it all as lost.
        heard.lost += 1;
    }
    heard
}

async fn run(budget: usize, death: Death) -> (Heard, usize) {
    let primary = Dying {
        budget,
        death,
        sent: Arc::default(),
    };
    let policy = Policy {
        max_retries: 0,
        inactivity_timeout_ms: 150,
        first_audio_timeout_ms: Some(1_000),
        ..Policy::default()
    };
    let router = Router::new(
        vec![
            (Arc::new(primary) as Arc<dyn TtsProvider>, policy.clone()),
            (FakeProvider::new("backup").arc(), policy),
        ],
        RouterSettings::default(),
    )
    .expect("router");
    let mut events = router.subscribe();
    let text: String = SENTENCES.concat();
    let mut stream = router
        .synthesize(SynthesisRequest::new(text).format(pcm()))
        .await
        .expect("synthesize");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk").data);
    }
    let mut failovers = 0;
    while let Ok(ev) = events.try_recv() {
        failovers += usize::from(matches!(ev, RouterEvent::Failover { .. }));
    }
    (parse(&out), failovers)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let total: usize = SENTENCES
        .iter()
        .map(|s| expected_audio(s, pcm()).len())
        .sum();
    let seconds = |bytes: usize| bytes as f64 / f64::from(pcm().sample_rate * 2);
    println!(
        "failover: six sentences ({:.1} s of audio), default lookahead, primary dies after a share of it; worst of {ROUNDS} rounds",
        seconds(total)
    );
    println!("| primary dies | after | characters lost | heard twice | sentences heard partly twice | failover events |");
    println!("|---|---|---|---|---|---|");
    rt.block_on(async {
        for death in [Death::Error, Death::Stall] {
            for share in [0.05, 0.15, 0.3, 0.45, 0.6, 0.75] {
                let budget = (total as f64 * share) as usize;
                let mut worst = Heard::default();
                let mut events = 0;
                for _ in 0..ROUNDS {
                    let (heard, failovers) = run(budget, death).await;
                    worst.lost = worst.lost.max(heard.lost);
                    worst.twice = worst.twice.max(heard.twice);
                    worst.repeated = worst.repeated.max(heard.repeated);
                    events = events.max(failovers);
                }
                let how = match death {
                    Death::Error => "mid-stream error",
                    Death::Stall => "stall (150 ms inactivity)",
                };
                println!(
                    "| {how} | {:.1} s ({:.0} %) | {} | {:.2} s | {} | {events} |",
                    seconds(budget),
                    share * 100.0,
                    worst.lost,
                    seconds(worst.twice),
                    worst.repeated,
                );
            }
        }
    });
}

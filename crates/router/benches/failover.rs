//! Failover without repeats: six sentences, pipelined at the default
//! lookahead, through a router whose primary dies once it has sent a given
//! amount of audio over all its streams at once (a mid-stream error, or a
//! stall caught by the inactivity timeout), at a sweep of points; a healthy
//! backup speaks the rest. Every character's audio is testkit's
//! `expected_audio`, so the audio heard is parsed back into the sentences:
//! characters lost (must be 0), audio heard twice, and sentences heard
//! partly twice. Prints a table; run with
//! `cargo bench -p voxwire-router --bench failover`.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::{AudioFormat, SynthesisRequest, TtsProvider};
use voxwire_router::{Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::dying::{Death, Dying, CHUNK};
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
/// The pause before each of the primary's chunks.
const PACE: Duration = Duration::from_millis(4);
const ROUNDS: usize = 3;

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
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
    let primary = Dying::new("primary", budget, PACE).dying_by(death);
    let policy = Policy {
        max_retries: 0,
        inactivity_timeout_ms: 150,
        first_audio_timeout_ms: Some(1_000),
        ..Policy::default()
    };
    let router = Router::new(
        vec![
            (primary.arc(), policy.clone()),
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

//! Failover without repeats: six sentences, pipelined at the default
//! lookahead, through a router whose primary dies once it has sent a given
//! amount of audio over all its streams at once (a mid-stream error, or a
//! stall caught by the inactivity timeout), at a sweep of points; a healthy
//! backup speaks the rest. Every character's audio is testkit's
//! `expected_audio`, so the audio heard is parsed back into the sentences:
//! characters lost (must be 0), audio heard twice, and sentences heard
//! partly twice; once with entries that report no word times (the sentence
//! being heard repeats from its start) and once with both reporting them
//! (it resumes at the first word not heard whole). Prints a table; run with
//! `cargo bench -p voxwire-router --bench failover`.

use std::time::Duration;

use futures::StreamExt;
use voxwire_core::{AudioFormat, SynthesisRequest, TtsProvider};
use voxwire_router::{Policy, Router, RouterEvent, RouterSettings};
use voxwire_testkit::dying::{Death, Dying};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::{expected_audio, samples_per_char};

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

/// The longest common start of `a` and `b`.
fn common(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Parses `out` as, per sentence in order, its audio heard in runs: each run
/// starts at a character of the sentence (its start, or where a replacement
/// resumed) and goes on as long as it matches; a run that starts before
/// where the last one stopped is heard twice, one that starts after it
/// loses the characters between.
fn parse(out: &[u8]) -> Heard {
    let per_char = samples_per_char(pcm().sample_rate) * pcm().bytes_per_frame();
    let mut heard = Heard::default();
    let mut p = 0;
    for sentence in SENTENCES {
        let whole = expected_audio(sentence, pcm());
        let (mut w, mut twice, mut lost) = (0usize, 0usize, 0usize);
        loop {
            let m = common(&out[p..], &whole[w..]);
            p += m;
            w += m;
            if w == whole.len() {
                break;
            }
            // Where the next run starts: the character whose audio matches
            // longest. The run before may have matched a few samples past
            // its real end by chance (the fades start from zero), so the
            // next one may start up to a character earlier in `out`.
            let next = (0..=per_char.min(m))
                .step_by(pcm().bytes_per_frame())
                .flat_map(|back| (0..whole.len()).step_by(per_char).map(move |s| (back, s)))
                .map(|(back, s)| (back, s, common(&out[p - back..], &whole[s..])))
                .filter(|&(back, s, m)| m > back && m >= per_char.min(whole.len() - s))
                .max_by_key(|&(back, _, m)| (m, std::cmp::Reverse(back)));
            let Some((back, s, _)) = next else {
                lost += (whole.len() - w).div_ceil(per_char);
                break;
            };
            p -= back;
            w -= back;
            if s < w {
                twice += w - s;
            } else {
                lost += (s - w).div_ceil(per_char);
            }
            w = s;
        }
        heard.twice += twice;
        heard.repeated += usize::from(twice > 0);
        heard.lost += lost;
    }
    if p != out.len() {
        // Audio left over that is no sentence: count it all as lost.
        heard.lost += 1;
    }
    heard
}

async fn run(budget: usize, death: Death, word_times: bool) -> (Heard, usize) {
    let mut primary = Dying::new("primary", budget, PACE).dying_by(death);
    let backup: std::sync::Arc<dyn TtsProvider> = if word_times {
        primary = primary.with_word_times();
        Dying::new("backup", usize::MAX, PACE)
            .with_word_times()
            .arc()
    } else {
        FakeProvider::new("backup").arc()
    };
    let policy = Policy {
        max_retries: 0,
        inactivity_timeout_ms: 150,
        first_audio_timeout_ms: Some(1_000),
        ..Policy::default()
    };
    let router = Router::new(
        vec![(primary.arc(), policy.clone()), (backup, policy)],
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

/// Failure points swept: the primary dies after this share of all audio.
const SHARES: usize = 12;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let total: usize = SENTENCES
        .iter()
        .map(|s| expected_audio(s, pcm()).len())
        .sum();
    let seconds = |bytes: usize| bytes as f64 / f64::from(pcm().sample_rate * 2);
    println!(
        "failover: six sentences ({:.1} s of audio), default lookahead; the primary dies after 5 % to 80 % of it ({SHARES} points, worst of {ROUNDS} rounds each)",
        seconds(total)
    );
    println!("| primary dies | word times | characters lost (max) | heard twice: median | heard twice: max | sentences heard partly twice (max) | failover events (max) |");
    println!("|---|---|---|---|---|---|---|");
    rt.block_on(async {
        for (death, word_times) in [
            (Death::Error, false),
            (Death::Stall, false),
            (Death::Error, true),
            (Death::Stall, true),
        ] {
            let mut twice = Vec::new();
            let (mut lost, mut repeated, mut events) = (0, 0, 0);
            for k in 0..SHARES {
                let share = 0.05 + 0.75 * k as f64 / (SHARES - 1) as f64;
                let budget = (total as f64 * share) as usize;
                let mut worst = 0;
                for _ in 0..ROUNDS {
                    let (heard, failovers) = run(budget, death, word_times).await;
                    lost = lost.max(heard.lost);
                    worst = worst.max(heard.twice);
                    repeated = repeated.max(heard.repeated);
                    events = events.max(failovers);
                }
                twice.push(worst);
            }
            twice.sort_unstable();
            let how = match death {
                Death::Error => "mid-stream error",
                Death::Stall => "stall (150 ms inactivity)",
            };
            println!(
                "| {how} | {} | {lost} | {:.2} s | {:.2} s | {repeated} | {events} |",
                if word_times { "both entries" } else { "none" },
                seconds(twice[twice.len() / 2]),
                seconds(twice[twice.len() - 1]),
            );
        }
    });
}

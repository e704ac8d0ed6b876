//! Hedged first audio: a primary whose first audio comes after 150 ms, but
//! after 2 s for 10% of requests (exactly 10 of every 100, in a seeded
//! shuffle), and a secondary at 250 ms, both scripted fakes. The same
//! requests go through a router without hedging and one with
//! `hedge_after_ms = 400`, interleaved round by round in one run; first
//! audio is measured from the `synthesize` call to the first chunk. Prints
//! p50/p90/p99/max first audio and the characters sent to both entries
//! against the characters of the requests. Run with
//! `cargo bench -p voxwire-router --bench hedging`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{AudioFormat, SynthesisRequest, TtsProvider};
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_testkit::fake::{Behaviour, FakeProvider};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 100;
const CONCURRENCY: usize = 20;
const FAST: Duration = Duration::from_millis(150);
const SLOW: Duration = Duration::from_millis(2_000);
const SECONDARY: Duration = Duration::from_millis(250);
const HEDGE_AFTER_MS: u64 = 400;
const TEXT: &str = "The quick brown fox jumps over the lazy dog.";

fn pcm() -> AudioFormat {
    AudioFormat::pcm16_mono(24_000)
}

/// A seeded shuffle (splitmix64): which of `n` calls are slow, exactly `n / 10`.
fn slow_calls(n: usize, seed: u64) -> Vec<bool> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut v: Vec<bool> = (0..n).map(|i| i < n / 10).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

struct Setup {
    router: Router,
}

fn setup(script: &[bool], hedge: bool) -> Setup {
    let behaviours = script
        .iter()
        .map(|&slow| Behaviour::FirstAudioAfter(if slow { SLOW } else { FAST }))
        .collect();
    let primary =
        FakeProvider::new("primary").scripted(behaviours, Behaviour::FirstAudioAfter(FAST));
    let secondary =
        FakeProvider::new("secondary").scripted(vec![], Behaviour::FirstAudioAfter(SECONDARY));
    let policy = Policy {
        hedge_after_ms: hedge.then_some(HEDGE_AFTER_MS),
        ..Policy::default()
    };
    let router = Router::with_entries(
        vec![
            Entry::new(primary.arc(), policy),
            Entry::new(secondary.arc() as Arc<dyn TtsProvider>, Policy::default()),
        ],
        RouterSettings::default(),
    )
    .expect("router");
    Setup { router }
}

async fn first_audio(router: &Router) -> Duration {
    let started = Instant::now();
    let mut stream = router
        .synthesize(SynthesisRequest::new(TEXT).format(pcm()))
        .await
        .expect("synthesize");
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
    }
    first.expect("audio")
}

/// `PER_ROUND` requests, `CONCURRENCY` at a time; their first audios.
async fn round(router: &Router) -> Vec<Duration> {
    futures::stream::iter(0..PER_ROUND)
        .map(|_| first_audio(router))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

fn pct(sorted: &[Duration], p: f64) -> u128 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_millis()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let script = slow_calls(ROUNDS * PER_ROUND, 16);
        let plain = setup(&script, false);
        let hedged = setup(&script, true);
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            without.extend(round(&plain.router).await);
            with.extend(round(&hedged.router).await);
        }
        without.sort();
        with.sort();
        let requested = (ROUNDS * PER_ROUND * TEXT.chars().count()) as u64;
        println!(
            "hedging: primary first audio {} ms ({} ms for 10% of requests), secondary {} ms; {} requests per case in {ROUNDS} interleaved rounds, {CONCURRENCY} at a time",
            FAST.as_millis(),
            SLOW.as_millis(),
            SECONDARY.as_millis(),
            ROUNDS * PER_ROUND
        );
        println!("| case | p50 | p90 | p99 | max | chars sent (primary + secondary) | extra vs requested | hedges | cancelled |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (name, samples, setup) in [
            ("no hedging".to_string(), &without, &plain),
            (format!("hedge_after_ms = {HEDGE_AFTER_MS}"), &with, &hedged),
        ] {
            let usage = setup.router.usage();
            let sent: u64 = usage.iter().map(|u| u.chars_sent).sum();
            let hedges: u64 = usage.iter().map(|u| u.hedges).sum();
            let cancelled: u64 = usage.iter().map(|u| u.cancelled).sum();
            println!(
                "| {name} | {} ms | {} ms | {} ms | {} ms | {} + {} | +{:.1}% | {hedges} | {cancelled} |",
                pct(samples, 0.50),
                pct(samples, 0.90),
                pct(samples, 0.99),
                pct(samples, 1.0),
                usage[0].chars_sent,
                usage[1].chars_sent,
                (sent as f64 - requested as f64) / requested as f64 * 100.0,
            );
        }
        println!(
            "p99 with hedging / without: {:.2}",
            pct(&with, 0.99) as f64 / pct(&without, 0.99) as f64
        );
    });
}

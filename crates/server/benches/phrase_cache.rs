//! What the phrase cache saves, in one run: two relays (as `voxwire serve`
//! runs them) over voxwire-xai against one mock xAI server whose first
//! audio comes after 300 ms, one with a memory phrase cache and one without.
//!
//! (a) First audio of a repeated sentence on the xAI WebSocket front: the
//!     cached relay (the sentence stored by a warm-up) against the uncached
//!     one, round by round, alternating which goes first; medians.
//! (b) Sessions whose text is half repeated sentences (an agent's stock
//!     phrases between unique ones), one utterance at a time, on each relay
//!     from a cold cache: the characters sent upstream (the router's usage)
//!     and the p50 and p90 of each utterance's first audio.
//!
//! Prints markdown tables (`cargo bench -p voxwire-server --bench phrase_cache`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{connect, first_audio, percentile, send_utterance, Ws};
use voxwire_core::{Secret, TtsProvider};
use voxwire_router::cache::PhraseCache;
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_server::{ServerSettings, TokenEntry};
use voxwire_testkit::bench::{median, ms};
use voxwire_testkit::kit::fault::{Fault, FaultPlan, Stall};
use voxwire_testkit::mock_xai::{MockConfig, MockXai};
use voxwire_xai::{XaiProvider, XaiSettings};

const KEY: &str = "xai-bench-key";
const TOKEN: &str = "relay-bench-token-0123456789";
const QUERY: &str = "codec=pcm&sample_rate=24000";
const FIRST_AUDIO: Duration = Duration::from_millis(300);
const REPEATED: &str = "Thank you for calling, how can I help you today?";
/// Rounds of (a), after one warm-up each.
const ROUNDS: usize = 15;
/// An agent's stock phrases: every other utterance of (b) is one of them.
const STOCK: [&str; 4] = [
    "One moment please.",
    "Let me check that for you.",
    "Is there anything else I can help with?",
    "Thank you for waiting.",
];
/// Sessions of (b) per relay, and utterances per session.
const SESSIONS: usize = 3;
const UTTERANCES: usize = 8;

/// A relay over voxwire-xai against `mock`, with `cache` if given; its
/// address, its router (for usage) and what stops it.
async fn relay(
    mock: &MockXai,
    cache: Option<PhraseCache>,
) -> (
    std::net::SocketAddr,
    Router,
    tokio::sync::oneshot::Sender<()>,
) {
    let xai: Arc<dyn TtsProvider> = Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .expect("provider"),
    );
    let entries = vec![Entry::new(xai, Policy::default())];
    let router = match cache {
        Some(cache) => Router::with_phrase_cache(entries, RouterSettings::default(), cache),
        None => Router::with_entries(entries, RouterSettings::default()),
    }
    .expect("router");
    let settings = ServerSettings {
        tokens: vec![TokenEntry {
            id: "bench".into(),
            secret: Secret::new(TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        ..ServerSettings::default()
    };
    let (addr, stop) = support::start(router.clone(), settings).await;
    (addr, router, stop)
}

/// Speaks one utterance on `ws`; the time from its text to its first audio.
async fn utterance(ws: &mut Ws, text: &str) -> Duration {
    let started = Instant::now();
    send_utterance(ws, text).await;
    first_audio(ws, started).await
}

fn chars_sent(router: &Router) -> u64 {
    router.usage().iter().map(|u| u.chars_sent).sum()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        mock.set_fault(FaultPlan::always(Fault::stall_before_audio(Stall::For(
            FIRST_AUDIO,
        ))));

        // (a) One repeated sentence.
        let cache = PhraseCache::memory(64 << 20, Duration::from_secs(3600));
        let (cached_addr, _cached_router, stop_cached) = relay(&mock, Some(cache.clone())).await;
        let (plain_addr, _plain_router, stop_plain) = relay(&mock, None).await;
        let mut cached_ws = connect(cached_addr, QUERY, TOKEN).await;
        let mut plain_ws = connect(plain_addr, QUERY, TOKEN).await;
        utterance(&mut cached_ws, REPEATED).await;
        utterance(&mut plain_ws, REPEATED).await;
        let (mut from_cache, mut from_vendor) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                from_cache.push(utterance(&mut cached_ws, REPEATED).await);
                from_vendor.push(utterance(&mut plain_ws, REPEATED).await);
            } else {
                from_vendor.push(utterance(&mut plain_ws, REPEATED).await);
                from_cache.push(utterance(&mut cached_ws, REPEATED).await);
            }
        }
        assert_eq!(cache.stats().hits as usize, ROUNDS, "every timed round was a hit");
        let (c, v) = (median(from_cache), median(from_vendor));
        println!("(a) first audio of a repeated sentence, {ROUNDS} rounds each, mock first audio {} ms\n", FIRST_AUDIO.as_millis());
        println!("| source | median first audio | vs the vendor |\n|---|---:|---:|");
        println!("| the vendor (no cache) | {} | 1.00× |", ms(v));
        println!("| the phrase cache | {} | {:.3}× |\n", ms(c), c.as_secs_f64() / v.as_secs_f64());
        drop((cached_ws, plain_ws, stop_cached, stop_plain));

        // (b) Sessions of half stock phrases, from a cold cache.
        let texts: Vec<Vec<String>> = (0..SESSIONS)
            .map(|s| {
                (0..UTTERANCES)
                    .map(|u| match u % 2 {
                        0 => STOCK[(u / 2 + s) % STOCK.len()].to_string(),
                        _ => format!("Your order number {} ships on day {} of the month.", 1000 + s * 100 + u, u + s),
                    })
                    .collect()
            })
            .collect();
        let total_chars: usize = texts.iter().flatten().map(|t| t.chars().count()).sum();
        println!("(b) {SESSIONS} sessions × {UTTERANCES} utterances, every other one a stock phrase ({} of them), {total_chars} characters in all\n", STOCK.len());
        println!("| relay | characters sent upstream | p50 first audio | p90 first audio | mean first audio | p50 of the stock phrases |\n|---|---:|---:|---:|---:|---:|");
        for cached in [false, true] {
            let cache = cached.then(|| PhraseCache::memory(64 << 20, Duration::from_secs(3600)));
            let (addr, router, stop) = relay(&mock, cache).await;
            let (mut firsts, mut stock) = (Vec::new(), Vec::new());
            for session in &texts {
                let mut ws = connect(addr, QUERY, TOKEN).await;
                for text in session {
                    let first = utterance(&mut ws, text).await;
                    firsts.push(first);
                    if STOCK.contains(&text.as_str()) {
                        stock.push(first);
                    }
                }
            }
            let mean = firsts.iter().sum::<Duration>() / firsts.len() as u32;
            println!(
                "| {} | {} ({:.0} %) | {} | {} | {} | {} |",
                if cached { "with the phrase cache" } else { "without" },
                chars_sent(&router),
                100.0 * chars_sent(&router) as f64 / total_chars as f64,
                ms(percentile(&mut firsts, 0.5)),
                ms(percentile(&mut firsts, 0.9)),
                ms(mean),
                ms(percentile(&mut stock, 0.5)),
            );
            drop(stop);
        }
    });
}

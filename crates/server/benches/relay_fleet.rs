//! What sharing the counts in Redis adds to first audio, in one run: two
//! relays in this process over the same in-process fake provider, one with
//! the per-credential limits counted in process (`[server.shared]` unset),
//! one with them in a real `redis-server` on loopback. Both count
//! `max_sessions_per_token` and `token_utterances_per_second` (set high
//! enough never to delay), so the difference is the Redis round trips: the
//! session's lease at the upgrade and the rate's GCRA per utterance.
//!
//! Each round, in alternating order, opens a WebSocket session on each relay
//! and times (a) a new session's first audio: from the upgrade's start to the
//! first `audio.delta` of its first utterance; (b) an utterance's first audio
//! in a running session (its second utterance). p50 and p99 of each.
//!
//! Prints a markdown table (`cargo bench -p voxwire-server --bench relay_fleet`).

mod support;

use std::time::{Duration, Instant};

use support::{connect, first_audio, percentile, send_utterance};
use voxwire_core::Secret;
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_server::{ServerSettings, TokenEntry};
use voxwire_testkit::bench::ms;
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::redis_server::RedisServer;

const TOKEN: &str = "relay-bench-token-0123456789";
const TEXT: &str = "Hello there, this is the fleet bench's sentence.";
/// Rounds timed, after [`WARM_UP`] untimed.
const ROUNDS: usize = 300;
const WARM_UP: usize = 20;

async fn relay(
    redis_url: Option<String>,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let fake = FakeProvider::new("fake");
    let router = Router::new(
        vec![(fake.arc(), Policy::default())],
        RouterSettings::default(),
    )
    .expect("router");
    let mut settings = ServerSettings {
        tokens: vec![TokenEntry {
            id: "bench".into(),
            secret: Secret::new(TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        token_utterances_per_second: Some(1_000_000.0),
        token_utterance_burst: 1_000_000.0,
        ..ServerSettings::default()
    };
    settings.shared.redis_url = redis_url.map(Secret::new);
    support::start(router, settings).await
}

/// One session: its first utterance's first audio from the upgrade, then a
/// second utterance's first audio.
async fn session(addr: std::net::SocketAddr) -> (Duration, Duration) {
    let started = Instant::now();
    let mut ws = connect(addr, "codec=pcm", TOKEN).await;
    send_utterance(&mut ws, TEXT).await;
    let new_session = first_audio(&mut ws, started).await;
    let again = Instant::now();
    send_utterance(&mut ws, TEXT).await;
    let running = first_audio(&mut ws, again).await;
    let _ = ws.close(None).await;
    (new_session, running)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let redis = RedisServer::start().expect("a redis-server (cargo xtask setup installs it)");
    let (local, _stop_local) = relay(None).await;
    let (shared, _stop_shared) = relay(Some(redis.url())).await;
    let mut times: [(Vec<Duration>, Vec<Duration>); 2] = Default::default();
    for round in 0..WARM_UP + ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let addr = [local, shared][which];
            let (new_session, running) = session(addr).await;
            if round >= WARM_UP {
                times[which].0.push(new_session);
                times[which].1.push(running);
            }
        }
    }
    let version = voxwire_testkit::redis_server::program()
        .and_then(|p| std::process::Command::new(p).arg("--version").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("{ROUNDS} rounds after {WARM_UP} warm-up, alternating; {version}");
    println!();
    println!("| first audio | in process p50 (ms) | shared p50 (ms) | added p50 (ms) | in process p99 (ms) | shared p99 (ms) | added p99 (ms) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let [(mut local_new, mut local_run), (mut shared_new, mut shared_run)] = times;
    for (what, local, shared) in [
        (
            "new session (upgrade + lease + rate)",
            &mut local_new,
            &mut shared_new,
        ),
        (
            "utterance in a running session (rate)",
            &mut local_run,
            &mut shared_run,
        ),
    ] {
        let (l50, s50) = (percentile(local, 0.5), percentile(shared, 0.5));
        let (l99, s99) = (percentile(local, 0.99), percentile(shared, 0.99));
        let added = |s: Duration, l: Duration| {
            let d = s.as_secs_f64() - l.as_secs_f64();
            format!("{:+.3}", d * 1000.0)
        };
        println!(
            "| {what} | {} | {} | {} | {} | {} | {} |",
            ms(l50),
            ms(s50),
            added(s50, l50),
            ms(l99),
            ms(s99),
            added(s99, l99)
        );
    }
}

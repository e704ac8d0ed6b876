//! Soak of the relay under hostile clients: 200 sessions through `voxwire
//! serve` (a child process) to a mock xAI upstream (in this process), of which
//! 20 stop reading, 20 send an oversize frame, 20 send malformed JSON and 20
//! drop mid-utterance; the other 120 must get every audio byte (checked
//! against the mock's deterministic audio). Prints a table per client kind and
//! the relay's resident memory: idle cold (after one session), idle warm
//! (after a round of 200 well-behaved sessions, which fills the upstream
//! pool), at its peak and after each round. Three rounds in a row: the
//! check (issue 38) is that each round ends within 5 % of the first round's
//! figure (what stays after a round, pooled upstream sockets and allocator
//! caches, is kept, not grown).
//! Run: `cargo bench --bench relay_soak`.

#[path = "relay_common/mod.rs"]
mod common;

use std::time::Duration;

use common::{audio_until_done, connect, start_relay, usage, utterance, KEY, TOKEN};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::AudioFormat;
use voxwire_testkit::mock_xai::{expected_audio, MockConfig, MockXai};

const SESSIONS: usize = 200;
/// Rounds: memory that stays level from one round to the next is retained, not leaked.
const ROUNDS: usize = 3;
/// How far a round's final figure may be from the first round's.
const GROWTH_LIMIT_PCT: f64 = 5.0;
const TEXTS: [&str; 3] = [
    "The first sentence of a well-behaved client.",
    "A second one, a little longer than the first, to vary the audio.",
    "And a third.",
];

/// The relay's resident memory in kB.
fn rss(pid: u32) -> u64 {
    usage(pid).0
}

/// `voxwire_sessions_active` from the relay's `/metrics` (a plain HTTP GET).
async fn active_sessions(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return "?".into();
    };
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text)).await;
    text.lines()
        .find_map(|l| l.strip_prefix("voxwire_sessions_active "))
        .unwrap_or("?")
        .trim()
        .to_string()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Good,
    StopsReading,
    Oversize,
    Malformed,
    Drops,
}

fn kind_of(i: usize) -> Kind {
    match i % 10 {
        0 => Kind::StopsReading,
        1 => Kind::Oversize,
        2 => Kind::Malformed,
        3 => Kind::Drops,
        _ => Kind::Good,
    }
}

/// One client of `kind`; Ok when it saw what the relay owes it.
async fn client(addr: String, kind: Kind, offset: Duration) -> Result<(), String> {
    tokio::time::sleep(offset).await;
    let mut ws = connect(&addr, TOKEN).await?;
    let format = AudioFormat::pcm16_mono(24_000);
    match kind {
        Kind::Good => {
            for text in TEXTS {
                utterance(&mut ws, text).await?;
                let got = audio_until_done(&mut ws, || {}).await?;
                if got != expected_audio(text, format) {
                    return Err(format!("{} bytes of audio, not the mock's", got.len()));
                }
            }
            Ok(())
        }
        Kind::StopsReading => {
            // About 8 MB of audio in all: more than loopback socket buffers hold.
            let long = "a long utterance nobody listens to ".repeat(30);
            for _ in 0..8 {
                utterance(&mut ws, &long).await?;
            }
            // Never read; the relay must close it and release its upstream.
            tokio::time::sleep(Duration::from_secs(6)).await;
            Ok(())
        }
        Kind::Oversize => {
            let huge = serde_json::json!({"type": "text.delta", "delta": "x".repeat(200_000)});
            let _ = ws.send(Message::text(huge.to_string())).await;
            match audio_until_done(&mut ws, || {}).await {
                Err(e) if e.contains("1009") || e.contains("Size") || e.contains("closed") => {
                    Ok(())
                }
                other => Err(format!("oversize answered with {other:?}")),
            }
        }
        Kind::Malformed => {
            ws.send(Message::text("{not json"))
                .await
                .map_err(|e| e.to_string())?;
            match audio_until_done(&mut ws, || {}).await {
                Err(e) if e.contains("invalid_input") => {}
                other => return Err(format!("malformed answered with {other:?}")),
            }
            // The session goes on.
            utterance(&mut ws, TEXTS[2]).await?;
            let got = audio_until_done(&mut ws, || {}).await?;
            (got == expected_audio(TEXTS[2], format))
                .then_some(())
                .ok_or_else(|| "audio after a malformed frame differs".to_string())
        }
        Kind::Drops => {
            utterance(&mut ws, TEXTS[1]).await?;
            let _ = tokio::time::timeout(Duration::from_secs(30), ws.next()).await;
            drop(ws); // mid-utterance, no close frame
            Ok(())
        }
    }
}

/// How long the relay is left alone before an idle or final memory figure.
const SETTLED: Duration = Duration::from_secs(15);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("voxwire-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    runtime.block_on(async {
        let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        let (mut relay, addr) = start_relay(
            &mock,
            &dir,
            "utterances_per_second = 1000.0\nutterance_burst = 1000.0\nclient_send_timeout_ms = 2000",
            true,
        );
        let pid = relay.id();
        // Warm up with one good session, then take the cold idle figure.
        let _ = client(addr.clone(), Kind::Good, Duration::ZERO).await;
        // Every idle figure is taken after the same 15 s settling as the
        // last figure after a round: the trim has run, helper threads ended.
        tokio::time::sleep(SETTLED).await;
        let cold = rss(pid);
        // Then a round of well-behaved clients only: what the relay keeps by
        // design after a busy moment (pooled upstream sockets, the runtime's
        // slabs) is in the warm idle figure, so that what the rounds add over
        // it is what hostile clients left behind.
        let warmups: Vec<_> = (0..SESSIONS)
            .map(|i| {
                let offset = Duration::from_millis((i as u64 * 7919) % 1000);
                tokio::spawn(client(addr.clone(), Kind::Good, offset))
            })
            .collect();
        for task in warmups {
            let _ = task.await;
        }
        tokio::time::sleep(SETTLED).await;
        let idle = rss(pid);
        println!("\nrelay soak: {SESSIONS} sessions per round through a `voxwire serve` child, mock xAI upstream in the bench process");
        println!("{:<6} {:<14} {:>6} {:>6}  first failure", "round", "client", "count", "ok");
        let mut afters = Vec::new();
        let mut peak = idle;
        for round in 1..=ROUNDS {
            let tasks: Vec<_> = (0..SESSIONS)
                .map(|i| {
                    let offset = Duration::from_millis((i as u64 * 7919) % 1000);
                    (kind_of(i), tokio::spawn(client(addr.clone(), kind_of(i), offset)))
                })
                .collect();
            let mut results = Vec::new();
            for (kind, task) in tasks {
                let r = task.await.map_err(|e| e.to_string()).and_then(|r| r);
                peak = peak.max(rss(pid));
                results.push((kind, r));
            }
            // Let closes and upstream releases settle; then again once idle
            // helper threads (tokio's blocking pool keeps them 10 s) are gone.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let soon = rss(pid);
            tokio::time::sleep(SETTLED - Duration::from_secs(3)).await;
            afters.push((soon, rss(pid)));
            for kind in [Kind::Good, Kind::StopsReading, Kind::Oversize, Kind::Malformed, Kind::Drops] {
                let of: Vec<_> = results.iter().filter(|(k, _)| *k == kind).collect();
                let ok = of.iter().filter(|(_, r)| r.is_ok()).count();
                let first = of.iter().find_map(|(_, r)| r.as_ref().err()).cloned().unwrap_or_default();
                println!("{round:<6} {:<14} {:>6} {:>6}  {}", format!("{kind:?}"), of.len(), ok, first.chars().take(100).collect::<String>());
            }
            println!("{round:<6} sessions still open at the relay: {}", active_sessions(&addr).await);
        }
        let pct = |a: u64, base: u64| (a as f64 - base as f64) / base.max(1) as f64 * 100.0;
        let after: Vec<String> = afters
            .iter()
            .map(|&(soon, later)| {
                format!(
                    "{soon} ({:+.1}% of warm, {:+.1}% of cold) after 3 s, {later} ({:+.1}% of warm, {:+.1}% of cold) after 15 s",
                    pct(soon, idle),
                    pct(soon, cold),
                    pct(later, idle),
                    pct(later, cold)
                )
            })
            .collect();
        println!("relay RSS kB: cold idle {cold}, warm idle {idle} (after {SESSIONS} well-behaved sessions), peak {peak}; after each round: {}", after.join("; "));
        // The growth check: each round's figure after 15 s against round 1's.
        let first = afters.first().map_or(0, |&(_, later)| later);
        let growth: Vec<String> = afters
            .iter()
            .enumerate()
            .map(|(i, &(_, later))| format!("round {}: {later} kB ({:+.1}%)", i + 1, pct(later, first)))
            .collect();
        let met = afters
            .iter()
            .all(|&(_, later)| pct(later, first).abs() <= GROWTH_LIMIT_PCT);
        println!(
            "growth against round 1 (after 15 s): {}; each within {GROWTH_LIMIT_PCT}%: {}",
            growth.join(", "),
            if met { "met" } else { "NOT MET" }
        );
        let _ = relay.kill();
        let _ = relay.wait();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

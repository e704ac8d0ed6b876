//! An agent streaming its reply into one utterance, as LiveKit's xAI plugin
//! does: one `text.delta` per word token, without whitespace, at a steady
//! rate, then `text.done`. Through one `voxwire serve` child over the
//! offline voice (the system `espeak-ng`), two cases interleaved round by
//! round so machine load falls on both alike:
//! - **streamed**: the words as they come (the relay speaks each sentence as
//!   soon as its end is in);
//! - **held to text.done**: the same words at the same pace, held by the
//!   client and sent at the end with `text.done`, which is what the relay did
//!   before it spoke sentences as they arrived (synthesis started at
//!   `text.done`): the baseline.
//!
//! Prints, per case, the medians from the first word pushed: first audio,
//! the end of the first sentence (its last word pushed), the last word
//! pushed; and the ratio of first audio to the baseline's.
//! Run: `cargo bench --bench relay_agent_stream [-- ROUNDS [WORDS_PER_SECOND]]`.

#[path = "relay_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{audio_until_done, connect, start_relay_with_chain, Ws, TOKEN};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Four sentences, as an agent's LLM would reply (the issue's case).
const REPLY: &str = "Thanks for calling Acme support today. Your order shipped this morning \
and should arrive by Thursday. Would you like me to text you the tracking number? \
I can also email it if that is easier.";

/// What one round measured, from the first word pushed.
struct Round {
    first_audio: Duration,
    first_sentence_end: Duration,
    last_push: Duration,
}

async fn send(ws: &mut Ws, frame: serde_json::Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// One reply: word tokens at `per_word` intervals, streamed or held to the
/// end; returns the socket for the next round.
async fn round(ws: Ws, per_word: Duration, streamed: bool) -> (Round, Ws) {
    let words: Vec<&str> = REPLY.split(' ').collect();
    let first_end = words
        .iter()
        .position(|w| w.ends_with('.'))
        .expect("a first sentence");
    let started = Instant::now();
    // Write and read at once: a task reads while this one writes.
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut first = None;
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    let v: serde_json::Value = serde_json::from_str(text.as_str()).expect("json");
                    match v["type"].as_str() {
                        Some("audio.delta") if first.is_none() => first = Some(started.elapsed()),
                        Some("audio.done") => break,
                        Some("error") => panic!("relay error: {v}"),
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the relay went away: {other:?}"),
            }
        }
        (first.expect("audio"), stream)
    });
    let delta = |word: &str| {
        Message::text(serde_json::json!({"type": "text.delta", "delta": word}).to_string())
    };
    let mut first_sentence_end = Duration::ZERO;
    let mut next = started;
    for (i, word) in words.iter().enumerate() {
        if streamed {
            sink.send(delta(word)).await.expect("send");
        }
        if i == first_end {
            first_sentence_end = started.elapsed();
        }
        next += per_word;
        tokio::time::sleep_until(next.into()).await;
    }
    if !streamed {
        for word in &words {
            sink.send(delta(word)).await.expect("send");
        }
    }
    let last_push = started.elapsed();
    sink.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .expect("send");
    let (first_audio, stream) = reader.await.expect("reader");
    let ws = sink.reunite(stream).expect("the same socket");
    let round = Round {
        first_audio,
        first_sentence_end,
        last_push,
    };
    (round, ws)
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<f64>().ok());
    let rounds = args.next().map_or(9, |r| r as usize).max(1);
    let words_per_second = args.next().unwrap_or(20.0);
    let per_word = Duration::from_secs_f64(1.0 / words_per_second);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("voxwire-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    runtime.block_on(async {
        let (mut relay, addr) = start_relay_with_chain(
            &dir,
            "",
            "[[chain]]\nprovider = \"espeak\"\nengine = \"system\"\n",
            false,
        );
        let mut ws = connect(&addr, TOKEN).await.expect("ws");
        // Warm-up: the engine, the socket, the caches.
        send(&mut ws, serde_json::json!({"type": "text.delta", "delta": "Warming up."})).await;
        send(&mut ws, serde_json::json!({"type": "text.done"})).await;
        audio_until_done(&mut ws, || {}).await.expect("warm-up");
        let (mut streamed, mut held) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (r, socket) = round(ws, per_word, true).await;
            streamed.push(r);
            let (r, socket) = round(socket, per_word, false).await;
            held.push(r);
            ws = socket;
        }
        let row = |name: &str, rs: &[Round]| {
            let first = median(rs.iter().map(|r| r.first_audio).collect());
            let end = median(rs.iter().map(|r| r.first_sentence_end).collect());
            let last = median(rs.iter().map(|r| r.last_push).collect());
            println!("{name:<22} {first:>15.3} {end:>22.3} {last:>16.3}");
            first
        };
        println!(
            "\nrelay agent stream: {} words in 4 sentences as word tokens at {words_per_second} words/s, one `voxwire serve` child over espeak-ng (system), {rounds} rounds per case, interleaved; medians in seconds from the first word",
            REPLY.split(' ').count()
        );
        println!(
            "{:<22} {:>15} {:>22} {:>16}",
            "case", "first audio", "first sentence pushed", "last word pushed"
        );
        let s = row("streamed", &streamed);
        let h = row("held to text.done", &held);
        println!("first audio, streamed / held: {:.2}x", s / h);
        let _ = relay.kill();
        let _ = relay.wait();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

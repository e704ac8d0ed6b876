//! First audio through the relay's two fronts, same relay, same mock, same
//! run: the xAI WebSocket front (an open session; from sending `text.done` to
//! the first `audio.delta`) against the OpenAI front (`POST
//! /v1/audio/speech`, `response_format=pcm`, over a kept-alive HTTP/1.1
//! connection; from sending the request to the first body bytes). The two
//! are interleaved utterance by utterance, so load on the machine falls on
//! both alike. Prints medians, p90 and the difference.
//! Run: `cargo bench --bench relay_fronts [-- ROUNDS]`.

#[path = "relay_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{audio_until_done, connect, start_relay, utterance, KEY, TOKEN};
use futures::StreamExt;
use voxwire_testkit::mock_xai::{MockConfig, MockXai};

const TEXT: &str = "Hello there, this is the benchmark sentence.";

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("voxwire-fronts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    runtime.block_on(async {
        let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        let (mut relay, addr) = start_relay(
            &mock,
            &dir,
            "utterances_per_second = 100000.0\nutterance_burst = 100000.0",
            false,
        );
        let mut ws = connect(&addr, TOKEN).await.expect("ws");
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .http1_only()
            .build()
            .expect("client");
        let url = format!("http://{addr}/v1/audio/speech");
        let body = serde_json::json!({
            "model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm"
        });
        let (mut xai, mut openai) = (Vec::new(), Vec::new());
        let (mut xai_bytes, mut openai_bytes) = (0usize, 0usize);
        // Warm-up: connections, pools, caches.
        for round in 0..rounds + 20 {
            utterance(&mut ws, TEXT).await.expect("send");
            let sent = Instant::now();
            let mut first = None;
            let audio = audio_until_done(&mut ws, || first = Some(sent.elapsed()))
                .await
                .expect("xai front");
            let started = Instant::now();
            let response = http
                .post(&url)
                .bearer_auth(TOKEN)
                .json(&body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .expect("openai front");
            assert_eq!(response.status(), 200);
            let mut stream = response.bytes_stream();
            let mut got = 0usize;
            let mut first_byte = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.expect("body");
                if first_byte.is_none() && !chunk.is_empty() {
                    first_byte = Some(started.elapsed());
                }
                got += chunk.len();
            }
            if round >= 20 {
                xai.push(first.expect("audio"));
                openai.push(first_byte.expect("audio"));
                xai_bytes += audio.len();
                openai_bytes += got;
            }
        }
        assert_eq!(xai_bytes, openai_bytes, "both fronts delivered the same audio");
        let (x50, x90) = (percentile(&mut xai, 0.5), percentile(&mut xai, 0.9));
        let (o50, o90) = (percentile(&mut openai, 0.5), percentile(&mut openai, 0.9));
        println!("\nrelay fronts: first audio through one `voxwire serve` child over the same mock xAI upstream, {rounds} utterances each, interleaved, \"{TEXT}\", 24 kHz PCM");
        println!("{:<28} {:>9} {:>9}", "front", "p50 ms", "p90 ms");
        println!("{:<28} {:>9.3} {:>9.3}", "xAI WebSocket (open session)", x50, x90);
        println!("{:<28} {:>9.3} {:>9.3}", "OpenAI POST (kept alive)", o50, o90);
        println!("median difference OpenAI - xAI: {:+.3} ms (target: within 2 ms)", o50 - x50);
        let _ = relay.kill();
        let _ = relay.wait();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

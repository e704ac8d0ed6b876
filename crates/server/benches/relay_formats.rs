//! What the OpenAI front's encoding costs, in one run:
//!
//! (a) time to first audio through `POST /v1/audio/speech` in `mp3` and
//!     `opus` against `pcm` (no encoder), the requests alternating format by
//!     format, round by round, over one relay (as `voxwire serve` runs it)
//!     whose chain is voxwire-xai against the mock xAI server; medians;
//! (b) each encoder alone on the same audio: the CPU time one response's
//!     encoder spends per second of audio, fed in the mock's 4 KiB chunks as
//!     the front feeds it (process CPU from `/proc/self/stat`, with nothing
//!     else running, and the wall time of the single-threaded loop).
//!
//! Prints markdown tables (`cargo bench -p voxwire-server --bench relay_formats`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_core::{AudioFormat, Secret, TtsProvider};
use voxwire_router::{Policy, Router, RouterSettings};
use voxwire_server::encode::{Encoder, OutputFormat};
use voxwire_server::{ServerSettings, TokenEntry};
use voxwire_testkit::bench::{median, ms, process_cpu};
use voxwire_testkit::mock_xai::{expected_audio, MockConfig, MockXai};
use voxwire_xai::{XaiProvider, XaiSettings};

const KEY: &str = "xai-bench-key";
const TOKEN: &str = "relay-bench-token-0123456789";
const TEXT: &str = "Hello there, this is the benchmark sentence of the relay's OpenAI front.";
/// Rounds timed (each asks once in every format), after [`WARM_UP`] untimed.
const ROUNDS: usize = 40;
const WARM_UP: usize = 3;
/// Seconds of audio each encoder is timed on.
const ENCODE_SECONDS: usize = 120;
/// The chunk the front's encoder is fed (the mock's default chunk).
const CHUNK: usize = 4096;
const RATE: u32 = 24_000;
const FORMATS: [&str; 3] = ["pcm", "mp3", "opus"];

/// One relay over voxwire-xai against the mock, as the server tests start it.
async fn relay() -> (
    MockXai,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
    let xai: Arc<dyn TtsProvider> = Arc::new(
        XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .expect("provider"),
    );
    let router =
        Router::new(vec![(xai, Policy::default())], RouterSettings::default()).expect("router");
    let settings = ServerSettings {
        tokens: vec![TokenEntry {
            id: "bench".into(),
            secret: Secret::new(TOKEN),
            chars_per_minute: None,
            chars_per_day: None,
        }],
        ..ServerSettings::default()
    };
    let (addr, stop) = support::start(router, settings).await;
    (mock, addr, stop)
}

/// Time to the first body bytes and to the end, and the bytes received.
async fn speech(http: &reqwest::Client, url: &str, format: &str) -> (Duration, Duration, usize) {
    let body = serde_json::json!({
        "model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": format,
    });
    let started = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{format}");
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("body");
        if !chunk.is_empty() {
            first.get_or_insert_with(|| started.elapsed());
        }
        bytes += chunk.len();
    }
    (first.expect("audio"), started.elapsed(), bytes)
}

/// Encodes `pcm` chunk by chunk (with the flush of every push, as the
/// front does); returns CPU and wall time, the encoded bytes and the time
/// the encoder took to set up (once per response).
fn encode(format: OutputFormat, pcm: &[u8]) -> (Duration, Duration, usize, Duration) {
    let set_up = Instant::now();
    let encoder = Encoder::new(format, RATE);
    let set_up = set_up.elapsed();
    drop(encoder);
    let cpu = process_cpu();
    let wall = Instant::now();
    let mut encoder = Encoder::new(format, RATE)
        .expect("encoder")
        .expect("a format with an encoder");
    let mut bytes = 0;
    for chunk in pcm.chunks(CHUNK) {
        bytes += encoder.push(chunk).expect("push").len();
    }
    bytes += encoder.finish().expect("finish").len();
    (process_cpu() - cpu, wall.elapsed(), bytes, set_up)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let audio_s = expected_audio(TEXT, AudioFormat::pcm16_mono(RATE)).len() as f64 / 48_000.0;
    let (first, whole, sizes) = runtime.block_on(async {
        let (_mock, addr, stop) = relay().await;
        let url = format!("http://{addr}/v1/audio/speech");
        let http = reqwest::Client::new();
        let mut first = vec![Vec::new(); FORMATS.len()];
        let mut whole = vec![Vec::new(); FORMATS.len()];
        let mut sizes = vec![0; FORMATS.len()];
        for round in 0..WARM_UP + ROUNDS {
            // Alternate: each round starts with the next format.
            for k in 0..FORMATS.len() {
                let i = (round + k) % FORMATS.len();
                let (f, w, bytes) = speech(&http, &url, FORMATS[i]).await;
                if round >= WARM_UP {
                    first[i].push(f);
                    whole[i].push(w);
                    sizes[i] = bytes;
                }
            }
        }
        let _ = stop.send(());
        (first, whole, sizes)
    });
    drop(runtime);

    let pcm_first = median(first[0].clone());
    println!(
        "\n(a) OpenAI front, relay over voxwire-xai and the mock xAI server on loopback: \
         {ROUNDS} requests per format, alternating, medians ({audio_s:.2} s of audio each)\n"
    );
    println!(
        "| response_format | first audio (ms) | added to pcm (ms) | whole answer (ms) | bytes |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (i, name) in FORMATS.iter().enumerate() {
        let f = median(first[i].clone());
        let added = f.as_secs_f64() * 1e3 - pcm_first.as_secs_f64() * 1e3;
        println!(
            "| {name} | {} | {added:+.3} | {} | {} |",
            ms(f),
            ms(median(whole[i].clone())),
            sizes[i]
        );
    }

    let one = expected_audio(TEXT, AudioFormat::pcm16_mono(RATE));
    let mut pcm = Vec::with_capacity(ENCODE_SECONDS * 48_000);
    while pcm.len() < ENCODE_SECONDS * 48_000 {
        pcm.extend_from_slice(&one);
    }
    pcm.truncate(ENCODE_SECONDS * 48_000);
    println!(
        "\n(b) one response's encoder alone: {ENCODE_SECONDS} s of the same audio (24 kHz mono), \
         {CHUNK}-byte pushes, one thread\n"
    );
    println!("| encoder | CPU per audio second (ms) | wall per audio second (ms) | real-time factor | kbit/s | set-up, median (ms) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for format in [OutputFormat::Mp3, OutputFormat::Opus, OutputFormat::Flac] {
        let set_ups: Vec<Duration> = (0..ROUNDS)
            .map(|_| encode(format, &pcm[..48_000]).3)
            .collect();
        let (cpu, wall, bytes, _) = encode(format, &pcm);
        let per = |d: Duration| d.as_secs_f64() * 1e3 / ENCODE_SECONDS as f64;
        println!(
            "| {} | {:.2} | {:.2} | {:.0}× | {:.0} | {} |",
            format.name(),
            per(cpu),
            per(wall),
            ENCODE_SECONDS as f64 / cpu.as_secs_f64().max(1e-3),
            bytes as f64 * 8.0 / ENCODE_SECONDS as f64 / 1e3,
            ms(median(set_ups))
        );
    }
    println!();
}

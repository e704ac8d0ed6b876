//! What voxwire-cartesia's shared socket adds over a bare client of the same
//! protocol, against the same mock, same run.
//!
//! The bare client keeps one `/tts/websocket` connection (tokio-tungstenite)
//! and, per utterance, sends the whole generation request with
//! `continue: false` under a new `context_id`, then reads `chunk`s (base64
//! decoded) until that context's `done`: the minimum. voxwire-cartesia
//! does its full path over its shared socket: local checks, a context slot,
//! the request and the end, routing by context, sample alignment, chunking,
//! the stream to the caller.
//!
//! First audio and total are per utterance, interleaved one by one so drift
//! hits both alike (same-run medians, ratio provider / bare); CPU is the
//! process's user + system time over a block of utterances of each (the
//! mock runs in the process too, the same for both), per second of audio.
//! Run: `cargo bench -p voxwire-cartesia --bench socket_vs_bare`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_cartesia::{
    CartesiaProvider, CartesiaSettings, DEFAULT_MODEL, DEFAULT_VERSION, DEFAULT_VOICE,
    VERSION_HEADER,
};
use voxwire_core::{AudioFormat, Secret};
use voxwire_testkit::bench::{interleaved, ms, process_cpu, timed_synthesis};
use voxwire_testkit::mock_cartesia::{MockCartesia, WsConfig};

const KEY: &str = "sk_car_bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence for the speech socket.";
const ROUNDS: usize = 200;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str) -> Ws {
    let url = format!("{}/tts/websocket", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    let h = request.headers_mut();
    h.insert(
        "authorization",
        format!("Bearer {KEY}").parse().expect("header"),
    );
    h.insert(VERSION_HEADER, DEFAULT_VERSION.parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    ws
}

/// One bare utterance: (time to first audio, total, audio bytes).
async fn bare(ws: &mut Ws, n: usize) -> (Duration, Duration, usize) {
    let context = format!("bare-{n}");
    let started = Instant::now();
    let request = serde_json::json!({
        "model_id": DEFAULT_MODEL,
        "transcript": TEXT,
        "voice": { "id": DEFAULT_VOICE },
        "output_format": { "container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000 },
        "context_id": context,
        "continue": false,
        "max_buffer_delay_ms": 0,
    });
    ws.send(Message::text(request.to_string()))
        .await
        .expect("send");
    let mut first = None;
    let mut bytes = 0;
    while let Some(message) = ws.next().await {
        let Message::Text(t) = message.expect("message") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
        if v["context_id"] != context.as_str() {
            continue;
        }
        match v["type"].as_str() {
            Some("chunk") => {
                let data = v["data"].as_str().unwrap_or_default();
                bytes += base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("base64")
                    .len();
                first.get_or_insert_with(|| started.elapsed());
            }
            Some("done") => break,
            Some("error") => panic!("{t}"),
            _ => {}
        }
    }
    (first.unwrap_or_default(), started.elapsed(), bytes)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let ws = WsConfig {
            chunk_delay: Duration::ZERO,
            ..WsConfig::default()
        };
        let mock = MockCartesia::start_socket(KEY, ws).await;
        let base = mock.base_url();
        let p = CartesiaProvider::new(CartesiaSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(base.clone()),
            transport: voxwire_cartesia::Transport::Websocket,
            ..CartesiaSettings::default()
        })
        .expect("provider");
        let mut socket = connect(&base).await;
        let v = interleaved(&p, TEXT, ROUNDS, &mut socket, |s, n| Box::pin(bare(s, n))).await;
        let audio = AudioFormat::pcm16_mono(24_000);
        let (mut p_cpu, mut b_cpu, mut audio_s) = (Duration::ZERO, Duration::ZERO, 0.0);
        let started = process_cpu();
        for _ in 0..ROUNDS {
            let (_, _, bytes) = timed_synthesis(&p, TEXT).await;
            audio_s += bytes as f64 / (audio.sample_rate as f64 * audio.bytes_per_frame() as f64);
        }
        p_cpu += process_cpu().saturating_sub(started);
        let started = process_cpu();
        for n in 0..ROUNDS {
            bare(&mut socket, 10_000 + n).await;
        }
        b_cpu += process_cpu().saturating_sub(started);
        let ((pf, pt), (bf, bt)) = (v.provider, v.bare);
        let per = |c: Duration| c.as_secs_f64() * 1_000.0 / audio_s;
        println!(
            "voxwire-cartesia (shared socket) vs a bare WebSocket client, same mock, same run; {ROUNDS} utterances each, interleaved; {} characters, 24 kHz pcm_s16le",
            TEXT.chars().count()
        );
        println!();
        println!("| client | first audio (median ms) | total (median ms) | CPU ms per audio s | first-audio ratio | total ratio | CPU ratio |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        println!(
            "| bare WebSocket | {} | {} | {:.3} | 1.00 | 1.00 | 1.00 |",
            ms(bf),
            ms(bt),
            per(b_cpu)
        );
        println!(
            "| voxwire-cartesia | {} | {} | {:.3} | {:.2} | {:.2} | {:.2} |",
            ms(pf),
            ms(pt),
            per(p_cpu),
            v.first_ratio(),
            v.total_ratio(),
            p_cpu.as_secs_f64() / b_cpu.as_secs_f64().max(1e-9)
        );
        mock.shutdown().await;
    });
}

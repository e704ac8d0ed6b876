//! What voxwire-elevenlabs adds over a bare reqwest client, against the same mock.
//!
//! Both clients POST the same sentence to the test kit's ElevenLabs mock (in
//! this process, loopback, keep-alive) over and over, interleaved request by
//! request so drift hits both alike. The bare client does the minimum: the
//! POST, then for `/stream/with-timestamps` split the body at newlines, parse
//! each JSON line and base64-decode `audio_base64`, or for `/stream` read the
//! raw body. voxwire-elevenlabs does its full path: local checks, the POST,
//! the alignment mapped onto spans, times and words, sample alignment, chunk
//! numbering, the stream to the caller.
//!
//! Over the multi-context socket (`multi-stream-input`), the bare client is
//! one tokio-tungstenite socket kept open: per utterance a new context, its
//! text, `flush` and `close_context`, then base64 audio until that context's
//! `isFinal`; voxwire-elevenlabs speaks through its shared socket.
//!
//! Time to first audio and total time are measured per request; the table
//! gives same-run medians and the ratio provider / bare. The socket's CPU
//! per audio second is the process's CPU time (the mock's included, alike
//! for both) over a block of utterances by one client, then the other. Run:
//! `cargo bench -p voxwire-elevenlabs --bench vs_bare_client`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use voxwire_core::Secret;
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings, DEFAULT_MODEL, DEFAULT_VOICE};
use voxwire_testkit::bench::{interleaved, ms, process_cpu, timed_synthesis, Versus};
use voxwire_testkit::mock_elevenlabs::{MockElevenLabs, Switches};
use voxwire_transport::settings::Transport;

const KEY: &str = "xi-bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence for the speech endpoint.";
const ROUNDS: usize = 200;

#[derive(serde::Deserialize)]
struct Line {
    audio_base64: Option<String>,
}

/// One bare request: (time to first audio, total, audio bytes).
async fn bare(client: &reqwest::Client, base: &str, timed: bool) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let path = if timed {
        "stream/with-timestamps"
    } else {
        "stream"
    };
    let response = client
        .post(format!(
            "{base}/text-to-speech/{DEFAULT_VOICE}/{path}?output_format=pcm_24000"
        ))
        .header("xi-api-key", KEY)
        .json(&serde_json::json!({ "text": TEXT, "model_id": DEFAULT_MODEL }))
        .send()
        .await
        .expect("bare POST");
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    let mut pending: Vec<u8> = Vec::new();
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("bare body");
        if !timed {
            bytes += piece.len();
            first.get_or_insert_with(|| started.elapsed());
            continue;
        }
        pending.extend_from_slice(&piece);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line: Line = serde_json::from_slice(&line).expect("json line");
            let audio = base64::engine::general_purpose::STANDARD
                .decode(line.audio_base64.unwrap_or_default())
                .expect("base64");
            if !audio.is_empty() {
                bytes += audio.len();
                first.get_or_insert_with(|| started.elapsed());
            }
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
        let mock = MockElevenLabs::start_with(KEY, Switches::default()).await;
        let base = mock.base_url();
        let client = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .build()
            .expect("client");
        println!(
            "voxwire-elevenlabs vs a bare reqwest client, same mock, same run; {ROUNDS} requests each, interleaved; {} characters, 24 kHz pcm",
            TEXT.chars().count()
        );
        println!();
        println!("| endpoint | client | first audio (median ms) | total (median ms) | first-audio ratio | total ratio |");
        println!("|---|---|---:|---:|---:|---:|");
        for (name, timed) in [("/stream/with-timestamps", true), ("/stream", false)] {
            let p = ElevenLabsProvider::new(ElevenLabsSettings {
                api_key: Some(Secret::new(KEY)),
                base_url: Some(base.clone()),
                sample_rate: 24_000,
                timestamps: timed,
                transport: Transport::Rest,
                ..ElevenLabsSettings::default()
            })
            .expect("provider");
            let v = interleaved(&p, TEXT, ROUNDS, &mut (&client, &base), |(client, base), _| {
                Box::pin(bare(client, base, timed))
            })
            .await;
            print_rows(name, "bare reqwest", &v);
        }
        socket_rows(&mock).await;
        mock.shutdown().await;
    });
}

/// The table's two rows for `name`: the bare client's, then the provider's with the ratios.
fn print_rows(name: &str, bare: &str, v: &Versus) {
    let ((bf, bt), (pf, pt)) = (v.bare, v.provider);
    println!(
        "| {name} | {bare} | {} | {} | 1.00 | 1.00 |",
        ms(bf),
        ms(bt)
    );
    println!(
        "| {name} | voxwire-elevenlabs | {} | {} | {:.2} | {:.2} |",
        ms(pf),
        ms(pt),
        v.first_ratio(),
        v.total_ratio()
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The bare socket client: one utterance as context `n`.
async fn bare_socket(ws: &mut Socket, n: usize) -> (Duration, Duration, usize) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let started = Instant::now();
    let c = format!("bare-{n}");
    for m in [
        serde_json::json!({ "text": " ", "context_id": c }),
        serde_json::json!({ "text": TEXT, "context_id": c }),
        serde_json::json!({ "context_id": c, "flush": true }),
        serde_json::json!({ "context_id": c, "close_context": true }),
    ] {
        ws.send(Message::text(m.to_string())).await.expect("send");
    }
    let (mut first, mut bytes) = (None, 0);
    while let Some(message) = ws.next().await {
        let Message::Text(t) = message.expect("socket") else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
        if let Some(b64) = v["audio"].as_str() {
            let audio = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64");
            bytes += audio.len();
            first.get_or_insert_with(|| started.elapsed());
        } else if v["isFinal"] == serde_json::json!(true) {
            break;
        }
    }
    (first.unwrap_or_default(), started.elapsed(), bytes)
}

async fn socket_rows(mock: &MockElevenLabs) {
    let p = ElevenLabsProvider::new(ElevenLabsSettings {
        api_key: Some(Secret::new(KEY)),
        base_url: Some(mock.base_url()),
        sample_rate: 24_000,
        ..ElevenLabsSettings::default()
    })
    .expect("provider");
    let url = format!(
        "{}/text-to-speech/{DEFAULT_VOICE}/multi-stream-input?model_id={DEFAULT_MODEL}&output_format=pcm_24000&sync_alignment=true",
        mock.ws_base_url()
    );
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .expect("url");
    request
        .headers_mut()
        .insert("xi-api-key", KEY.parse().expect("header"));
    // Nagle off, as voxwire's sockets have it.
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("bare socket");
    let v = interleaved(&p, TEXT, ROUNDS, &mut ws, |ws, n| {
        Box::pin(bare_socket(ws, n))
    })
    .await;
    // CPU per audio second: a block of each, the mock's share alike.
    let audio_secs = |bytes: usize| bytes as f64 / 48_000.0;
    let (mut provider_cpu, mut provider_audio) = (Duration::ZERO, 0.0);
    let (mut bare_cpu, mut bare_audio) = (Duration::ZERO, 0.0);
    for block in 0..4 {
        let before = process_cpu();
        for _ in 0..ROUNDS / 4 {
            provider_audio += audio_secs(timed_synthesis(&p, TEXT).await.2);
        }
        provider_cpu += process_cpu() - before;
        let before = process_cpu();
        for n in 0..ROUNDS / 4 {
            bare_audio += audio_secs(bare_socket(&mut ws, 5000 + block * ROUNDS + n).await.2);
        }
        bare_cpu += process_cpu() - before;
    }
    let per = |cpu: Duration, audio: f64| cpu.as_secs_f64() * 1000.0 / audio;
    print_rows("multi-stream-input", "bare tokio-tungstenite", &v);
    println!();
    println!(
        "CPU per audio second over the socket (process CPU, the mock's included): bare {:.2} ms, voxwire-elevenlabs {:.2} ms ({:.2}x)",
        per(bare_cpu, bare_audio),
        per(provider_cpu, provider_audio),
        per(provider_cpu, provider_audio) / per(bare_cpu, bare_audio)
    );
}

//! What voxwire-openai adds over a bare reqwest client, against the same mock.
//!
//! Both clients POST the same sentence to the test kit's OpenAI mock (in this
//! process, loopback, keep-alive) over and over, the two interleaved request
//! by request so drift hits both alike. The bare client does the minimum:
//! the POST, then read the body pieces (raw pcm), or for SSE split events at
//! blank lines, parse each JSON and base64-decode `audio`. voxwire-openai does
//! its full path: local checks, the POST, `Content-Type` dispatch, sample
//! alignment with a carry byte, chunk numbering, the stream to the caller.
//!
//! Time to first audio (first audio byte in hand) and total time (last byte)
//! are measured per request; the table gives same-run medians and the ratio
//! provider / bare. Run: `cargo bench -p voxwire-openai --bench vs_bare_client`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use voxwire_core::Secret;
use voxwire_openai::{OpenAiProvider, OpenAiSettings, StreamFormat};
use voxwire_testkit::bench::{interleaved, ms};
use voxwire_testkit::mock_openai::{MockOpenAi, Switches};

const KEY: &str = "sk-bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence for the speech endpoint.";
const ROUNDS: usize = 200;

#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    audio: Option<&'a str>,
}

/// One bare request: (time to first audio, total, audio bytes).
async fn bare(client: &reqwest::Client, url: &str, sse: bool) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let mut body = serde_json::json!({
        "model": "gpt-4o-mini-tts", "input": TEXT, "voice": "alloy", "response_format": "pcm"
    });
    if sse {
        body["stream_format"] = "sse".into();
    }
    let response = client
        .post(url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("bare POST");
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    let mut pending: Vec<u8> = Vec::new();
    while let Some(piece) = stream.next().await {
        let piece = piece.expect("bare body");
        if sse {
            pending.extend_from_slice(&piece);
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = pending.drain(..end + 2).collect();
                let line = std::str::from_utf8(&event).expect("utf8");
                let data = line.trim().trim_start_matches("data: ");
                let e: Event<'_> = serde_json::from_str(data).expect("json");
                if e.kind == "speech.audio.delta" {
                    let audio = base64::engine::general_purpose::STANDARD
                        .decode(e.audio.unwrap_or_default())
                        .expect("base64");
                    bytes += audio.len();
                    first.get_or_insert_with(|| started.elapsed());
                }
            }
        } else {
            bytes += piece.len();
            first.get_or_insert_with(|| started.elapsed());
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
        let mock = MockOpenAi::start_with(KEY, Switches::default()).await;
        let url = format!("{}/audio/speech", mock.base_url());
        let client = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .build()
            .expect("client");
        println!(
            "voxwire-openai vs a bare reqwest client, same mock, same run; {ROUNDS} requests each, interleaved; {} characters ({:.2} s of 24 kHz pcm)",
            TEXT.chars().count(),
            TEXT.chars().count() as f64 * 0.06
        );
        println!();
        println!("| body | client | first audio (median ms) | total (median ms) | first-audio ratio | total ratio |");
        println!("|---|---|---:|---:|---:|---:|");
        for (name, sse) in [("raw pcm", false), ("SSE", true)] {
            let p = OpenAiProvider::new(OpenAiSettings {
                api_key: Some(Secret::new(KEY)),
                base_url: Some(mock.base_url()),
                stream_format: if sse { StreamFormat::Sse } else { StreamFormat::Audio },
                ..OpenAiSettings::default()
            })
            .expect("provider");
            let v = interleaved(&p, TEXT, ROUNDS, &mut (&client, &url), |(client, url), _| {
                Box::pin(bare(client, url, sse))
            })
            .await;
            let (bf, bt) = v.bare;
            let (pf, pt) = v.provider;
            println!("| {name} | bare reqwest | {} | {} | 1.00 | 1.00 |", ms(bf), ms(bt));
            println!(
                "| {name} | voxwire-openai | {} | {} | {:.2} | {:.2} |",
                ms(pf),
                ms(pt),
                v.first_ratio(),
                v.total_ratio()
            );
        }
        mock.shutdown().await;
    });
}

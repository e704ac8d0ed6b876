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
//! Time to first audio and total time are measured per request; the table
//! gives same-run medians and the ratio provider / bare. Run:
//! `cargo bench -p voxwire-elevenlabs --bench vs_bare_client`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use voxwire_core::Secret;
use voxwire_elevenlabs::{ElevenLabsProvider, ElevenLabsSettings, DEFAULT_MODEL, DEFAULT_VOICE};
use voxwire_testkit::bench::{median, ms, timed_synthesis};
use voxwire_testkit::mock_elevenlabs::{MockElevenLabs, Switches};

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
                ..ElevenLabsSettings::default()
            })
            .expect("provider");
            // Warm both connections.
            for _ in 0..5 {
                timed_synthesis(&p, TEXT).await;
                bare(&client, &base, timed).await;
            }
            let (mut pf, mut pt, mut bf, mut bt) = (vec![], vec![], vec![], vec![]);
            for _ in 0..ROUNDS {
                let (f, t, pb) = timed_synthesis(&p, TEXT).await;
                pf.push(f);
                pt.push(t);
                let (f, t, bb) = bare(&client, &base, timed).await;
                bf.push(f);
                bt.push(t);
                assert_eq!(pb, bb, "both got the same audio");
            }
            let (pf, pt, bf, bt) = (median(pf), median(pt), median(bf), median(bt));
            println!("| {name} | bare reqwest | {} | {} | 1.00 | 1.00 |", ms(bf), ms(bt));
            println!(
                "| {name} | voxwire-elevenlabs | {} | {} | {:.2} | {:.2} |",
                ms(pf),
                ms(pt),
                pf.as_secs_f64() / bf.as_secs_f64(),
                pt.as_secs_f64() / bt.as_secs_f64()
            );
        }
        mock.shutdown().await;
    });
}

//! What voxwire-cartesia adds over a bare reqwest client, against the same mock.
//!
//! Both clients POST the same sentence to the test kit's Cartesia mock's
//! `/tts/bytes` (in this process, loopback, keep-alive) over and over,
//! interleaved request by request so drift hits both alike. The bare client
//! does the minimum: the POST with the version header and the key, then
//! read the raw body. voxwire-cartesia does its full path: local checks,
//! the POST, sample alignment, chunk numbering, the stream to the caller.
//!
//! Time to first audio and total time are measured per request; the table
//! gives same-run medians and the ratio provider / bare. Run:
//! `cargo bench -p voxwire-cartesia --bench vs_bare_client`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use voxwire_cartesia::{
    CartesiaProvider, CartesiaSettings, DEFAULT_MODEL, DEFAULT_VERSION, DEFAULT_VOICE,
    VERSION_HEADER,
};
use voxwire_core::Secret;
use voxwire_testkit::bench::{interleaved, ms};
use voxwire_testkit::mock_cartesia::MockCartesia;

const KEY: &str = "sk_car_bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence for the speech endpoint.";
const ROUNDS: usize = 200;

/// One bare request: (time to first audio, total, audio bytes).
async fn bare(client: &reqwest::Client, base: &str) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/tts/bytes"))
        .bearer_auth(KEY)
        .header(VERSION_HEADER, DEFAULT_VERSION)
        .json(&serde_json::json!({
            "model_id": DEFAULT_MODEL,
            "transcript": TEXT,
            "voice": { "id": DEFAULT_VOICE },
            "output_format": { "container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000 },
        }))
        .send()
        .await
        .expect("bare POST");
    assert!(response.status().is_success(), "{}", response.status());
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = 0;
    while let Some(piece) = stream.next().await {
        bytes += piece.expect("bare body").len();
        first.get_or_insert_with(|| started.elapsed());
    }
    (first.unwrap_or_default(), started.elapsed(), bytes)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mock = MockCartesia::start_with(KEY).await;
        let base = mock.base_url();
        let client = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let p = CartesiaProvider::new(CartesiaSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(base.clone()),
            transport: voxwire_cartesia::Transport::Rest,
            ..CartesiaSettings::default()
        })
        .expect("provider");
        let v = interleaved(&p, TEXT, ROUNDS, &mut (&client, &base), |(client, base), _| {
            Box::pin(bare(client, base))
        })
        .await;
        let ((pf, pt), (bf, bt)) = (v.provider, v.bare);
        println!(
            "voxwire-cartesia vs a bare reqwest client, same mock, same run; {ROUNDS} requests each, interleaved; {} characters, 24 kHz pcm_s16le",
            TEXT.chars().count()
        );
        println!();
        println!("| client | first audio (median ms) | total (median ms) | first-audio ratio | total ratio |");
        println!("|---|---:|---:|---:|---:|");
        println!("| bare reqwest | {} | {} | 1.00 | 1.00 |", ms(bf), ms(bt));
        println!(
            "| voxwire-cartesia | {} | {} | {:.2} | {:.2} |",
            ms(pf),
            ms(pt),
            v.first_ratio(),
            v.total_ratio()
        );
        mock.shutdown().await;
    });
}

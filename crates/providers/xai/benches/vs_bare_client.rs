//! What voxwire-xai adds over a bare WebSocket client, against the same mock.
//!
//! Both clients keep one open connection to the mock xAI server (in this
//! process) and speak the same sentence over and over. The bare client does
//! the minimum: send `text.delta` + `text.done`, read frames, base64-decode
//! each `audio.delta`, stop at `audio.done`. voxwire-xai does its full path:
//! pooled connection, JSON parsing into protocol types, sample alignment,
//! format handling, chunk numbering, the channel to the caller.
//!
//! Time to first audio is measured per utterance with the two clients
//! interleaved; CPU time (getrusage, whole process, so the mock's share is the
//! same for both) is measured over alternating blocks of utterances per
//! client, the median block divided by its audio seconds. Prints one table.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsProvider};
use voxwire_testkit::mock_xai::{MockConfig, MockXai};
use voxwire_xai::{XaiProvider, XaiSettings};

const KEY: &str = "xai-bench-key";
const TEXT: &str = "Hello there, this is the benchmark sentence.";
const ROUNDS: usize = 300;
/// CPU is measured over this many alternating blocks of `BLOCK` utterances per client.
const CPU_BLOCKS: usize = 9;
const BLOCK: usize = 60;

type Bare =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn bare_connect(mock: &MockXai) -> Bare {
    let url = format!(
        "{}?voice=eve&language=auto&codec=pcm&sample_rate=24000",
        mock.ws_url()
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {KEY}").parse().expect("header"),
    );
    // TCP_NODELAY, as voxwire's connection has: without it Nagle holds
    // `text.done` behind the unacknowledged `text.delta` for ~40 ms.
    tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("bare connect")
        .0
}

/// The least a client must read of a server frame (borrowed, no allocation).
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    delta: Option<&'a str>,
}

/// One utterance over the bare socket: (time to first audio, audio bytes).
async fn bare_utterance(ws: &mut Bare) -> (Duration, usize) {
    let started = Instant::now();
    let delta = serde_json::json!({"type": "text.delta", "delta": TEXT}).to_string();
    ws.send(Message::text(delta)).await.expect("send");
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .expect("send");
    let mut first = None;
    let mut bytes = 0;
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame.expect("frame") else {
            continue;
        };
        let frame: Frame = serde_json::from_str(text.as_str()).expect("json");
        match frame.kind {
            "audio.delta" => {
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(frame.delta.unwrap_or_default())
                    .expect("base64");
                first.get_or_insert_with(|| started.elapsed());
                bytes += audio.len();
            }
            "audio.done" => break,
            _ => {}
        }
    }
    (first.expect("audio"), bytes)
}

/// One utterance through voxwire-xai: (time to first audio, audio bytes).
async fn voxwire_utterance(p: &XaiProvider) -> (Duration, usize) {
    let started = Instant::now();
    let request = SynthesisRequest::new(TEXT).format(AudioFormat::pcm16_mono(24_000));
    let mut stream = p.synthesize(request).await.expect("synthesize");
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
        bytes += chunk.data.len();
    }
    (first.expect("audio"), bytes)
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Everything runs on a worker task: block_on's own thread would add a
    // cross-thread wake-up to every read of whichever client ran on it.
    let work = runtime.spawn(async {
        let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
        let provider = XaiProvider::new(XaiSettings {
            api_key: Some(Secret::new(KEY)),
            base_url: Some(mock.base_url()),
            ..XaiSettings::default()
        })
        .expect("provider");
        let mut bare = bare_connect(&mock).await;
        // Warm up both (connection in the pool, page cache, allocator).
        for _ in 0..20 {
            bare_utterance(&mut bare).await;
            voxwire_utterance(&provider).await;
        }

        let (mut bare_ttfa, mut vox_ttfa) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            bare_ttfa.push(bare_utterance(&mut bare).await.0);
            vox_ttfa.push(voxwire_utterance(&provider).await.0);
        }

        let audio_per_utterance = AudioFormat::pcm16_mono(24_000)
            .duration_of(bare_utterance(&mut bare).await.1)
            .as_secs_f64();
        // CPU in alternating blocks; the median block damps the machine's noise.
        let (mut bare_cpu, mut vox_cpu) = (Vec::new(), Vec::new());
        for _ in 0..CPU_BLOCKS {
            let before = cpu_time();
            for _ in 0..BLOCK {
                bare_utterance(&mut bare).await;
            }
            bare_cpu.push(cpu_time() - before);
            let before = cpu_time();
            for _ in 0..BLOCK {
                voxwire_utterance(&provider).await;
            }
            vox_cpu.push(cpu_time() - before);
        }
        let audio_seconds = audio_per_utterance * BLOCK as f64;

        let (b50, v50) = (percentile(&mut bare_ttfa, 0.5), percentile(&mut vox_ttfa, 0.5));
        let (b90, v90) = (percentile(&mut bare_ttfa, 0.9), percentile(&mut vox_ttfa, 0.9));
        let (bc, vc) = (
            ms(percentile(&mut bare_cpu, 0.5)) / audio_seconds,
            ms(percentile(&mut vox_cpu, 0.5)) / audio_seconds,
        );
        println!(
            "\nvoxwire-xai vs a bare tokio-tungstenite client, same mock, {ROUNDS} utterances each ({:.2} s of 24 kHz PCM each, 4 KiB deltas)",
            audio_per_utterance
        );
        println!("{:<14} {:>14} {:>14} {:>22}", "client", "TTFA p50 ms", "TTFA p90 ms", "CPU ms per audio s");
        println!("{:<14} {:>14.3} {:>14.3} {:>22.3}", "bare", ms(b50), ms(b90), bc);
        println!("{:<14} {:>14.3} {:>14.3} {:>22.3}", "voxwire-xai", ms(v50), ms(v90), vc);
        println!(
            "{:<14} {:>14.3} {:>14.3} {:>22.3}",
            "added",
            ms(v50) - ms(b50),
            ms(v90) - ms(b90),
            vc - bc
        );
        println!(
            "ratio voxwire/bare: TTFA p50 {:.2}x, CPU {:.2}x (CPU includes the in-process mock, equal for both)\n",
            ms(v50) / ms(b50),
            vc / bc
        );
    });
    runtime.block_on(work).expect("bench task");
}

//! What voxwire-deepgram adds over a bare WebSocket client, against the same mock;
//! REST against the socket; and how fast a cancel silences the audio.
//!
//! All clients talk to the test kit's Deepgram mock in this process. The
//! bare client does the minimum: one open socket, `Speak` + `Flush`, count
//! binary frames until `Flushed`. voxwire-deepgram does its full path:
//! pooled socket proven alive by a ping, Speak splitting, decoding, sample
//! alignment, chunking, the channel to the caller. REST is
//! `POST /v1/speak` through voxwire-deepgram (keep-alive HTTP connection).
//!
//! Time to first audio and total time are measured per utterance with the
//! clients interleaved (medians of `ROUNDS`). Cancel-to-silence: a session
//! speaks a long text from a mock that paces its frames (1 ms apart, like a
//! streaming server) and leaks 3 stale frames after each `Clear`, cancels at
//! the first audio, and measures the time from
//! `cancel()` to the last audio event the caller receives (zero when none
//! comes after it) and to `Cleared`; the bare client's `Clear` → last binary
//! frame before `Cleared` is its baseline. Prints one table.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::session::{SessionEvent, StreamConfig};
use voxwire_core::{AudioFormat, Secret, SynthesisRequest, TtsProvider};
use voxwire_deepgram::{DeepgramProvider, DeepgramSettings};
use voxwire_testkit::kit::Mock;
use voxwire_testkit::mock_deepgram::{base_url, DeepgramConfig, MockDeepgram, DEFAULT_API_KEY};

const TEXT: &str = "Hello there, this is the benchmark sentence.";
const LONG: &str = "This is a long answer that the caller interrupts as soon as it starts to play.";
const ROUNDS: usize = 200;
const CANCELS: usize = 60;

type Bare =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn bare_connect(mock: &Mock<MockDeepgram>) -> Bare {
    let url = format!(
        "{}?model=aura-2-thalia-en&encoding=linear16&sample_rate=24000",
        mock.ws_url("/v1/speak")
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Token {DEFAULT_API_KEY}").parse().expect("header"),
    );
    let mut ws = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("bare connect")
        .0;
    // Metadata first.
    let _ = ws.next().await;
    ws
}

fn is_type(text: &str, kind: &str) -> bool {
    text.contains(&format!(r#""type":"{kind}""#))
}

/// One utterance over the bare socket: (first audio, total, bytes).
async fn bare_utterance(ws: &mut Bare) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let speak = serde_json::json!({"type": "Speak", "text": TEXT}).to_string();
    ws.send(Message::text(speak)).await.expect("send");
    ws.send(Message::text(r#"{"type":"Flush"}"#))
        .await
        .expect("send");
    let mut first = None;
    let mut bytes = 0;
    while let Some(frame) = ws.next().await {
        match frame.expect("frame") {
            Message::Binary(b) => {
                first.get_or_insert_with(|| started.elapsed());
                bytes += b.len();
            }
            Message::Text(t) if is_type(t.as_str(), "Flushed") => break,
            _ => {}
        }
    }
    (first.expect("audio"), started.elapsed(), bytes)
}

/// One whole-text utterance through voxwire-deepgram: (first audio, total, bytes).
async fn voxwire_utterance(p: &DeepgramProvider, rest: bool) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let request = SynthesisRequest::new(TEXT).format(AudioFormat::pcm16_mono(24_000));
    let mut stream = if rest {
        p.synthesize_rest(request).await
    } else {
        p.synthesize_ws(request).await
    }
    .expect("synthesize");
    let mut first = None;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        first.get_or_insert_with(|| started.elapsed());
        bytes += chunk.data.len();
    }
    (first.expect("audio"), started.elapsed(), bytes)
}

/// A session cancelled at its first audio: (cancel → last audio, cancel → Cleared).
async fn voxwire_cancel(p: &DeepgramProvider) -> (Duration, Duration) {
    let mut s = p
        .stream(StreamConfig {
            format: Some(AudioFormat::pcm16_mono(24_000)),
            ..StreamConfig::default()
        })
        .await
        .expect("session");
    s.push_text(LONG).await.expect("text");
    s.flush().await.expect("flush");
    loop {
        if let Some(Ok(SessionEvent::Audio(_))) = s.next_event().await {
            break;
        }
    }
    let at = Instant::now();
    let generation = s.cancel();
    let mut last = Duration::ZERO;
    loop {
        match s.next_event().await {
            Some(Ok(SessionEvent::Audio(_))) => last = at.elapsed(),
            Some(Ok(SessionEvent::Cleared { generation: g })) if g == generation => break,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let cleared = at.elapsed();
    s.finish().await.expect("finish");
    while s.next_event().await.is_some() {}
    (last, cleared)
}

/// The bare client's barge-in: (Clear → last binary frame, Clear → Cleared).
async fn bare_cancel(ws: &mut Bare) -> (Duration, Duration) {
    let speak = serde_json::json!({"type": "Speak", "text": LONG}).to_string();
    ws.send(Message::text(speak)).await.expect("send");
    ws.send(Message::text(r#"{"type":"Flush"}"#))
        .await
        .expect("send");
    loop {
        if let Some(Ok(Message::Binary(_))) = ws.next().await {
            break;
        }
    }
    let at = Instant::now();
    ws.send(Message::text(r#"{"type":"Clear"}"#))
        .await
        .expect("send");
    let mut last = Duration::ZERO;
    while let Some(frame) = ws.next().await {
        match frame.expect("frame") {
            Message::Binary(_) => last = at.elapsed(),
            Message::Text(t) if is_type(t.as_str(), "Cleared") => break,
            _ => {}
        }
    }
    (last, at.elapsed())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn provider(mock: &Mock<MockDeepgram>) -> DeepgramProvider {
    DeepgramProvider::new(DeepgramSettings {
        api_key: Some(Secret::new(DEFAULT_API_KEY)),
        base_url: Some(base_url(mock)),
        ..DeepgramSettings::default()
    })
    .expect("provider")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let work = runtime.spawn(async {
        let mock = MockDeepgram::start(DeepgramConfig {
            // No flush limit here: the bench measures latency, not the limiter.
            flush_limit: usize::MAX,
            chars_limit: usize::MAX,
            ..DeepgramConfig::default()
        })
        .await
        .expect("mock");
        let p = provider(&mock);
        let mut bare = bare_connect(&mock).await;
        for _ in 0..20 {
            bare_utterance(&mut bare).await;
            voxwire_utterance(&p, false).await;
            voxwire_utterance(&p, true).await;
        }
        let mut rows: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let b = bare_utterance(&mut bare).await;
            bytes = b.2;
            rows[0].0.push(b.0);
            rows[0].1.push(b.1);
            let v = voxwire_utterance(&p, false).await;
            assert_eq!(v.2, b.2, "same audio");
            rows[1].0.push(v.0);
            rows[1].1.push(v.1);
            let r = voxwire_utterance(&p, true).await;
            assert_eq!(r.2, b.2, "same audio");
            rows[2].0.push(r.0);
            rows[2].1.push(r.1);
        }
        let secs = AudioFormat::pcm16_mono(24_000).duration_of(bytes).as_secs_f64();

        // Cancel-to-silence on a paced mock.
        let paced = MockDeepgram::start(DeepgramConfig {
            frame_delay: Duration::from_millis(1),
            leak_after_clear: 3,
            flush_limit: usize::MAX,
            chars_limit: usize::MAX,
            ..DeepgramConfig::default()
        })
        .await
        .expect("mock");
        let pp = provider(&paced);
        let mut pbare = bare_connect(&paced).await;
        let (mut vl, mut vc, mut bl, mut bc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..CANCELS {
            let (l, c) = voxwire_cancel(&pp).await;
            vl.push(l);
            vc.push(c);
            let (l, c) = bare_cancel(&mut pbare).await;
            bl.push(l);
            bc.push(c);
        }

        println!(
            "\nvoxwire-deepgram vs a bare tokio-tungstenite client, same in-process mock, {ROUNDS} interleaved utterances of {secs:.2} s (24 kHz linear16, 1001-byte frames)"
        );
        println!("{:<26} {:>16} {:>16}", "client", "first audio p50", "total p50");
        let names = ["bare socket", "voxwire socket (pooled)", "voxwire REST (keep-alive)"];
        let mut medians = Vec::new();
        for (name, (first, total)) in names.iter().zip(rows.iter_mut()) {
            let (f, t) = (median(first), median(total));
            medians.push((f, t));
            println!("{name:<26} {:>13.3} ms {:>13.3} ms", ms(f), ms(t));
        }
        println!(
            "ratios: socket/bare first audio {:.2}x, total {:.2}x; REST/socket first audio {:.2}x, total {:.2}x",
            ms(medians[1].0) / ms(medians[0].0),
            ms(medians[1].1) / ms(medians[0].1),
            ms(medians[2].0) / ms(medians[1].0),
            ms(medians[2].1) / ms(medians[1].1),
        );
        println!(
            "cancel at first audio, mock pacing 1 ms per frame and leaking 3 stale frames after Clear, {CANCELS} runs: cancel → last audio p50 voxwire {:.3} ms (bare {:.3} ms), cancel → Cleared p50 voxwire {:.3} ms (bare {:.3} ms)\n",
            ms(median(&mut vl)),
            ms(median(&mut bl)),
            ms(median(&mut vc)),
            ms(median(&mut bc)),
        );
    });
    runtime.block_on(work).expect("bench task");
}

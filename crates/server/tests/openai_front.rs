//! The relay's OpenAI front (`POST /v1/audio/speech`, `GET /v1/models`) on a
//! real listening socket: the official `openai` Python SDK, unmodified but for
//! `base_url` and `api_key`, gets audio in pcm, wav and SSE, mp3 from its
//! default call and Ogg Opus (read back by `mutagen` to the right duration),
//! and the fallback's audio when the primary refuses with 403; LiveKit's
//! OpenAI TTS plugin with its defaults gets audio; raw HTTP checks the error
//! shapes, the limits, mid-response failover, `x-request-id` on both fronts,
//! and that mp3 streams (first bytes long before the chain is done).

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use voxwire_server::ServerSettings;
use voxwire_testkit::mock_xai::{expected_audio, Fault};
use voxwire_testkit::python;

const TEXT: &str = "Hello from the OpenAI front of the relay.";

/// Runs the SDK against the relay; prints one JSON object of what it got.
const SDK_SCRIPT: &str = r#"
import base64, io, json, sys
import mutagen.mp3, mutagen.oggopus
import openai

base, key, text = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=30)
out = {}

def take(name, **kw):
    with client.audio.speech.with_streaming_response.create(input=text, **kw) as r:
        data = b"".join(r.iter_bytes())
        out[name] = {"type": r.headers.get("content-type"), "audio": base64.b64encode(data).decode()}

take("pcm", model="tts-1", voice="alloy", response_format="pcm")
take("wav", model="tts-1-hd", voice="nova", response_format="wav")
take("sse", model="gpt-4o-mini-tts", voice="coral", response_format="pcm", stream_format="sse")
take("opus", model="tts-1", voice="alloy", response_format="opus")
out["opus"]["seconds"] = mutagen.oggopus.OggOpus(io.BytesIO(base64.b64decode(out["opus"]["audio"]))).info.length
# The default call: no response_format, so OpenAI's default, mp3.
r = client.audio.speech.create(model="tts-1", voice="alloy", input=text)
out["default"] = {
    "type": r.response.headers.get("content-type"),
    "request_id": r.response.headers.get("x-request-id"),
    "head": base64.b64encode(r.content[:4]).decode(),
    "seconds": mutagen.mp3.MP3(io.BytesIO(r.content)).info.length,
}
out["models"] = sorted(m.id for m in client.models.list())
for name, kw in [("unknown_model", {"model": "no-such-model"}), ("aac", {"model": "tts-1", "response_format": "aac"})]:
    try:
        with client.audio.speech.with_streaming_response.create(input=text, voice="alloy", **kw) as r:
            r.read()
        out[name] = "no error"
    except openai.APIStatusError as e:
        out[name] = {"class": type(e).__name__, "status": e.status_code, "body": e.body}
try:
    bad = openai.OpenAI(base_url=base, api_key="not-the-token-at-all", max_retries=0, timeout=30)
    bad.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="pcm")
    out["bad_key"] = "no error"
except openai.APIStatusError as e:
    out["bad_key"] = {"class": type(e).__name__, "status": e.status_code}
print(json.dumps(out))
"#;

fn decode(b64: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().unwrap_or_default())
        .unwrap()
}

/// The audio of an SSE body: each `speech.audio.delta`'s `audio`, in order;
/// panics unless the last event is `speech.audio.done`.
fn sse_audio(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        events.last().and_then(|e| e["type"].as_str()),
        Some("speech.audio.done"),
        "{text}"
    );
    events
        .iter()
        .filter(|e| e["type"] == "speech.audio.delta")
        .flat_map(|e| decode(&e["audio"]))
        .collect()
}

/// Runs [`SDK_SCRIPT`] against `addr`; `None` outside the test command.
async fn sdk(addr: std::net::SocketAddr) -> Option<serde_json::Value> {
    let base = format!("http://{addr}/v1");
    let output = tokio::task::spawn_blocking(move || {
        python::run_script(SDK_SCRIPT, &[&base, SERVER_TOKEN, TEXT], &[])
    })
    .await
    .unwrap()?;
    assert!(
        output.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn check_sdk_answers(got: &serde_json::Value) {
    let pcm = expected_audio(TEXT, pcm());
    assert_eq!(got["pcm"]["type"], "audio/pcm");
    assert_eq!(decode(&got["pcm"]["audio"]), pcm, "pcm bytes");
    assert_eq!(got["wav"]["type"], "audio/wav");
    let wav = decode(&got["wav"]["audio"]);
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(
        &wav[44..],
        &pcm[..],
        "wav carries the same PCM after its header"
    );
    assert_eq!(got["sse"]["type"], "text/event-stream");
    assert_eq!(sse_audio(&decode(&got["sse"]["audio"])), pcm, "sse audio");
    let models: Vec<&str> = got["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(models.contains(&"tts-1") && models.contains(&"gpt-4o-mini-tts"));
    assert_eq!(got["unknown_model"]["class"], "NotFoundError");
    assert_eq!(got["unknown_model"]["body"]["code"], "model_not_found");
    let pcm_s = pcm.len() as f64 / 48_000.0;
    assert_eq!(got["default"]["type"], "audio/mpeg");
    assert!(
        got["default"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{}",
        got["default"]
    );
    let mp3_s = got["default"]["seconds"].as_f64().unwrap();
    assert!(
        (mp3_s - pcm_s).abs() <= 0.05 * pcm_s,
        "mp3 {mp3_s} s against pcm {pcm_s} s"
    );
    assert_eq!(got["opus"]["type"], "audio/opus");
    let opus = decode(&got["opus"]["audio"]);
    assert_eq!(&opus[..4], b"OggS");
    assert_eq!(&opus[28..36], b"OpusHead", "the first page holds OpusHead");
    let opus_s = got["opus"]["seconds"].as_f64().unwrap();
    assert!(
        (opus_s - pcm_s).abs() <= 0.05 * pcm_s,
        "opus {opus_s} s against pcm {pcm_s} s"
    );
    assert_eq!(got["aac"]["class"], "BadRequestError");
    let why = got["aac"]["body"]["message"].as_str().unwrap();
    assert!(
        why.contains("aac") && why.contains("mp3, opus, flac, wav, pcm"),
        "{why}"
    );
    assert_eq!(got["bad_key"]["class"], "AuthenticationError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_gets_pcm_wav_and_sse_through_the_relay() {
    let s = setup().await;
    let Some(got) = sdk(s.addr).await else { return };
    check_sdk_answers(&got);
    // The primary (the xAI mock) spoke every one of them.
    assert!(s.fallback.calls().is_empty(), "{:?}", s.fallback.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_primary_refusing_403_the_sdk_gets_the_fallbacks_audio_and_no_error() {
    let s = setup_with(Fault::reject(403, "forbidden"), |_| {}).await;
    let Some(got) = sdk(s.addr).await else { return };
    check_sdk_answers(&got);
    assert!(!s.fallback.calls().is_empty(), "the fallback spoke");
    assert!(
        s.upstream.requests().iter().any(|r| r.status == 403),
        "the primary was asked and refused"
    );
}

/// `POST /v1/audio/speech` with `body` and the test token, raw.
async fn post(addr: std::net::SocketAddr, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/v1/audio/speech"))
        .bearer_auth(SERVER_TOKEN)
        .json(&body)
        .timeout(LIMIT)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn errors_are_openai_shaped_and_name_what_is_served() {
    let s = setup_with(Fault::None, |settings: &mut ServerSettings| {
        settings.openai.voices = [("alloy".to_string(), "eve".to_string())].into();
    })
    .await;
    let cases = [
        (
            serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "nova", "response_format": "pcm"}),
            400,
            "voice",
        ),
        (
            serde_json::json!({"model": "tts-1", "input": "", "voice": "alloy", "response_format": "pcm"}),
            400,
            "input",
        ),
        (
            serde_json::json!({"model": "tts-1", "input": "x".repeat(4097), "voice": "alloy", "response_format": "pcm"}),
            400,
            "input",
        ),
        (
            serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm", "speed": 9.0}),
            400,
            "speed",
        ),
        (
            serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "surprise": 1}),
            400,
            "body",
        ),
        (
            serde_json::json!({"model": "tts-2", "input": TEXT, "voice": "alloy"}),
            404,
            "model",
        ),
    ];
    for (body, status, param) in cases {
        let r = post(s.addr, body.clone()).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], param, "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(v["error"]["type"].is_string(), "{v}");
    }
    // The mapped voice reaches the chain.
    let r = post(
        s.addr,
        serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        expected_audio(TEXT, pcm())
    );
    let upgrade = s
        .upstream
        .requests()
        .into_iter()
        .find(|r| r.query_param("voice").is_some())
        .expect("an upstream upgrade");
    assert_eq!(upgrade.query_param("voice").as_deref(), Some("eve"));
}

#[tokio::test]
async fn the_body_keeps_flowing_from_the_fallback_when_the_primary_dies_mid_response() {
    // Two sentences; the primary cuts every utterance after 4800 bytes.
    let text = "The first sentence is spoken here. The second sentence follows it.";
    let s = setup_with(Fault::close_after(4800), |_| {}).await;
    let r = post(
        s.addr,
        serde_json::json!({"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(30), r.bytes())
        .await
        .unwrap()
        .unwrap();
    let whole = expected_audio(text, pcm()).len();
    // Every sentence heard, only the cut part repeated.
    assert!(
        body.len() >= whole && body.len() <= whole + 4800,
        "{} bytes for {whole}",
        body.len()
    );
    assert!(!s.fallback.calls().is_empty());
    let metrics = metrics_of(s.addr).await;
    assert!(metrics.contains("voxwire_failovers_total{"), "{metrics}");
}

#[tokio::test]
async fn a_client_that_hangs_up_ends_its_session() {
    let s = setup().await;
    let long = "A sentence that takes a while to speak. ".repeat(40);
    let r = post(
        s.addr,
        serde_json::json!({"model": "tts-1", "input": long, "voice": "alloy", "response_format": "pcm"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    drop(r);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sample(&metrics_of(s.addr).await, "voxwire_sessions_active ") != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_mp3_answer_starts_flowing_long_before_the_chain_is_done() {
    // The upstream drips a 4 KiB chunk every 60 ms: the answer takes seconds.
    let s = setup_with(Fault::SlowDrip(Duration::from_millis(60)), |_| {}).await;
    let long = "A sentence that takes a while to speak. ".repeat(12);
    let audio_s = expected_audio(&long, pcm()).len() as f64 / 48_000.0;
    let start = tokio::time::Instant::now();
    let r = post(
        s.addr,
        serde_json::json!({"model": "tts-1", "input": long, "voice": "alloy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let mut body = r.bytes_stream();
    let mut first_at = None;
    let mut mp3 = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            let chunk = chunk.unwrap();
            if !chunk.is_empty() && first_at.is_none() {
                first_at = Some(start.elapsed());
            }
            mp3.extend_from_slice(&chunk);
        }
    })
    .await
    .unwrap();
    let total = start.elapsed();
    let first = first_at.unwrap();
    assert!(
        total > Duration::from_secs(2),
        "the drip should take seconds ({total:?}, {audio_s} s of audio)"
    );
    assert!(
        first * 4 < total,
        "first mp3 bytes after {first:?} of {total:?}: not streamed"
    );
    // An MPEG audio frame sync opens the body (no tag to wait for).
    assert_eq!(mp3[0], 0xFF);
    assert_eq!(mp3[1] & 0xE0, 0xE0);
}

/// `x-request-id` of a response, asserting OpenAI's shape.
fn request_id(headers: &reqwest::header::HeaderMap) -> String {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(id.starts_with("req_") && id.len() == 36, "{id:?}");
    id
}

#[tokio::test]
async fn every_response_of_both_fronts_carries_a_fresh_request_id() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for body in [
        serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "opus"}),
        serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "aac"}),
    ] {
        let r = post(s.addr, body).await;
        ids.push(request_id(r.headers()));
    }
    let r = http
        .get(format!("http://{}/v1/models", s.addr))
        .bearer_auth(SERVER_TOKEN)
        .send()
        .await
        .unwrap();
    ids.push(request_id(r.headers()));
    let r = http
        .get(format!("http://{}/v1/models", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    ids.push(request_id(r.headers()));
    // The xAI REST front, answering and refusing.
    for token in [SERVER_TOKEN, "wrong"] {
        let r = http
            .post(format!("http://{}/v1/tts", s.addr))
            .bearer_auth(token)
            .json(&serde_json::json!({"text": TEXT, "voice_id": "eve", "language": "en", "output_format": {"codec": "pcm", "sample_rate": 24000}}))
            .send()
            .await
            .unwrap();
        ids.push(request_id(r.headers()));
    }
    // The xAI WebSocket front's upgrade.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/v1/tts", s.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {SERVER_TOKEN}").parse().unwrap(),
    );
    let (_ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(id.starts_with("req_"), "{id:?}");
    ids.push(id);
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

/// LiveKit's OpenAI TTS plugin with its defaults (mp3, `gpt-4o-mini-tts`,
/// `ash`) but for `base_url` and `api_key`. Prints the seconds of audio it
/// decoded, its sample rate, the request id it saw, and whether it logged
/// that no request id came.
const LIVEKIT_OPENAI_SCRIPT: &str = r#"
import asyncio, json, logging, sys
from livekit.plugins import openai

base, key, text = sys.argv[1], sys.argv[2], sys.argv[3]
warnings = []

class Catch(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())

logging.getLogger().addHandler(Catch())
logging.getLogger().setLevel(logging.DEBUG)

async def main():
    tts = openai.TTS(base_url=base, api_key=key)
    out = {"samples": 0, "rate": None, "request_ids": []}
    async for ev in tts.synthesize(text):
        out["samples"] += ev.frame.samples_per_channel
        out["rate"] = ev.frame.sample_rate
        if ev.request_id not in out["request_ids"]:
            out["request_ids"].append(ev.request_id)
    await tts.aclose()
    out["no_request_id_logged"] = any("no request_id" in w for w in warnings)
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(), 60))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekits_openai_plugin_with_its_defaults_gets_audio_and_a_request_id() {
    let s = setup().await;
    let base = format!("http://{}/v1", s.addr);
    let Some(output) = tokio::task::spawn_blocking(move || {
        python::run_script(LIVEKIT_OPENAI_SCRIPT, &[&base, SERVER_TOKEN, TEXT], &[])
    })
    .await
    .unwrap() else {
        return;
    };
    assert!(
        output.status.success(),
        "the LiveKit script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pcm_s = expected_audio(TEXT, pcm()).len() as f64 / 48_000.0;
    let rate = got["rate"].as_f64().unwrap();
    let seconds = got["samples"].as_f64().unwrap() / rate;
    assert!(
        (seconds - pcm_s).abs() <= 0.05 * pcm_s,
        "LiveKit decoded {seconds} s of {pcm_s} s: {got}"
    );
    assert_eq!(got["no_request_id_logged"], false, "{got}");
    assert!(
        got["request_ids"][0]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{got}"
    );
    assert!(s.fallback.calls().is_empty(), "{:?}", s.fallback.calls());
}

/// Walks an MPEG-2 Layer III stream frame by frame (every frame must start
/// where the last ended, with a sync word); returns its seconds.
fn mp3_seconds(mp3: &[u8]) -> f64 {
    const KBPS: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    const RATES: [u32; 3] = [22_050, 24_000, 16_000];
    let (mut at, mut frames, mut rate) = (0, 0u32, 0);
    while at < mp3.len() {
        let h = &mp3[at..at + 4];
        assert!(
            h[0] == 0xFF && h[1] & 0xE0 == 0xE0,
            "no frame sync at byte {at}"
        );
        assert_eq!(h[1] & 0x1E, 0x12, "MPEG-2 Layer III at byte {at}");
        let kbps = KBPS[usize::from(h[2] >> 4)];
        rate = RATES[usize::from((h[2] >> 2) & 3)];
        let padding = u32::from((h[2] >> 1) & 1);
        at += (72_000 * kbps / rate + padding) as usize;
        frames += 1;
    }
    assert_eq!(at, mp3.len(), "the last frame is whole");
    f64::from(frames) * 576.0 / f64::from(rate)
}

#[tokio::test]
async fn an_mp3_answer_stays_one_valid_stream_across_a_mid_response_failover() {
    let text = "The first sentence is spoken here. The second sentence follows it.";
    let s = setup_with(Fault::close_after(4800), |_| {}).await;
    let r = post(
        s.addr,
        serde_json::json!({"model": "tts-1", "input": text, "voice": "alloy", "response_format": "mp3"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let mp3 = tokio::time::timeout(Duration::from_secs(30), r.bytes())
        .await
        .unwrap()
        .unwrap();
    assert!(!s.fallback.calls().is_empty(), "the fallback took over");
    let pcm_s = expected_audio(text, pcm()).len() as f64 / 48_000.0;
    let seconds = mp3_seconds(&mp3);
    // The cut part (0.1 s) may be heard twice; LAME adds its delay and padding.
    assert!(
        seconds >= pcm_s && seconds <= pcm_s * 1.05 + 0.1,
        "mp3 {seconds} s for {pcm_s} s"
    );
}

/// Decodes `bytes` (a file of type `ext`, at 24 kHz) with symphonia: its samples.
fn decoded(bytes: Vec<u8>, ext: &str) -> Vec<i16> {
    decoded_at(bytes, ext, 24_000)
}

/// Decodes `bytes` (a file of type `ext`, at `expected_rate`) with symphonia: its samples.
fn decoded_at(bytes: Vec<u8>, ext: &str, expected_rate: u32) -> Vec<i16> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    let source = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .unwrap();
    let mut format = probed.format;
    let track = format.default_track().unwrap().clone();
    let rate = track.codec_params.sample_rate.unwrap();
    assert_eq!(rate, expected_rate, "{ext} at {expected_rate} Hz");
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut samples = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let audio = decoder.decode(&packet).unwrap();
        let mut buffer = SampleBuffer::<i16>::new(audio.capacity() as u64, *audio.spec());
        buffer.copy_interleaved_ref(audio);
        samples.extend_from_slice(buffer.samples());
    }
    samples
}

#[tokio::test]
async fn mp3_and_flac_decode_back_to_the_right_duration_and_flac_to_the_same_samples() {
    let s = setup().await;
    let expected: Vec<i16> = expected_audio(TEXT, pcm())
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let pcm_s = expected.len() as f64 / 24_000.0;
    for (format, ext, content_type) in
        [("mp3", "mp3", "audio/mpeg"), ("flac", "flac", "audio/flac")]
    {
        let r = post(
            s.addr,
            serde_json::json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": format}),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], content_type);
        let bytes = r.bytes().await.unwrap().to_vec();
        let samples = decoded(bytes, ext);
        if format == "flac" {
            assert_eq!(samples, expected, "flac is lossless");
        }
        let seconds = samples.len() as f64 / 24_000.0;
        assert!(
            (seconds - pcm_s).abs() <= 0.05 * pcm_s,
            "{format}: {seconds} s against pcm {pcm_s} s"
        );
    }
}

/// xAI's REST API answers mp3 when no codec is asked: the relay's xAI REST
/// front does too, encoded here, and at the rate asked.
#[tokio::test]
async fn the_xai_rest_front_answers_mp3_by_default_as_xai_does() {
    let s = setup().await;
    let http = reqwest::Client::new();
    for (body, rate) in [
        (
            serde_json::json!({"text": TEXT, "voice_id": "eve", "language": "en"}),
            24_000,
        ),
        (
            serde_json::json!({"text": TEXT, "voice_id": "eve", "language": "en", "output_format": {"codec": "mp3", "sample_rate": 16000}}),
            16_000,
        ),
    ] {
        let r = http
            .post(format!("http://{}/v1/tts", s.addr))
            .bearer_auth(SERVER_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "audio/mpeg");
        let samples = decoded_at(r.bytes().await.unwrap().to_vec(), "mp3", rate);
        let expected = expected_audio(TEXT, voxwire_core::AudioFormat::pcm16_mono(rate)).len() / 2;
        let (got, want) = (samples.len() as f64, expected as f64);
        assert!(
            (got - want).abs() <= 0.05 * want,
            "{rate} Hz: {got} samples against {want}"
        );
    }
}

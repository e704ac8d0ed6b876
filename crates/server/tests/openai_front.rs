//! The relay's OpenAI front (`POST /v1/audio/speech`, `GET /v1/models`) on a
//! real listening socket: the official `openai` Python SDK, unmodified but for
//! `base_url` and `api_key`, gets audio in pcm, wav and SSE, and the
//! fallback's audio when the primary refuses with 403; raw HTTP checks the
//! error shapes, the limits and mid-response failover.

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
import base64, json, sys
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
out["models"] = sorted(m.id for m in client.models.list())
for name, kw in [("unknown_model", {"model": "no-such-model"}), ("mp3", {"model": "tts-1", "response_format": "mp3"})]:
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
    assert_eq!(got["mp3"]["class"], "BadRequestError");
    let why = got["mp3"]["body"]["message"].as_str().unwrap();
    assert!(why.contains("pcm") && why.contains("wav"), "{why}");
    assert_eq!(got["bad_key"]["class"], "AuthenticationError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_gets_pcm_wav_and_sse_through_the_relay() {
    let s = setup().await;
    let Some(got) = sdk(s.addr).await else { return };
    check_sdk_answers(&got);
    // The primary (the xAI mock) spoke every one of the three.
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

//! The vendor's own SDK against the mock, so the mock cannot drift from the
//! real protocol: the `openai` PyPI package (3.57.0, in the test venv) calls
//! `client.audio.speech.with_streaming_response.create(...)` with `base_url`
//! pointed at the mock and gets audio as pcm, wav and SSE.

use base64::Engine as _;
use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::{expected_audio, wav_header};
use voxwire_testkit::mock_openai::{MockOpenAi, DEFAULT_API_KEY};
use voxwire_transport::sse::SseReader;

const SCRIPT: &str = r#"
import json, sys
import openai
base_url, api_key, model, response_format, stream_format, out = sys.argv[1:7]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=20)
extra = {} if stream_format == "-" else {"stream_format": stream_format}
with client.audio.speech.with_streaming_response.create(
    model=model, voice="alloy", input="Hello from the SDK.",
    response_format=response_format, **extra,
) as response:
    with open(out, "wb") as f:
        for chunk in response.iter_bytes():
            f.write(chunk)
    print(json.dumps({
        "version": openai.__version__,
        "content_type": response.headers.get("content-type"),
        "request_id": response.request_id,
    }))
"#;

const TEXT: &str = "Hello from the SDK.";

struct Got {
    body: Vec<u8>,
    meta: serde_json::Value,
}

fn run(m: &MockOpenAi, model: &str, format: &str, stream: &str) -> Option<Got> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("body");
    let base = m.base_url();
    let out_s = out.to_string_lossy().to_string();
    let args = [
        base.as_str(),
        DEFAULT_API_KEY,
        model,
        format,
        stream,
        &out_s,
    ];
    let meta = voxwire_testkit::python::run_json(SCRIPT, &args, &[])?;
    Some(Got {
        body: std::fs::read(out).unwrap(),
        meta,
    })
}

fn pcm() -> Vec<u8> {
    expected_audio(TEXT, AudioFormat::pcm16_mono(24_000))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_sdk_streams_pcm_wav_and_sse_from_the_mock() {
    let m = MockOpenAi::start().await;
    let Some(got) = tokio::task::block_in_place(|| run(&m, "gpt-4o-mini-tts", "pcm", "-")) else {
        return; // no venv outside the test command (never skipped under CI)
    };
    assert_eq!(got.meta["version"], "3.57.0");
    assert_eq!(got.meta["content_type"], "audio/pcm");
    assert!(got.meta["request_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("req_mock_")));
    assert_eq!(got.body, pcm());

    let got = tokio::task::block_in_place(|| run(&m, "tts-1", "wav", "-")).unwrap();
    assert_eq!(got.meta["content_type"], "audio/wav");
    let mut wav = wav_header(24_000).to_vec();
    wav.extend(pcm());
    assert_eq!(got.body, wav);

    // SSE: the SDK hands over the raw event stream; its deltas are the audio.
    let got = tokio::task::block_in_place(|| run(&m, "gpt-4o-mini-tts", "pcm", "sse")).unwrap();
    assert_eq!(got.meta["content_type"], "text/event-stream");
    let mut reader = SseReader::new();
    let mut events = reader.push(&got.body).unwrap();
    events.extend(reader.finish().unwrap());
    let mut audio = Vec::new();
    let mut done = false;
    for e in events {
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        match v["type"].as_str() {
            Some("speech.audio.delta") => audio.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(v["audio"].as_str().unwrap())
                    .unwrap(),
            ),
            Some("speech.audio.done") => done = v["usage"]["total_tokens"].is_u64(),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(done);
    assert_eq!(audio, pcm());

    // The SDK asked with `Accept: application/octet-stream` every time (and got SSE when asked).
    let reqs = m.speech_requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs
        .iter()
        .all(|r| r.header("accept") == Some("application/octet-stream")));
    assert_eq!(reqs[2].json_body().unwrap()["stream_format"], "sse");
    assert!(reqs
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer ***")));
}

//! The vendor's own SDK against the mock, so the mock cannot drift from the
//! real protocol: the `cartesia` PyPI package (4.2.0, in the test venv)
//! streams raw `pcm_s16le` and `pcm_mulaw` from `/tts/bytes` (its
//! `Authorization: Bearer` key, its `cartesia-version` header and its
//! `Accept: audio/wav` whatever the format), with each voice shape; pages
//! reads `/tts/sse` events (chunks, word timestamps, `done`, an `error`
//! event); pages through the voices; and reads the mock's refusals, in both body shapes,
//! as `APIStatusError`s.

use voxwire_core::{AudioFormat, Encoding};
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::kit::Fault;
use voxwire_testkit::mock_cartesia::{
    error_fault, ErrorShape, MockCartesia, DEFAULT_API_KEY, SDK_VERSION, VOICES,
};

const SCRIPT: &str = r#"
import base64, json, sys
import cartesia
from cartesia import Cartesia
base_url, api_key, mode = sys.argv[1:4]
client = Cartesia(base_url=base_url, api_key=api_key, timeout=20, max_retries=0)
text = "Hello from the SDK."
voice = "6ccbfb76-1fc6-48f7-b71d-91ac6298247b"
out = {"version": cartesia.__version__}
def raw(encoding, rate):
    return {"container": "raw", "encoding": encoding, "sample_rate": rate}
try:
    if mode == "stream":
        audio = b""
        with client.tts.with_streaming_response.generate(model_id="sonic-3", transcript=text, voice={"id": voice}, output_format=raw("pcm_s16le", 24000), save=True) as r:
            out["file_id"] = r.headers.get("cartesia-file-id")
            for piece in r.iter_bytes():
                audio += piece
        out["audio"] = base64.b64encode(audio).decode()
    elif mode == "mulaw":
        r = client.tts.generate(model_id="sonic-3", transcript=text, voice=voice, output_format=raw("pcm_mulaw", 8000))
        out["audio"] = base64.b64encode(r.read()).decode()
    elif mode == "sse":
        audio, words, ends, types, said = b"", [], [], [], None
        for ev in client.tts.generate_sse(model_id="sonic-3", transcript=text, voice={"mode": "id", "id": voice}, output_format=raw("pcm_s16le", 16000), add_timestamps=True, context_id="ctx-1"):
            types.append(ev.type)
            if ev.type == "chunk":
                audio += base64.b64decode(ev.data)
            elif ev.type == "timestamps":
                words += ev.word_timestamps.words
                ends += ev.word_timestamps.end
            elif ev.type == "error":
                said = ev.message
        out.update(audio=base64.b64encode(audio).decode(), words=words, ends=ends, types=types, said=said)
    elif mode == "voices":
        out["voices"] = [[v.id, v.language, v.locales[0].locale] for v in client.voices.list(limit=2)]
except cartesia.APIStatusError as e:
    out["status"] = e.status_code
    out["body"] = e.body
print(json.dumps(out))
"#;

fn run(m: &MockCartesia, mode: &str) -> Option<serde_json::Value> {
    let base = m.base_url();
    voxwire_testkit::python::run_json(SCRIPT, &[&base, DEFAULT_API_KEY, mode], &[])
}

fn audio(v: &serde_json::Value) -> Vec<u8> {
    voxwire_testkit::python::base64_field(v, "audio")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cartesia_sdk_streams_lists_voices_and_reads_refusals_from_the_mock() {
    let m = MockCartesia::start().await;
    let Some(got) = tokio::task::block_in_place(|| run(&m, "stream")) else {
        return; // no venv outside the test command (never skipped under CI)
    };
    let text = "Hello from the SDK.";
    assert_eq!(
        audio(&got),
        expected_audio(text, AudioFormat::pcm16_mono(24_000)),
        "{got}"
    );
    assert!(got["file_id"]
        .as_str()
        .is_some_and(|f| f.starts_with("file-mock-")));

    let got = tokio::task::block_in_place(|| run(&m, "mulaw")).unwrap();
    assert_eq!(
        audio(&got),
        expected_audio(text, AudioFormat::mono(Encoding::Mulaw, 8_000))
    );

    // Server-sent events: chunks, the words' times in seconds, then done.
    let got = tokio::task::block_in_place(|| run(&m, "sse")).unwrap();
    assert_eq!(
        audio(&got),
        expected_audio(text, AudioFormat::pcm16_mono(16_000))
    );
    assert_eq!(
        got["words"].as_array().unwrap().len(),
        text.split(' ').count()
    );
    let types = got["types"].as_array().unwrap();
    assert_eq!(types.last().unwrap(), "done", "{got}");
    assert!(types.iter().filter(|t| *t == "chunk").count() > 1);
    m.kit().set_fault(Fault::error_frame("overloaded"));
    let got = tokio::task::block_in_place(|| run(&m, "sse")).unwrap();
    assert_eq!(got["said"], "overloaded", "{got}");
    m.kit().set_fault(Fault::None);

    // Two to a page: the SDK follows `starting_after` to the end.
    let got = tokio::task::block_in_place(|| run(&m, "voices")).unwrap();
    let voices = got["voices"].as_array().unwrap();
    assert_eq!(voices.len(), VOICES.len(), "{got}");
    assert_eq!(voices[2][1], "fr");
    assert_eq!(voices[2][2], "fr-FR");

    m.kit().set_fault(error_fault(
        429,
        ErrorShape::Titled,
        "rate_limited",
        "Concurrency limit exceeded",
    ));
    let got = tokio::task::block_in_place(|| run(&m, "stream")).unwrap();
    assert_eq!(got["status"], 429);
    assert_eq!(got["body"]["message"], "Concurrency limit exceeded");
    m.kit()
        .set_fault(error_fault(401, ErrorShape::Plain, "", "Invalid API key"));
    let got = tokio::task::block_in_place(|| run(&m, "mulaw")).unwrap();
    assert_eq!(got["status"], 401);
    assert_eq!(got["body"]["error"], "Invalid API key");

    let reqs = m.speech_requests();
    assert_eq!(reqs.len(), 6);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer ***"));
        assert_eq!(r.header("cartesia-version"), Some(SDK_VERSION));
        let accept = if r.path == "/tts/sse" {
            "text/event-stream"
        } else {
            "audio/wav"
        };
        assert_eq!(r.header("accept"), Some(accept), "the SDK's Accept");
    }
    assert_eq!(reqs[1].json_body().unwrap()["voice"], VOICES[0].0);
    m.shutdown().await;
}

//! The vendor's own SDK against the mock, so the mock cannot drift from the
//! real protocol: the `elevenlabs` PyPI package (2.78.0, in the test venv)
//! streams raw pcm and timed JSON lines, lists voices, and reads the
//! mock's quota refusal as an `ApiError` with status 401.

use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::mock_elevenlabs::{quota_exceeded, MockElevenLabs, DEFAULT_API_KEY};

const SCRIPT: &str = r#"
import base64, json, sys
import elevenlabs
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
base_url, api_key, mode = sys.argv[1:4]
client = ElevenLabs(base_url=base_url, api_key=api_key, timeout=20)
text = "Hello from the SDK."
voice = "JBFqnCBsd6RMkjVDRZzb"
out = {"version": elevenlabs.__version__ if hasattr(elevenlabs, "__version__") else None}
try:
    if mode == "stream":
        audio = b"".join(client.text_to_speech.stream(voice, text=text, model_id="eleven_flash_v2_5", output_format="pcm_24000"))
        out["audio"] = base64.b64encode(audio).decode()
    elif mode == "timed":
        audio, chars, ends = b"", [], []
        for chunk in client.text_to_speech.stream_with_timestamps(voice, text=text, output_format="pcm_16000"):
            audio += base64.b64decode(chunk.audio_base_64)
            chars += chunk.alignment.characters
            ends.append(chunk.alignment.character_end_times_seconds[-1])
        out.update(audio=base64.b64encode(audio).decode(), chars="".join(chars), ends=ends)
    elif mode == "voices":
        out["voices"] = [[v.voice_id, v.verified_languages[0].language] for v in client.voices.get_all().voices]
except ApiError as e:
    out["status"] = e.status_code
    out["body"] = e.body
print(json.dumps(out))
"#;

fn run(m: &MockElevenLabs, mode: &str) -> Option<serde_json::Value> {
    let base = m.url("");
    voxwire_testkit::python::run_json(SCRIPT, &[&base, DEFAULT_API_KEY, mode], &[])
}

fn audio(v: &serde_json::Value) -> Vec<u8> {
    voxwire_testkit::python::base64_field(v, "audio")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_elevenlabs_sdk_streams_times_and_voices_from_the_mock() {
    let m = MockElevenLabs::start().await;
    let Some(got) = tokio::task::block_in_place(|| run(&m, "stream")) else {
        return; // no venv outside the test command (never skipped under CI)
    };
    let text = "Hello from the SDK.";
    assert_eq!(
        audio(&got),
        expected_audio(text, AudioFormat::pcm16_mono(24_000))
    );

    let got = tokio::task::block_in_place(|| run(&m, "timed")).unwrap();
    assert_eq!(
        audio(&got),
        expected_audio(text, AudioFormat::pcm16_mono(16_000))
    );
    assert_eq!(got["chars"], text);
    assert!(got["ends"].as_array().unwrap().len() > 1, "several lines");

    let got = tokio::task::block_in_place(|| run(&m, "voices")).unwrap();
    assert_eq!(got["voices"][2][1], "fr");

    m.set_fault(quota_exceeded());
    let got = tokio::task::block_in_place(|| run(&m, "stream")).unwrap();
    assert_eq!(got["status"], 401);
    assert_eq!(got["body"]["detail"]["status"], "quota_exceeded");

    let reqs = m.speech_requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].query.as_deref(), Some("output_format=pcm_24000"));
    assert!(reqs.iter().all(|r| r.header("xi-api-key") == Some("***")));
    m.shutdown().await;
}

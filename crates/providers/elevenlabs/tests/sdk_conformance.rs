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

/// The SDK has no client for `multi-stream-input`, only its message types:
/// the script drives the socket with `websockets`, builds each message with
/// the SDK's models and reads each server message with them.
const SOCKET_SCRIPT: &str = r#"
import base64, json, sys
from websockets.sync.client import connect
from elevenlabs.types.initialise_context import InitialiseContext
from elevenlabs.types.send_text_multi import SendTextMulti
from elevenlabs.types.flush_context import FlushContext
from elevenlabs.types.close_context import CloseContext
from elevenlabs.types.audio_output_multi import AudioOutputMulti
from elevenlabs.types.final_output_multi import FinalOutputMulti
from elevenlabs.types.realtime_voice_settings import RealtimeVoiceSettings
url, api_key = sys.argv[1:3]
def out(model):
    return model.json(exclude_none=True, by_alias=True) if hasattr(model, "json") else model.model_dump_json(exclude_none=True, by_alias=True)
result = {"contexts": {}}
with connect(url, additional_headers={"xi-api-key": api_key}, max_size=16 * 1024 * 1024) as ws:
    for n, text in enumerate(["First context from the SDK.", "Second context, no settings."]):
        c = f"sdk-{n}"
        settings = RealtimeVoiceSettings(stability=0.5) if n == 0 else None
        ws.send(out(InitialiseContext(text=" ", context_id=c, voice_settings=settings)))
        ws.send(out(SendTextMulti(text=text, context_id=c)))
        ws.send(out(FlushContext(context_id=c, flush=True)))
        ws.send(out(CloseContext(context_id=c, close_context=True)))
        audio, chars = b"", ""
        while True:
            m = json.loads(ws.recv(timeout=10))
            if m.get("audio") is not None:
                a = AudioOutputMulti.parse_obj(m) if hasattr(AudioOutputMulti, "parse_obj") else AudioOutputMulti.model_validate(m)
                assert a.context_id == c, (a.context_id, c)
                audio += base64.b64decode(a.audio)
                if a.alignment is not None:
                    chars += "".join(a.alignment.chars)
            else:
                f = FinalOutputMulti.parse_obj(m) if hasattr(FinalOutputMulti, "parse_obj") else FinalOutputMulti.model_validate(m)
                assert f.is_final and f.context_id == c, m
                break
        result["contexts"][c] = {"audio": base64.b64encode(audio).decode(), "chars": chars}
print(json.dumps(result))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_sdks_message_types_speak_two_contexts_on_the_mocks_socket() {
    let m = MockElevenLabs::start().await;
    let url = format!(
        "{}/text-to-speech/JBFqnCBsd6RMkjVDRZzb/multi-stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000&sync_alignment=true",
        m.ws_base_url()
    );
    let Some(got) = tokio::task::block_in_place(|| {
        voxwire_testkit::python::run_json(SOCKET_SCRIPT, &[&url, DEFAULT_API_KEY], &[])
    }) else {
        return; // no venv outside the test command (never skipped under CI)
    };
    let pcm = AudioFormat::pcm16_mono(16_000);
    for (c, text) in [
        ("sdk-0", "First context from the SDK."),
        ("sdk-1", "Second context, no settings."),
    ] {
        let context = &got["contexts"][c];
        assert_eq!(
            voxwire_testkit::python::base64_field(context, "audio"),
            expected_audio(text, pcm),
            "{c}"
        );
        assert_eq!(context["chars"], text, "{c}: the alignment spells the text");
    }
    assert_eq!(
        m.sockets()
            .voice_settings
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

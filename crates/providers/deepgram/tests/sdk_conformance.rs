//! Deepgram's own Python SDK (`deepgram-sdk` 7.17.0, in the test venv)
//! pointed at the mock gets audio over REST and over the speak WebSocket:
//! the mock cannot drift from the protocol the vendor's client speaks.
//!
//! The SDK takes a local URL through `DeepgramClient(environment=
//! DeepgramClientEnvironment(base="http://…", production="ws://…", …))`:
//! REST goes to `{base}/v1/speak`, the socket to `{production}/v1/speak`.

use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::mock_deepgram::{base_url, dg_error_frame, DeepgramConfig, DEFAULT_API_KEY};
use voxwire_testkit::python::run_json;

mod common;

const SCRIPT: &str = r#"
import json, sys
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from deepgram.speak.v1.types.speak_v1text import SpeakV1Text

base, ws, key, mode = sys.argv[1:5]
env = DeepgramClientEnvironment(base=base, production=ws, agent=ws, agent_rest=base)
client = DeepgramClient(api_key=key, environment=env)
out = {}
if mode == "ok":
    rest = b"".join(client.speak.v1.audio.generate(
        text="Hello from the SDK.", model="aura-2-thalia-en",
        encoding="linear16", sample_rate=16000, container="none"))
    out["rest"] = rest.hex()
    got, kinds = b"", []
    with client.speak.v1.connect(model="aura-2-thalia-en", encoding="mulaw", sample_rate="8000") as sock:
        sock.send_text(SpeakV1Text(type="Speak", text="Socket "))
        sock.send_text(SpeakV1Text(type="Speak", text="hello."))
        sock.send_flush()
        for msg in sock:
            if isinstance(msg, (bytes, bytearray)):
                got += msg
                continue
            kinds.append(getattr(msg, "type", None))
            if getattr(msg, "type", None) == "Flushed":
                out["sequence_id"] = msg.sequence_id
                break
        sock.send_close()
    out["ws"] = got.hex()
    out["kinds"] = kinds
elif mode == "error":
    with client.speak.v1.connect(model="aura-2-thalia-en", encoding="linear16", sample_rate="24000") as sock:
        sock.send_text(SpeakV1Text(type="Speak", text="boom"))
        sock.send_flush()
        for msg in sock:
            if not isinstance(msg, (bytes, bytearray)) and getattr(msg, "type", None) != "Metadata":
                out["type"] = getattr(msg, "type", None)
                out["class"] = type(msg).__name__
                break
elif mode == "badkey":
    try:
        b"".join(client.speak.v1.audio.generate(text="x", model="aura-2-thalia-en", encoding="linear16", container="none"))
        out["rest"] = "no error"
    except Exception as e:
        out["rest"] = type(e).__name__
        out["rest_status"] = getattr(e, "status_code", None)
    try:
        with client.speak.v1.connect(model="aura-2-thalia-en", encoding="linear16") as sock:
            out["ws"] = "no error"
    except Exception as e:
        out["ws"] = type(e).__name__
print(json.dumps(out))
"#;

fn run(base: &str, ws: &str, key: &str, mode: &str) -> Option<serde_json::Value> {
    run_json(SCRIPT, &[base, ws, key, mode], &[])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepgram_sdk_gets_audio_from_the_mock_over_rest_and_the_socket() {
    let mock = common::mock(DeepgramConfig::default()).await;
    let base = base_url(&mock);
    let ws = mock.ws_url("");
    let out = tokio::task::spawn_blocking(move || run(&base, &ws, DEFAULT_API_KEY, "ok"))
        .await
        .expect("script thread");
    let Some(out) = out else { return };
    let rest = expected_audio("Hello from the SDK.", AudioFormat::pcm16_mono(16_000));
    assert_eq!(out["rest"], hex(&rest), "REST audio byte-exact");
    let ws_audio = expected_audio(
        "Socket hello.",
        AudioFormat::mono(voxwire_core::Encoding::Mulaw, 8_000),
    );
    assert_eq!(out["ws"], hex(&ws_audio), "socket audio byte-exact");
    assert_eq!(out["sequence_id"], 0);
    assert_eq!(out["kinds"][0], "Metadata", "Metadata comes first");
    let requests = mock.kit().requests();
    let socket = requests
        .iter()
        .find(|r| r.kind == voxwire_testkit::kit::RequestKind::WebSocket)
        .expect("the SDK's upgrade");
    assert_eq!(socket.header("authorization"), Some("Token ***"));
    assert!(socket.header("x-deepgram-session-id").is_some());
    assert_eq!(socket.utterances, vec!["Socket hello.".to_string()]);
    assert!(socket.messages.iter().any(|m| m.contains(r#""Close""#)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_shows_an_error_frame_as_a_flushed_class_object_whose_type_says_error() {
    let mock = common::mock(DeepgramConfig::default()).await;
    mock.script_utterances([dg_error_frame(500, "mock failure")]);
    let base = base_url(&mock);
    let ws = mock.ws_url("");
    let out = tokio::task::spawn_blocking(move || run(&base, &ws, DEFAULT_API_KEY, "error"))
        .await
        .expect("script thread");
    let Some(out) = out else { return };
    // SDK 7.17.0 has no Error class for speak v1: the frame comes out as some
    // other class whose `type` still says Error (so a client must read `type`).
    assert_eq!(out["type"], "Error", "{out}");
    assert_eq!(out["class"], "SpeakV1Flushed", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_is_refused_a_wrong_key_at_rest_and_at_the_upgrade() {
    let mock = common::mock(DeepgramConfig::default()).await;
    let base = base_url(&mock);
    let ws = mock.ws_url("");
    let out = tokio::task::spawn_blocking(move || run(&base, &ws, "wrong-key-000000", "badkey"))
        .await
        .expect("script thread");
    let Some(out) = out else { return };
    assert_eq!(out["rest"], "ApiError", "{out}");
    assert_eq!(out["rest_status"], 401);
    // websockets 17's sync client raises InvalidStatus (the SDK catches only the legacy class).
    assert_eq!(out["ws"], "InvalidStatus", "{out}");
}

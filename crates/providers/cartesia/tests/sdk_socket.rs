//! The vendor's own SDK against the mock's socket, so the mock cannot
//! drift from the real protocol: the `cartesia` PyPI package (4.2.0, in the
//! test venv) opens `/tts/websocket` (its `Authorization: Bearer` key and
//! `cartesia-version` header on the upgrade), runs two contexts at once on
//! one connection with `push` / `no_more_inputs` / `receive`, reads word
//! timestamps, reads a per-context `error` (the socket going on), and
//! cancels a context: the mock ends it with `done`, which the sync SDK
//! hands to the next context reading (the notes' SDK defect, reproduced).

use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::{expected_audio, expected_words};
use voxwire_testkit::kit::RequestKind;
use voxwire_testkit::mock_cartesia::{MockCartesia, DEFAULT_API_KEY, SDK_VERSION};

const SCRIPT: &str = r#"
import base64, json, sys
import cartesia
from cartesia import Cartesia
base_url, api_key = sys.argv[1:3]
ws_url = base_url.replace("http://", "ws://")
client = Cartesia(base_url=base_url, websocket_base_url=ws_url, api_key=api_key, timeout=20, max_retries=0)
voice = "6ccbfb76-1fc6-48f7-b71d-91ac6298247b"
fmt = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000}
out = {"version": cartesia.__version__}
def defaults(**kw):
    return dict(model_id="sonic-3", voice={"id": voice}, output_format=fmt, language="en", max_buffer_delay_ms=0, timeout=10, **kw)
with client.tts.websocket_connect() as conn:
    a = conn.context("ctx-a", **defaults(add_timestamps=True))
    b = conn.context("ctx-b", **defaults())
    a.push("Hello from the SDK ")
    b.push("A second context, ")
    a.push("over the socket.")
    b.push("at the same time.")
    a.no_more_inputs()
    b.no_more_inputs()
    for name, ctx in (("a", a), ("b", b)):
        audio, words, types = b"", [], []
        for ev in ctx.receive():
            types.append(ev.type)
            if ev.type == "chunk":
                audio += base64.b64decode(ev.data)
            elif ev.type == "timestamps":
                words += list(zip(ev.word_timestamps.words, ev.word_timestamps.start, ev.word_timestamps.end))
        out[name] = {"audio": base64.b64encode(audio).decode(), "words": words, "types": types}
    bad = conn.context("ctx-bad", **defaults())
    bad.push("fail:transcript refused")
    said = [(ev.type, getattr(ev, "message", None), getattr(ev, "status_code", None)) for ev in bad.receive()]
    out["bad"] = said
    c = conn.context("ctx-c", **defaults())
    c.push("A context cancelled at once.")
    c.cancel()
    d = conn.context("ctx-d", **defaults())
    d.push("After the cancel.")
    d.no_more_inputs()
    audio, seen = b"", []
    # The sync client's defect (wire notes): the cancelled context's late
    # `done` falls through to the context reading and ends its receive().
    for attempt in range(3):
        for ev in d.receive():
            seen.append([ev.type, getattr(ev, "context_id", None)])
            if ev.type == "chunk" and ev.context_id == "ctx-d":
                audio += base64.b64decode(ev.data)
        if seen and seen[-1] == ["done", "ctx-d"]:
            break
    out["d"] = base64.b64encode(audio).decode()
    out["d_seen"] = seen
print(json.dumps(out))
"#;

fn audio(v: &serde_json::Value) -> Vec<u8> {
    base64_decode(v.as_str().unwrap_or_default())
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cartesia_sdk_speaks_two_contexts_on_the_mocks_socket() {
    let m = MockCartesia::start().await;
    let base = m.base_url();
    let Some(got) = tokio::task::block_in_place(|| {
        voxwire_testkit::python::run_json(SCRIPT, &[&base, DEFAULT_API_KEY], &[])
    }) else {
        return; // no venv outside the test command (never skipped under CI)
    };
    let pcm = AudioFormat::pcm16_mono(24_000);
    let a = "Hello from the SDK over the socket.";
    let b = "A second context, at the same time.";
    assert_eq!(audio(&got["a"]["audio"]), expected_audio(a, pcm), "{got}");
    assert_eq!(audio(&got["b"]["audio"]), expected_audio(b, pcm), "{got}");
    let words: Vec<String> = got["a"]["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w[0].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = expected_words(a)
        .iter()
        .map(|w| a[w.span.start..w.span.end].to_string())
        .collect();
    assert_eq!(words, expected, "{got}");
    assert_eq!(
        got["a"]["types"].as_array().unwrap().last().unwrap(),
        "done"
    );
    assert!(got["b"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t != "timestamps"));
    let bad = &got["bad"][0];
    assert_eq!(bad[0], "error", "{got}");
    assert_eq!(bad[1], "transcript refused", "{got}");
    assert_eq!(bad[2], 400, "{got}");
    assert_eq!(
        audio(&got["d"]),
        expected_audio("After the cancel.", pcm),
        "{got}"
    );
    let seen = got["d_seen"].as_array().unwrap();
    assert!(
        seen.iter().any(|e| e[0] == "done" && e[1] == "ctx-c"),
        "the cancelled context ends with a done, as the docs show: {got}"
    );
    let upgrades: Vec<_> = m
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::WebSocket)
        .collect();
    assert_eq!(upgrades.len(), 1, "one connection for every context");
    assert_eq!(upgrades[0].header("cartesia-version"), Some(SDK_VERSION));
    assert!(upgrades[0]
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer ")));
    assert_eq!(
        m.ws_stats()
            .cancels
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

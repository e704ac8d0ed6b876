//! The relay for voice agents, with LiveKit's own xAI plugin
//! (`livekit-plugins-xai`, unmodified but for its URL) as the client: its
//! word tokens (`Thanks`, `for`, `calling.`: no whitespace) reach the chain as
//! the text it was given, spaces included, sentence by sentence as they
//! arrive, in `stream()` and `synthesize()`; raw clients check LLM-style
//! tokens and the edges (an utterance over the bound mid-stream, a failure
//! mid-utterance).

mod common;

use std::time::Duration;

use common::*;
use voxwire_core::{ErrorKind, TtsError};
use voxwire_testkit::fake::{Behaviour, FakeProvider};
use voxwire_testkit::mock_xai::expected_audio;
use voxwire_testkit::python;

/// Six sentences, as an agent's LLM would reply.
const REPLY: &str = "Thanks for calling Acme support. Your order shipped this morning. \
It should arrive by Thursday. Would you like the tracking number? \
I can also text it to you. Is there anything else I can help with?";

/// Drives LiveKit's xAI plugin against the relay. Arguments: the relay's
/// WebSocket URL, the token, `stream` or `synthesize`, the text, and the
/// words per second at which `stream` pushes it (0: all at once). Prints one
/// JSON object: the audio's length, and (seconds from the start) when the
/// first audio arrived and when the last word was pushed.
const LIVEKIT_SCRIPT: &str = r#"
import asyncio, json, sys, time
import aiohttp
from livekit.plugins import xai

url, key, mode, text, wps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])

async def main():
    xai.tts.XAI_WEBSOCKET_URL = url
    out = {"audio_bytes": 0, "first_audio_s": None, "last_push_s": None}
    async with aiohttp.ClientSession() as http:
        tts = xai.TTS(api_key=key, voice="eve", http_session=http)
        start = time.monotonic()

        def take(ev):
            if out["first_audio_s"] is None:
                out["first_audio_s"] = time.monotonic() - start
            out["audio_bytes"] += len(bytes(ev.frame.data))

        if mode == "synthesize":
            async for ev in tts.synthesize(text):
                take(ev)
            out["last_push_s"] = 0.0
        else:
            stream = tts.stream()

            async def push():
                words = text.split(" ")
                for i, word in enumerate(words):
                    stream.push_text(word if i == len(words) - 1 else word + " ")
                    if wps > 0:
                        await asyncio.sleep(1.0 / wps)
                out["last_push_s"] = time.monotonic() - start
                stream.flush()
                stream.end_input()

            pusher = asyncio.create_task(push())
            async for ev in stream:
                take(ev)
            await pusher
        await tts.aclose()
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(), 60))
"#;

#[derive(Debug)]
struct LiveKitRun {
    audio_bytes: u64,
    first_audio_s: f64,
    last_push_s: f64,
}

/// Runs [`LIVEKIT_SCRIPT`]; `None` outside the test command.
async fn livekit(
    addr: std::net::SocketAddr,
    mode: &str,
    text: &str,
    words_per_second: f64,
) -> Option<LiveKitRun> {
    let url = format!("ws://{addr}/v1/tts");
    let text = text.to_string();
    let mode = mode.to_string();
    let output = tokio::task::spawn_blocking(move || {
        python::run_script(
            LIVEKIT_SCRIPT,
            &[
                &url,
                SERVER_TOKEN,
                &mode,
                &text,
                &words_per_second.to_string(),
            ],
            &[],
        )
    })
    .await
    .unwrap()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "LiveKit's plugin failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    Some(LiveKitRun {
        audio_bytes: v["audio_bytes"].as_u64().unwrap(),
        first_audio_s: v["first_audio_s"].as_f64().unwrap(),
        last_push_s: v["last_push_s"].as_f64().unwrap(),
    })
}

#[tokio::test]
async fn livekit_word_tokens_reach_the_chain_as_its_text_sentence_by_sentence() {
    for mode in ["stream", "synthesize"] {
        let fake = FakeProvider::new("recorder");
        let relay = start(fake_router(&fake), token_settings()).await;
        let Some(run) = livekit(relay.addr, mode, REPLY, 0.0).await else {
            return;
        };
        let calls = fake.calls();
        assert_eq!(calls.concat(), REPLY, "{mode}: the text LiveKit was given");
        assert_eq!(
            calls.len(),
            6,
            "{mode}: one request per sentence: {calls:?}"
        );
        let expected: usize = calls.iter().map(|c| expected_audio(c, pcm()).len()).sum();
        // LiveKit's emitter pads its last frame (at most 20 ms, 960 bytes).
        let got = run.audio_bytes as usize;
        assert!(
            (expected..expected + 960).contains(&got),
            "{mode}: every sentence's audio: {got} bytes for {expected}"
        );
    }
}

#[tokio::test]
async fn an_agent_streaming_its_reply_hears_the_first_sentence_before_the_last_word() {
    let fake = FakeProvider::new("recorder");
    let relay = start(fake_router(&fake), token_settings()).await;
    // 36 words at 20 a second: pushing takes about 1.8 s; the first
    // sentence is complete after its sixth word.
    let Some(run) = livekit(relay.addr, "stream", REPLY, 20.0).await else {
        return;
    };
    eprintln!("{run:?}");
    assert!(
        run.first_audio_s < run.last_push_s,
        "first audio after {:.3} s, the last word pushed after {:.3} s",
        run.first_audio_s,
        run.last_push_s
    );
    assert_eq!(fake.calls().concat(), REPLY);
    assert_eq!(fake.calls().len(), 6);
}

#[tokio::test]
async fn llm_tokens_gain_no_spaces() {
    let fake = FakeProvider::new("recorder");
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let tokens = [
        "Hel", "lo", " world", ",", " how", " are", " you", "?", " Fine", ".",
    ];
    for t in tokens {
        delta(&mut ws, t).await;
    }
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    assert_eq!(fake.calls(), ["Hello world, how are you? ", "Fine."]);
    let mut expected = expected_audio("Hello world, how are you? ", pcm());
    expected.extend(expected_audio("Fine.", pcm()));
    assert_eq!(audio_of(&frames), expected);
}

/// Word tokens as LiveKit sends them, over a raw socket.
async fn send_words(ws: &mut Ws, text: &str) {
    for word in text.split(' ') {
        delta(ws, word).await;
    }
}

#[tokio::test]
async fn an_utterance_growing_past_the_bound_ends_with_one_error_after_what_was_spoken() {
    let fake = FakeProvider::new("recorder");
    let mut settings = token_settings();
    settings.max_utterance_chars = 60;
    let relay = start(fake_router(&fake), settings).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    send_words(
        &mut ws,
        "First sentence is fine. Second sentence is fine too. Third one goes over the bound.",
    )
    .await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "error").await;
    let types: Vec<_> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(types.last(), Some(&"error"), "{types:?}");
    assert!(!types.contains(&"audio.done"), "one end only: {types:?}");
    let error = frames.last().unwrap();
    assert_eq!(error["kind"], "invalid_input", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("over 60 characters"),
        "{error}"
    );
    // The complete sentences within the bound were spoken, nothing after.
    assert_eq!(
        fake.calls(),
        ["First sentence is fine. ", "Second sentence is fine too. "]
    );
    let mut expected = expected_audio("First sentence is fine. ", pcm());
    expected.extend(expected_audio("Second sentence is fine too. ", pcm()));
    assert_eq!(audio_of(&frames), expected);
    // Its text.done was swallowed, and the next utterance starts clean.
    send_words(&mut ws, "Next one.").await;
    done(&mut ws).await;
    spoken_cleanly_then_quiet(&mut ws, "Next one.").await;
}

#[tokio::test]
async fn a_failure_mid_utterance_ends_it_with_one_error_and_the_next_starts_clean() {
    let broken = TtsError::new(
        ErrorKind::InvalidRequest,
        "the vendor refused this sentence",
    );
    // The first sentence speaks, the second fails on the only entry.
    let fake = FakeProvider::new("recorder").scripted(
        vec![Behaviour::Speak, Behaviour::Fail(broken)],
        Behaviour::Speak,
    );
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    send_words(
        &mut ws,
        "One is spoken. Two fails here. Three is never spoken.",
    )
    .await;
    done(&mut ws).await;
    let frames = read_ends(&mut ws, 1).await;
    assert_eq!(ends(&frames), ["error"]);
    assert_eq!(audio_of(&frames), expected_audio("One is spoken. ", pcm()));
    send_words(&mut ws, "A fresh start.").await;
    done(&mut ws).await;
    spoken_cleanly_then_quiet(&mut ws, "A fresh start.").await;
}

#[tokio::test]
async fn a_clear_mid_utterance_cancels_all_of_it() {
    let fake =
        FakeProvider::new("recorder").scripted(vec![], Behaviour::Slow(Duration::from_millis(30)));
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    send_words(
        &mut ws,
        "This long first sentence starts to play. And the rest",
    )
    .await;
    read_until(&mut ws, |f| f["type"] == "audio.delta").await;
    send(&mut ws, serde_json::json!({"type": "text.clear"})).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.clear").await;
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f["type"].as_str(), Some("audio.done" | "error"))),
        "{frames:?}"
    );
    // What the client still sends for the cleared utterance is a new one.
    send_words(&mut ws, "After the clear.").await;
    done(&mut ws).await;
    let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
    let tail = expected_audio("After the clear.", pcm());
    let audio = audio_of(&frames);
    assert!(audio.ends_with(&tail), "{} bytes", audio.len());
    assert_eq!(
        fake.calls().last().map(String::as_str),
        Some("After the clear.")
    );
}

/// More sentences than the engine keeps out at the router at once (12): each
/// utterance still ends after all of its own audio, in order.
#[tokio::test]
async fn utterances_with_more_sentences_than_the_send_window_end_after_all_their_audio() {
    let fake = FakeProvider::new("recorder").scripted(
        vec![],
        Behaviour::FirstAudioAfter(Duration::from_millis(20)),
    );
    let relay = start(fake_router(&fake), token_settings()).await;
    let mut ws = raw_to(relay.addr, "codec=pcm", &[("authorization", &bearer())])
        .await
        .unwrap();
    let first: String = (0..10).map(|i| format!("First {i}. ")).collect();
    let second: String = (0..10).map(|i| format!("Second {i}. ")).collect();
    for text in [&first, &second] {
        delta(&mut ws, text).await;
        done(&mut ws).await;
    }
    let a = read_until(&mut ws, |f| {
        matches!(f["type"].as_str(), Some("audio.done" | "error"))
    })
    .await;
    assert_eq!(a.last().unwrap()["type"], "audio.done");
    assert_eq!(audio_of(&a), expected_audio(&first, pcm()));
    let b = read_until(&mut ws, |f| {
        matches!(f["type"].as_str(), Some("audio.done" | "error"))
    })
    .await;
    assert_eq!(b.last().unwrap()["type"], "audio.done");
    assert_eq!(audio_of(&b), expected_audio(&second, pcm()));
    assert_eq!(fake.calls().len(), 20);
}

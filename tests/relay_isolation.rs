//! A request never changes another tenant's voice, end to end: `voxwire serve`
//! with the chain xai (on the mock xAI server) → espeak. One session asks for
//! `speed=2`, which xAI cannot serve (its range is 0.7–1.5); it is served by
//! whichever entry can, and xai stays up: the 20 ordinary sessions after it
//! are all served by xai, checked on the mock's record and on their audio.

mod common;

use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use voxwire_core::AudioFormat;
use voxwire_testkit::mock_xai::{expected_audio, MockConfig, MockXai};

const TOKEN: &str = "isolation-test-token-0123456789";
const KEY: &str = "xai-isolation-test-key-42";

/// One relay session: speaks `text`, returns the audio (or the error frame).
async fn session(addr: &str, query: &str, text: &str) -> Result<Vec<u8>, String> {
    let mut request = format!("ws://{addr}/v1/tts?codec=pcm&sample_rate=24000{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("connected in time")
    .map_err(|e| e.to_string())?;
    let delta = serde_json::json!({"type": "text.delta", "delta": text}).to_string();
    ws.send(Message::text(delta)).await.unwrap();
    ws.send(Message::text(r#"{"type":"text.done"}"#))
        .await
        .unwrap();
    let mut audio = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
            .expect("the relay kept the session open")
            .expect("a frame");
        let Message::Text(frame) = frame else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        match v["type"].as_str() {
            Some("audio.delta") => audio.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(v["delta"].as_str().unwrap())
                    .unwrap(),
            ),
            Some("audio.done") => break,
            Some("error") => return Err(v.to_string()),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    Ok(audio)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_speed_the_primary_refuses_does_not_move_later_sessions_off_it() {
    let mock = MockXai::start(MockConfig::new().with_api_key(KEY)).await;
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url();
    let envs = [
        ("VOXWIRE_SERVER_TOKEN", TOKEN),
        ("XAI_API_KEY", KEY),
        ("XAI_BASE_URL", base.as_str()),
    ];
    let config = "[[chain]]\nprovider = \"xai\"\n\n[[chain]]\nprovider = \"espeak\"\n";
    let (relay, addr) =
        common::start(common::serve_command(dir.path(), config, "XAI", &envs)).await;

    let fast = session(&addr, "&speed=2", "This one is spoken twice as fast.")
        .await
        .expect("the speed=2 session is served by an entry that can");
    assert!(!fast.is_empty(), "the speed=2 session got audio");

    let pcm = AudioFormat::pcm16_mono(24_000);
    for i in 0..20 {
        let text = format!("Ordinary session number {i} speaks now.");
        let audio = session(&addr, "", &text)
            .await
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        assert!(
            audio == expected_audio(&text, pcm),
            "session {i}: not the mock's audio for its text ({} bytes, the mock's {})",
            audio.len(),
            expected_audio(&text, pcm).len()
        );
        let served = mock
            .requests()
            .iter()
            .filter(|r| r.contains(&text) && matches!(r.status, 101 | 200))
            .count();
        assert_eq!(served, 1, "session {i} reached the mock once");
    }
    drop(relay);
}

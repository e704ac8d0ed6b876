//! A relay over ElevenLabs' multi-context socket: `voxwire serve` with one
//! `elevenlabs` entry on the mock serves ten concurrent clients (the OpenAI
//! speech front, raw PCM) on at most two upstream sockets of five contexts,
//! every byte right; and with the quota exhausted (every context ends with
//! no audio) the chain fails over to the offline voice instead of going mute.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use voxwire_core::AudioFormat;
use voxwire_testkit::kit::audio::expected_audio;
use voxwire_testkit::mock_elevenlabs::{MockElevenLabs, Switches};

const TOKEN: &str = "elevenlabs-relay-test-token-0123456789";
const KEY: &str = "xi-elevenlabs-relay-test-key";

fn text_of(i: usize) -> String {
    format!("Client number {i} hears its own sentence from the shared socket.")
}

/// Starts `voxwire serve` on `config` with ElevenLabs pointed at `mock`;
/// the relay and the URL of its OpenAI speech front.
async fn relay(
    dir: &std::path::Path,
    config: &str,
    mock: &MockElevenLabs,
) -> (common::Relay, String) {
    let base = mock.base_url();
    let envs = [
        ("VOXWIRE_SERVER_TOKEN", TOKEN),
        ("ELEVENLABS_API_KEY", KEY),
        ("ELEVENLABS_BASE_URL", base.as_str()),
    ];
    let (relay, addr) =
        common::start(common::serve_command(dir, config, "ELEVENLABS", &envs)).await;
    (relay, format!("http://{addr}/v1/audio/speech"))
}

/// One OpenAI-front request for raw PCM: its status and body.
async fn ask(client: &reqwest::Client, url: &str, text: &str) -> (u16, Vec<u8>) {
    let body = serde_json::json!({
        "model": "tts-1", "voice": "alloy", "input": text, "response_format": "pcm",
    });
    let r = client
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_clients_are_served_on_at_most_two_upstream_sockets() {
    let mock = MockElevenLabs::start_with(
        KEY,
        Switches {
            // Slow enough that the ten overlap on the sockets.
            socket_chunk_delay: Duration::from_millis(15),
            ..Switches::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = "[[chain]]\nprovider = \"elevenlabs\"\nsockets = 2\n";
    let (relay, url) = relay(dir.path(), config, &mock).await;
    let client = reqwest::Client::new();
    let answers = futures::future::join_all((0..10).map(|i| {
        let (client, url) = (client.clone(), url.clone());
        async move { ask(&client, &url, &text_of(i)).await }
    }))
    .await;
    let pcm = AudioFormat::pcm16_mono(24_000);
    for (i, (status, audio)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "client {i}");
        assert_eq!(audio, &expected_audio(&text_of(i), pcm), "client {i}");
    }
    let counts = mock.sockets();
    let opened = counts.opened.load(Ordering::SeqCst);
    assert!((1..=2).contains(&opened), "{opened} upstream sockets");
    assert!(counts.peak_contexts.load(Ordering::SeqCst) <= 5);
    assert_eq!(counts.contexts.load(Ordering::SeqCst), 10);
    drop(relay);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_quota_fails_over_to_the_next_entry_instead_of_going_mute() {
    let mock = MockElevenLabs::start_with(
        KEY,
        Switches {
            quota_exhausted: true,
            ..Switches::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = "[[chain]]\nprovider = \"elevenlabs\"\n\n[[chain]]\nprovider = \"espeak\"\n";
    let (relay, url) = relay(dir.path(), config, &mock).await;
    let text = "Spoken by the next entry when the quota is gone.";
    let (status, audio) = ask(&reqwest::Client::new(), &url, text).await;
    assert_eq!(status, 200);
    assert!(
        audio.len() > 24_000,
        "the offline voice spoke ({} bytes)",
        audio.len()
    );
    assert_ne!(audio, expected_audio(text, AudioFormat::pcm16_mono(24_000)));
    assert!(
        mock.sockets().contexts.load(Ordering::SeqCst) >= 1,
        "ElevenLabs was asked first"
    );
    drop(relay);
}

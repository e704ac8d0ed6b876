//! The phrase cache through the relay: a repeated sentence is played from
//! the cache, announced as such to the client, and counted in `/metrics`.

mod common;

use common::*;
use voxwire_router::cache::PhraseCache;
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::expected_audio;

#[tokio::test]
async fn a_repeated_sentence_comes_from_the_cache_and_the_client_is_told() {
    let fake = FakeProvider::new("fake");
    let cache = PhraseCache::memory(1 << 20, std::time::Duration::from_secs(60));
    let router = Router::with_phrase_cache(
        vec![Entry::new(fake.arc(), Policy::default())],
        RouterSettings::default(),
        cache.clone(),
    )
    .unwrap();
    let relay = start(router, token_settings()).await;
    let text = "How can I help you today?";
    let mut provider_frames = Vec::new();
    for _ in 0..2 {
        let mut ws = session_at(
            relay.addr,
            "codec=pcm&sample_rate=24000&voxwire_events=true",
        )
        .await
        .unwrap();
        delta(&mut ws, text).await;
        done(&mut ws).await;
        let frames = read_until(&mut ws, |f| f["type"] == "audio.done").await;
        assert!(
            audio_of(&frames) == expected_audio(text, pcm()),
            "every byte"
        );
        provider_frames.extend(
            frames
                .into_iter()
                .filter(|f| f["type"] == "voxwire.provider"),
        );
    }
    assert_eq!(fake.calls().len(), 1, "the second time, no vendor call");
    assert_eq!(provider_frames.len(), 2, "{provider_frames:?}");
    assert_eq!(provider_frames[0]["cached"], serde_json::Value::Null);
    assert_eq!(provider_frames[1]["cached"], true);
    assert_eq!(provider_frames[1]["entry"], "fake");

    let metrics = metrics_of(relay.addr).await;
    assert_eq!(
        sample(&metrics, "voxwire_phrase_cache_hits_total"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "voxwire_phrase_cache_misses_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "voxwire_phrase_cache_chars_saved_total"),
        Some(text.chars().count() as f64)
    );
    assert_eq!(
        sample(&metrics, "voxwire_phrase_cache_bytes_served_total"),
        Some(expected_audio(text, pcm()).len() as f64)
    );
}

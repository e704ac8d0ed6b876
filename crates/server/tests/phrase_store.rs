//! The phrase cache's Redis store with a real `redis-server`: values read
//! back, the bytes bound (least recently used out), expiry, two relays
//! sharing one cache, and Redis gone (a miss, never an error).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use voxwire_core::Secret;
use voxwire_router::cache::check::{self, key};
use voxwire_router::cache::{PhraseCache, PhraseStore};
use voxwire_router::{Entry, Policy, Router, RouterSettings};
use voxwire_server::phrase_store::RedisPhraseStore;
use voxwire_server::settings::SharedSettings;
use voxwire_testkit::fake::FakeProvider;
use voxwire_testkit::mock_xai::expected_audio;
use voxwire_testkit::redis_server::RedisServer;

const DAY: Duration = Duration::from_secs(86_400);

fn shared(redis: &RedisServer) -> SharedSettings {
    SharedSettings {
        redis_url: Some(Secret::new(redis.url())),
        ..SharedSettings::default()
    }
}

/// A key's time to live in ms (`:123` on the wire).
fn pttl(redis: &RedisServer, key: &str) -> i64 {
    let reply = redis.command(&["PTTL", key]).unwrap();
    reply.trim_start_matches(':').parse().unwrap()
}

#[tokio::test]
async fn it_keeps_what_every_store_keeps_and_every_key_expires() {
    let redis = redis_server();
    let store = RedisPhraseStore::connect(&shared(&redis), 300).unwrap();
    store.put(&key("a"), Bytes::from(vec![1u8; 100]), DAY).await;
    for k in [
        "voxwire:phrases:used",
        "voxwire:phrases:sizes",
        "voxwire:phrases:bytes",
    ] {
        assert!(pttl(&redis, k) > 0, "{k} expires");
    }
    assert!(
        pttl(&redis, &format!("voxwire:phrase:{}", key("a"))) > 0,
        "values expire"
    );
    store.clear().await;
    check::least_recently_used_go_first(&store).await;
    let roomy = RedisPhraseStore::connect(&shared(&redis), 1_000).unwrap();
    check::expired_values_are_misses(&roomy).await;
}

fn cached_router(fake: &FakeProvider, redis: &RedisServer) -> Router {
    let store = RedisPhraseStore::connect(&shared(redis), 1 << 20).unwrap();
    Router::with_phrase_cache(
        vec![Entry::new(fake.arc(), Policy::default())],
        RouterSettings::default(),
        PhraseCache::new(Arc::new(store), DAY),
    )
    .unwrap()
}

async fn say(addr: std::net::SocketAddr, text: &str) -> Vec<u8> {
    let mut ws = session_at(addr, "codec=pcm&sample_rate=24000")
        .await
        .unwrap();
    delta(&mut ws, text).await;
    done(&mut ws).await;
    audio_of(&read_until(&mut ws, |f| f["type"] == "audio.done").await)
}

#[tokio::test]
async fn two_relays_share_one_cache_and_redis_gone_is_only_a_miss() {
    let mut redis = redis_server();
    let (fake_a, fake_b) = (FakeProvider::new("fake"), FakeProvider::new("fake"));
    let a = start(cached_router(&fake_a, &redis), token_settings()).await;
    let b = start(cached_router(&fake_b, &redis), token_settings()).await;
    let text = "How can I help you today?";
    assert!(say(a.addr, text).await == expected_audio(text, pcm()));
    assert!(say(b.addr, text).await == expected_audio(text, pcm()));
    assert_eq!(fake_a.calls().len(), 1);
    assert_eq!(fake_b.calls().len(), 0, "relay B played relay A's sentence");

    redis.stop();
    let other = "A sentence said while Redis is down.";
    let started = std::time::Instant::now();
    assert!(say(b.addr, other).await == expected_audio(other, pcm()));
    assert!(
        say(b.addr, text).await == expected_audio(text, pcm()),
        "spoken live"
    );
    assert_eq!(fake_b.calls().len(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no long waits on Redis"
    );

    redis.restart().unwrap();
    let back = "Redis is back.";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The connection comes back on its own; A stores, then B hits.
    loop {
        say(a.addr, back).await;
        let before = fake_b.calls().len();
        say(b.addr, back).await;
        if fake_b.calls().len() == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cache is shared again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

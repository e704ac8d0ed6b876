//! The phrase cache's Redis store with a real `redis-server`: values read
//! back, the bytes bound (least recently used out), expiry, two relays
//! sharing one cache, and Redis gone (a miss, never an error).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use voxwire_core::{AudioFormat, Secret, SynthesisRequest};
use voxwire_router::cache::{PhraseCache, PhraseKey, PhraseStore, StoreUsage};
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

fn key(text: &str) -> PhraseKey {
    PhraseKey::new(
        ("a", "fake", ""),
        &SynthesisRequest::new(text),
        AudioFormat::pcm16_mono(16_000),
        text,
    )
}

/// A key's time to live in ms (`:123` on the wire).
fn pttl(redis: &RedisServer, key: &str) -> i64 {
    let reply = redis.command(&["PTTL", key]).unwrap();
    reply.trim_start_matches(':').parse().unwrap()
}

#[tokio::test]
async fn values_read_back_and_the_least_recently_used_go_first() {
    let redis = RedisServer::start().expect("redis-server (cargo xtask setup installs it)");
    let store = RedisPhraseStore::connect(&shared(&redis), 300).unwrap();
    for name in ["a", "b", "c"] {
        store
            .put(&key(name), Bytes::from(vec![1u8; 100]), DAY)
            .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(store.get(&key("a")).await.as_deref(), Some(&[1u8; 100][..]));
    tokio::time::sleep(Duration::from_millis(3)).await;
    store.put(&key("d"), Bytes::from(vec![2u8; 100]), DAY).await;
    assert!(
        store.get(&key("b")).await.is_none(),
        "b was least recently used"
    );
    for kept in ["a", "c", "d"] {
        assert!(store.get(&key(kept)).await.is_some(), "{kept} kept");
    }
    assert_eq!(
        store.usage().await,
        StoreUsage {
            entries: 3,
            bytes: 300
        }
    );
    // Every key the store wrote expires.
    for k in [
        "voxwire:phrases:used",
        "voxwire:phrases:sizes",
        "voxwire:phrases:bytes",
    ] {
        let ttl = pttl(&redis, k);
        assert!(ttl > 0, "{k} expires ({ttl})");
    }
    let value = format!("voxwire:phrase:{}", key("a"));
    let ttl = pttl(&redis, &value);
    assert!(ttl > 0, "values expire");
    assert_eq!(store.clear().await, 3);
    assert_eq!(store.usage().await, StoreUsage::default());
}

#[tokio::test]
async fn an_expired_value_is_a_miss_and_its_bytes_are_given_back() {
    let redis = RedisServer::start().expect("redis-server");
    let store = RedisPhraseStore::connect(&shared(&redis), 1_000).unwrap();
    store.put(&key("new"), Bytes::from_static(b"yy"), DAY).await;
    store
        .put(
            &key("old"),
            Bytes::from_static(b"x"),
            Duration::from_millis(30),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(store.get(&key("old")).await.is_none());
    assert_eq!(
        store.usage().await,
        StoreUsage {
            entries: 1,
            bytes: 2
        }
    );
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
    let mut ws = raw_to(
        addr,
        "codec=pcm&sample_rate=24000",
        &[("authorization", &bearer())],
    )
    .await
    .unwrap();
    delta(&mut ws, text).await;
    done(&mut ws).await;
    audio_of(&read_until(&mut ws, |f| f["type"] == "audio.done").await)
}

#[tokio::test]
async fn two_relays_share_one_cache_and_redis_gone_is_only_a_miss() {
    let mut redis = RedisServer::start().expect("redis-server");
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

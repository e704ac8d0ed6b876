//! What every [`PhraseStore`] must do, as checks a store's own tests run
//! (the memory, disk and Redis stores run them; so should a new one). Each
//! panics, naming what failed, when the store falls short.

use std::time::Duration;

use bytes::Bytes;
use voxwire_core::{AudioFormat, SynthesisRequest};

use super::{PhraseKey, PhraseStore, StoreUsage};

const DAY: Duration = Duration::from_secs(86_400);

/// The key the checks store `text` under.
pub fn key(text: &str) -> PhraseKey {
    PhraseKey::new(
        ("check", "store", ""),
        &SynthesisRequest::new(text),
        AudioFormat::pcm16_mono(16_000),
        text,
    )
}

/// `store`, empty and bounded to 300 bytes, keeps the most recently used
/// values within its bound: values read back as written, the least
/// recently used goes first, a value over the whole bound is not kept (and
/// evicts nothing), and `clear` empties it. Values are written a few
/// milliseconds apart, for stores whose clock counts milliseconds.
pub async fn least_recently_used_go_first(store: &dyn PhraseStore) {
    let pause = || tokio::time::sleep(Duration::from_millis(3));
    for name in ["a", "b", "c"] {
        store
            .put(&key(name), Bytes::from(vec![1u8; 100]), DAY)
            .await;
        pause().await;
    }
    assert_eq!(
        store.get(&key("a")).await.as_deref(),
        Some(&[1u8; 100][..]),
        "a value reads back as written"
    );
    pause().await;
    store.put(&key("d"), Bytes::from(vec![2u8; 100]), DAY).await;
    assert!(
        store.get(&key("b")).await.is_none(),
        "b was least recently used"
    );
    for kept in ["a", "c", "d"] {
        assert!(store.get(&key(kept)).await.is_some(), "{kept} is kept");
    }
    let full = StoreUsage {
        entries: 3,
        bytes: 300,
    };
    assert_eq!(store.usage().await, full);
    store
        .put(&key("big"), Bytes::from(vec![0u8; 301]), DAY)
        .await;
    assert!(
        store.get(&key("big")).await.is_none(),
        "over the bound alone: not kept"
    );
    assert_eq!(store.usage().await, full, "and nothing evicted for it");
    assert_eq!(store.clear().await, 3);
    assert_eq!(store.usage().await, StoreUsage::default());
}

/// `store`, empty and bounded to at least 3 bytes, reads a value past its
/// time to live as a miss and gives its bytes back.
pub async fn expired_values_are_misses(store: &dyn PhraseStore) {
    store.put(&key("new"), Bytes::from_static(b"yy"), DAY).await;
    store
        .put(
            &key("old"),
            Bytes::from_static(b"x"),
            Duration::from_millis(30),
        )
        .await;
    assert!(
        store.get(&key("old")).await.is_some(),
        "alive before its time"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(store.get(&key("old")).await.is_none(), "expired: a miss");
    assert_eq!(
        store.usage().await,
        StoreUsage {
            entries: 1,
            bytes: 2
        },
        "its bytes given back"
    );
}

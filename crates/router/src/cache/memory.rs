//! The memory store: bounded bytes, least recently used out first.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use lru::LruCache;
use web_time::Instant;

use super::store::{PhraseStore, StoreUsage};
use super::PhraseKey;

struct Held {
    value: Bytes,
    expires: Instant,
}

struct Inner {
    entries: LruCache<PhraseKey, Held>,
    bytes: u64,
}

/// Cached sentences in this process's memory, at most `max_bytes` of them;
/// the least recently used go first, and an expired one is a miss.
pub struct MemoryStore {
    max_bytes: u64,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// A store holding at most `max_bytes` of values.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.max_bytes)
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

#[cfg_attr(not(target_arch = "wasm32"), voxwire_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", voxwire_core::async_trait(?Send))]
impl PhraseStore for MemoryStore {
    async fn get(&self, key: &PhraseKey) -> Option<Bytes> {
        let mut inner = self.lock();
        let expired = inner.entries.get(key)?.expires <= Instant::now();
        if expired {
            if let Some(held) = inner.entries.pop(key) {
                inner.bytes -= held.value.len() as u64;
            }
            return None;
        }
        inner.entries.get(key).map(|held| held.value.clone())
    }

    async fn put(&self, key: &PhraseKey, value: Bytes, ttl: Duration) {
        let size = value.len() as u64;
        if size > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        let held = Held {
            value,
            expires: Instant::now() + ttl,
        };
        if let Some(old) = inner.entries.put(key.clone(), held) {
            inner.bytes -= old.value.len() as u64;
        }
        inner.bytes += size;
        while inner.bytes > self.max_bytes {
            match inner.entries.pop_lru() {
                Some((_, old)) => inner.bytes -= old.value.len() as u64,
                None => break,
            }
        }
    }

    async fn clear(&self) -> u64 {
        let mut inner = self.lock();
        let n = inner.entries.len() as u64;
        inner.entries.clear();
        inner.bytes = 0;
        n
    }

    async fn usage(&self) -> StoreUsage {
        let inner = self.lock();
        StoreUsage {
            entries: inner.entries.len() as u64,
            bytes: inner.bytes,
        }
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::check;

    #[tokio::test]
    async fn the_least_recently_used_go_first_when_bytes_run_out() {
        check::least_recently_used_go_first(&MemoryStore::new(300)).await;
    }

    #[tokio::test]
    async fn an_expired_value_is_a_miss_and_is_dropped() {
        check::expired_values_are_misses(&MemoryStore::new(1_000)).await;
    }
}

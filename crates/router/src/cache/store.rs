//! Where cached sentences are kept: one small async trait, one store per place.

use std::time::Duration;

use bytes::Bytes;

use super::PhraseKey;

/// How much a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Values held.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A place to keep cached sentences' checked bytes (see
/// [`CachedPhrase::encode`](super::CachedPhrase::encode)). A store bounds
/// what it holds and forgets values older than their time to live; a value
/// it cannot read back is simply not returned. Builds for wasm (the trait
/// is `?Send` there), so a browser page may keep a memory store.
#[cfg_attr(not(target_arch = "wasm32"), voxwire_core::async_trait)]
#[cfg_attr(target_arch = "wasm32", voxwire_core::async_trait(?Send))]
pub trait PhraseStore: Send + Sync {
    /// The value stored under `key`, unless absent or expired.
    async fn get(&self, key: &PhraseKey) -> Option<Bytes>;

    /// Stores `value` under `key` for `ttl`, making room as the store's bound says.
    async fn put(&self, key: &PhraseKey, value: Bytes, ttl: Duration);

    /// Forgets every value; how many there were.
    async fn clear(&self) -> u64;

    /// What the store holds now.
    async fn usage(&self) -> StoreUsage;

    /// A short name for logs and `voxwire cache stats` (`memory`, `disk`, ...).
    fn kind(&self) -> &'static str;
}

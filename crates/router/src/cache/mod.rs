//! The phrase cache: a sentence one entry spoke whole is kept, and said
//! again from the cache, in that entry's voice, with no vendor asked.
//!
//! - **What is kept.** Only a sentence an entry spoke completely and
//!   successfully on a clean run: never one cut short, replayed after a
//!   failover, hedged, failed or cancelled, and never one spoken for a
//!   request with provider-specific extensions other than the word-times
//!   flag (they may change the sound in ways the key cannot see).
//! - **The key** ([`PhraseKey`]): the entry's name, provider id and the
//!   settings that change its sound, the voice, language, speed, output
//!   format, whether word times were asked for, and the sentence's
//!   normalised text.
//! - **Looked up for the entry the chain prefers** for the sentence (health
//!   aside: a hit for an entry marked down still plays, since it needs no
//!   vendor), before any attempt. A hit plays at once, in order with the
//!   live sentences around it (it is one more piece of the session's
//!   pipeline), and is announced as `SessionEvent::Serving { cached: true }`.
//! - **Stores** ([`PhraseStore`]): in memory ([`MemoryStore`]), on disk
//!   (`DiskStore`, feature `disk-cache`: the CLI's and the relay's
//!   default, surviving restarts); the bytes
//!   every store keeps are checked on read ([`CachedPhrase::decode`]): a bad
//!   value is a miss, never bad audio.
//!
//! Config: `[cache]` with `store` (`"disk"` or `"memory"`), `path`, `max_bytes` and `ttl_s`; a
//! chain entry's `policy.cache = false` keeps it out.

#[cfg(not(target_arch = "wasm32"))]
pub mod check;
#[cfg(feature = "disk-cache")]
mod disk;
mod key;
mod memory;
mod store;
mod value;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;
use voxwire_core::{
    AudioFormat, Result, SpanTimes, SynthesisRequest, TextSpan, TtsError, WordTime,
};

#[cfg(feature = "disk-cache")]
pub use disk::DiskStore;
pub use key::PhraseKey;
pub(crate) use key::{cacheable, Normalized};
pub use memory::MemoryStore;
pub use store::{PhraseStore, StoreUsage};
pub use value::{CachedChunk, CachedPhrase};

use crate::attempt::PieceMsg;
use crate::piece::{why_not, PieceJob};
use crate::Inner;

/// The most one sentence's audio may take in the cache (a longer one is
/// spoken but not kept).
pub const MAX_PHRASE_BYTES: usize = 8 << 20;

/// Which store keeps the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// This process's memory.
    Memory,
    /// A file that survives restarts (feature `disk-cache`): the default
    /// where it is built in, as in the CLI and the relay.
    Disk,
    /// The fleet's Redis (`[server.shared] redis_url`): every relay of the
    /// fleet shares one cache. Built by the relay (`voxwire-server`'s
    /// `phrase_store`), not here: [`PhraseCache::from_settings`] refuses it.
    Redis,
}

impl StoreKind {
    /// The store used when `[cache]` names none: disk where it is built in.
    pub const DEFAULT: StoreKind = if cfg!(feature = "disk-cache") {
        StoreKind::Disk
    } else {
        StoreKind::Memory
    };
}

/// The `[cache]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Where cached sentences are kept (default: disk where built in, else
    /// memory; `redis` for a fleet of relays).
    pub store: StoreKind,
    /// The disk store's file (default: `voxwire/phrases.redb` in the user's cache directory).
    pub path: Option<std::path::PathBuf>,
    /// The most bytes the store holds (least recently used go first).
    pub max_bytes: u64,
    /// How long a cached sentence is kept, in seconds.
    pub ttl_s: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            store: StoreKind::DEFAULT,
            path: None,
            max_bytes: 64 << 20,
            ttl_s: 7 * 86_400,
        }
    }
}

impl CacheSettings {
    /// Reads the `[cache]` table; `None` when it is empty (the cache is off).
    pub fn from_table(table: &toml::Table) -> Result<Option<Self>> {
        if table.is_empty() {
            return Ok(None);
        }
        let settings = CacheSettings::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| TtsError::config(format!("invalid [cache]: {}", e.message())))?;
        if settings.max_bytes == 0 || settings.ttl_s == 0 {
            return Err(TtsError::config(
                "invalid [cache]: max_bytes and ttl_s must be above 0 (remove [cache] to turn the cache off)",
            ));
        }
        Ok(Some(settings))
    }
}

/// What the cache has done since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Sentences played from the cache.
    pub hits: u64,
    /// Sentences looked up and not found (or found unreadable).
    pub misses: u64,
    /// Of the misses, values that did not check out (length or checksum).
    pub corrupt: u64,
    /// Sentences stored.
    pub stored: u64,
    /// Audio bytes played from the cache.
    pub bytes_served: u64,
    /// Characters not sent to any vendor thanks to hits.
    pub chars_saved: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
    stored: AtomicU64,
    bytes_served: AtomicU64,
    chars_saved: AtomicU64,
}

/// The router's phrase cache: a store, how long values live, and counters.
#[derive(Clone)]
pub struct PhraseCache {
    store: Arc<dyn PhraseStore>,
    ttl: Duration,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for PhraseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhraseCache")
            .field("store", &self.store.kind())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl PhraseCache {
    /// A cache over `store`, keeping each sentence for `ttl`.
    pub fn new(store: Arc<dyn PhraseStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            counters: Arc::default(),
        }
    }

    /// A memory cache of at most `max_bytes`, keeping each sentence for `ttl`.
    pub fn memory(max_bytes: u64, ttl: Duration) -> Self {
        Self::new(Arc::new(MemoryStore::new(max_bytes)), ttl)
    }

    /// The cache `[cache]` describes; opening a disk store can fail (a
    /// `Config` error naming the file), as can asking for one this build
    /// lacks.
    pub fn from_settings(settings: &CacheSettings) -> Result<Self> {
        let ttl = Duration::from_secs(settings.ttl_s);
        match settings.store {
            StoreKind::Memory => Ok(Self::memory(settings.max_bytes, ttl)),
            #[cfg(feature = "disk-cache")]
            StoreKind::Disk => {
                let path = match &settings.path {
                    Some(path) => path.clone(),
                    None => DiskStore::default_path().ok_or_else(|| {
                        TtsError::config("no user cache directory for the phrase cache: set [cache] path")
                    })?,
                };
                let store = DiskStore::open(path, settings.max_bytes)?;
                Ok(Self::new(Arc::new(store), ttl))
            }
            StoreKind::Redis => Err(TtsError::config(
                "[cache] store = \"redis\" is built by the relay from [server.shared]: voxwire-router has no Redis client",
            )),
            #[cfg(not(feature = "disk-cache"))]
            StoreKind::Disk => Err(TtsError::config(
                "[cache] store = \"disk\" needs voxwire-router's `disk-cache` feature: use store = \"memory\"",
            )),
        }
    }

    /// How long each sentence is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The store.
    pub fn store(&self) -> &dyn PhraseStore {
        &*self.store
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            corrupt: c.corrupt.load(Ordering::Relaxed),
            stored: c.stored.load(Ordering::Relaxed),
            bytes_served: c.bytes_served.load(Ordering::Relaxed),
            chars_saved: c.chars_saved.load(Ordering::Relaxed),
        }
    }

    /// The phrase under `key` in `format`, counting a hit or a miss.
    async fn find(&self, key: &PhraseKey, format: AudioFormat) -> Option<CachedPhrase> {
        let found = match self.store.get(key).await {
            None => None,
            Some(bytes) => match CachedPhrase::decode(&bytes) {
                Some(phrase) if phrase.format == format && !phrase.chunks.is_empty() => {
                    Some(phrase)
                }
                _ => {
                    tracing::warn!(%key, "a cached sentence did not check out: a miss");
                    self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
        };
        let counter = match found {
            Some(_) => &self.counters.hits,
            None => &self.counters.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    async fn keep(&self, key: &PhraseKey, phrase: &CachedPhrase) {
        self.store.put(key, phrase.encode(), self.ttl).await;
        self.counters.stored.fetch_add(1, Ordering::Relaxed);
    }
}

/// What in a chain entry's settings may change its sound, for the key:
/// every setting but its credentials, as canonical TOML.
pub fn sound_of(settings: &toml::Table) -> String {
    let kept: toml::Table = settings
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !["key", "secret", "token", "password"]
                .iter()
                .any(|s| name.contains(s))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    toml::to_string(&kept).unwrap_or_default()
}

/// The entry the chain prefers for the piece, health aside, and the key of
/// the piece spoken by it; `None` when the piece cannot be cached.
fn lookup(inner: &Inner, job: &PieceJob) -> Option<(usize, PhraseKey, Normalized)> {
    if !cacheable(&job.template.extensions) {
        return None;
    }
    let idx = inner
        .preferred(&job.sticky)
        .into_iter()
        .find(|&i| why_not(inner, job, i).is_none())?;
    let member = &inner.members[idx];
    if !member.policy.cache {
        return None;
    }
    let (request, _) = member.request(&job.template, &job.text, &job.plans[idx]);
    let norm = Normalized::new(&job.text);
    if norm.text.is_empty() {
        return None;
    }
    let key = key_for(inner, idx, &request, job.target, &norm);
    Some((idx, key, norm))
}

fn key_for(
    inner: &Inner,
    idx: usize,
    request: &SynthesisRequest,
    target: AudioFormat,
    norm: &Normalized,
) -> PhraseKey {
    let member = &inner.members[idx];
    PhraseKey::new(
        (&member.name, member.provider_id(), &member.sound),
        request,
        target,
        &norm.text,
    )
}

/// Plays the piece from the cache if it is there: its `Serving` (cached),
/// its audio, its end. `true` when it did (or the session stopped
/// listening meanwhile): the piece is spoken.
pub(crate) async fn serve(inner: &Inner, job: &PieceJob, tx: &mpsc::Sender<PieceMsg>) -> bool {
    let Some(cache) = &inner.cache else {
        return false;
    };
    let Some((idx, key, norm)) = lookup(inner, job) else {
        return false;
    };
    let Some(phrase) = cache.find(&key, job.target).await else {
        return false;
    };
    let member = &inner.members[idx];
    const TAKE: u32 = 1;
    // A cached take is never dropped for its entry dying elsewhere.
    job.handover.begin(TAKE, usize::MAX);
    tracing::info!(entry = %member.name, %key, "sentence played from the phrase cache");
    let serving = PieceMsg::Serving {
        take: TAKE,
        entry: member.name.clone(),
        provider: member.provider_id().to_string(),
        left: None,
        hedge: false,
        head: Duration::ZERO,
        cached: true,
    };
    if tx.send(serving).await.is_err() {
        return true;
    }
    let raw = |span: TextSpan| TextSpan {
        start: norm.raw_offset(span.start),
        end: norm.raw_offset(span.end),
    };
    let bytes = phrase.audio_bytes() as u64;
    for chunk in phrase.chunks {
        let message = PieceMsg::Audio {
            take: TAKE,
            data: chunk.data,
            span: chunk.span.map(raw),
            times: chunk.times,
            words: chunk
                .words
                .into_iter()
                .map(|w| WordTime {
                    span: raw(w.span),
                    ..w
                })
                .collect(),
        };
        if tx.send(message).await.is_err() {
            return true;
        }
    }
    job.handover.complete(TAKE);
    let chars = job.text.chars().count();
    let c = &cache.counters;
    c.bytes_served.fetch_add(bytes, Ordering::Relaxed);
    c.chars_saved.fetch_add(chars as u64, Ordering::Relaxed);
    let _ = inner.events.send(crate::RouterEvent::Cached {
        entry: member.name.clone(),
        piece: job.index,
        chars,
        bytes: bytes as usize,
    });
    let _ = tx.send(PieceMsg::Done).await;
    true
}

/// Collects what one attempt hands on, to keep it once the attempt has
/// spoken the piece whole.
pub(crate) struct Recorder {
    key: PhraseKey,
    norm: Normalized,
    phrase: CachedPhrase,
    bytes: usize,
    overflowed: bool,
}

impl Recorder {
    /// A recorder for entry `idx` speaking the piece with `request`, when the
    /// cache is on, the entry may be cached and the attempt starts clean
    /// (`clean`: no audio of the piece heard before, nothing skipped).
    ///
    /// Only the entry a lookup would be made for is recorded (a sentence
    /// failed over to another entry is not kept: it would never be looked
    /// up), and only with the request a lookup would make.
    pub fn start(
        inner: &Inner,
        idx: usize,
        job: &PieceJob,
        request: &SynthesisRequest,
        clean: bool,
    ) -> Option<Self> {
        inner.cache.as_ref()?;
        if !clean {
            return None;
        }
        let (wanted, key, norm) = lookup(inner, job)?;
        if wanted != idx || key != key_for(inner, idx, request, job.target, &norm) {
            return None;
        }
        Some(Self {
            key,
            norm,
            phrase: CachedPhrase {
                format: job.target,
                chunks: Vec::new(),
            },
            bytes: 0,
            overflowed: false,
        })
    }

    /// One piece of audio handed on (spans relative to the piece).
    pub fn push(
        &mut self,
        data: &Bytes,
        span: Option<TextSpan>,
        times: Option<SpanTimes>,
        words: &[WordTime],
    ) {
        if self.overflowed {
            return;
        }
        self.bytes += data.len();
        if self.bytes > MAX_PHRASE_BYTES {
            self.overflowed = true;
            self.phrase.chunks = Vec::new();
            return;
        }
        let norm = |s: TextSpan| TextSpan {
            start: self.norm.norm_offset(s.start),
            end: self.norm.norm_offset(s.end),
        };
        self.phrase.chunks.push(CachedChunk {
            data: data.clone(),
            span: span.map(norm),
            times,
            words: words
                .iter()
                .map(|w| WordTime {
                    span: norm(w.span),
                    ..*w
                })
                .collect(),
        });
    }

    /// Keeps the phrase: the attempt spoke the piece whole.
    pub async fn keep(self, inner: &Inner) {
        let Some(cache) = &inner.cache else { return };
        if self.overflowed || self.bytes == 0 {
            return;
        }
        cache.keep(&self.key, &self.phrase).await;
    }
}

//! The phrase cache's Redis store: a fleet of relays shares one cache.
//!
//! Keys, all under `[server.shared] key_prefix`:
//! - `<prefix>:phrase:<key>`: a sentence's checked bytes (see
//!   `voxwire_router::cache::CachedPhrase`), expiring after `[cache] ttl_s`;
//! - `<prefix>:phrases:used` (a sorted set: key by last use, Redis's clock),
//!   `<prefix>:phrases:sizes` (a hash: key to bytes) and
//!   `<prefix>:phrases:bytes` (the total): the bound's bookkeeping, each
//!   living as long as the longest-lived value written to it.
//!
//! One Lua script stores a value and evicts the least recently used until
//! the total is within `[cache] max_bytes`; another reads a value and notes
//! its use (or, when the value has expired, drops its bookkeeping). Every
//! call is bounded by `[server.shared] timeout_ms`; a failed or late one is
//! logged (once per outage) and read as a miss or as not stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use voxwire_core::{Result, TtsError};
use voxwire_router::cache::{PhraseKey, PhraseStore, StoreUsage};

use crate::settings::SharedSettings;

/// Stores a value, notes its size and use, evicts least recently used
/// values past the bound. KEYS: value, used, sizes, bytes. ARGV: key, value,
/// ttl ms, max bytes.
const PUT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local size = string.len(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], size)
redis.call('ZADD', KEYS[2], now, ARGV[1])
local total = redis.call('INCRBY', KEYS[4], size - old)
local prefix = string.sub(KEYS[1], 1, string.len(KEYS[1]) - string.len(ARGV[1]))
local max = tonumber(ARGV[4])
while total > max do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if #oldest == 0 then break end
  local victim = oldest[1]
  local freed = tonumber(redis.call('HGET', KEYS[3], victim) or '0')
  redis.call('HDEL', KEYS[3], victim)
  redis.call('DEL', prefix .. victim)
  total = redis.call('DECRBY', KEYS[4], freed)
end
-- The bookkeeping lives as long as its longest-lived value.
for i = 2, 4 do
  local left = redis.call('PTTL', KEYS[i])
  if left >= 0 and left < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
  if left == -1 then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return total
"#;

/// Reads a value and notes its use; an expired one's bookkeeping is
/// dropped. KEYS: value, used, sizes, bytes. ARGV: key.
const GET: &str = r#"
local value = redis.call('GET', KEYS[1])
if value then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
  return value
end
local size = redis.call('HGET', KEYS[3], ARGV[1])
if size then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[4], tonumber(size))
end
return false
"#;

/// Drops every value and the bookkeeping. KEYS: used, sizes, bytes.
/// ARGV: the value keys' prefix.
const CLEAR: &str = r#"
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, k in ipairs(keys) do redis.call('DEL', ARGV[1] .. k) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return #keys
"#;

/// Cached sentences in the fleet's Redis, at most `max_bytes` of them.
pub struct RedisPhraseStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    max_bytes: u64,
    up: AtomicBool,
    put: Script,
    get: Script,
    clear: Script,
}

impl std::fmt::Debug for RedisPhraseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPhraseStore")
            .field("prefix", &self.prefix)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl RedisPhraseStore {
    /// A store in the Redis of `[server.shared]` (connected lazily, so a
    /// Redis that is down at start is a miss, not an error), holding at
    /// most `max_bytes`; a `Config` error when `redis_url` is unset.
    pub fn connect(shared: &SharedSettings, max_bytes: u64) -> Result<Self> {
        let url = shared.redis_url.as_ref().ok_or_else(|| {
            TtsError::config("[cache] store = \"redis\" needs [server.shared] redis_url")
        })?;
        let client = redis::Client::open(url.expose())
            .map_err(|e| TtsError::config(format!("[server.shared] redis_url: {:?}", e.kind())))?;
        let timeout = shared.timeout();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| TtsError::config(format!("[cache] cannot use Redis: {:?}", e.kind())))?;
        Ok(Self {
            conn,
            prefix: shared.key_prefix.clone(),
            timeout,
            max_bytes,
            up: AtomicBool::new(true),
            put: Script::new(PUT),
            get: Script::new(GET),
            clear: Script::new(CLEAR),
        })
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}:phrase:{key}", self.prefix)
    }

    fn books(&self) -> [String; 3] {
        ["used", "sizes", "bytes"].map(|k| format!("{}:phrases:{k}", self.prefix))
    }

    /// One call under the timeout; a failure is logged once per outage.
    async fn call<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let error = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                if !self.up.swap(true, Ordering::SeqCst) {
                    tracing::warn!("the phrase cache's Redis answers again");
                }
                return Some(value);
            }
            Ok(Err(e)) => format!("{:?}", e.kind()),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        if self.up.swap(false, Ordering::SeqCst) {
            tracing::warn!(%error, "the phrase cache's Redis failed to {what}: sentences are spoken live until it is back");
        }
        None
    }
}

#[voxwire_core::async_trait]
impl PhraseStore for RedisPhraseStore {
    async fn get(&self, key: &PhraseKey) -> Option<Bytes> {
        let [used, sizes, bytes] = self.books();
        let mut conn = self.conn.clone();
        let mut invocation = self.get.prepare_invoke();
        invocation
            .key(self.value_key(key.as_str()))
            .key(used)
            .key(sizes)
            .key(bytes)
            .arg(key.as_str());
        let value: Option<Vec<u8>> = self
            .call("read", invocation.invoke_async(&mut conn))
            .await?;
        value.map(Bytes::from)
    }

    async fn put(&self, key: &PhraseKey, value: Bytes, ttl: Duration) {
        if value.len() as u64 > self.max_bytes {
            return;
        }
        let [used, sizes, bytes] = self.books();
        let mut conn = self.conn.clone();
        let mut invocation = self.put.prepare_invoke();
        invocation
            .key(self.value_key(key.as_str()))
            .key(used)
            .key(sizes)
            .key(bytes)
            .arg(key.as_str())
            .arg(value.as_ref())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .arg(self.max_bytes);
        let _: Option<i64> = self.call("store", invocation.invoke_async(&mut conn)).await;
    }

    async fn clear(&self) -> u64 {
        let [used, sizes, bytes] = self.books();
        let mut conn = self.conn.clone();
        let mut invocation = self.clear.prepare_invoke();
        invocation
            .key(used)
            .key(sizes)
            .key(bytes)
            .arg(format!("{}:phrase:", self.prefix));
        self.call("clear", invocation.invoke_async(&mut conn))
            .await
            .unwrap_or(0)
    }

    async fn usage(&self) -> StoreUsage {
        let [used, _, bytes] = self.books();
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.zcard(used).get(bytes);
        let answer: Option<(u64, Option<u64>)> =
            self.call("count", pipe.query_async(&mut conn)).await;
        answer.map_or_else(StoreUsage::default, |(entries, bytes)| StoreUsage {
            entries,
            bytes: bytes.unwrap_or(0),
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

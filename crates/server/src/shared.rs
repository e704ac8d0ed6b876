//! State shared by a fleet of relays in one Redis (`[server.shared]`): the
//! sessions per credential and the per-credential utterance rate.
//!
//! Key layout (every key under `<key_prefix>:` and expiring):
//! - `<prefix>:sessions:<principal>`: a sorted set of leases, one per open
//!   session (`<relay id>:<n>`), scored by its expiry in Redis milliseconds.
//!   The acquire script drops expired leases, counts, and adds one if under
//!   the limit; the set itself expires one lease TTL after its last write.
//!   Each relay renews its live leases every third of the TTL and removes a
//!   lease when its session ends: a relay that dies leaks nothing for longer
//!   than the TTL.
//! - `<prefix>:rate:<principal>`: the GCRA "theoretical arrival time" of the
//!   credential's next utterance (Redis microseconds, from `TIME`), expiring
//!   when it is in the past.
//!
//! Every call is bounded by `timeout_ms`; an error or a late answer counts as
//! Redis down: the caller falls back to this process's own counting (or
//! refuses new sessions under `on_redis_down = "refuse"`), logged once per
//! outage. The connection manager reconnects with back-off on its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tokio::sync::{mpsc, Notify};
use voxwire_core::{Result, TtsError};

use crate::metrics::Metrics;
use crate::settings::{OnRedisDown, SharedSettings};

/// Drops the expired leases, counts the rest, adds one if under the limit.
/// KEYS[1] the set; ARGV: limit, TTL (ms), member. 1 granted, 0 full.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
";

/// Extends (or puts back, after Redis lost them) a relay's live leases.
/// KEYS[1] the set; ARGV: TTL (ms), then the members.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1
";

/// GCRA: one utterance at `interval` µs apart, `burst` at once. KEYS[1] the
/// arrival time; ARGV: interval (µs), burst. 0 taken, else µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - burst * interval
if over > 0 then
  return math.ceil(over)
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// How often a relay asks whether Redis is back during an outage.
const PROBE: Duration = Duration::from_secs(1);

/// Ended sessions' leases kept for removal while Redis is down; past it
/// their TTL removes them.
const MAX_UNREMOVED: usize = 100_000;

/// Redis did not answer (in time); the caller applies `on_redis_down`.
#[derive(Debug)]
pub(crate) struct Down;

/// A session's lease on its credential's shared count.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    principal: String,
    member: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.release(&self.principal, &self.member);
    }
}

/// What the acquire script said.
pub(crate) enum Acquired {
    /// Counted in Redis.
    Granted(Lease),
    /// The credential has its limit of sessions across the fleet.
    Full,
}

/// The fleet's Redis, its scripts, and this relay's live leases.
pub(crate) struct Shared {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
    timeout: Duration,
    lease_ttl: Duration,
    pub(crate) policy: OnRedisDown,
    /// This process's lease names start with it.
    pub(crate) relay: String,
    next: AtomicU64,
    /// Live leases (member to principal), renewed by [`Shared::keep`].
    live: Mutex<HashMap<String, String>>,
    /// Leases whose sessions ended, for the keeper to remove from Redis.
    released: mpsc::UnboundedSender<(String, String)>,
    released_rx: Mutex<Option<mpsc::UnboundedReceiver<(String, String)>>>,
    /// Whether the last call was answered; starts true so an outage from
    /// the start is logged once.
    up: AtomicBool,
    /// Told when Redis answers again after an outage: the keeper renews at once.
    back: Notify,
    metrics: Arc<Metrics>,
    acquire: Script,
    renew: Script,
    gcra: Script,
}

impl Shared {
    /// Connects lazily to `[server.shared] redis_url`; `None` when unset.
    pub(crate) fn new(settings: &SharedSettings, metrics: Arc<Metrics>) -> Result<Option<Self>> {
        let Some(url) = &settings.redis_url else {
            return Ok(None);
        };
        let client = redis::Client::open(url.expose())
            .map_err(|e| TtsError::config(format!("[server.shared] redis_url: {:?}", e.kind())))?;
        let timeout = settings.timeout();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(4)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            TtsError::config(format!("[server.shared] cannot use Redis: {:?}", e.kind()))
        })?;
        let (released, released_rx) = mpsc::unbounded_channel();
        Ok(Some(Self {
            conn,
            prefix: settings.key_prefix.clone(),
            timeout,
            lease_ttl: Duration::from_secs(settings.lease_ttl_s),
            policy: settings.on_redis_down,
            relay: crate::random::random_hex(8)?.expose().to_string(),
            next: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            released,
            released_rx: Mutex::new(Some(released_rx)),
            up: AtomicBool::new(true),
            back: Notify::new(),
            metrics,
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
            gcra: Script::new(GCRA),
        }))
    }

    /// `<prefix>:<rest>`: the keys other modules (quotas, usage) keep here.
    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// A handle on the connection, for a call made through [`Shared::call`].
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn sessions_key(&self, principal: &str) -> String {
        format!("{}:sessions:{principal}", self.prefix)
    }

    fn rate_key(&self, principal: &str) -> String {
        format!("{}:rate:{principal}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs one Redis call under the timeout, and keeps the up/down state
    /// (a log line per outage, the gauge). While Redis is down only the
    /// keeper's probe calls it: sessions and utterances fall back at once
    /// instead of each waiting out the timeout.
    pub(crate) async fn call<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> std::result::Result<T, Down> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(Down);
        }
        self.call_anyway(call).await
    }

    /// [`Shared::call`], even while Redis is down (the keeper's probe).
    async fn call_anyway<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> std::result::Result<T, Down> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                if !self.up.swap(true, Ordering::SeqCst) {
                    tracing::info!("shared state: Redis answers again; counting and sharing chain health across the fleet");
                    self.back.notify_one();
                }
                self.metrics.shared_state_up(true);
                Ok(value)
            }
            outcome => {
                if self.up.swap(false, Ordering::SeqCst) {
                    let why = match outcome {
                        Ok(Err(e)) => format!("{:?}", e.kind()),
                        _ => format!("no answer within {:?}", self.timeout),
                    };
                    match self.policy {
                        OnRedisDown::Local => tracing::warn!(
                            error = %why,
                            "shared state: Redis is down; counting sessions and rates, and keeping chain health, in this process until it is back"
                        ),
                        OnRedisDown::Refuse => tracing::warn!(
                            error = %why,
                            "shared state: Redis is down; refusing new sessions (and keeping chain health in this process) until it is back"
                        ),
                    }
                }
                self.metrics.shared_state_up(false);
                Err(Down)
            }
        }
    }

    /// Whether the last call was answered (the fleet's health is shared only then).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Counts a check made in this process because Redis was down.
    pub(crate) fn fell_back(&self) {
        self.metrics.shared_state_fallback();
    }

    fn new_member(&self) -> String {
        format!(
            "{}:{}",
            self.relay,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Takes a lease on `principal`'s count if it has fewer than `limit`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        principal: &str,
        limit: usize,
    ) -> std::result::Result<Acquired, Down> {
        let member = self.new_member();
        let mut conn = self.conn.clone();
        let granted: i64 = self
            .call(
                self.acquire
                    .key(self.sessions_key(principal))
                    .arg(limit)
                    .arg(self.ttl_ms())
                    .arg(&member)
                    .invoke_async(&mut conn),
            )
            .await?;
        if granted == 1 {
            Ok(Acquired::Granted(self.lease(principal, member)))
        } else {
            Ok(Acquired::Full)
        }
    }

    /// A lease for a session opened while Redis was down: kept and renewed
    /// like the others, so it is counted across the fleet once Redis is back.
    pub(crate) fn lease_unchecked(self: &Arc<Self>, principal: &str) -> Lease {
        let member = self.new_member();
        self.lease(principal, member)
    }

    fn lease(self: &Arc<Self>, principal: &str, member: String) -> Lease {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(member.clone(), principal.to_string());
        Lease {
            shared: self.clone(),
            principal: principal.to_string(),
            member,
        }
    }

    fn release(&self, principal: &str, member: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(member);
        // The keeper removes it; if it is gone (shutdown), the TTL does.
        let _ = self
            .released
            .send((principal.to_string(), member.to_string()));
    }

    /// Takes one utterance from `principal`'s shared bucket (GCRA), or says
    /// how long until it can.
    pub(crate) async fn take_rate(
        &self,
        principal: &str,
        per_second: f64,
        burst: f64,
    ) -> std::result::Result<std::result::Result<(), Duration>, Down> {
        let interval_us = (1_000_000.0 / per_second).max(1.0);
        let mut conn = self.conn.clone();
        let wait_us: i64 = self
            .call(
                self.gcra
                    .key(self.rate_key(principal))
                    .arg(interval_us)
                    .arg(burst.max(1.0))
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(match u64::try_from(wait_us) {
            Ok(0) | Err(_) => Ok(()),
            Ok(us) => Err(Duration::from_micros(us)),
        })
    }

    /// Renews every live lease (putting back those Redis lost), per principal.
    /// While Redis is down, first asks whether it is back.
    async fn renew_all(&self) {
        if !self.up.load(Ordering::SeqCst) {
            let mut conn = self.conn.clone();
            if self
                .call_anyway(redis::cmd("PING").query_async::<()>(&mut conn))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut by_principal: HashMap<String, Vec<String>> = HashMap::new();
        for (member, principal) in self.live.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            by_principal
                .entry(principal.clone())
                .or_default()
                .push(member.clone());
        }
        if by_principal.is_empty() {
            // Nothing to renew: a ping keeps the up gauge (and the log) true.
            let mut conn = self.conn.clone();
            let _ = self
                .call(redis::cmd("PING").query_async::<()>(&mut conn))
                .await;
            return;
        }
        for (principal, members) in by_principal {
            let mut conn = self.conn.clone();
            let mut invocation = self.renew.key(self.sessions_key(&principal));
            invocation.arg(self.ttl_ms());
            for member in &members {
                invocation.arg(member);
            }
            if self
                .call(invocation.invoke_async::<i64>(&mut conn))
                .await
                .is_err()
            {
                return; // down: the next tick (or its return) renews
            }
        }
    }

    /// Removes one lease; `false` when Redis is down (the caller retries).
    async fn remove(&self, principal: &str, member: &str) -> bool {
        let mut conn = self.conn.clone();
        self.call(
            redis::cmd("ZREM")
                .arg(self.sessions_key(principal))
                .arg(member)
                .query_async::<i64>(&mut conn),
        )
        .await
        .is_ok()
    }

    /// Renews, then removes the leases whose removal met Redis down.
    async fn renew_and_retry(&self, unremoved: &mut Vec<(String, String)>) {
        self.renew_all().await;
        while self.up.load(Ordering::SeqCst) {
            let Some((principal, member)) = unremoved.pop() else {
                return;
            };
            if !self.remove(&principal, &member).await {
                unremoved.push((principal, member));
            }
        }
    }

    /// The keeper: renews live leases every third of their TTL, asks every
    /// [`PROBE`] whether Redis is back while it is down (and then renews at
    /// once), removes the leases of ended sessions, until `stop`; then
    /// removes the last released ones (each call bounded) and returns.
    pub(crate) async fn keep(self: Arc<Self>, stop: tokio::sync::oneshot::Receiver<()>) {
        let Some(mut released) = self
            .released_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let mut stop = std::pin::pin!(stop);
        let mut unremoved = Vec::new();
        let mut tick = tokio::time::interval(self.lease_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut probe = tokio::time::interval(PROBE);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => self.renew_and_retry(&mut unremoved).await,
                _ = probe.tick(), if !self.up.load(Ordering::SeqCst) => {
                    self.renew_and_retry(&mut unremoved).await;
                }
                () = self.back.notified() => self.renew_and_retry(&mut unremoved).await,
                Some((principal, member)) = released.recv() => {
                    // Kept for a retry when Redis is back (bounded: the
                    // lease TTL removes the rest).
                    if !self.remove(&principal, &member).await && unremoved.len() < MAX_UNREMOVED {
                        unremoved.push((principal, member));
                    }
                }
            }
        }
        while let Ok((principal, member)) = released.try_recv() {
            self.remove(&principal, &member).await;
        }
    }
}

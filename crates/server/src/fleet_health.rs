//! Chain entries' health shared by a fleet of relays through the
//! `[server.shared]` Redis: an entry one relay marks down is skipped by the
//! others, and only one router in the fleet probes it back.
//!
//! Every router of the relay (the main one and the OpenAI models' own) is a
//! member of the fleet, named `<relay id>-<n>`; it implements the router's
//! [`HealthShare`] hook. Keys (under `<prefix>:`, all expiring):
//! - `health:<entry>`: the last change a member made to the entry, JSON
//!   `{down, reason, who, at}` (`at` in Redis milliseconds); it expires twice
//!   the entry's longest cooldown (at least [`MIN_RECORD_TTL`]) after it was
//!   written.
//! - `health:version`: the Redis milliseconds of the last change, strictly
//!   growing (never repeated, even after it expired): members read the
//!   records only when it moved. Expires a day after the last change.
//! - `probe:<entry>`: the probe lease, naming the one member that may probe
//!   the entry while it is down. Taken (`SET NX`-like, in a script) by the
//!   member that marks the entry down, otherwise by the first member to ask,
//!   for [`LEASE_TTL`]; its holder renews it every [`POLL`] while the entry
//!   is down, and deletes it when it brings the entry back. A member believes
//!   it holds the lease only until [`LEASE_TTL`] after it *sent* the call
//!   that took or renewed it, so two members never both believe it; when the
//!   holder dies, another takes the lease within a TTL and a poll.
//!
//! One task per relay ([`FleetHealth::run`], owned by [`crate::Relay::serve`],
//! ended at shutdown) writes the members' changes, renews their leases, and
//! every [`POLL`] applies the others' changes to the routers
//! ([`Router::apply_remote`]). Every call goes through [`Shared::call`], so it
//! is bounded by `timeout_ms`, and while Redis is down it is not made at all:
//! each router then keeps and probes its own health, as a relay alone does
//! (the outage is logged once and shown by `voxwire_shared_state_up`); the
//! changes made meanwhile are written once Redis answers again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::Script;
use tokio::sync::{mpsc, oneshot};
use voxwire_router::{HealthChange, HealthShare, Router};

use crate::shared::Shared;

/// How often the relay reads the fleet's changes and renews its leases.
pub(crate) const POLL: Duration = Duration::from_millis(500);
/// How long a probe lease lives unless its holder renews it.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(2);
/// The shortest life of a health record.
pub(crate) const MIN_RECORD_TTL: Duration = Duration::from_secs(10);
/// The life of the version key after the last change.
const VERSION_TTL_MS: u64 = 86_400_000;
/// Reasons longer than this are cut (they are error lines, for people).
const MAX_REASON: usize = 300;

/// Writes a change, bumps the version, and takes (down) or gives back (up)
/// the probe lease. KEYS: record, version, lease; ARGV: down (1/0), who,
/// reason, record TTL (ms), lease TTL (ms), version TTL (ms). 1 when the
/// lease is the writer's.
const PUBLISH: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local record = cjson.encode({down = ARGV[1] == '1', who = ARGV[2], reason = ARGV[3], at = now})
redis.call('SET', KEYS[1], record, 'PX', ARGV[4])
local version = math.max(now, (tonumber(redis.call('GET', KEYS[2])) or 0) + 1)
redis.call('SET', KEYS[2], string.format('%.0f', version), 'PX', ARGV[6])
local holder = redis.call('GET', KEYS[3])
if ARGV[1] == '1' then
  if holder == false or holder == ARGV[2] then
    redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[5])
    return 1
  end
elseif holder == ARGV[2] then
  redis.call('DEL', KEYS[3])
end
return 0
";

/// Takes each free lease, renews each of the caller's. KEYS: leases; ARGV:
/// who, TTL (ms). Per key 1 when the lease is the caller's.
const LEASE: &str = r"
local out = {}
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
";

/// One change as stored in `health:<entry>`.
#[derive(serde::Deserialize)]
struct Record {
    down: bool,
    reason: String,
    who: String,
}

/// A member's change, waiting to be written.
struct Publish {
    member: usize,
    entry: String,
    down: bool,
    reason: String,
    ttl: Duration,
}

/// What one member knows.
#[derive(Default)]
struct Known {
    /// Entries down in its router.
    down: HashSet<String>,
    /// Leases it holds, and until when it may believe so.
    held: HashMap<String, Instant>,
    /// The last record read per entry.
    seen: HashMap<String, String>,
}

/// One router of the relay as a member of the fleet: its [`HealthShare`].
struct Member {
    who: String,
    index: usize,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Publish>,
    known: Mutex<Known>,
}

impl Member {
    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl HealthShare for Member {
    fn changed(&self, entry: &str, change: &HealthChange) {
        {
            let mut known = self.known();
            if change.down {
                known.down.insert(entry.to_string());
            } else {
                known.down.remove(entry);
                known.held.remove(entry);
            }
        }
        let reason: String = change.reason.chars().take(MAX_REASON).collect();
        let _ = self.tx.send(Publish {
            member: self.index,
            entry: entry.to_string(),
            down: change.down,
            reason,
            ttl: (change.cooldown_max * 2).max(MIN_RECORD_TTL),
        });
    }

    fn may_probe(&self, entry: &str) -> bool {
        if !self.shared.is_up() {
            return true; // alone: every relay probes its own
        }
        self.known()
            .held
            .get(entry)
            .is_some_and(|until| Instant::now() < *until)
    }
}

/// The relay's routers as members of the fleet, and the task's state.
pub(crate) struct FleetHealth {
    shared: Arc<Shared>,
    members: Vec<(Router, Arc<Member>)>,
    /// Every entry name of every member's router.
    entries: Vec<String>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Publish>>>,
    version: Mutex<Option<String>>,
    publish: Script,
    lease: Script,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl FleetHealth {
    /// Makes each router a member (a router that already shares its health,
    /// such as a clone of one before it, is left as it is).
    pub(crate) fn new(shared: Arc<Shared>, routers: impl IntoIterator<Item = Router>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut members = Vec::new();
        let mut entries: Vec<String> = Vec::new();
        for router in routers {
            let member = Arc::new(Member {
                who: format!("{}-{}", shared.relay, members.len()),
                index: members.len(),
                shared: shared.clone(),
                tx: tx.clone(),
                known: Mutex::new(Known::default()),
            });
            if !router.share_health(member.clone()) {
                continue;
            }
            for name in router.chain() {
                if !entries.contains(&name) {
                    entries.push(name);
                }
            }
            members.push((router, member));
        }
        Self {
            shared,
            members,
            entries,
            rx: Mutex::new(Some(rx)),
            version: Mutex::new(None),
            publish: Script::new(PUBLISH),
            lease: Script::new(LEASE),
        }
    }

    fn key(&self, kind: &str, entry: &str) -> String {
        format!("{}:{kind}:{entry}", self.shared.prefix)
    }

    /// Writes one change; `false` when Redis is down (kept for later).
    async fn write(&self, change: &Publish) -> bool {
        let Some((_, member)) = self.members.get(change.member) else {
            return true;
        };
        let sent = Instant::now();
        let mut conn = self.shared.conn.clone();
        let mut invocation = self.publish.key(self.key("health", &change.entry));
        invocation
            .key(self.key("health", "version"))
            .key(self.key("probe", &change.entry))
            .arg(if change.down { "1" } else { "0" })
            .arg(&member.who)
            .arg(&change.reason)
            .arg(ms(change.ttl))
            .arg(ms(LEASE_TTL))
            .arg(VERSION_TTL_MS);
        let Ok(holds) = self
            .shared
            .call(invocation.invoke_async::<i64>(&mut conn))
            .await
        else {
            return false;
        };
        let mut known = member.known();
        if holds == 1 && known.down.contains(&change.entry) {
            known.held.insert(change.entry.clone(), sent + LEASE_TTL);
        } else {
            known.held.remove(&change.entry);
        }
        true
    }

    /// Takes or renews the lease of every entry down at each member.
    async fn renew_leases(&self) {
        for (_, member) in &self.members {
            let down: Vec<String> = member.known().down.iter().cloned().collect();
            if down.is_empty() {
                continue;
            }
            let sent = Instant::now();
            let mut conn = self.shared.conn.clone();
            let mut invocation = self.lease.prepare_invoke();
            for entry in &down {
                invocation.key(self.key("probe", entry));
            }
            invocation.arg(&member.who).arg(ms(LEASE_TTL));
            let result = self
                .shared
                .call(invocation.invoke_async::<Vec<i64>>(&mut conn))
                .await;
            let mut known = member.known();
            let Ok(holds) = result else {
                known.held.clear();
                return;
            };
            for (entry, holds) in down.into_iter().zip(holds) {
                if holds == 1 && known.down.contains(&entry) {
                    known.held.insert(entry, sent + LEASE_TTL);
                } else {
                    known.held.remove(&entry);
                }
            }
        }
    }

    /// Reads the records when the version moved, and applies each new one
    /// written by another member to this member's router.
    async fn receive(&self) {
        if self.entries.is_empty() {
            return;
        }
        let mut conn = self.shared.conn.clone();
        let Ok(version) = self
            .shared
            .call(
                redis::cmd("GET")
                    .arg(self.key("health", "version"))
                    .query_async::<Option<String>>(&mut conn),
            )
            .await
        else {
            return;
        };
        if version.is_none() || *self.version.lock().unwrap_or_else(|p| p.into_inner()) == version {
            return;
        }
        let mut mget = redis::cmd("MGET");
        for entry in &self.entries {
            mget.arg(self.key("health", entry));
        }
        let Ok(records) = self
            .shared
            .call(mget.query_async::<Vec<Option<String>>>(&mut conn))
            .await
        else {
            return;
        };
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        for (entry, raw) in self.entries.iter().zip(records) {
            let Some(raw) = raw else { continue };
            let Ok(record) = serde_json::from_str::<Record>(&raw) else {
                continue;
            };
            for (router, member) in &self.members {
                {
                    let mut known = member.known();
                    if known.seen.get(entry) == Some(&raw) {
                        continue;
                    }
                    known.seen.insert(entry.clone(), raw.clone());
                    if record.who == member.who {
                        continue; // its own change
                    }
                }
                let reason = format!("{} (by {})", record.reason, record.who);
                if router.apply_remote(entry, record.down, &reason) {
                    let mut known = member.known();
                    if record.down {
                        known.down.insert(entry.clone());
                    } else {
                        known.down.remove(entry);
                        known.held.remove(entry);
                    }
                }
            }
        }
    }

    /// The relay's fleet-health task: writes its members' changes as they
    /// come (those that met Redis down once it is back), and every [`POLL`]
    /// applies the fleet's changes and renews its members' leases, until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stop: oneshot::Receiver<()>) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut stop = std::pin::pin!(stop);
        let mut unsent: Vec<Publish> = Vec::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                Some(change) = rx.recv() => {
                    // Only the last change per member and entry matters.
                    unsent.retain(|c| c.member != change.member || c.entry != change.entry);
                    if !self.write(&change).await {
                        unsent.push(change);
                    }
                }
                _ = tick.tick() => {
                    if !self.shared.is_up() {
                        continue; // the keeper asks whether Redis is back
                    }
                    while let Some(change) = unsent.first() {
                        if !self.write(change).await {
                            break;
                        }
                        unsent.remove(0);
                    }
                    // Changes first: no lease is taken for an entry back up.
                    self.receive().await;
                    self.renew_leases().await;
                }
            }
        }
    }
}

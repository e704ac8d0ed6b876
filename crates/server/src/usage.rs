//! Usage per credential and per chain entry: characters handed to the router,
//! seconds of audio sent, utterances spoken to the end, failovers. Read at
//! `GET /v1/usage` (a server token) and in `/metrics`.
//!
//! - Credentials are counted under a bounded label: `token:<id>` (only
//!   configured tokens exist), `open`, and every browser subject together
//!   as `browser` (one label, so minted subjects cannot grow the key space or
//!   the metrics).
//! - With `[server.shared]` the totals are the fleet's, in Redis:
//!   `<prefix>:usage:cred:<credential>` and `<prefix>:usage:entry:<entry>`
//!   (hashes of `chars`, `audio_seconds`, `utterances`, `failovers`, by
//!   `HINCRBY`/`HINCRBYFLOAT`), and the index sets `<prefix>:usage:creds` and
//!   `<prefix>:usage:entries`; each expires [`EXPIRY`] after its last write.
//!   A relay adds what it counted since its last write once a second
//!   ([`FLUSH`]), and before it answers `GET /v1/usage`; while Redis is down
//!   the counts wait in process (bounded by the labels) and are written when
//!   it is back. Without `[server.shared]` the totals are this relay's own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use redis::Script;
use serde::Serialize;

use crate::shared::{Down, Shared};

/// How long a usage key lives after its last write (35 days).
pub(crate) const EXPIRY: Duration = Duration::from_secs(35 * 86_400);

/// How often a relay writes what it counted to the shared Redis.
pub(crate) const FLUSH: Duration = Duration::from_secs(1);

/// Adds to one hash and its index. KEYS[1] the hash, KEYS[2] the index;
/// ARGV: name, expiry (s), chars, audio seconds, utterances, failovers.
const ADD: &str = r"
local ttl = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'chars', ARGV[3])
redis.call('HINCRBYFLOAT', KEYS[1], 'audio_seconds', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'utterances', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'failovers', ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
return 1
";

/// Reads every hash of an index. KEYS[1] the index; ARGV[1] the hashes'
/// key prefix. Returns name, chars, audio seconds, utterances, failovers, …
const READ: &str = r"
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('HMGET', ARGV[1] .. name, 'chars', 'audio_seconds', 'utterances', 'failovers')
  if v[1] or v[2] or v[3] or v[4] then
    table.insert(out, name)
    for i = 1, 4 do table.insert(out, v[i] or '0') end
  end
end
return out
";

/// One credential's or entry's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct Counts {
    /// Characters handed to the router (a credential's, as its quota counts
    /// them) or spoken to the end of their sentence (an entry's).
    pub chars: u64,
    /// Seconds of audio sent to clients.
    pub audio_seconds: f64,
    /// Utterances spoken to the end.
    pub utterances: u64,
    /// Failovers (a credential's sessions moved; away from an entry).
    pub failovers: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.chars = self.chars.saturating_add(other.chars);
        self.audio_seconds += other.audio_seconds;
        self.utterances = self.utterances.saturating_add(other.utterances);
        self.failovers = self.failovers.saturating_add(other.failovers);
    }
}

/// `GET /v1/usage`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Report {
    /// By credential label.
    pub credentials: BTreeMap<String, Counts>,
    /// By chain entry.
    pub entries: BTreeMap<String, Counts>,
}

impl Report {
    fn add(&mut self, credential: &str, entry: Option<&str>, counts: &Counts) {
        self.credentials
            .entry(credential.to_string())
            .or_default()
            .add(counts);
        if let Some(entry) = entry {
            let mut per_entry = *counts;
            // An entry's characters are the sentences it ended (see `chars_spoken`).
            per_entry.chars = 0;
            self.entries
                .entry(entry.to_string())
                .or_default()
                .add(&per_entry);
        }
    }

    fn is_empty(&self) -> bool {
        self.credentials.is_empty() && self.entries.is_empty()
    }
}

/// The credential label of a principal: bounded (see the module's doc).
pub(crate) fn label(principal: &str) -> &str {
    if principal.starts_with("browser:") {
        "browser"
    } else {
        principal
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabel {
    credential: String,
}

/// The credential-labelled families of `/metrics` (this relay's counts).
#[derive(Default)]
pub(crate) struct CredentialCounters {
    chars: Family<CredentialLabel, Counter>,
    audio_seconds: Family<CredentialLabel, Counter<f64, std::sync::atomic::AtomicU64>>,
    utterances: Family<CredentialLabel, Counter>,
    failovers: Family<CredentialLabel, Counter>,
}

impl CredentialCounters {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "voxwire_credential_chars",
            "Characters handed to the router, by credential (token:<id>, open, or browser for every browser subject)",
            self.chars.clone(),
        );
        registry.register(
            "voxwire_credential_audio_seconds",
            "Seconds of audio sent to clients, by credential",
            self.audio_seconds.clone(),
        );
        registry.register(
            "voxwire_credential_utterances",
            "Utterances spoken to the end, by credential",
            self.utterances.clone(),
        );
        registry.register(
            "voxwire_credential_failovers",
            "Failovers in a credential's sessions",
            self.failovers.clone(),
        );
    }

    fn add(&self, credential: &str, counts: &Counts) {
        let label = CredentialLabel {
            credential: credential.to_string(),
        };
        if counts.chars > 0 {
            self.chars.get_or_create(&label).inc_by(counts.chars);
        }
        if counts.audio_seconds > 0.0 && counts.audio_seconds.is_finite() {
            self.audio_seconds
                .get_or_create(&label)
                .inc_by(counts.audio_seconds);
        }
        if counts.utterances > 0 {
            self.utterances
                .get_or_create(&label)
                .inc_by(counts.utterances);
        }
        if counts.failovers > 0 {
            self.failovers
                .get_or_create(&label)
                .inc_by(counts.failovers);
        }
    }
}

/// This relay's usage: its own totals, and what it has not yet written to
/// the shared Redis.
pub(crate) struct Usage {
    totals: Mutex<Report>,
    pending: Mutex<Report>,
    shared: bool,
    add: Script,
    read: Script,
}

impl Usage {
    /// `shared`: the fleet's Redis holds the totals.
    pub(crate) fn new(shared: bool) -> Self {
        Self {
            totals: Mutex::default(),
            pending: Mutex::default(),
            shared,
            add: Script::new(ADD),
            read: Script::new(READ),
        }
    }

    /// Counts `counts` for `principal` and, when known, the entry that served.
    pub(crate) fn record(
        &self,
        metrics: &crate::metrics::Metrics,
        principal: &str,
        entry: Option<&str>,
        counts: Counts,
    ) {
        let credential = label(principal);
        metrics.credentials.add(credential, &counts);
        self.totals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(credential, entry, &counts);
        if self.shared {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(credential, entry, &counts);
        }
    }

    /// Characters `entry` spoke to the end of their sentence.
    pub(crate) fn chars_spoken(&self, entry: &str, chars: u64) {
        let add = |report: &Mutex<Report>| {
            report
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entries
                .entry(entry.to_string())
                .or_default()
                .chars += chars;
        };
        add(&self.totals);
        if self.shared {
            add(&self.pending);
        }
    }

    /// Writes what was counted since the last write; what Redis did not
    /// take waits for the next one.
    pub(crate) async fn flush(&self, shared: &Shared) -> Result<(), Down> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        let mut left = Report::default();
        let mut outcome = Ok(());
        for (kind, index, map) in [
            ("cred", "creds", &pending.credentials),
            ("entry", "entries", &pending.entries),
        ] {
            for (name, counts) in map {
                if outcome.is_ok() {
                    let mut conn = shared.connection();
                    let mut call = self.add.key(shared.key(&format!("usage:{kind}:{name}")));
                    call.key(shared.key(&format!("usage:{index}")))
                        .arg(name)
                        .arg(EXPIRY.as_secs())
                        .arg(counts.chars)
                        .arg(counts.audio_seconds)
                        .arg(counts.utterances)
                        .arg(counts.failovers);
                    outcome = shared
                        .call(call.invoke_async::<i64>(&mut conn))
                        .await
                        .map(|_| ());
                    if outcome.is_ok() {
                        continue;
                    }
                }
                let target = if kind == "cred" {
                    &mut left.credentials
                } else {
                    &mut left.entries
                };
                target.entry(name.clone()).or_default().add(counts);
            }
        }
        if !left.is_empty() {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (name, counts) in left.credentials {
                pending.credentials.entry(name).or_default().add(&counts);
            }
            for (name, counts) in left.entries {
                pending.entries.entry(name).or_default().add(&counts);
            }
        }
        outcome
    }

    /// The totals: the fleet's from Redis (after writing this relay's
    /// pending counts), else this relay's own.
    pub(crate) async fn report(&self, shared: Option<&Shared>) -> Result<Report, Down> {
        let Some(shared) = shared.filter(|_| self.shared) else {
            return Ok(self
                .totals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone());
        };
        self.flush(shared).await?;
        let mut report = Report::default();
        for (kind, index, map) in [
            ("cred", "creds", &mut report.credentials),
            ("entry", "entries", &mut report.entries),
        ] {
            let mut conn = shared.connection();
            let mut call = self.read.key(shared.key(&format!("usage:{index}")));
            call.arg(shared.key(&format!("usage:{kind}:")));
            let flat: Vec<String> = shared.call(call.invoke_async(&mut conn)).await?;
            for row in flat.chunks_exact(5) {
                let int = |s: &str| s.parse::<u64>().unwrap_or(0);
                map.insert(
                    row[0].clone(),
                    Counts {
                        chars: int(&row[1]),
                        audio_seconds: row[2].parse().unwrap_or(0.0),
                        utterances: int(&row[3]),
                        failovers: int(&row[4]),
                    },
                );
            }
        }
        Ok(report)
    }

    /// Writes the pending counts every [`FLUSH`] until `stop`, then once more.
    pub(crate) async fn keep(
        self: Arc<Self>,
        shared: Arc<Shared>,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(FLUSH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    let _ = self.flush(&shared).await;
                }
            }
        }
        let _ = self.flush(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_subjects_share_one_label_and_entries_count_their_own_chars() {
        assert_eq!(label("browser:user-42"), "browser");
        assert_eq!(label("token:backend"), "token:backend");
        let usage = Usage::new(false);
        let metrics = crate::metrics::Metrics::new();
        let spoke = Counts {
            audio_seconds: 1.5,
            ..Counts::default()
        };
        usage.record(&metrics, "browser:a", Some("xai"), spoke);
        usage.record(&metrics, "browser:b", Some("xai"), spoke);
        usage.record(
            &metrics,
            "token:t",
            None,
            Counts {
                chars: 10,
                ..Counts::default()
            },
        );
        usage.chars_spoken("xai", 10);
        let totals = usage.totals.lock().unwrap().clone();
        assert_eq!(totals.credentials["browser"].audio_seconds, 3.0);
        assert_eq!(totals.credentials["token:t"].chars, 10);
        assert_eq!(totals.entries["xai"].chars, 10);
        assert_eq!(totals.entries["xai"].audio_seconds, 3.0);
        assert!(usage.pending.lock().unwrap().is_empty(), "not shared");
    }
}

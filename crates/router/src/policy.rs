//! How the router treats each provider, and the router-wide limits.

use std::time::Duration;

use serde::Deserialize;
use voxwire_core::{Result, TtsError};

/// Per-provider policy: a chain entry's `policy = { ... }` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Retries on the same provider after a retryable error (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// First backoff; doubles each retry (full jitter: a random wait up to it).
    pub backoff_base_ms: u64,
    /// The most one backoff waits (a longer `Retry-After` is still honoured within the deadline).
    pub backoff_max_ms: u64,
    /// Longest wait for an attempt's first audio: the entry's one first-audio
    /// knob. Unset, the provider's own timeout applies (xAI's
    /// `first_audio_timeout_ms`, 15 s by default) and the router waits at most
    /// the sentence deadline; set, the router enforces it whatever the provider's.
    pub first_audio_timeout_ms: Option<u64>,
    /// Longest wait between audio chunks once audio has started.
    pub inactivity_timeout_ms: u64,
    /// How long a failed provider stays down before the first recovery probe.
    pub cooldown_ms: u64,
    /// The longest cooldown; each failed probe doubles it up to this.
    pub cooldown_max_ms: u64,
    /// First-audio service level: an attempt whose first audio takes longer
    /// is slow. Unset (the default), first-audio latency never degrades the entry.
    pub first_audio_slo_ms: Option<u64>,
    /// Slow first audios in a row that mark the entry degraded: ordered
    /// behind every healthy entry, still used when nothing better is up.
    pub slow_strikes: u32,
    /// Fast first audios in a row that restore a degraded entry (a recovery
    /// probe within the service level restores it too; one runs every
    /// cooldown while it is degraded).
    pub fast_to_restore: u32,
    /// Weighted group: entries with one `group` name share new sessions by
    /// `weight`, and a session keeps the member it started on while it is up.
    pub group: Option<String>,
    /// The entry's share of its group's new sessions (ignored outside a
    /// group; 0 is only used when no other member is up).
    pub weight: u32,
    /// Hedged first audio: when an utterance's first sentence has no audio
    /// from this entry after this long, the next entry is asked too and the
    /// first to give audio wins (the other is cancelled). Unset: off.
    pub hedge_after_ms: Option<u64>,
    /// Whether the router's phrase cache may keep and play this entry's
    /// sentences (when a `[cache]` is configured). Some vendors' terms
    /// forbid storing their audio: set `false` for those.
    pub cache: bool,
}

/// Slow first audios in a row that degrade an entry with a service level.
pub const DEFAULT_SLOW_STRIKES: u32 = 3;

/// Fast first audios in a row that restore a degraded entry.
pub const DEFAULT_FAST_TO_RESTORE: u32 = 3;

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            backoff_base_ms: 100,
            backoff_max_ms: 2_000,
            first_audio_timeout_ms: None,
            inactivity_timeout_ms: 10_000,
            cooldown_ms: 5_000,
            cooldown_max_ms: 300_000,
            first_audio_slo_ms: None,
            slow_strikes: DEFAULT_SLOW_STRIKES,
            fast_to_restore: DEFAULT_FAST_TO_RESTORE,
            group: None,
            weight: 1,
            hedge_after_ms: None,
            cache: true,
        }
    }
}

impl Policy {
    /// Reads a chain entry's `policy` table; unknown keys are a `Config` error.
    pub fn from_table(provider: &str, table: &toml::Table) -> Result<Self> {
        Policy::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            TtsError::config(format!(
                "invalid policy for provider `{provider}`: {}",
                e.message()
            ))
            .with_provider(provider.to_string())
        })
    }

    /// The router's own first-audio bound: the knob when set, else `fallback`
    /// (the sentence deadline, so the provider's own timeout decides).
    pub(crate) fn first_audio_timeout(&self, fallback: Duration) -> Duration {
        self.first_audio_timeout_ms
            .map_or(fallback, |ms| Duration::from_millis(ms.max(1)))
    }

    /// The first-audio service level, if set.
    pub(crate) fn first_audio_slo(&self) -> Option<Duration> {
        self.first_audio_slo_ms.map(Duration::from_millis)
    }

    /// The delay before a hedge starts, if hedging is on.
    pub(crate) fn hedge_after(&self) -> Option<Duration> {
        self.hedge_after_ms
            .map(|ms| Duration::from_millis(ms.max(1)))
    }

    pub(crate) fn inactivity_timeout(&self) -> Duration {
        Duration::from_millis(self.inactivity_timeout_ms.max(1))
    }

    /// The cooldown after `failures` consecutive failures (1 = first).
    pub(crate) fn cooldown(&self, failures: u32) -> Duration {
        let doubled = self
            .cooldown_ms
            .saturating_mul(1u64 << failures.saturating_sub(1).min(30));
        Duration::from_millis(doubled.min(self.cooldown_max_ms.max(self.cooldown_ms)))
    }

    /// The wait before retry number `retry` (0 = first retry): full jitter over
    /// an exponential ceiling, but never less than the provider's `Retry-After`.
    pub(crate) fn backoff(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let ceiling = self
            .backoff_base_ms
            .saturating_mul(1u64 << retry.min(30))
            .min(self.backoff_max_ms);
        let jittered = Duration::from_millis((ceiling as f64 * unit.clamp(0.0, 1.0)) as u64);
        retry_after.map_or(jittered, |after| after.max(jittered))
    }
}

/// Router-wide settings: the config's `[router]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSettings {
    /// Time budget of one sentence, retries and failovers included.
    pub request_deadline_ms: u64,
    /// What a recovery probe speaks.
    pub probe_text: String,
    /// The most text characters queued in a streaming session.
    pub max_queued_chars: usize,
    /// Sentences requested ahead of the one playing (pipelining): when
    /// sentence k is requested, sentences k+1..=k+lookahead are requested
    /// too and their audio held until k ends. 0 speaks one sentence at a
    /// time. The default, 5, covers a reply of six short sentences.
    pub lookahead: usize,
}

/// Sentences requested ahead by default: six short sentences overlap their
/// first-audio latencies.
pub const DEFAULT_LOOKAHEAD: usize = 5;

/// The most sentences requested ahead, whatever the config says.
pub const MAX_LOOKAHEAD: usize = 8;

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            request_deadline_ms: 60_000,
            probe_text: "Hi.".into(),
            max_queued_chars: 100_000,
            lookahead: DEFAULT_LOOKAHEAD,
        }
    }
}

impl RouterSettings {
    /// Reads the `[router]` table; unknown keys are a `Config` error.
    pub fn from_table(table: &toml::Table) -> Result<Self> {
        RouterSettings::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| TtsError::config(format!("invalid [router] settings: {}", e.message())))
    }

    pub(crate) fn lookahead(&self) -> usize {
        self.lookahead.min(MAX_LOOKAHEAD)
    }

    pub(crate) fn deadline(&self) -> Duration {
        Duration::from_millis(self.request_deadline_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let p = Policy::default();
        assert_eq!(p.backoff(0, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(1, None, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(1, None, 0.5), Duration::from_millis(100));
        assert_eq!(p.backoff(10, None, 1.0), Duration::from_millis(2_000));
        assert_eq!(p.backoff(0, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = Policy::default();
        let after = Some(Duration::from_secs(1));
        assert_eq!(p.backoff(0, after, 0.3), Duration::from_secs(1));
        assert_eq!(
            p.backoff(5, Some(Duration::from_millis(10)), 1.0),
            Duration::from_millis(2_000)
        );
    }

    #[test]
    fn cooldown_grows_and_is_capped() {
        let p = Policy {
            cooldown_ms: 100,
            cooldown_max_ms: 350,
            ..Policy::default()
        };
        assert_eq!(p.cooldown(1), Duration::from_millis(100));
        assert_eq!(p.cooldown(2), Duration::from_millis(200));
        assert_eq!(p.cooldown(3), Duration::from_millis(350));
        assert_eq!(p.cooldown(40), Duration::from_millis(350));
    }

    #[test]
    fn unknown_policy_keys_are_config_errors() {
        let mut t = toml::Table::new();
        t.insert("max_retry".into(), 3.into());
        assert!(Policy::from_table("xai", &t).is_err());
        t.clear();
        t.insert("max_retries".into(), 0.into());
        assert_eq!(Policy::from_table("xai", &t).unwrap().max_retries, 0);
    }

    #[test]
    fn routing_policy_keys_parse_with_their_defaults() {
        let p = Policy::default();
        assert_eq!(p.first_audio_slo(), None);
        assert_eq!(p.hedge_after(), None);
        assert_eq!((p.slow_strikes, p.fast_to_restore, p.weight), (3, 3, 1));
        assert_eq!(p.group, None);
        let table: toml::Table = toml::from_str(
            "first_audio_slo_ms = 400\nslow_strikes = 2\nfast_to_restore = 5\ngroup = \"xai\"\nweight = 80\nhedge_after_ms = 300",
        )
        .unwrap();
        let p = Policy::from_table("xai", &table).unwrap();
        assert_eq!(p.first_audio_slo(), Some(Duration::from_millis(400)));
        assert_eq!((p.slow_strikes, p.fast_to_restore, p.weight), (2, 5, 80));
        assert_eq!(p.group.as_deref(), Some("xai"));
        assert_eq!(p.hedge_after(), Some(Duration::from_millis(300)));
        let bad: toml::Table = toml::from_str("weight = -1").unwrap();
        assert!(Policy::from_table("xai", &bad).is_err());
    }
}

//! Rate limits: a token bucket per session (the default) and, when configured,
//! one per credential. Over a rate an utterance waits for its token (the
//! engine asks how long); only the pending bound refuses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::ServerSettings;

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
    }

    /// Takes one token; `false` when the bucket is empty.
    pub fn allow(&mut self) -> bool {
        self.take().is_ok()
    }

    /// How long until a token is there (zero: now); takes nothing.
    pub fn wait(&mut self) -> Duration {
        self.refill();
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Takes one token, or says how long until there is one.
    pub fn take(&mut self) -> Result<(), Duration> {
        match self.wait() {
            wait if wait.is_zero() => {
                self.tokens -= 1.0;
                Ok(())
            }
            wait => Err(wait),
        }
    }
}

/// Buckets shared by every session of one credential, for
/// `token_utterances_per_second` (off unless configured).
#[derive(Default)]
pub(crate) struct RateLimits {
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// Credentials whose buckets are kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimits {
    /// Takes one utterance from `principal`'s bucket; always `true` when no
    /// per-credential rate is configured.
    #[cfg(test)]
    pub fn allow(&self, principal: &str, settings: &ServerSettings) -> bool {
        self.take(principal, settings).is_ok()
    }

    /// Takes one utterance from `principal`'s bucket, or says how long until
    /// it can; always `Ok` when no per-credential rate is configured.
    pub fn take(&self, principal: &str, settings: &ServerSettings) -> Result<(), Duration> {
        let Some(per_second) = settings.token_utterances_per_second else {
            return Ok(());
        };
        let burst = settings.token_utterance_burst.max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(principal) {
            // Bounded: forget buckets that have refilled (they hold nothing).
            buckets.retain(|_, b| {
                let mut probe = b.clone();
                probe.allow();
                probe.tokens + 1.0 < probe.burst
            });
        }
        buckets
            .entry(principal.to_string())
            .or_insert_with(|| TokenBucket::new(per_second, burst))
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses() {
        let mut b = TokenBucket::new(0.001, 3.0);
        assert!(b.allow() && b.allow() && b.allow());
        assert!(!b.allow());
    }

    #[test]
    fn an_empty_bucket_says_how_long_until_its_next_token() {
        let mut b = TokenBucket::new(4.0, 1.0);
        assert_eq!(b.take(), Ok(()));
        let wait = b.take().unwrap_err();
        assert!(
            wait > Duration::from_millis(200) && wait <= Duration::from_millis(250),
            "{wait:?}"
        );
        assert!(b.wait() <= wait, "the wait shrinks as time passes");
    }

    #[test]
    fn per_credential_limits_are_off_by_default() {
        let limits = RateLimits::default();
        let settings = ServerSettings::default();
        assert!((0..1000).all(|_| limits.allow("token:x", &settings)));
        let settings = ServerSettings {
            token_utterances_per_second: Some(0.001),
            token_utterance_burst: 2.0,
            ..ServerSettings::default()
        };
        assert!(limits.allow("token:x", &settings) && limits.allow("token:x", &settings));
        assert!(!limits.allow("token:x", &settings));
        assert!(limits.allow("token:y", &settings));
    }
}

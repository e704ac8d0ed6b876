//! Character quotas per server token (`chars_per_minute`, `chars_per_day`
//! on `[server] tokens`), counted as each sentence is handed to the router.
//!
//! Fixed windows on the Unix clock: the minute (`unix seconds / 60`) and the
//! day (`unix seconds / 86 400`, UTC). With `[server.shared]` the counts live
//! in Redis, one Lua script per sentence that reads Redis's own `TIME`
//! (the relays' clocks do not matter), checks every window of the credential
//! and only then adds to each (`INCRBY` with `EXPIRE`):
//! `<prefix>:quota:<principal>:m:<unix minute>` (expires after 120 s) and
//! `<prefix>:quota:<principal>:d:<unix day>` (expires after 2 days). Without
//! Redis, or while it is down under `on_redis_down = "local"` (and under
//! `refuse`, for sessions already open), this process counts alone.
//!
//! A sentence that would take a window over its limit is refused: its
//! utterance ends with a `rate_limited` error naming the quota, its limit and
//! when it resets; what was already handed on is spoken.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;

use crate::settings::ServerSettings;
use crate::shared::Shared;

/// Checks every window, then adds to each. KEYS[1] the credential's key
/// base; ARGV: characters, minute limit, day limit (-1: none).
/// Returns {0, 0} when counted, else {1 (minute) or 2 (day), seconds to reset}.
const CHARGE: &str = r"
local now = tonumber(redis.call('TIME')[1])
local n = tonumber(ARGV[1])
local windows = {
  {KEYS[1] .. ':m:' .. math.floor(now / 60), tonumber(ARGV[2]), 60, 120},
  {KEYS[1] .. ':d:' .. math.floor(now / 86400), tonumber(ARGV[3]), 86400, 172800},
}
for i, w in ipairs(windows) do
  if w[2] >= 0 then
    local used = tonumber(redis.call('GET', w[1])) or 0
    if used + n > w[2] then
      return {i, w[3] - now % w[3]}
    end
  end
end
for _, w in ipairs(windows) do
  if w[2] >= 0 then
    redis.call('INCRBY', w[1], n)
    redis.call('EXPIRE', w[1], w[4])
  end
end
return {0, 0}
";

/// One token's limits.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    per_minute: Option<u64>,
    per_day: Option<u64>,
}

/// A quota that would be exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Over {
    /// `chars_per_minute` or `chars_per_day`.
    pub quota: &'static str,
    /// Its limit.
    pub limit: u64,
    /// When its window starts again.
    pub resets_in: Duration,
}

impl Over {
    /// The refusal's words, the same on every front.
    pub(crate) fn message(&self) -> String {
        format!(
            "this token's {} quota ({}) is used up: it resets in {} s",
            self.quota,
            self.limit,
            self.resets_in.as_secs().max(1)
        )
    }

    /// The refusal as a safe client error (`rate_limited`).
    pub(crate) fn client_error(&self) -> crate::errors::ClientError {
        crate::errors::ClientError::relay(
            voxwire_core::ErrorKind::RateLimited,
            self.message(),
            "wait for the quota to reset, or ask the relay's operator for a larger one",
        )
    }
}

/// Every token's quota, and this process's own counts.
#[derive(Default)]
pub(crate) struct Quotas {
    limits: HashMap<String, Limits>,
    /// Principal to (minute, used), (day, used): the in-process windows.
    local: Mutex<HashMap<String, [(u64, u64); 2]>>,
    charge: Option<Script>,
}

impl Quotas {
    /// The quotas of the configured tokens (by principal, `token:<id>`).
    pub(crate) fn new(settings: &ServerSettings) -> Self {
        let limits: HashMap<String, Limits> = settings
            .tokens
            .iter()
            .filter(|t| t.chars_per_minute.is_some() || t.chars_per_day.is_some())
            .map(|t| {
                (
                    format!("token:{}", t.id),
                    Limits {
                        per_minute: t.chars_per_minute,
                        per_day: t.chars_per_day,
                    },
                )
            })
            .collect();
        Self {
            limits,
            local: Mutex::default(),
            charge: Some(Script::new(CHARGE)),
        }
    }

    /// Whether `principal` has a quota at all (else nothing is counted).
    pub(crate) fn applies(&self, principal: &str) -> bool {
        self.limits.contains_key(principal)
    }

    /// Counts `chars` against `principal`'s quotas, across the fleet when
    /// `shared` is set and answers, in this process otherwise; or says which
    /// quota it would exceed (nothing is counted then).
    pub(crate) async fn charge(
        &self,
        shared: Option<&Shared>,
        principal: &str,
        chars: u64,
    ) -> Result<(), Over> {
        let Some(limits) = self.limits.get(principal).copied() else {
            return Ok(());
        };
        if chars == 0 {
            return Ok(());
        }
        if let (Some(shared), Some(script)) = (shared, &self.charge) {
            let arg = |l: Option<u64>| l.and_then(|l| i64::try_from(l).ok()).unwrap_or(-1);
            let mut invocation = script.key(shared.key(&format!("quota:{principal}")));
            invocation
                .arg(chars)
                .arg(arg(limits.per_minute))
                .arg(arg(limits.per_day));
            let mut conn = shared.connection();
            match shared
                .call(invocation.invoke_async::<(i64, u64)>(&mut conn))
                .await
            {
                Ok((0, _)) => return Ok(()),
                Ok((which, reset)) => {
                    let (quota, limit) = if which == 1 {
                        ("chars_per_minute", limits.per_minute)
                    } else {
                        ("chars_per_day", limits.per_day)
                    };
                    return Err(Over {
                        quota,
                        limit: limit.unwrap_or(0),
                        resets_in: Duration::from_secs(reset),
                    });
                }
                Err(_down) => shared.fell_back(),
            }
        }
        self.charge_local(principal, limits, chars, now_unix())
    }

    fn charge_local(
        &self,
        principal: &str,
        limits: Limits,
        chars: u64,
        now: u64,
    ) -> Result<(), Over> {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let counts = local.entry(principal.to_string()).or_default();
        let windows = [
            ("chars_per_minute", limits.per_minute, 60),
            ("chars_per_day", limits.per_day, 86_400),
        ];
        for (i, (quota, limit, len)) in windows.iter().enumerate() {
            let window = now / len;
            if counts[i].0 != window {
                counts[i] = (window, 0);
            }
            if let Some(limit) = limit {
                if counts[i].1.saturating_add(chars) > *limit {
                    return Err(Over {
                        quota,
                        limit: *limit,
                        resets_in: Duration::from_secs(len - now % len),
                    });
                }
            }
        }
        for count in counts.iter_mut() {
            count.1 = count.1.saturating_add(chars);
        }
        Ok(())
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(per_minute: Option<u64>, per_day: Option<u64>) -> Quotas {
        let mut q = Quotas::default();
        q.limits.insert(
            "token:a".into(),
            Limits {
                per_minute,
                per_day,
            },
        );
        q
    }

    #[test]
    fn in_process_windows_check_before_they_add_and_reset() {
        let q = quotas(Some(10), Some(15));
        let l = q.limits["token:a"];
        let t = 60 * 1000 + 5;
        assert!(q.charge_local("token:a", l, 6, t).is_ok());
        let over = q.charge_local("token:a", l, 5, t).unwrap_err();
        assert_eq!(over.quota, "chars_per_minute");
        assert_eq!(over.resets_in, Duration::from_secs(55));
        assert!(over.message().contains("chars_per_minute quota (10)"));
        assert!(
            q.charge_local("token:a", l, 4, t).is_ok(),
            "nothing was added"
        );
        // The next minute: the day's quota is what stops it.
        assert!(q.charge_local("token:a", l, 5, t + 60).is_ok());
        let over = q.charge_local("token:a", l, 1, t + 60).unwrap_err();
        assert_eq!(over.quota, "chars_per_day");
        assert_eq!(over.limit, 15);
    }
}

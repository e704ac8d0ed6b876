//! Up/down state of one provider.

use std::sync::Mutex;
use std::time::Duration;

use crate::policy::Policy;

#[derive(Debug, Default)]
struct State {
    down: bool,
    failures: u32,
    last_error: Option<String>,
    /// It spoke since it was last marked down (or since the chain was built).
    proven: bool,
    /// Its first audio missed the service level too often: ordered behind
    /// the healthy entries until restored.
    degraded: bool,
    /// Slow first audios in a row.
    slow_run: u32,
    /// Fast first audios in a row.
    fast_run: u32,
}

/// A change of the latency state, to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LatencyChange {
    /// `slow_strikes` slow first audios in a row: now degraded.
    Degraded,
    /// Fast first audios (or a fast probe) brought it back.
    Restored,
}

/// Whether a provider is used, and how often it failed in a row.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

/// What marking a provider down decided.
pub(crate) struct MarkedDown {
    /// The wait before the next probe.
    pub cooldown: Duration,
    /// Whether it was up until now (an availability change to report).
    pub was_up: bool,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_up(&self) -> bool {
        !self.lock().down
    }

    /// Up, and it spoke since it was last down: sentences may be asked of it
    /// in parallel without every one of them finding a failure at once.
    pub fn is_proven(&self) -> bool {
        let s = self.lock();
        !s.down && s.proven
    }

    /// Its first audio is too slow: behind the healthy entries.
    pub fn is_degraded(&self) -> bool {
        self.lock().degraded
    }

    /// Counts one first audio against the service level: `slow` ones in a
    /// row up to `strikes` degrade it; `restore` fast ones in a row (while
    /// degraded) restore it. A fast one ends a slow run and vice versa.
    pub fn first_audio(&self, slow: bool, strikes: u32, restore: u32) -> Option<LatencyChange> {
        let mut s = self.lock();
        if slow {
            s.fast_run = 0;
            s.slow_run = s.slow_run.saturating_add(1);
            if !s.degraded && s.slow_run >= strikes.max(1) {
                s.degraded = true;
                return Some(LatencyChange::Degraded);
            }
        } else {
            s.slow_run = 0;
            s.fast_run = s.fast_run.saturating_add(1);
            if s.degraded && s.fast_run >= restore.max(1) {
                s.degraded = false;
                s.fast_run = 0;
                return Some(LatencyChange::Restored);
            }
        }
        None
    }

    /// A probe answered within the service level: restored at once.
    pub fn restore(&self) -> bool {
        let mut s = self.lock();
        let was = s.degraded;
        s.degraded = false;
        s.slow_run = 0;
        s.fast_run = 0;
        was
    }

    /// The error that last took it down.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// Records a failure that takes the provider out of rotation.
    pub fn mark_down(&self, policy: &Policy, why: &str) -> MarkedDown {
        let mut s = self.lock();
        let was_up = !s.down;
        s.down = true;
        s.proven = false;
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(why.to_string());
        MarkedDown {
            cooldown: policy.cooldown(s.failures),
            was_up,
        }
    }

    /// A probe failed again: the next wait, longer.
    pub fn probe_failed(&self, policy: &Policy, why: &str) -> Duration {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        s.last_error = Some(why.to_string());
        policy.cooldown(s.failures)
    }

    /// It worked (a probe, or a request while everything was down): back in rotation.
    /// Returns whether it was down.
    pub fn mark_up(&self) -> bool {
        let mut s = self.lock();
        let was_down = s.down;
        s.down = false;
        s.proven = true;
        s.failures = 0;
        s.last_error = None;
        was_down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_runs_degrade_and_fast_runs_restore() {
        let h = Health::default();
        assert_eq!(h.first_audio(true, 2, 2), None);
        assert_eq!(h.first_audio(false, 2, 2), None, "a fast one ends the run");
        assert_eq!(h.first_audio(true, 2, 2), None);
        assert_eq!(h.first_audio(true, 2, 2), Some(LatencyChange::Degraded));
        assert!(h.is_degraded());
        assert_eq!(h.first_audio(true, 2, 2), None, "reported once");
        assert_eq!(h.first_audio(false, 2, 2), None);
        assert_eq!(
            h.first_audio(true, 2, 2),
            None,
            "a slow one ends the fast run"
        );
        assert_eq!(h.first_audio(false, 2, 2), None);
        assert_eq!(h.first_audio(false, 2, 2), Some(LatencyChange::Restored));
        assert!(!h.is_degraded());
        assert!(!h.restore());
    }
}
